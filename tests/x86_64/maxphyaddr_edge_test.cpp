// SPDX-License-Identifier: GPL-2.0
/*
 * M9's edge (x86_64): memslots at the top of the guest physical space
 * KVM can map. With NPT a GPA must fit the host's MAXPHYADDR (the CPU
 * walks the nested tables with it); the shadow MMU takes any GPA below
 * 2^52 (arch/x86/kvm/mmu.h kvm_mmu_max_gfn(), used by
 * kvm_arch_prepare_memory_region() in x86.c, which rejects a memslot
 * whose last page is beyond it with -EINVAL). api.rst states no limit and
 * no errno: the basis is the kernel's.
 *
 *  m9_maxphyaddr_edge.last_pages_slot   a memslot whose last page ends at
 *                 the limit is accepted, and the guest's stores to its
 *                 last 8 bytes and its first page land (through a 2 MiB
 *                 guest page; under the shadow MMU the guest's CPUID says
 *                 MAXPHYADDR 52 so that its page tables can name the GPA).
 *  m9_maxphyaddr_edge.slot_across_edge  one page below the limit and one
 *                 above: rejected, nothing added (the guest's load below
 *                 the limit is then MMIO, C5).
 *  m9_maxphyaddr_edge.slot_past_edge    starting at the limit: rejected.
 */
#include "test_util.h"

#include <cerrno>
#include <cpuid.h>
#include <cstdio>
#include <string>

#include "backing.h"
#include "layout.h"
#include "x86_64/placed_table.h"

using namespace kvmc;

namespace {

constexpr uint64_t pattern = 0x8877665544332211ull;
constexpr uint64_t large_page = 2ull << 20;

constexpr Rule edge{"M9", "not in api.rst: arch/x86/kvm/x86.c kvm_arch_prepare_memory_region() rejects "
			  "(-EINVAL) a memslot whose last gfn passes kvm_mmu_max_gfn() (arch/x86/kvm/mmu.h: "
			  "the host's MAXPHYADDR with NPT/EPT, 52 bits for the shadow MMU)"};

/* NPT (or EPT): the CPU walks the guest's tables, KVM maps only GPAs
 * below the host's MAXPHYADDR. */
bool npt_enabled()
{
	std::string why;
	return !x86::kvm_walks_guest_tables(&why);
}

/* The top of what KVM maps: 2^bits. */
unsigned limit_bits()
{
	if (!npt_enabled())
		return 52;
	unsigned eax, ebx, ecx, edx;
	if (!__get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx))
		return 36;
	return eax & 0xff;
}

/* Point the 2 MiB guest page at ARCH_BEYOND_GVA (its page directory is
 * the seventh page of the guest's tables, lib/x86_64/arch.cpp) at gpa. */
void map_beyond(GuestVm &g, uint64_t gpa)
{
	constexpr uint64_t present = 1, writable = 2, large = 1ull << 7;
	g.ram(ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET + 6 * 0x1000) = gpa | present | writable | large;
}

} /* namespace */

KVM_FIXTURE(m9_maxphyaddr_edge);

TEST_F(m9_maxphyaddr_edge, last_pages_slot)
{
	Kvm kvm;
	const unsigned bits = limit_bits();
	GuestVm g(kvm, 0, npt_enabled() ? 0 : 52);
	const uint64_t top = 1ull << bits, page = page_size();
	HostMapping backing = HostMapping::anonymous(2 * page);
	ASSERT_ERRNO(edge, "memslot whose last page ends at the limit (accepted)", 0,
		     add_test_memslot(g.vm(), top - 2 * page, backing));
	map_beyond(g, top - large_page);
	const uint64_t last = ARCH_BEYOND_GVA + large_page - 8, first = ARCH_BEYOND_GVA + large_page - 2 * page;
	g.order({store(last, 8, pattern), store(first, 8, ~pattern), load(last, 8)});
	ASSERT_OUTCOME("stores and a load at the top of the guest physical space", Expectation::guest_done(rules::M9),
		       g.run());
	EXPECT_VALUE(rules::M9, "the last 8 bytes below the limit, seen by the host", pattern,
		     *reinterpret_cast<uint64_t *>(backing.data() + 2 * page - 8));
	EXPECT_VALUE(rules::M9, "the first bytes of the slot, seen by the host", ~pattern,
		     *reinterpret_cast<uint64_t *>(backing.data()));
	EXPECT_VALUE(rules::M9, "value the guest loaded back", pattern, g.loaded(2));
}

TEST_F(m9_maxphyaddr_edge, slot_across_edge)
{
	Kvm kvm;
	const unsigned bits = limit_bits();
	GuestVm g(kvm, 0, npt_enabled() ? 0 : 52);
	const uint64_t top = 1ull << bits, page = page_size();
	HostMapping backing = HostMapping::anonymous(2 * page);
	ASSERT_ERRNO(edge, "memslot one page below the limit and one above (rejected)", EINVAL,
		     add_test_memslot(g.vm(), top - page, backing));
	map_beyond(g, top - large_page);
	g.order({load(ARCH_BEYOND_GVA + large_page - 0x10, 8)});
	ASSERT_OUTCOME("load below the limit after the rejection", Expectation::mmio(rules::C5, top - 0x10, 8, false),
		       g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(pattern));
	EXPECT_VALUE(rules::C5, "value the guest loaded", pattern, g.loaded(0));
}

TEST_F(m9_maxphyaddr_edge, slot_past_edge)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping backing = HostMapping::anonymous(page_size());
	EXPECT_ERRNO(edge, "memslot starting at the limit (rejected)", EINVAL,
		     add_test_memslot(g.vm(), 1ull << limit_bits(), backing));
}

KVMC_TEST_MAIN

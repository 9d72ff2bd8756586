// SPDX-License-Identifier: GPL-2.0
/*
 * M9's edge (arm64): the last page of a VM's IPA space and the first
 * address past it, for VMs made with KVM_VM_TYPE_ARM_IPA_SIZE(N) (api.rst
 * 4.2: IPA_Bits "is the maximum width of any physical address used by
 * the VM").
 *
 *  m9_ipa_edge.<N>.last_pages_slot   a memslot whose last page is the last
 *                 page below 2^N is accepted; the guest's stores to its
 *                 last 8 bytes and to its first page land in the host's
 *                 memory, and a load reads them back (N = 36, 39, 40 and
 *                 the host's limit, whose accesses need an IPA below 2^40).
 *  m9_ipa_edge.<N>.slot_across_edge  one page below 2^N and one above:
 *                 rejected, nothing added (the access below the edge is
 *                 then MMIO, C5).
 *  m9_ipa_edge.<N>.slot_past_edge    starting at 2^N: rejected.
 *  m9_ipa_edge.<N>.first_beyond      the guest's load at 2^N, with the
 *                 last pages' slot in place, is M9's outcome
 *                 (arch::beyond_address_space); only where N is below the
 *                 host's limit (at the limit the CPU itself faults at
 *                 stage 1, outside KVM).
 *
 * api.rst names no errno for a memslot past the IPA size;
 * kvm_arch_prepare_memory_region() (arch/arm64/kvm/mmu.c) returns -EFAULT,
 * judged with that as its basis.
 */
#include "test_util.h"

#include <cerrno>
#include <string>

#include "arch.h"
#include "backing.h"
#include "arm64/stage1.h"
#include "layout.h"
#include "names.h"

using namespace kvmc;

namespace {

constexpr uint64_t pattern = 0x8877665544332211ull;
/* M9 for the memslot calls: api.rst's limit, the kernel's errno. */
constexpr Rule edge{"M9", "api.rst 4.2 KVM_CREATE_VM (IPA_Bits: the maximum width of any physical address "
			  "used by the VM); the errno is the kernel's: arch/arm64/kvm/mmu.c "
			  "kvm_arch_prepare_memory_region() returns -EFAULT when base_gfn + npages passes "
			  "kvm_phys_size()"};

/* The IPA size of the variant: 0 for the host's limit. */
unsigned ipa_bits_of(const Kvm &kvm, unsigned wanted, std::string *why)
{
	const int limit = kvm.check_extension(KVM_CAP_ARM_VM_IPA_SIZE);
	if (limit <= 0) {
		*why = "KVM_CAP_ARM_VM_IPA_SIZE is " + std::to_string(limit) + ": VMs have the default 40-bit IPA";
		return 0;
	}
	if (!wanted)
		return (unsigned)limit;
	if ((int)wanted > limit) {
		*why = "an IPA size of " + std::to_string(wanted) + " bits is above the host's limit (" +
		       std::to_string(limit) + ")";
		return 0;
	}
	return wanted;
}

/*
 * The guest reaches the top of the IPA space through its stage-1 window
 * (include/arm64/stage1.h), virtual addresses that are not the IPAs:
 * window page 0 maps the second-last page below 2^N, page 1 the last,
 * page 2 the first page at 2^N. The guest's stage-1 output size
 * (TCR_EL1.IPS) is 40 bits: an IPA from 2^40 up is out of its reach.
 */
constexpr uint64_t guest_output_limit = 1ull << 40;

uint64_t map_top(GuestVm &g, uint64_t top, unsigned n, bool device)
{
	return arch::map_window_page(g, n, {.ipa = top - 2 * page_size() + n * page_size(), .device = device});
}

bool reachable(uint64_t ipa, std::string *why)
{
	if (ipa < guest_output_limit)
		return true;
	*why = "the guest's stage-1 output size (TCR_EL1.IPS) is 40 bits: it cannot reach the IPA " + hex(ipa);
	return false;
}

} /* namespace */

KVM_FIXTURE(m9_ipa_edge);
FIXTURE_VARIANT(m9_ipa_edge) { unsigned bits; /* 0: the host's limit */ };
FIXTURE_VARIANT_ADD(m9_ipa_edge, ipa36) { .bits = 36 };
FIXTURE_VARIANT_ADD(m9_ipa_edge, ipa39) { .bits = 39 };
FIXTURE_VARIANT_ADD(m9_ipa_edge, ipa40) { .bits = 40 };
FIXTURE_VARIANT_ADD(m9_ipa_edge, ipa_limit) { .bits = 0 };

TEST_F(m9_ipa_edge, last_pages_slot)
{
	Kvm kvm;
	std::string why;
	const unsigned bits = ipa_bits_of(kvm, variant->bits, &why);
	if (!bits)
		SKIP(return, "%s", why.c_str());
	GuestVm g(kvm, KVM_VM_TYPE_ARM_IPA_SIZE(bits));
	const uint64_t top = 1ull << bits, page = page_size();
	HostMapping backing = HostMapping::anonymous(2 * page);
	ASSERT_ERRNO(edge, "memslot whose last page ends at 2^IPA_Bits (accepted)", 0, add_test_memslot(g.vm(), top - 2 * page, backing));
	if (!reachable(top - 1, &why))
		SKIP(return, "memslot accepted; %s", why.c_str());
	const uint64_t first = map_top(g, top, 0, false), last = map_top(g, top, 1, false);
	g.order({store(last + page - 8, 8, pattern), store(first, 8, ~pattern), load(last + page - 8, 8)});
	ASSERT_OUTCOME("stores and a load at the top of the IPA space", Expectation::guest_done(rules::M9), g.run());
	EXPECT_VALUE(rules::M9, "the last 8 bytes below 2^IPA_Bits, seen by the host", pattern,
		     *reinterpret_cast<uint64_t *>(backing.data() + 2 * page - 8));
	EXPECT_VALUE(rules::M9, "the first bytes of the slot, seen by the host", ~pattern,
		     *reinterpret_cast<uint64_t *>(backing.data()));
	EXPECT_VALUE(rules::M9, "value the guest loaded back", pattern, g.loaded(2));
}

TEST_F(m9_ipa_edge, slot_across_edge)
{
	Kvm kvm;
	std::string why;
	const unsigned bits = ipa_bits_of(kvm, variant->bits, &why);
	if (!bits)
		SKIP(return, "%s", why.c_str());
	GuestVm g(kvm, KVM_VM_TYPE_ARM_IPA_SIZE(bits));
	const uint64_t top = 1ull << bits, page = page_size();
	HostMapping backing = HostMapping::anonymous(2 * page);
	ASSERT_ERRNO(edge, "memslot one page below 2^IPA_Bits and one above (rejected)", EFAULT,
		     add_test_memslot(g.vm(), top - page, backing));
	if (!reachable(top - 1, &why))
		SKIP(return, "memslot rejected; %s", why.c_str());
	/* Nothing was added: the last page below the edge has no memslot. */
	const uint64_t va = map_top(g, top, 1, true) + page - 0x10;
	g.order({load(va, 8)});
	ASSERT_OUTCOME("load below the edge after the rejection", Expectation::mmio(rules::C5, top - 0x10, 8, false),
		       g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(pattern));
	EXPECT_VALUE(rules::C5, "value the guest loaded", pattern, g.loaded(0));
}

TEST_F(m9_ipa_edge, slot_past_edge)
{
	Kvm kvm;
	std::string why;
	const unsigned bits = ipa_bits_of(kvm, variant->bits, &why);
	if (!bits)
		SKIP(return, "%s", why.c_str());
	GuestVm g(kvm, KVM_VM_TYPE_ARM_IPA_SIZE(bits));
	HostMapping backing = HostMapping::anonymous(page_size());
	EXPECT_ERRNO(edge, "memslot starting at 2^IPA_Bits (rejected)", EFAULT, add_test_memslot(g.vm(), 1ull << bits, backing));
}

TEST_F(m9_ipa_edge, first_beyond)
{
	Kvm kvm;
	std::string why;
	const unsigned bits = ipa_bits_of(kvm, variant->bits, &why);
	if (!bits)
		SKIP(return, "%s", why.c_str());
	if ((int)bits >= kvm.check_extension(KVM_CAP_ARM_VM_IPA_SIZE))
		SKIP(return, "an IPA size of %u bits is the host's limit: an access past it is the CPU's own "
			     "address size fault at stage 1, not KVM's", bits);
	const uint64_t top = 1ull << bits, page = page_size();
	if (!reachable(top, &why))
		SKIP(return, "%s", why.c_str());
	GuestVm g(kvm, KVM_VM_TYPE_ARM_IPA_SIZE(bits));
	HostMapping backing = HostMapping::anonymous(2 * page);
	ASSERT_ERRNO(edge, "memslot whose last page ends at 2^IPA_Bits (accepted)", 0, add_test_memslot(g.vm(), top - 2 * page, backing));
	const uint64_t last = map_top(g, top, 1, false), beyond = map_top(g, top, 2, true);
	g.order({store(last + page - 8, 8, pattern), load(beyond, 8)});
	ASSERT_OUTCOME("load at 2^IPA_Bits", arch::beyond_address_space(beyond), g.run());
	EXPECT_VALUE(rules::M9, "steps completed (the store below the edge)", 1, g.completed());
	EXPECT_VALUE(rules::M9, "the store below the edge, seen by the host", pattern,
		     *reinterpret_cast<uint64_t *>(backing.data() + 2 * page - 8));
}

KVMC_TEST_MAIN

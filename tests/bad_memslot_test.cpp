// SPDX-License-Identifier: GPL-2.0
/*
 * Bad memslots (CONTRACT.md M1, M4, M7): the guest touches guest physical
 * memory that no memslot backs, that a memslot backs with inaccessible host
 * memory, or that a read-only memslot backs.
 */
#include "test_util.h"

#include "layout.h"

using namespace kvmc;

namespace {

/* Distinct bytes, so a wrong width or byte order shows in the value. */
constexpr uint64_t pattern = 0x8877665544332211ull;

uint64_t low_bytes(uint64_t v, uint32_t width)
{
	return width == 8 ? v : v & ((1ull << (8 * width)) - 1);
}

} /* namespace */

/* M1: no memslot, each width. C5: KVM_EXIT_MMIO; a load completes with the
 * bytes userspace puts in mmio.data. */
KVM_FIXTURE(m1_no_memslot);
FIXTURE_VARIANT(m1_no_memslot) { uint32_t width; };
FIXTURE_VARIANT_ADD(m1_no_memslot, w1) { .width = 1 };
FIXTURE_VARIANT_ADD(m1_no_memslot, w2) { .width = 2 };
FIXTURE_VARIANT_ADD(m1_no_memslot, w4) { .width = 4 };
FIXTURE_VARIANT_ADD(m1_no_memslot, w8) { .width = 8 };

TEST_F(m1_no_memslot, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x100;
	const uint32_t width = variant->width;

	g.order({load(gpa, width)});
	ASSERT_OUTCOME("load", Expectation::mmio(rules::C5, gpa, width, false), g.run());

	Observation done = g.complete_load_and_run(pattern);
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), done);
	EXPECT_VALUE(rules::C5, "value the guest loaded", low_bytes(pattern, width), g.loaded(0));
}

TEST_F(m1_no_memslot, store)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x200;
	const uint32_t width = variant->width;

	g.order({store(gpa, width, pattern)});
	ASSERT_OUTCOME("store", Expectation::mmio(rules::C5, gpa, width, true, pattern), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
}

/*
 * M4: a memslot over host memory the host has made PROT_NONE. The guest
 * first stores to the slot's first page, then touches the second, which
 * is the PROT_NONE one.
 */
namespace {

struct ProtNoneSlot {
	static constexpr uint64_t before_offset = 0x10;
	static constexpr uint64_t fault_offset = 0x20;

	explicit ProtNoneSlot(GuestVm &g, bool is_write)
		: backing(HostMapping::anonymous(2 * page_size())),
		  slot(g.vm(), test_slot, ARCH_TEST_GPA, backing)
	{
		backing.protect(page_size(), page_size(), PROT_NONE);
		if (is_write)
			g.order({store(before_gpa(), 8, pattern), store(fault_gpa(), 8, ~pattern)});
		else
			g.order({store(before_gpa(), 8, pattern), load(fault_gpa(), 8)});
	}
	static uint64_t before_gpa() { return ARCH_TEST_GPA + before_offset; }
	static uint64_t fault_gpa() { return ARCH_TEST_GPA + page_size() + fault_offset; }
	uint64_t &host(uint64_t gpa) { return *reinterpret_cast<uint64_t *>(backing.data() + gpa - ARCH_TEST_GPA); }

	HostMapping backing;
	Memslot slot;
};

} /* namespace */

KVM_FIXTURE(m4_prot_none);
FIXTURE_VARIANT(m4_prot_none) { bool is_write; };
FIXTURE_VARIANT_ADD(m4_prot_none, load) { .is_write = false };
FIXTURE_VARIANT_ADD(m4_prot_none, store) { .is_write = true };

/* KVM cannot fault the page in: -1/EFAULT, with the memory_fault payload
 * where KVM_CAP_MEMORY_FAULT_INFO promises it (C4, C1, C2). */
TEST_F(m4_prot_none, fault)
{
	Kvm kvm;
	GuestVm g(kvm);
	ProtNoneSlot s(g, variant->is_write);
	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	EXPECT_OUTCOME("access", Expectation::unresolvable_fault(s.fault_gpa(), promised), g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the fault", 1, g.completed());
}

/* C12: once mprotect() makes the page accessible, the next KVM_RUN
 * resumes at the faulting access, the guest finishes, and its earlier
 * store is intact. */
TEST_F(m4_prot_none, recover)
{
	Kvm kvm;
	GuestVm g(kvm);
	ProtNoneSlot s(g, variant->is_write);
	ASSERT_OUTCOME("access", Expectation::error(rules::C12, EFAULT), g.run());

	s.backing.protect(page_size(), page_size(), PROT_READ | PROT_WRITE);
	if (!variant->is_write)
		s.host(s.fault_gpa()) = ~pattern;
	ASSERT_OUTCOME("after mprotect", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern, s.host(s.before_gpa()));
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the retried store", ~pattern, s.host(s.fault_gpa()));
	else
		EXPECT_VALUE(rules::C12, "the retried load", ~pattern, g.loaded(1));
}

/*
 * M7: a KVM_MEM_READONLY memslot. C7: loads read the slot's contents;
 * a store exits as KVM_EXIT_MMIO with is_write and leaves memory alone.
 */
KVM_FIXTURE(m7_readonly_slot);

TEST_F(m7_readonly_slot, load_then_store)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	HostMapping backing = HostMapping::anonymous(page_size());
	auto *host = reinterpret_cast<uint64_t *>(backing.data() + 0x40);
	*host = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing, KVM_MEM_READONLY);

	const uint64_t gpa = ARCH_TEST_GPA + 0x40;
	g.order({load(gpa, 8), store(gpa, 4, ~pattern)});
	ASSERT_OUTCOME("store", Expectation::mmio(rules::C7, gpa, 4, true, ~pattern), g.run());
	EXPECT_VALUE(rules::C7, "value loaded from the read-only slot", pattern, g.loaded(0));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C7), g.run());
	EXPECT_VALUE(rules::C7, "slot memory after the store", pattern, *host);
}

KVMC_TEST_MAIN

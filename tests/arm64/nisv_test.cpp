// SPDX-License-Identifier: GPL-2.0
/*
 * M2 (arm64): a data abort outside every memslot with no valid syndrome
 * (LDP/STP: KVM cannot tell userspace what the access was). C6: -1/ENOSYS,
 * unless userspace enabled KVM_CAP_ARM_NISV_TO_USER; then 0 with
 * KVM_EXIT_ARM_NISV at the GPA, and the PC not advanced past the access.
 */
#include "test_util.h"

#include "layout.h"

using namespace kvmc;

KVM_FIXTURE(m2_no_syndrome);
FIXTURE_VARIANT(m2_no_syndrome) { bool is_write; };
FIXTURE_VARIANT_ADD(m2_no_syndrome, load_pair) { .is_write = false };
FIXTURE_VARIANT_ADD(m2_no_syndrome, store_pair) { .is_write = true };

namespace {

guest::Step pair_access(bool is_write, uint64_t gpa)
{
	return is_write ? store_pair(gpa, 0x1122334455667788ull) : load_pair(gpa);
}

} /* namespace */

TEST_F(m2_no_syndrome, nisv_off)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x300;
	g.order({pair_access(variant->is_write, gpa)});
	ASSERT_OUTCOME("access", Expectation::error(rules::C6, ENOSYS), g.run());
}

TEST_F(m2_no_syndrome, nisv_on)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_ARM_NISV_TO_USER, 1);
	int r = g.vm().enable_cap(KVM_CAP_ARM_NISV_TO_USER);
	ASSERT_EQ(0, r) TH_LOG("KVM_ENABLE_CAP(KVM_CAP_ARM_NISV_TO_USER): %s", errno_name(-r).c_str());

	const uint64_t gpa = ARCH_MMIO_GPA + 0x308;
	g.order({pair_access(variant->is_write, gpa)});
	Observation first = g.run();
	ASSERT_OUTCOME("access", Expectation::nisv(gpa), first);

	/* Not advanced: run again and the same instruction faults again. */
	Observation again = g.run();
	ASSERT_OUTCOME("access again", Expectation::nisv(gpa), again);
	ASSERT_TRUE(first.pc && again.pc);
	EXPECT_VALUE(rules::C6, "pc after the second exit (not advanced)", *first.pc, *again.pc);
	EXPECT_VALUE(rules::C6, "steps completed", 0, g.completed());
}

KVMC_TEST_MAIN

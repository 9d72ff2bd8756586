// SPDX-License-Identifier: GPL-2.0
/*
 * M1 (arm64) answered with an abort: userspace cannot complete an MMIO
 * load (no device there) and asks KVM to inject an external data abort
 * instead (KVM_SET_VCPU_EVENTS with ext_dabt_pending, api.rst 4.32; needs
 * KVM_CAP_ARM_INJECT_EXT_DABT). The load must not complete: the guest
 * takes a synchronous external abort for the address of the exit, at the
 * load itself (ELR_EL1 = the PC of the MMIO exit, not the next
 * instruction), and the program goes no further.
 */
#include "test_util.h"

#include <cerrno>

#include "arch.h"
#include "arm64/abort.h"
#include "arm64/nested.h"
#include "layout.h"

using namespace kvmc;

KVM_FIXTURE(m1_mmio_answered_with_abort);
FIXTURE_VARIANT(m1_mmio_answered_with_abort) { bool is_write; };
FIXTURE_VARIANT_ADD(m1_mmio_answered_with_abort, load) { .is_write = false };
FIXTURE_VARIANT_ADD(m1_mmio_answered_with_abort, store) { .is_write = true };

TEST_F(m1_mmio_answered_with_abort, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_ARM_INJECT_EXT_DABT, 1);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x3c0;
	const uint64_t value = 0x0123456789abcdefull;

	g.order({variant->is_write ? store(gpa, 8, value) : load(gpa, 8), store(ARCH_MMIO_GPA + 0x3c8, 8, value)});
	Observation exit = g.run();
	ASSERT_OUTCOME("access", Expectation::mmio(rules::C5, gpa, 8, variant->is_write, value), exit);
	ASSERT_TRUE(exit.pc.has_value()) TH_LOG("the guest PC at the MMIO exit could not be read");

	const int r = arch::inject_ext_dabt(g.vcpu());
	ASSERT_EQ(0, r) TH_LOG("KVM_SET_VCPU_EVENTS(ext_dabt_pending): %s", errno_name(-r).c_str());
	/* The answer userspace would otherwise give: it must not be used. */
	g.vcpu().complete_mmio_load(value);

	Observation abort = g.run();
	ASSERT_OUTCOME("after the injected abort",
		       arch::external_data_abort(rules::C5, gpa,
						 "api.rst 4.32 KVM_SET_VCPU_EVENTS (arm64): ext_dabt_pending injects an "
						 "external abort \"using the address from the exiting fault\""),
		       abort);
	ASSERT_TRUE(abort.call.has_value());
	EXPECT_VALUE(rules::C5, "ELR of the abort (the access itself, not retired)", *exit.pc, abort.call->args[3]);
	EXPECT_VALUE(rules::C5, "steps completed", 0, g.completed());
	if (!variant->is_write)
		EXPECT_VALUE(rules::C5, "value recorded for the aborted load", 0, g.loaded(0));
}

/*
 * The same for a nested context's MMIO load (arm64-nested). Where its
 * guest hypervisor routes external aborts to itself (HCR_EL2.TEA), the
 * guest hypervisor takes the abort from the nested context, FAR_EL2 the
 * context's address of the load (its MMU is off: the nested IPA), and
 * the load does not complete. Where it does not, the nested context
 * takes the abort at its own EL1 vector (its VBAR_EL1, which hands
 * ESR_EL1 back to the guest hypervisor): EC 0x25 (data abort, same EL),
 * IL, FSC 0x10.
 */
KVM_FIXTURE(m1_nested_mmio_answered_with_abort);
FIXTURE_VARIANT(m1_nested_mmio_answered_with_abort) { bool routed; };
FIXTURE_VARIANT_ADD(m1_nested_mmio_answered_with_abort, routed_to_el2) { .routed = true };
FIXTURE_VARIANT_ADD(m1_nested_mmio_answered_with_abort, not_routed) { .routed = false };

TEST_F(m1_nested_mmio_answered_with_abort, load)
{
	/* 7.3.4 injects the routed one from the ioctl with the vCPU not
	 * loaded (kvm_inject_nested() puts and loads it): an oops. */
	if (variant->routed)
		REQUIRE_DESTRUCTIVE_FOR("can oops a kernel without fix 17-arm64-nv-set-events-inject");
	Kvm kvm;
	if (auto why = arch::hypervisor_unavailable(kvm))
		SKIP(return, "%s", why->c_str());
	GuestVm g(kvm, GuestVm::hypervisor);
	REQUIRE_CAP(g.vm(), KVM_CAP_ARM_INJECT_EXT_DABT, 1);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = 0x2040;
	const uint64_t ipa = ARCH_NESTED_WINDOW_IPA + offset;
	g.order({nested_load(ipa, variant->routed ? guest::nested_route_abort : guest::nested_own_vectors), level()});
	ASSERT_OUTCOME("nested load", Expectation::mmio(rules::C5, ARCH_TEST_GPA + offset, 8, false), g.run());

	const int r = arch::inject_ext_dabt(g.vcpu());
	ASSERT_EQ(0, r) TH_LOG("KVM_SET_VCPU_EVENTS(ext_dabt_pending): %s", errno_name(-r).c_str());
	g.vcpu().complete_mmio_load(0x0123456789abcdefull);
	if (variant->routed) {
		ASSERT_OUTCOME("after the injected abort",
			       arch::nested_external_abort(arch::NestedAccessKind::load, ipa), g.run());
		EXPECT_VALUE(rules::C5, "steps completed", 0, g.completed());
		return;
	}
	ASSERT_OUTCOME("after the injected abort", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "ESR_EL1 of the nested context's own abort (EC 0x25, IL, FSC 0x10)",
		     0x96000010ull, g.loaded(0));
}

KVMC_TEST_MAIN

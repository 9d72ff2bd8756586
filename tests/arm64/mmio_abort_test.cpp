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
#include <sys/ioctl.h>

#include "arm64/abort.h"
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

	struct kvm_vcpu_events events {};
	events.exception.ext_dabt_pending = 1;
	ASSERT_EQ(0, ioctl(g.vcpu().fd(), KVM_SET_VCPU_EVENTS, &events))
		TH_LOG("KVM_SET_VCPU_EVENTS(ext_dabt_pending): %s", errno_name(errno).c_str());
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

KVMC_TEST_MAIN

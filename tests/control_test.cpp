// SPDX-License-Identifier: GPL-2.0
/*
 * Control (CONTRACT.md K1, K2): C11, how signals and immediate_exit end
 * KVM_RUN before the guest runs.
 */
#include "test_util.h"

#include <csignal>

#include "arch.h"
#include "layout.h"

using namespace kvmc;

KVM_FIXTURE(k1_immediate_exit);

/* immediate_exit = 1: -1/EINTR at once, the guest runs nothing; cleared,
 * the next KVM_RUN runs the guest. */
TEST_F(k1_immediate_exit, run)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({store(ARCH_RAM_GPA + ARCH_MAILBOX_OFFSET + 0x800, 8, 1)});
	const auto entry = arch::guest_pc(g.vcpu());
	ASSERT_TRUE(entry.has_value());
	g.vcpu().shared()->immediate_exit = 1;
	Observation obs = g.run();
	ASSERT_OUTCOME("run", Expectation::intr(rules::C11, false), obs);
	EXPECT_VALUE(rules::C11, "steps completed", 0, g.completed());
	ASSERT_TRUE(obs.pc.has_value());
	EXPECT_VALUE(rules::C14, "pc (the guest ran no instruction)", *entry, *obs.pc);
	ASSERT_OUTCOME("run again", Expectation::guest_done(rules::C11), g.run());
}

KVM_FIXTURE(k2_pending_signal);

/* A signal pending and unblocked for KVM_RUN (KVM_SET_SIGNAL_MASK):
 * -1/EINTR with KVM_EXIT_INTR before the guest runs. */
TEST_F(k2_pending_signal, run)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({store(ARCH_RAM_GPA + ARCH_MAILBOX_OFFSET + 0x800, 8, 1)});
	install_signal_recorder();

	sigset_t usr1, none;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &usr1, nullptr));
	ASSERT_EQ(0, raise(SIGUSR1));
	g.vcpu().set_signal_mask(none);

	const auto entry = arch::guest_pc(g.vcpu());
	ASSERT_TRUE(entry.has_value());
	Observation obs = g.run();
	ASSERT_OUTCOME("run", Expectation::intr(rules::C11, true), obs);
	EXPECT_VALUE(rules::C11, "steps completed", 0, g.completed());
	ASSERT_TRUE(obs.pc.has_value());
	EXPECT_VALUE(rules::C14, "pc (the guest ran no instruction)", *entry, *obs.pc);

	/* Take the signal, then the guest runs to the end. */
	int taken = 0;
	ASSERT_EQ(0, sigwait(&usr1, &taken));
	ASSERT_OUTCOME("run again", Expectation::guest_done(rules::C11), g.run());
}

KVMC_TEST_MAIN

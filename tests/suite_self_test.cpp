// SPDX-License-Identifier: GPL-2.0
/*
 * The suite's own machinery, checked against the real KVM it runs on: a
 * verdict is only worth something if a guest that never exits is cut off
 * and an unexpected guest exception is reported rather than hidden.
 */
#include "test_util.h"

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

#include "layout.h"

using namespace kvmc;

KVM_FIXTURE(kvmc_self);

/* A guest that never exits: the watchdog ends KVM_RUN with -1/EINTR,
 * the observation says so, and any verdict on it fails. */
TEST_F(kvmc_self, spinning_guest_hits_time_limit)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({spin()});
	Observation obs = g.run(300);
	log_line("observed: " + describe(obs));
	ASSERT_TRUE(obs.timed_out);
	ASSERT_EQ(-1, obs.ret);
	ASSERT_EQ(EINTR, obs.err);
	ASSERT_TRUE(obs.pc.has_value());
	EXPECT_LE((uint64_t)ARCH_RAM_GPA, *obs.pc);
	EXPECT_GT((uint64_t)ARCH_RAM_GPA + ARCH_IMAGE_MAX, *obs.pc);
	EXPECT_FALSE(judge(Expectation::guest_done(rules::guest), obs).passed());

	/* immediate_exit is cleared again: the next run is an ordinary one. */
	EXPECT_EQ(0, g.vcpu().shared()->immediate_exit);
}

/* A guest access its own page tables do not map: the guest's vectors
 * report the exception with the faulting address, and verdicts fail. */
TEST_F(kvmc_self, unexpected_guest_exception_is_reported)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t unmapped = ARCH_UNMAPPED_GVA;
	g.order({load(unmapped, 8)});
	Observation obs = g.run();
	log_line("observed: " + describe(obs));
	ASSERT_TRUE(obs.call.has_value());
	ASSERT_EQ((uint32_t)GuestCallKind::exception, (uint32_t)obs.call->kind);
	EXPECT_EQ(unmapped, obs.call->args[2]);
	Verdict v = judge(Expectation::guest_done(rules::guest), obs);
	EXPECT_FALSE(v.passed());
	/* What the verdict caught, not as FAIL lines: this test passes. */
	for (const auto &f : v.findings)
		log_line("caught: " + f.text + " [key: " + f.key() + "]");
}

/*
 * C13 must be able to fail: a WARNING line in the kernel log (written to
 * /dev/kmsg, as a buggy kernel would print it) and a new taint bit are
 * both reported. Both stay in the kernel the test runs on, so it runs only
 * on a throwaway machine (KVMC_ALLOW_HOST_TRACES=1: the test VM, or a lab
 * board that says so), the taint only with KVMC_ALLOW_DESTRUCTIVE=1 too.
 * Its fixture has no health check of its own: a KVM_FIXTURE's would
 * rightly fail it.
 */
FIXTURE(kvmc_self_health) {};
FIXTURE_SETUP(kvmc_self_health) {}
FIXTURE_TEARDOWN_PARENT(kvmc_self_health) {}

TEST_F(kvmc_self_health, check_fires)
{
	if (!host_traces_allowed())
		SKIP(return, "%s", host_traces_skip_reason);
	if (geteuid() != 0)
		SKIP(return, "writing to /dev/kmsg needs root");
	KernelHealth before = health_snapshot();
	ASSERT_TRUE(before.kmsg_readable);
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	const char line[] = "WARNING: CPU: 0 PID: 1 at kvm-contract self-test (not a real warning)\n";
	ASSERT_EQ((ssize_t)sizeof(line) - 1, write(fd, line, sizeof(line) - 1));
	close(fd);
	auto problems = health_problems(before);
	for (const auto &p : problems)
		log_line("caught: " + p);
	ASSERT_EQ(1, problems.size());
	/* The boot-time check (kvm-contract-tests --boot-health) sees it too. */
	auto since_boot = health_problems_since_boot();
	ASSERT_TRUE(std::find(since_boot.begin(), since_boot.end(), problems[0]) != since_boot.end());

	if (!destructive_allowed())
		return;
	/* TAINT_USER (U, bit 6): harmless, but it stays until reboot. */
	before = health_snapshot();
	if (!(before.taint & (1u << 6))) {
		fd = open("/proc/sys/kernel/tainted", O_WRONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		ASSERT_LT(0, write(fd, "64", 2));
		close(fd);
		problems = health_problems(before);
		for (const auto &p : problems)
			log_line("caught: " + p);
		ASSERT_EQ(1, problems.size());
	}
}

KVMC_TEST_MAIN

// SPDX-License-Identifier: GPL-2.0
/* Unit tests of C13's classification of kernel log messages and taint. */
#include "harness.h"

#include <cstring>
#include <string>

#include "health.h"

using namespace kvmc;

TEST(problems_are_recognised)
{
	EXPECT_TRUE(is_kernel_problem("WARNING: CPU: 0 PID: 12 at arch/x86/kvm/mmu/mmu.c:4792 kvm_mmu_page_fault+0x1"));
	EXPECT_TRUE(is_kernel_problem("BUG: unable to handle page fault for address: 0000000000000008"));
	EXPECT_TRUE(is_kernel_problem("kernel BUG at virt/kvm/guest_memfd.c:123!"));
	EXPECT_TRUE(is_kernel_problem("Oops: int3: 0000 [#1] SMP NOPTI"));
	EXPECT_TRUE(is_kernel_problem("general protection fault, probably for non-canonical address"));
	EXPECT_TRUE(is_kernel_problem("INFO: task qemu:99 blocked for more than 120 seconds."));
	EXPECT_TRUE(is_kernel_problem("refcount_t: underflow; use-after-free."));
}

TEST(ordinary_messages_are_not)
{
	/* What the scenarios themselves make the kernel print. */
	EXPECT_FALSE(is_kernel_problem("Memory failure: 0x4a2b3: recovery action for dirty LRU page: Recovered"));
	EXPECT_FALSE(is_kernel_problem("guest_memfd_tes invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0"));
	EXPECT_FALSE(is_kernel_problem("Call Trace:"));
	EXPECT_FALSE(is_kernel_problem("Out of memory and no killable processes..."));
	EXPECT_FALSE(is_kernel_problem("kvm: disabled by bios"));
	EXPECT_FALSE(is_kernel_problem("INFO: task list is empty"));
}

TEST(taint_letters)
{
	const std::string w = describe_taint(1u << 9);
	const std::string pw = describe_taint(1u << 0 | 1u << 9);
	const std::string none = describe_taint(0);
	EXPECT_STREQ("0x200 (W)", w.c_str());
	EXPECT_STREQ("0x201 (PW)", pw.c_str());
	EXPECT_STREQ("0x0", none.c_str());
}

/* The self-test that writes a WARNING and a taint into the kernel it runs
 * on needs the explicit opt-in; nothing else turns it on. */
TEST(host_traces_need_the_opt_in)
{
	EXPECT_FALSE(host_traces_allowed(nullptr));
	EXPECT_FALSE(host_traces_allowed(""));
	EXPECT_FALSE(host_traces_allowed("0"));
	EXPECT_FALSE(host_traces_allowed("yes"));
	EXPECT_TRUE(host_traces_allowed("1"));
	EXPECT_TRUE(strstr(host_traces_skip_reason, "KVMC_ALLOW_HOST_TRACES=1") != nullptr);
}

KVMC_TEST_MAIN

/* The baseline's crash entries (KVMC_KNOWN_CRASHES): kernel and test
 * name both match, as shell patterns; the reason comes back whole. */
TEST(known_crashes)
{
	const char *list = "7.* serror_nested_context.routed_to_el2.* kernel=oops: it oopses (debian.txt:9)\n"
			   "6.1* other.* kernel=hang: it hangs (debian.txt:10)";
	auto hit = known_crash(list, "7.3.4+deb13-arm64", "serror_nested_context.routed_to_el2.during_mmio_load");
	ASSERT_TRUE(hit.has_value());
	EXPECT_TRUE(hit->find("kernel=oops: it oopses (debian.txt:9)") != std::string::npos);
	EXPECT_FALSE(known_crash(list, "6.12.1", "serror_nested_context.routed_to_el2.during_mmio_load").has_value());
	EXPECT_FALSE(known_crash(list, "7.3.4", "serror_nested_context.not_routed.during_mmio_load").has_value());
	EXPECT_TRUE(known_crash(list, "6.1.0-30", "other.x").has_value());
	EXPECT_FALSE(known_crash("", "7.3.4", "a").has_value());
	EXPECT_FALSE(known_crash(nullptr, "7.3.4", "a").has_value());
	EXPECT_FALSE(known_crash("malformed", "7.3.4", "malformed").has_value());
}

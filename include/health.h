/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C13, kernel health: a right triple from a kernel that warned is still a
 * failure. A snapshot before a test (last kernel log record, taint mask)
 * and a look after it find WARN, BUG, oops and new taint.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kvmc {

/* Plain data: it lives in the harness's shared fixture memory. */
struct KernelHealth {
	bool valid;
	bool kmsg_readable;
	uint64_t kmsg_seq;	/* sequence number of the last record seen */
	uint64_t taint;		/* /proc/sys/kernel/tainted */
};

KernelHealth health_snapshot();
/* What went wrong since the snapshot, one line each (empty: nothing). */
std::vector<std::string> health_problems(const KernelHealth &before);
/* What went wrong since the kernel started: every problem the kernel log
 * still holds and any taint at all, as health_problems() words them. */
std::vector<std::string> health_problems_since_boot();

/* /proc/sys/kernel/tainted (0 where it cannot be read). */
uint64_t kernel_taint();
/* Whether one kernel log message reports a kernel problem (pure). */
bool is_kernel_problem(const std::string &message);
/* The kind of one health_problems() line, a token for finding keys
 * ("C13 kernel-health=WARN"): WARN, BUG, oops, taint, ... (pure). */
std::string health_kind(const std::string &problem);
/* "0x200 (W)": taint bits with their letters (pure). */
std::string describe_taint(uint64_t bits);

/*
 * A self-test of this checker has to make the kernel it runs on look
 * unhealthy: a WARNING line in its log, a taint bit that stays until the
 * next boot. Harmless in the test VM, which is thrown away; on a real
 * host that line trips monitoring and the taint marks every later bug
 * report. So it runs only where KVMC_ALLOW_HOST_TRACES=1 says the machine
 * is a throwaway one: scripts/guest-init.sh sets it in the test VM, a lab
 * with scratch boards sets it itself. KVMC_ALLOW_DESTRUCTIVE alone is not
 * enough: it lets the poison tests judge the kernel, not the suite test
 * itself at the host's expense. The value as given (nullptr: unset; pure).
 */
bool host_traces_allowed(const char *allow_host_traces);
/* The same, for this process's environment. */
bool host_traces_allowed();
/* Why a test that leaves traces skips without KVMC_ALLOW_HOST_TRACES=1. */
extern const char host_traces_skip_reason[];

/*
 * Whether the baseline (run_tests.sh --baseline, its "crash" entries)
 * says test brings kernel release down: list is KVMC_KNOWN_CRASHES, one
 * "KERNEL-GLOB TEST-GLOB REASON" per line (shell patterns). Returns the
 * reason the test is skipped with.
 */
std::optional<std::string> known_crash(const char *list, const std::string &release, const std::string &test);

} /* namespace kvmc */

/* SPDX-License-Identifier: GPL-2.0 */
/* Glue between the kselftest harness and the suite's oracle. */
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "harness.h"
#include "guest_vm.h"
#include "health.h"
#include "layout.h"
#include "names.h"
#include "oracle.h"
#include "record.h"

namespace kvmc {

/*
 * Judge an observation, print the observed triple (always) and the
 * verdict's findings. Returns whether it passed. (No harness types here:
 * the harness defines globals, so only test sources may include it.)
 */
bool judge_outcome(const char *step, const Expectation &expected, const Observation &observed);

/* A value the host checks after the guest ran, with the rule it rests on. */
bool judge_value(Rule rule, const char *what, uint64_t wanted, uint64_t got);
/* The errno of an ioctl that must fail (got: 0 or -errno). */
bool judge_errno(Rule rule, const char *what, int wanted, int got);

/*
 * One KVM_PRE_FAULT_MEMORY call over in, judged by rule F (api.rst
 * 4.143): its result (0, or -1 with wanted_err), the range the kernel
 * hands back (left: what remains), and flags and padding copied back as
 * they went in. Returns whether all of it was right.
 */
bool judge_pre_fault(Vcpu &vcpu, const char *step, PreFaultRange in, int wanted_err, PreFaultRange left,
		     uint64_t flags = 0);

/* The same in two halves, for a call that nothing may follow before it is
 * judged (G4: under the memory cgroup's limit even a log line can need a
 * page): pre_fault() makes the call and keeps what came back, the
 * judge_pre_fault() overload judges it later (PreFaultCall: kvm.h). */
PreFaultCall pre_fault(Vcpu &vcpu, PreFaultRange in, uint64_t flags = 0);
bool judge_pre_fault(const char *step, const PreFaultCall &call, int wanted_err, PreFaultRange left);

/* Tests that poison memory run only where that harms nobody: in the test
 * VM, or natively with ./run_tests.sh --allow-destructive. */
bool destructive_allowed();

/*
 * Whether this run judges as if the documentation fix NAME
 * (scripts/kvmc/patches/fixes/NAME.patch, a change to api.rst) were
 * applied: run_tests.sh --doc-fix NAME, KVMC_DOC_FIXES=NAME,... A test
 * whose expectation the fix changes asks, and when it is, says so in its
 * output before judging by the patched text.
 */
bool doc_fix(const char *name);

/* health.h known_crash() for the running kernel (uname -r) and the
 * baseline's list in the environment (KVMC_KNOWN_CRASHES). */
std::optional<std::string> known_crash(const std::string &test);

/* C13: report what went wrong in the kernel since the snapshot; returns
 * whether anything did. */
bool report_kernel_health(const KernelHealth &before);

/*
 * The MMIO exit a stale-payload variant makes just before the exit under
 * test: a 1-byte guest load at stale_mmio_gpa that the host completes
 * with stale_mmio_value (GuestVm::complete_load_and_run). Read as
 * memory_fault, the union bytes it leaves are flags = stale_mmio_gpa (bits
 * beyond every defined flag, KVM_MEMORY_EXIT_FLAG_PRIVATE clear), gpa =
 * stale_mmio_value (far from every fault) and size = 1 (len 1, is_write
 * 0: short of any fault that is not at the start of its page), so each
 * memory_fault field KVM forgot to write fails C2.
 */
constexpr uint64_t stale_mmio_gpa = ARCH_MMIO_GPA + 0x7f0;
constexpr uint64_t stale_mmio_value = 0xfedcba9876543000ull;
inline guest::Step stale_mmio_load() { return load(stale_mmio_gpa, 1); }

/* fixture.variant.test, as the harness prints it (test sources only). */
inline std::string harness_test_name(const struct __test_metadata *m)
{
	std::string name = m->fixture->name;
	for (auto *v = m->fixture->variant; v; v = v->next)
		if (v->data == m->variant && v->name && *v->name)
			name += std::string(".") + v->name;
	return name + "." + m->name;
}
/* madvise(MADV_HWPOISON) of the page at addr, the SIGBUS it sends the
 * caller recorded: 0 or the errno. */
int poison(void *addr);
/* Why poisoning is not possible here, from poison()'s result; nullptr
 * when the page is poisoned. */
const char *poison_unavailable(int err);
/* What the kernel's native fault reports for the poisoned memory at addr:
 * this process loads from it, without KVM (C8's differential check). */
SignalRecord native_fault(const void *addr);

} /* namespace kvmc */

/*
 * As in the kselftest harness: EXPECT_* marks the test failed and goes on,
 * ASSERT_* also ends the test body (its RAII owners clean up as it
 * returns). ASSERT where later steps make no sense after a failure.
 */
#define EXPECT_OUTCOME(step, expected, observed)                                   \
	do {                                                                       \
		if (!kvmc::judge_outcome(step, expected, observed))                \
			_metadata->exit_code = KSFT_FAIL;                          \
	} while (0)

#define ASSERT_OUTCOME(step, expected, observed)                                   \
	do {                                                                       \
		if (!kvmc::judge_outcome(step, expected, observed)) {              \
			_metadata->exit_code = KSFT_FAIL;                          \
			return;                                                    \
		}                                                                  \
	} while (0)

#define EXPECT_VALUE(rule, what, wanted, got)                                      \
	do {                                                                       \
		if (!kvmc::judge_value(rule, what, wanted, got))                   \
			_metadata->exit_code = KSFT_FAIL;                          \
	} while (0)

#define ASSERT_VALUE(rule, what, wanted, got)                                      \
	do {                                                                       \
		if (!kvmc::judge_value(rule, what, wanted, got)) {                 \
			_metadata->exit_code = KSFT_FAIL;                          \
			return;                                                    \
		}                                                                  \
	} while (0)

#define EXPECT_ERRNO(rule, what, wanted, got)                                      \
	do {                                                                       \
		if (!kvmc::judge_errno(rule, what, wanted, got))                   \
			_metadata->exit_code = KSFT_FAIL;                          \
	} while (0)

#define ASSERT_ERRNO(rule, what, wanted, got)                                      \
	do {                                                                       \
		if (!kvmc::judge_errno(rule, what, wanted, got)) {                 \
			_metadata->exit_code = KSFT_FAIL;                          \
			return;                                                    \
		}                                                                  \
	} while (0)

#define EXPECT_PRE_FAULT(...)                                                      \
	do {                                                                       \
		if (!kvmc::judge_pre_fault(__VA_ARGS__))                           \
			_metadata->exit_code = KSFT_FAIL;                          \
	} while (0)

#define REQUIRE_DESTRUCTIVE()                                                      \
	REQUIRE_DESTRUCTIVE_FOR("poisons a physical page of this machine for good")

/* what: the harm, in words, for the skip where it is not allowed. */
#define REQUIRE_DESTRUCTIVE_FOR(what)                                              \
	do {                                                                       \
		if (!kvmc::destructive_allowed())                                  \
			SKIP(return, "%s: runs in the test VM, or natively with "  \
			     "./run_tests.sh --allow-destructive", what);          \
	} while (0)

/*
 * A fixture for scenarios that need KVM: skips when /dev/kvm is missing,
 * and checks kernel health (C13) around the test. The fixture data is
 * plain (the harness memsets it; C++ owners live in the test body). The
 * teardown runs in the harness's parent process, after the test process
 * has exited, so everything the test did to the kernel is in the log.
 */
#define KVM_FIXTURE(name)                                                          \
	FIXTURE(name) { kvmc::KernelHealth health; };                              \
	FIXTURE_SETUP(name)                                                        \
	{                                                                          \
		kvmc::set_current_test(kvmc::harness_test_name(_metadata));        \
		if (auto why = kvmc::Kvm::unavailable())                           \
			SKIP(return, "%s", why->c_str());                          \
		if (auto why = kvmc::known_crash(kvmc::harness_test_name(_metadata))) \
			SKIP(return, "%s", why->c_str());                          \
		self->health = kvmc::health_snapshot();                            \
	}                                                                          \
	FIXTURE_TEARDOWN_PARENT(name)                                              \
	{                                                                          \
		/* The parent's record names the test too (its C13 findings). */ \
		kvmc::set_current_test(kvmc::harness_test_name(_metadata));        \
		if (kvmc::report_kernel_health(self->health))                      \
			_metadata->exit_code = KSFT_FAIL;                          \
	}

/*
 * Ends the test process as the harness would (its exit status) when the
 * test body leaves, before any other owner releases what it holds.
 * Why (arm64): once a nested context has run, KVM unmaps every nested stage-2
 * over the whole IPA space on each memslot deletion and each host unmap
 * under a memslot (kvm_nested_s2_unmap(), stage2_apply_range() in 1 GiB
 * steps: 2^18 of them for a 48-bit IPA limit, minutes under QEMU's
 * emulation). A process exit instead drops the VM's stage-2s whole
 * (kvm_arch_flush_shadow_all()). Declare it after the last memslot.
 */
class ExitWhenDone {
public:
	explicit ExitWhenDone(struct __test_metadata *m) : m_(m) {}
	ExitWhenDone(const ExitWhenDone &) = delete;
	~ExitWhenDone()
	{
		fflush(stdout);
		fflush(stderr);
		_exit(m_->exit_code);
	}

private:
	struct __test_metadata *m_;
};

/* Skip unless the VM reports the capability (at least min). */
#define REQUIRE_CAP(vm, cap, min)                                                  \
	do {                                                                       \
		long long __have = (vm).check_extension(cap);                      \
		if (__have < (long long)(min))                                     \
			SKIP(return, "needs %s >= %lld, KVM reports %lld", #cap,   \
			     (long long)(min), __have);                            \
	} while (0)

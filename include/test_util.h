/* SPDX-License-Identifier: GPL-2.0 */
/* Glue between the kselftest harness and the suite's oracle. */
#pragma once

#include <cstdint>
#include <string>

#include "harness.h"
#include "guest_vm.h"
#include "names.h"
#include "oracle.h"

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

/* Tests that poison memory run only where that harms nobody: in the test
 * VM, or natively with ./run_tests.sh --allow-destructive. */
bool destructive_allowed();

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

#define REQUIRE_DESTRUCTIVE()                                                      \
	do {                                                                       \
		if (!kvmc::destructive_allowed())                                  \
			SKIP(return, "poisons a physical page of this machine for good: runs in " \
			     "the test VM, or natively with ./run_tests.sh --allow-destructive"); \
	} while (0)

/*
 * A fixture for scenarios that need KVM: skips when /dev/kvm is missing.
 * Fixture data stays empty: the harness memsets it, so C++ owners live in
 * the test body instead. The teardown is declared with the _PARENT form
 * only because the plain form leaves a const uninitialised, which g++
 * rejects even with -fpermissive as a warning per use; it does nothing.
 */
#define KVM_FIXTURE(name)                                                          \
	FIXTURE(name) {};                                                          \
	FIXTURE_SETUP(name)                                                        \
	{                                                                          \
		if (auto why = kvmc::Kvm::unavailable())                           \
			SKIP(return, "%s", why->c_str());                          \
	}                                                                          \
	FIXTURE_TEARDOWN_PARENT(name) {}

/* Skip unless the VM reports the capability (at least min). */
#define REQUIRE_CAP(vm, cap, min)                                                  \
	do {                                                                       \
		int __have = (vm).check_extension(cap);                            \
		if (__have < (min))                                                \
			SKIP(return, "needs %s >= %d, KVM reports %d", #cap, (min), __have); \
	} while (0)

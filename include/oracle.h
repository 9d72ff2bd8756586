/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The oracle: judges one Observation against an Expectation and returns a
 * Verdict naming the rules of CONTRACT.md it rests on.
 *
 * Pure code: no ioctl, no /dev/kvm. Unit-tested against hand-made
 * observations in tests/unit/oracle_test.cpp.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "observation.h"

namespace kvmc {

/* A rule of CONTRACT.md and the part of api.rst it paraphrases. */
struct Rule {
	const char *id;
	const char *section;
};

namespace rules {
inline constexpr Rule C1{"C1", "api.rst 5 \"KVM_EXIT_MEMORY_FAULT\""};
inline constexpr Rule C2{"C2", "api.rst 5 \"KVM_EXIT_MEMORY_FAULT\""};
inline constexpr Rule C3{"C3", "api.rst 5 \"KVM_EXIT_MEMORY_FAULT\" (stale exit_reason)"};
inline constexpr Rule C4{"C4", "api.rst 8.44 KVM_CAP_MEMORY_FAULT_INFO"};
inline constexpr Rule C5{"C5", "api.rst 5 \"KVM_EXIT_MMIO\""};
inline constexpr Rule C6{"C6", "api.rst 4.10 KVM_RUN (ENOSYS), 5 \"KVM_EXIT_ARM_NISV\""};
inline constexpr Rule C7{"C7", "api.rst 4.35 KVM_SET_USER_MEMORY_REGION (KVM_MEM_READONLY)"};
inline constexpr Rule C11{"C11", "api.rst 4.10 KVM_RUN (EINTR), 5 \"immediate_exit\""};
inline constexpr Rule C12{"C12", "api.rst 5 \"KVM_EXIT_MMIO\" (completion on re-entry), 8.44 (retry)"};
inline constexpr Rule G1{"G1", "api.rst 4.142 KVM_CREATE_GUEST_MEMFD (GUEST_MEMFD_FLAG_MMAP), 4.140"};
inline constexpr Rule K3{"K3", "api.rst 4.10 KVM_RUN (ENOEXEC), 4.82 KVM_ARM_VCPU_INIT"};
/* Not a rule of api.rst: the suite's own bound on every KVM_RUN. */
inline constexpr Rule time_limit{"time-limit", "kvm-contract: every KVM_RUN has a time limit"};
inline constexpr Rule guest{"guest", "kvm-contract: the guest program ran as ordered"};
} /* namespace rules */

/* What a scenario expects KVM_RUN to report. Build with the named makers. */
struct Expectation {
	enum class Kind {
		mmio,			/* 0 + KVM_EXIT_MMIO with this payload */
		unresolvable_fault,	/* -1/EFAULT, memory_fault as the capability promises */
		error,			/* -1 with this errno, exit_reason not looked at */
		guest_done,		/* the guest finished its program (ucall done) */
	};

	Kind kind = Kind::error;
	Rule rule = rules::guest;
	uint64_t gpa = 0;
	uint32_t len = 0;
	bool is_write = false;
	uint64_t data = 0;		/* stored value, for mmio writes */
	int err = 0;			/* for error */
	bool private_access = false;	/* for unresolvable_fault */
	bool memory_fault_info = false;	/* KVM_CAP_MEMORY_FAULT_INFO was 1 */

	static Expectation mmio(Rule rule, uint64_t gpa, uint32_t len, bool is_write, uint64_t data = 0);
	static Expectation unresolvable_fault(uint64_t gpa, bool memory_fault_info, bool private_access = false);
	static Expectation error(Rule rule, int err);
	static Expectation guest_done(Rule rule);

	std::string describe() const;
};

/* Default: what api.rst guarantees. Strict: what the stricter designs
 * discussed for KVM_EXIT_MEMORY_FAULT would also guarantee (C3). */
struct Mode {
	bool strict = false;
};

struct Finding {
	enum class Severity { note, failure };
	Severity severity;
	Rule rule;
	std::string text;
};

struct Verdict {
	std::vector<Finding> findings;

	bool passed() const;
	/* Multi-line report: each finding with its rule, then the expected
	 * outcome and the observed one in full. */
	std::string report(const Expectation &expected, const Observation &observed) const;
};

Verdict judge(const Expectation &expected, const Observation &observed, Mode mode = {});

} /* namespace kvmc */

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
#include <optional>
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
inline constexpr Rule C8{"C8", "not in api.rst: the kernel's hwpoison convention, judged against its native fault"};
inline constexpr Rule C9{"C9", "api.rst 5 \"KVM_EXIT_MEMORY_FAULT\" (EHWPOISON), 4.142 KVM_CREATE_GUEST_MEMFD"};
inline constexpr Rule C10{"C10", "api.rst 5 \"KVM_EXIT_MEMORY_FAULT\", 4.142 KVM_CREATE_GUEST_MEMFD"};
inline constexpr Rule C11{"C11", "api.rst 4.10 KVM_RUN (EINTR), 5 \"immediate_exit\""};
inline constexpr Rule C12{"C12", "api.rst 5 \"KVM_EXIT_MMIO\" (completion on re-entry), 8.44 (retry)"};
inline constexpr Rule G1{"G1", "api.rst 4.142 KVM_CREATE_GUEST_MEMFD (GUEST_MEMFD_FLAG_MMAP), 4.140"};
inline constexpr Rule G3{"G3", "api.rst 4.142 KVM_CREATE_GUEST_MEMFD (PUNCH_HOLE)"};
inline constexpr Rule G4{"G4", "api.rst 5 \"KVM_EXIT_MEMORY_FAULT\" (C1, or C3 for ENOMEM); errnos from virt/kvm/guest_memfd.c"};
inline constexpr Rule G5{"G5", "api.rst 4.140 KVM_SET_USER_MEMORY_REGION2, 4.142 KVM_CREATE_GUEST_MEMFD"};
inline constexpr Rule M3{"M3", "api.rst 4.10 KVM_RUN (ENOEXEC, stale: see the kernel source named)"};
inline constexpr Rule M9{"M9", "api.rst 4.10 KVM_RUN; beyond the VM's physical address size"};
/* The flows of issue 24: userfaultfd behind a memslot (U), the
 * synchronous external abort (S) and 64-byte access (L) exits, and
 * KVM_PRE_FAULT_MEMORY (F). */
inline constexpr Rule U{"U", "api.rst 4.10 KVM_RUN (EINTR), 8.44 KVM_CAP_MEMORY_FAULT_INFO; userfaultfd behind a memslot"};
inline constexpr Rule S{"S", "api.rst 5 \"KVM_EXIT_ARM_SEA\", 7.45 KVM_CAP_ARM_SEA_TO_USER"};
inline constexpr Rule L{"L", "api.rst 5 \"KVM_EXIT_ARM_LDST64B\""};
inline constexpr Rule F{"F", "api.rst 4.143 KVM_PRE_FAULT_MEMORY"};
inline constexpr Rule C13{"C13", "kvm-contract: no WARN, BUG, oops or new taint while a test runs"};
inline constexpr Rule C14{"C14", "api.rst 5 \"KVM_EXIT_MMIO\" (completion), 4.10 KVM_RUN; the Arm ARM / AMD APM for injected exceptions"};
inline constexpr Rule K3{"K3", "api.rst 4.10 KVM_RUN (ENOEXEC), 4.82 KVM_ARM_VCPU_INIT"};
/* Not a rule of api.rst: the suite's own bound on every KVM_RUN. */
inline constexpr Rule time_limit{"time-limit", "kvm-contract: every KVM_RUN has a time limit"};
inline constexpr Rule guest{"guest", "kvm-contract: the guest program ran as ordered"};
} /* namespace rules */

/* An exception the guest itself takes (reported through its vectors):
 * arch-specific numbers, chosen by lib/<arch>/. */
struct GuestException {
	uint64_t vector = 0;
	uint64_t syndrome_mask = 0;	/* bits of the syndrome that must match */
	uint64_t syndrome = 0;
	uint64_t address = 0;		/* FAR (arm64) or CR2 (x86) */
	bool check_address = true;
	/* A syndrome bit that, set, says the address is not valid (arm64
	 * ESR.FnV): then the address is not judged. */
	uint64_t address_unknown_bit = 0;
	/* C14: where the exception returns to (arm64 ELR, x86 the RIP it
	 * pushes): the access instruction the guest recorded (a synchronous
	 * abort or fault is precise: the access did not happen), the
	 * address itself (an instruction fetch), or not judged. */
	enum class Returns { unchecked, to_access, to_address };
	Returns returns = Returns::unchecked;
	/* C14: bits of the saved PSTATE (arm64 SPSR_ELx, x86 RFLAGS) that
	 * must match: where the exception was taken from. */
	uint64_t pstate_mask = 0;
	uint64_t pstate = 0;
	/* C14, arm64 nested: HPFAR_EL2 the guest hypervisor reads. */
	std::optional<uint64_t> hpfar;
	const char *what = "";		/* e.g. "instruction abort, external" */
};

/* The page size of the machine the suite runs on (the smallest extent
 * KVM maps; default bound and alignment of memory_fault payloads). */
uint64_t host_page_bytes();

/* What a scenario expects KVM_RUN to report. Build with the named makers. */
struct Expectation {
	enum class Kind {
		mmio,			/* 0 + KVM_EXIT_MMIO with this payload */
		unresolvable_fault,	/* -1/EFAULT, memory_fault as the capability promises */
		memory_fault,		/* -1/err + KVM_EXIT_MEMORY_FAULT covering gpa, always */
		error,			/* -1 with this errno, exit_reason not looked at */
		intr,			/* -1/EINTR (with KVM_EXIT_INTR when exit_intr) */
		poison_signal,		/* C8: SIGBUS BUS_MCEERR_AR, then -1/EINTR */
		nisv,			/* 0 + KVM_EXIT_ARM_NISV at gpa */
		guest_exception,	/* the guest took this exception (ucall) */
		internal_error,		/* 0 + KVM_EXIT_INTERNAL_ERROR with this suberror */
		guest_done,		/* the guest finished its program (ucall done) */
		guest_sync,		/* the guest reached a sync step (ucall sync) */
		allocation_failure,	/* G4: -1/ENOMEM (C3), or C1/C2 with EFAULT */
		arm_sea,		/* S: 0 + KVM_EXIT_ARM_SEA for an access at gva/gpa */
	};

	Kind kind = Kind::error;
	Rule rule = rules::guest;
	uint64_t gpa = 0;
	uint32_t len = 0;
	bool is_write = false;		/* mmio, nisv: the access was a store */
	uint64_t data = 0;		/* stored value, for mmio writes */
	int err = 0;			/* for error */
	bool private_access = false;	/* every memory-fault exit: KVM_MEMORY_EXIT_FLAG_PRIVATE */
	bool memory_fault_info = false;	/* KVM_CAP_MEMORY_FAULT_INFO was 1 */
	bool exit_intr = false;		/* for intr */
	/* C2: memory_fault.gpa should be a multiple of page_bytes (a note
	 * otherwise); memory_fault.size must not exceed max_extent, the
	 * largest extent KVM could have faulted (0: one page; a huge page or
	 * the memslot where KVM may map more at once). */
	uint64_t page_bytes = host_page_bytes();
	uint64_t max_extent = 0;
	uint64_t hva = 0;		/* for poison_signal: an address in the poisoned page */
	uint64_t gva = 0;		/* for arm_sea: the access's virtual address (FAR) */
	bool fetch = false;		/* for arm_sea: an instruction fetch, not a load or store */
	/* for poison_signal: what the kernel's native fault reported for the
	 * same memory (signo 0: the host's access got no signal); nothing:
	 * no comparison. */
	std::optional<SignalRecord> native;
	uint32_t suberror = 0;		/* for internal_error */
	GuestException exception;	/* for guest_exception */
	/* Where an expectation rests on kernel code rather than api.rst. */
	const char *basis = nullptr;
	/* C14, for intr: this KVM_RUN completes the access the last exit
	 * stopped at (immediate_exit after KVM_EXIT_MMIO): the PC is past it
	 * and, for a load, the destination holds completed_value. */
	bool completes = false;
	std::optional<uint64_t> completed_value;

	static Expectation mmio(Rule rule, uint64_t gpa, uint32_t len, bool is_write, uint64_t data = 0);
	static Expectation unresolvable_fault(uint64_t gpa, bool memory_fault_info, bool private_access = false);
	static Expectation memory_fault(Rule rule, int err, uint64_t gpa, bool private_access = false);
	static Expectation error(Rule rule, int err);
	static Expectation intr(Rule rule, bool exit_intr);
	static Expectation poison_signal(uint64_t hva, std::optional<SignalRecord> native = std::nullopt);
	static Expectation nisv(uint64_t gpa, bool is_write);
	static Expectation guest_exception(Rule rule, const GuestException &exception);
	static Expectation internal_error(Rule rule, uint32_t suberror);
	static Expectation guest_done(Rule rule);
	static Expectation guest_sync(Rule rule);
	static Expectation allocation_failure(uint64_t gpa);
	/* S: a load, store (is_write) or fetch at gva (IPA gpa) took a
	 * synchronous external abort KVM hands to userspace. */
	static Expectation arm_sea(uint64_t gva, uint64_t gpa, bool is_write, bool fetch = false);
	Expectation &because(const char *kernel_source)
	{
		basis = kernel_source;
		return *this;
	}
	/* C14: this run completes the pending access; a load's destination
	 * must then hold value. */
	Expectation &completing(std::optional<uint64_t> value = std::nullopt)
	{
		completes = true;
		completed_value = value;
		return *this;
	}
	/* A memory-fault exit may cover more than one page (a huge page, a
	 * memslot): the largest extent KVM could have faulted here. */
	Expectation &within(uint64_t extent)
	{
		max_extent = extent;
		return *this;
	}
	/* C9, C10 where KVM_CAP_MEMORY_FAULT_INFO is 0: api.rst 8.44 (x86
	 * only) promises no payload; the exit is still required, as the
	 * kernel's code gives it, and the verdict says so (basis). */
	Expectation &with_memory_fault_info(bool capability);

	uint64_t extent_bound() const { return max_extent ? max_extent : page_bytes; }
	std::string describe() const;
};

/* The basis with_memory_fault_info(false) names. */
extern const char *const memory_fault_exit_basis;

/* Default: what api.rst guarantees. Strict: what the stricter designs
 * discussed for KVM_EXIT_MEMORY_FAULT would also guarantee (C3). */
struct Mode {
	bool strict = false;
};

/*
 * One thing the oracle found wrong (failure) or worth a reader's eye
 * (note). Its key names it for baselines: "<rule> <field>=<observed>",
 * e.g. "C4 exit_reason=KVM_EXIT_UNKNOWN(0)" or "C2 memory_fault.size=0x0";
 * field and observed are single tokens (no spaces).
 */
struct Finding {
	enum class Severity { note, failure };
	Severity severity;
	Rule rule;
	std::string field;	/* "exit_reason", "memory_fault.gpa", "si_addr_lsb", ... */
	std::string observed;	/* the observed value as printed */
	std::string text;

	std::string key() const;
};

/* A key for a finding outside the oracle (judge_value, judge_errno,
 * kernel health): whitespace in field and observed becomes '_'. */
std::string finding_key(const char *rule, const std::string &field, const std::string &observed);
/* text with every whitespace character replaced by '_'. */
std::string key_token(const std::string &text);

struct Verdict {
	std::vector<Finding> findings;

	bool passed() const;
	/* Multi-line report: each finding with its rule, then the expected
	 * outcome and the observed one in full. */
	std::string report(const Expectation &expected, const Observation &observed) const;
};

Verdict judge(const Expectation &expected, const Observation &observed, Mode mode = {});

} /* namespace kvmc */

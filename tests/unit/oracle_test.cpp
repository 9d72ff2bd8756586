// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the oracle against hand-made observations: no KVM needed.
 * Each case is an outcome a kernel could produce, right or wrong, and the
 * verdict the contract demands for it.
 */
#include "harness.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "names.h"
#include "oracle.h"

using namespace kvmc;

namespace {

constexpr uint64_t gpa = 0x80001020;

Observation mmio_exit(uint64_t addr, uint32_t len, bool is_write, uint64_t data = 0)
{
	Observation o;
	o.run.exit_reason = KVM_EXIT_MMIO;
	o.run.mmio.phys_addr = addr;
	o.run.mmio.len = len;
	o.run.mmio.is_write = is_write;
	for (unsigned i = 0; i < 8; i++)
		o.run.mmio.data[i] = data >> (8 * i);
	return o;
}

Observation failed_run(int err, uint32_t exit_reason)
{
	Observation o;
	o.ret = -1;
	o.err = err;
	o.run.exit_reason = exit_reason;
	return o;
}

Observation memory_fault(int err, uint64_t fault_gpa, uint64_t size, uint64_t flags = 0)
{
	Observation o = failed_run(err, KVM_EXIT_MEMORY_FAULT);
	o.run.memory_fault.gpa = fault_gpa;
	o.run.memory_fault.size = size;
	o.run.memory_fault.flags = flags;
	return o;
}

/* Findings of one severity naming one rule. */
int count(const Verdict &v, Finding::Severity sev, const char *rule)
{
	int n = 0;
	for (const auto &f : v.findings)
		n += f.severity == sev && strcmp(f.rule.id, rule) == 0;
	return n;
}

int failures(const Verdict &v, const char *rule) { return count(v, Finding::Severity::failure, rule); }
int notes(const Verdict &v, const char *rule) { return count(v, Finding::Severity::note, rule); }

bool contains(const std::string &s, const char *part) { return s.find(part) != std::string::npos; }

} /* namespace */

/* ---- C5: MMIO --------------------------------------------------------- */

TEST(c5_mmio_load_matches)
{
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 4, false), mmio_exit(gpa, 4, false));
	EXPECT_TRUE(v.passed());
	EXPECT_EQ(0, v.findings.size());
}

TEST(c5_mmio_store_data_matches_low_bytes)
{
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 2, true, 0x8877665544332211ull),
			  mmio_exit(gpa, 2, true, 0x2211));
	EXPECT_TRUE(v.passed());
}

TEST(c5_mmio_store_wrong_data)
{
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 4, true, 0x44332211),
			  mmio_exit(gpa, 4, true, 0x11223344));
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "C5"));
}

TEST(c5_mmio_wrong_address_len_direction)
{
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 4, false), mmio_exit(gpa + 8, 8, true));
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(3, failures(v, "C5"));
}

TEST(c5_mmio_expected_but_efault)
{
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 4, false), failed_run(EFAULT, KVM_EXIT_MMIO));
	EXPECT_FALSE(v.passed());
	EXPECT_LE(1, failures(v, "C5"));
}

TEST(c5_mmio_expected_but_other_exit)
{
	Observation o;
	o.run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 1, false), o);
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "C5"));
}

TEST(c5_guest_finished_without_exit)
{
	Observation o = mmio_exit(0x100000000, 8, true);
	o.call = GuestCall{GuestCallKind::done, {}};
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 8, false), o);
	EXPECT_FALSE(v.passed());
}

/* ---- C7: read-only memslot -------------------------------------------- */

TEST(c7_readonly_store_is_mmio_write)
{
	Verdict v = judge(Expectation::mmio(rules::C7, gpa, 8, true, 0x1122334455667788ull),
			  mmio_exit(gpa, 8, true, 0x1122334455667788ull));
	EXPECT_TRUE(v.passed());
}

TEST(c7_readonly_store_reported_as_read_fails_c7)
{
	Verdict v = judge(Expectation::mmio(rules::C7, gpa, 8, true, 1), mmio_exit(gpa, 8, false, 1));
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "C7"));
}

/* ---- C1: shape -------------------------------------------------------- */

TEST(c1_memory_fault_with_return_zero_fails)
{
	Observation o = memory_fault(0, gpa, 0x1000);
	o.ret = 0;
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 4, false), o);
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "C1"));
}

TEST(c1_memory_fault_with_efault_and_ehwpoison_is_well_formed)
{
	for (int err : {EFAULT, EHWPOISON}) {
		Verdict v = judge(Expectation::error(rules::K3, err), memory_fault(err, gpa & ~0xfffull, 0x1000));
		EXPECT_TRUE(v.passed());
		EXPECT_EQ(0, failures(v, "C1"));
		EXPECT_EQ(0, notes(v, "C3"));
	}
}

/* ---- C2: payload ------------------------------------------------------ */

TEST(c2_payload_covering_the_gpa_passes)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), memory_fault(EFAULT, gpa & ~0xfffull, 0x1000));
	EXPECT_TRUE(v.passed());
	EXPECT_EQ(0, v.findings.size());
}

TEST(c2_gpa_outside_range_fails)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), memory_fault(EFAULT, gpa + 0x1000, 0x1000));
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "C2"));
}

TEST(c2_range_end_is_exclusive)
{
	/* [gpa - 0x20, gpa) does not contain gpa. */
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), memory_fault(EFAULT, gpa - 0x20, 0x20));
	EXPECT_EQ(1, failures(v, "C2"));
}

TEST(c2_zero_size_fails)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), memory_fault(EFAULT, gpa, 0));
	EXPECT_LE(1, failures(v, "C2"));
}

TEST(c2_undefined_flag_bits_fail)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true),
			  memory_fault(EFAULT, gpa & ~0xfffull, 0x1000, 1ull << 0));
	EXPECT_EQ(1, failures(v, "C2"));
}

TEST(c2_private_flag_must_match_access)
{
	Verdict shared_flagged = judge(Expectation::unresolvable_fault(gpa, true, false),
				       memory_fault(EFAULT, gpa & ~0xfffull, 0x1000, KVM_MEMORY_EXIT_FLAG_PRIVATE));
	EXPECT_EQ(1, failures(shared_flagged, "C2"));
	Verdict private_ok = judge(Expectation::unresolvable_fault(gpa, true, true),
				   memory_fault(EFAULT, gpa & ~0xfffull, 0x1000, KVM_MEMORY_EXIT_FLAG_PRIVATE));
	EXPECT_TRUE(private_ok.passed());
	Verdict private_missing = judge(Expectation::unresolvable_fault(gpa, true, true),
					memory_fault(EFAULT, gpa & ~0xfffull, 0x1000));
	EXPECT_EQ(1, failures(private_missing, "C2"));
}

/* ---- C3: stale exit_reason -------------------------------------------- */

TEST(c3_stale_memory_fault_with_enomem_is_a_note_by_default)
{
	/* The RFC's case: guest_memfd allocation fails with ENOMEM after the
	 * payload was filled speculatively. */
	Verdict v = judge(Expectation::error(rules::K3, ENOMEM), memory_fault(ENOMEM, gpa, 0x1000));
	EXPECT_TRUE(v.passed());
	EXPECT_EQ(1, notes(v, "C3"));
	EXPECT_TRUE(contains(v.findings[0].text, "ENOMEM(12)"));
}

TEST(c3_stale_memory_fault_fails_in_strict_mode)
{
	Verdict v = judge(Expectation::error(rules::K3, ENOMEM), memory_fault(ENOMEM, gpa, 0x1000),
			  Mode{.strict = true});
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "C3"));
}

TEST(c3_efault_is_not_stale_in_strict_mode)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), memory_fault(EFAULT, gpa & ~0xfffull, 0x1000),
			  Mode{.strict = true});
	EXPECT_TRUE(v.passed());
}

TEST(c3_other_stale_exit_reasons_are_ignored)
{
	/* After -1/EFAULT on arm64 exit_reason keeps whatever the last exit
	 * left there; only KVM_EXIT_MEMORY_FAULT is judged. */
	Verdict v = judge(Expectation::unresolvable_fault(gpa, false), failed_run(EFAULT, KVM_EXIT_MMIO));
	EXPECT_TRUE(v.passed());
	EXPECT_EQ(0, v.findings.size());
}

/* ---- C4: capability promise ------------------------------------------- */

TEST(c4_promised_and_delivered)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), memory_fault(EFAULT, gpa & ~0xfffull, 0x1000));
	EXPECT_TRUE(v.passed());
}

TEST(c4_promised_but_exit_reason_missing)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), failed_run(EFAULT, KVM_EXIT_MMIO));
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "C4"));
}

TEST(c4_not_promised_but_delivered_is_a_note_even_when_strict)
{
	for (bool strict : {false, true}) {
		Verdict v = judge(Expectation::unresolvable_fault(gpa, false),
				  memory_fault(EFAULT, gpa & ~0xfffull, 0x1000), Mode{.strict = strict});
		EXPECT_TRUE(v.passed());
		EXPECT_EQ(1, notes(v, "C4"));
	}
}

TEST(c4_wrong_errno_fails)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, false), failed_run(ENOENT, KVM_EXIT_UNKNOWN));
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "C4"));
}

TEST(c4_return_zero_fails)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, false), mmio_exit(gpa, 8, false));
	EXPECT_FALSE(v.passed());
}

/* ---- C6: no syndrome -------------------------------------------------- */

TEST(c6_nisv_exit_with_the_gpa)
{
	Observation o;
	o.run.exit_reason = KVM_EXIT_ARM_NISV;
	o.run.arm_nisv.fault_ipa = gpa;
	EXPECT_TRUE(judge(Expectation::nisv(gpa), o).passed());
	o.run.arm_nisv.fault_ipa = gpa & ~0xfffull;
	EXPECT_EQ(1, failures(judge(Expectation::nisv(gpa), o), "C6"));
}

TEST(c6_enosys_without_the_capability)
{
	EXPECT_TRUE(judge(Expectation::error(rules::C6, ENOSYS), failed_run(ENOSYS, 0)).passed());
	EXPECT_FALSE(judge(Expectation::error(rules::C6, ENOSYS), failed_run(EFAULT, 0)).passed());
}

/* ---- C8: poisoned ordinary memory ------------------------------------- */

Observation poison_run(int signo, int code, uint64_t addr, int lsb)
{
	Observation o = failed_run(EINTR, KVM_EXIT_INTR);
	o.signal = SignalRecord{signo, code, addr, lsb};
	return o;
}

TEST(c8_sigbus_then_eintr)
{
	const uint64_t hva = 0x7f0000123000;
	EXPECT_TRUE(judge(Expectation::poison_signal(hva + 0x40, 1ull << 12),
			  poison_run(SIGBUS, BUS_MCEERR_AR, hva, 12)).passed());
}

TEST(c8_huge_page_lsb_and_alignment)
{
	const uint64_t huge = 0x7f0000200000;
	const uint64_t lsbs = 1ull << 12 | 1ull << 21;
	EXPECT_TRUE(judge(Expectation::poison_signal(huge + 0x3000, lsbs),
			  poison_run(SIGBUS, BUS_MCEERR_AR, huge, 21)).passed());
	EXPECT_TRUE(judge(Expectation::poison_signal(huge + 0x3000, lsbs),
			  poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x3000, 12)).passed());
	/* lsb 21 but an address not rounded down to 2 MiB */
	EXPECT_EQ(1, failures(judge(Expectation::poison_signal(huge + 0x3000, lsbs),
				    poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x3000, 21)), "C8"));
	/* an lsb that is neither size */
	EXPECT_EQ(1, failures(judge(Expectation::poison_signal(huge + 0x3000, lsbs),
				    poison_run(SIGBUS, BUS_MCEERR_AR, huge, 16)), "C8"));
}

TEST(c8_missing_or_wrong_signal_fails)
{
	const uint64_t hva = 0x7f0000123000;
	Observation none = failed_run(EINTR, KVM_EXIT_INTR);
	EXPECT_FALSE(judge(Expectation::poison_signal(hva, 1ull << 12), none).passed());
	EXPECT_FALSE(judge(Expectation::poison_signal(hva, 1ull << 12),
			   poison_run(SIGBUS, BUS_MCEERR_AO, hva, 12)).passed());
	Observation efault = poison_run(SIGBUS, BUS_MCEERR_AR, hva, 12);
	efault.err = EFAULT;
	EXPECT_FALSE(judge(Expectation::poison_signal(hva, 1ull << 12), efault).passed());
}

/* ---- C9, C10: guest_memfd faults --------------------------------------- */

TEST(c9_ehwpoison_with_payload)
{
	EXPECT_TRUE(judge(Expectation::memory_fault(rules::C9, EHWPOISON, gpa),
			  memory_fault(EHWPOISON, gpa & ~0xfffull, 0x1000)).passed());
	EXPECT_EQ(1, failures(judge(Expectation::memory_fault(rules::C9, EHWPOISON, gpa),
				    memory_fault(EFAULT, gpa & ~0xfffull, 0x1000)), "C9"));
}

TEST(c10_exit_reason_required_whatever_the_capability)
{
	EXPECT_EQ(1, failures(judge(Expectation::memory_fault(rules::C10, EFAULT, gpa),
				    failed_run(EFAULT, KVM_EXIT_UNKNOWN)), "C10"));
}

/* ---- C11: signals ------------------------------------------------------ */

TEST(c11_eintr)
{
	EXPECT_TRUE(judge(Expectation::intr(rules::C11, true), failed_run(EINTR, KVM_EXIT_INTR)).passed());
	EXPECT_TRUE(judge(Expectation::intr(rules::C11, false), failed_run(EINTR, KVM_EXIT_UNKNOWN)).passed());
	EXPECT_EQ(1, failures(judge(Expectation::intr(rules::C11, true), failed_run(EINTR, KVM_EXIT_MMIO)),
			      "C11"));
	Observation ok;
	EXPECT_FALSE(judge(Expectation::intr(rules::C11, false), ok).passed());
}

/* ---- G4: the RFC's case ------------------------------------------------ */

TEST(g4_enomem_with_stale_memory_fault_is_c3)
{
	Observation o = memory_fault(ENOMEM, gpa & ~0xfffull, 0x1000);
	Verdict v = judge(Expectation::allocation_failure(gpa), o);
	EXPECT_TRUE(v.passed());
	EXPECT_EQ(1, notes(v, "C3"));
	EXPECT_EQ(1, failures(judge(Expectation::allocation_failure(gpa), o, Mode{.strict = true}), "C3"));
}

TEST(g4_efault_needs_the_exit)
{
	EXPECT_TRUE(judge(Expectation::allocation_failure(gpa), memory_fault(EFAULT, gpa & ~0xfffull, 0x1000)).passed());
	EXPECT_EQ(1, failures(judge(Expectation::allocation_failure(gpa), failed_run(EFAULT, KVM_EXIT_UNKNOWN)), "C1"));
}

TEST(g4_not_reached_fails)
{
	Observation o = mmio_exit(0x100000000, 8, true);
	o.call = GuestCall{GuestCallKind::done, {}};
	EXPECT_FALSE(judge(Expectation::allocation_failure(gpa), o).passed());
}

/* ---- guest exceptions (M3, M9) ----------------------------------------- */

TEST(guest_exception_expected)
{
	GuestException x{.vector = 0x200, .syndrome_mask = 0xfc00003f, .syndrome = 0x84000010,
			 .address = gpa, .check_address = true, .what = "instruction abort"};
	Observation o = mmio_exit(0x100000000, 8, true);
	o.call = GuestCall{GuestCallKind::exception, {0x200, 0x86000010, gpa, gpa}};
	EXPECT_TRUE(judge(Expectation::guest_exception(rules::M3, x), o).passed());
	o.call->args[1] = 0x96000010; /* a data abort instead */
	EXPECT_EQ(1, failures(judge(Expectation::guest_exception(rules::M3, x), o), "M3"));
}

TEST(internal_error_suberror)
{
	Observation o;
	o.run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	o.run.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	EXPECT_TRUE(judge(Expectation::internal_error(rules::M3, KVM_INTERNAL_ERROR_EMULATION), o).passed());
	o.run.internal.suberror = 2;
	EXPECT_EQ(1, failures(judge(Expectation::internal_error(rules::M3, KVM_INTERNAL_ERROR_EMULATION), o), "M3"));
}

TEST(basis_is_reported)
{
	Expectation e = Expectation::error(rules::K3, ENOEXEC).because("arch/arm64/kvm/arm.c");
	Observation o = failed_run(EINVAL, 0);
	std::string r = judge(e, o).report(e, o);
	EXPECT_TRUE(contains(r, "basis: arch/arm64/kvm/arm.c"));
}

/* ---- errors, guest trouble, time limit -------------------------------- */

TEST(error_expected_errno)
{
	EXPECT_TRUE(judge(Expectation::error(rules::K3, ENOEXEC), failed_run(ENOEXEC, 0)).passed());
	EXPECT_FALSE(judge(Expectation::error(rules::K3, ENOEXEC), failed_run(EINVAL, 0)).passed());
	Observation ok;
	EXPECT_FALSE(judge(Expectation::error(rules::K3, ENOEXEC), ok).passed());
}

TEST(timeout_fails_whatever_was_expected)
{
	Observation o = failed_run(EINTR, KVM_EXIT_INTR);
	o.timed_out = true;
	o.limit_ms = 5000;
	o.pc = 0x40000100;
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 4, false), o);
	EXPECT_FALSE(v.passed());
	EXPECT_EQ(1, failures(v, "time-limit"));
	EXPECT_TRUE(contains(v.findings[0].text, "5000 ms"));
	EXPECT_TRUE(contains(v.findings[0].text, "0x40000100"));
}

TEST(guest_exception_fails_with_its_details)
{
	Observation o = mmio_exit(0x100000000, 8, true);
	o.call = GuestCall{GuestCallKind::exception, {0x200, 0x96000045, 0x80001000, 0x40000234}};
	Verdict v = judge(Expectation::guest_done(rules::C12), o);
	EXPECT_FALSE(v.passed());
	EXPECT_TRUE(contains(v.findings[0].text, "0x96000045"));
}

TEST(guest_done)
{
	Observation o = mmio_exit(0x100000000, 8, true);
	o.call = GuestCall{GuestCallKind::done, {}};
	EXPECT_TRUE(judge(Expectation::guest_done(rules::C12), o).passed());
	EXPECT_FALSE(judge(Expectation::guest_done(rules::C12), failed_run(EFAULT, 0)).passed());
	EXPECT_FALSE(judge(Expectation::guest_done(rules::C12), mmio_exit(gpa, 4, false)).passed());
}

/* ---- the report a reader sees ----------------------------------------- */

TEST(report_names_rule_section_and_both_triples)
{
	Expectation e = Expectation::unresolvable_fault(gpa, true);
	Observation o = memory_fault(EFAULT, gpa + 0x2000, 0x1000);
	std::string r = judge(e, o).report(e, o);
	EXPECT_TRUE(contains(r, "FAIL C2 (api.rst 5 \"KVM_EXIT_MEMORY_FAULT\")"));
	EXPECT_TRUE(contains(r, "expected (C4): ret=-1 errno=EFAULT(14) exit_reason=KVM_EXIT_MEMORY_FAULT(39)"));
	EXPECT_TRUE(contains(r, "observed: ret=-1 errno=EFAULT(14) exit_reason=KVM_EXIT_MEMORY_FAULT(39) "
				"memory_fault{flags=0x0 gpa=0x80003020 size=0x1000}"));
}

TEST(names)
{
	/* The harness keeps the char pointer past the full expression:
	 * compare named strings, not temporaries. */
	const std::string mmio = exit_reason_name(KVM_EXIT_MMIO);
	const std::string memory_fault_name = exit_reason_name(KVM_EXIT_MEMORY_FAULT);
	const std::string unknown = exit_reason_name(999);
	const std::string hwpoison = errno_name(EHWPOISON);
	const std::string noexec = errno_name(ENOEXEC);
	const std::string bus = signal_name(SIGBUS);
	EXPECT_STREQ("KVM_EXIT_MMIO(6)", mmio.c_str());
	EXPECT_STREQ("KVM_EXIT_MEMORY_FAULT(39)", memory_fault_name.c_str());
	EXPECT_STREQ("KVM_EXIT_?(999)", unknown.c_str());
	EXPECT_STREQ("EHWPOISON(133)", hwpoison.c_str());
	EXPECT_STREQ("ENOEXEC(8)", noexec.c_str());
	EXPECT_STREQ("SIGBUS(7)", bus.c_str());
	const std::string line = describe(mmio_exit(0xc0000100, 2, true, 0x2211));
	EXPECT_STREQ("ret=0 exit_reason=KVM_EXIT_MMIO(6) mmio{phys_addr=0xc0000100 len=2 is_write=1 data=[11 22]}",
		     line.c_str());
}

KVMC_TEST_MAIN

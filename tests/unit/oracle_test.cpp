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

#include "guest.h"
#include "health.h"
#include "names.h"
#include "oracle.h"
#include "x86_64/exception.h"
#include "arm64/nested.h"

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

/* Whether the verdict has a finding of this severity with this key. */
bool has_key(const Verdict &v, Finding::Severity sev, const char *key)
{
	for (const auto &f : v.findings)
		if (f.severity == sev && f.key() == key)
			return true;
	return false;
}

bool fails_with(const Verdict &v, const char *key) { return has_key(v, Finding::Severity::failure, key); }
bool notes_with(const Verdict &v, const char *key) { return has_key(v, Finding::Severity::note, key); }

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

TEST(c2_each_field_wrong_fails)
{
	const Expectation e = Expectation::unresolvable_fault(gpa, true).within(0x1000);
	const uint64_t page = gpa & ~0xfffull;
	EXPECT_TRUE(fails_with(judge(e, memory_fault(EFAULT, gpa + 0x1000, 0x1000)), "C2 memory_fault.gpa=0x80002020"));
	EXPECT_TRUE(fails_with(judge(e, memory_fault(EFAULT, page, 0)), "C2 memory_fault.size=0x0"));
	/* containment alone would pass these: */
	EXPECT_TRUE(fails_with(judge(e, memory_fault(EFAULT, 0, ~0ull)), "C2 memory_fault.size=0xffffffffffffffff"));
	EXPECT_TRUE(fails_with(judge(e, memory_fault(EFAULT, page, 0x2000)), "C2 memory_fault.size=0x2000"));
	/* each undefined flag bit, and PRIVATE on a shared access */
	for (unsigned bit = 0; bit < 64; bit++) {
		const uint64_t flags = 1ull << bit;
		Verdict v = judge(e, memory_fault(EFAULT, page, 0x1000, flags));
		EXPECT_FALSE(v.passed());
		EXPECT_TRUE(fails_with(v, finding_key("C2", "memory_fault.flags", hex(flags)).c_str()));
	}
}

TEST(c2_larger_extent_where_kvm_may_fault_one)
{
	/* a 2 MiB huge page the scenario allows KVM to report as a whole */
	const Expectation e = Expectation::unresolvable_fault(gpa, true).within(2ull << 20);
	EXPECT_TRUE(judge(e, memory_fault(EFAULT, gpa & ~0x1fffffull, 2ull << 20)).passed());
	EXPECT_TRUE(fails_with(judge(e, memory_fault(EFAULT, gpa & ~0x3fffffull, 4ull << 20)),
			       "C2 memory_fault.size=0x400000"));
}

TEST(c2_default_bound_is_the_page)
{
	EXPECT_EQ(host_page_bytes(), Expectation::memory_fault(rules::C10, EFAULT, gpa).extent_bound());
	EXPECT_EQ(host_page_bytes(), Expectation::error(rules::K3, EFAULT).extent_bound());
}

TEST(c2_unaligned_gpa_is_a_note)
{
	/* api.rst allows any range that holds the fault: the exact address
	 * with a size of 8 passes, with a note. */
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), memory_fault(EFAULT, gpa, 8));
	EXPECT_TRUE(v.passed());
	EXPECT_TRUE(notes_with(v, "C2 memory_fault.gpa=0x80001020"));
}

TEST(c2_private_flag_judged_without_a_known_gpa)
{
	/* An expectation that names no GPA (error) still judges the payload
	 * of a meaningful exit: flags, size. */
	EXPECT_TRUE(fails_with(judge(Expectation::error(rules::K3, EFAULT),
				     memory_fault(EFAULT, 0x1000, 0x1000, KVM_MEMORY_EXIT_FLAG_PRIVATE)),
			       "C2 memory_fault.flags=0x8"));
	EXPECT_TRUE(fails_with(judge(Expectation::error(rules::K3, EHWPOISON), memory_fault(EHWPOISON, 0x1000, 0)),
			       "C2 memory_fault.size=0x0"));
	EXPECT_TRUE(judge(Expectation::error(rules::K3, EFAULT), memory_fault(EFAULT, 0x1000, 0x1000)).passed());
}

TEST(c2_payload_judged_on_unexpected_exits_too)
{
	/* a memory-fault exit where an MMIO exit was due: the ret is wrong,
	 * and so is the payload */
	Verdict v = judge(Expectation::mmio(rules::C5, gpa, 4, false), memory_fault(EFAULT, 0x1000, 0x1000, 0x10));
	EXPECT_TRUE(fails_with(v, "C5 ret=-1"));
	EXPECT_TRUE(fails_with(v, "C2 memory_fault.flags=0x10"));
	EXPECT_EQ(1, failures(judge(Expectation::intr(rules::C11, false), memory_fault(EFAULT, 0x1000, 0)), "C2"));
}

TEST(c2_private_flag_on_memory_fault_and_allocation_failure)
{
	EXPECT_TRUE(fails_with(judge(Expectation::memory_fault(rules::C10, EFAULT, gpa),
				     memory_fault(EFAULT, gpa & ~0xfffull, 0x1000, KVM_MEMORY_EXIT_FLAG_PRIVATE)),
			       "C2 memory_fault.flags=0x8"));
	EXPECT_TRUE(fails_with(judge(Expectation::memory_fault(rules::C2, EFAULT, gpa, true),
				     memory_fault(EFAULT, gpa & ~0xfffull, 0x1000)),
			       "C2 memory_fault.flags=0x0"));
	EXPECT_TRUE(fails_with(judge(Expectation::allocation_failure(gpa),
				     memory_fault(EFAULT, gpa & ~0xfffull, 0x1000, KVM_MEMORY_EXIT_FLAG_PRIVATE)),
			       "C2 memory_fault.flags=0x8"));
}

/*
 * KVM_RUN returned 0 with KVM_EXIT_MEMORY_FAULT where the scenario wants
 * that exit (arm64 7.3's VNCR page on guest_memfd: a known C1 deviation,
 * baselined by its C1 key): the payload is still judged, each field, so
 * a payload naming the guest hypervisor's virtual address where the
 * IPA belongs fails under its own key.
 */
TEST(c2_payload_judged_when_ret_zero_breaks_c1)
{
	const uint64_t ipa = 0x80001078, page = ipa & ~0xfffull, va = 0x4000003000;
	auto ret_zero = [](uint64_t at, uint64_t size, uint64_t flags) {
		Observation o = memory_fault(0, at, size, flags);
		o.ret = 0;
		return o;
	};
	const Expectation gone = Expectation::memory_fault(rules::C10, EFAULT, ipa);
	Verdict right = judge(gone, ret_zero(page, 0x1000, 0));
	EXPECT_TRUE(fails_with(right, "C1 exit_reason=KVM_EXIT_MEMORY_FAULT(39)"));
	EXPECT_TRUE(fails_with(right, "C10 ret=0"));
	EXPECT_EQ(0, failures(right, "C2"));
	EXPECT_TRUE(fails_with(judge(gone, ret_zero(va, 0x1000, 0)), "C2 memory_fault.gpa=0x4000003000"));
	EXPECT_TRUE(fails_with(judge(gone, ret_zero(page, 0, 0)), "C2 memory_fault.size=0x0"));
	EXPECT_TRUE(fails_with(judge(gone, ret_zero(page, 0x2000, 0)), "C2 memory_fault.size=0x2000"));
	EXPECT_TRUE(fails_with(judge(gone, ret_zero(page, 0x1000, 0x10)), "C2 memory_fault.flags=0x10"));
	EXPECT_TRUE(fails_with(judge(gone, ret_zero(page, 0x1000, KVM_MEMORY_EXIT_FLAG_PRIVATE)),
			       "C2 memory_fault.flags=0x8"));
	const Expectation alloc = Expectation::allocation_failure(ipa);
	Verdict alloc_right = judge(alloc, ret_zero(page, 0x1000, 0));
	EXPECT_TRUE(fails_with(alloc_right, "G4 ret=0"));
	EXPECT_EQ(0, failures(alloc_right, "C2"));
	EXPECT_TRUE(fails_with(judge(alloc, ret_zero(va, 0x1000, 0)), "C2 memory_fault.gpa=0x4000003000"));
	/* Where no memory-fault exit was wanted the payload of a ret-0 exit
	 * means nothing: C1 alone. */
	Verdict mmio = judge(Expectation::mmio(rules::C5, ipa, 8, false), ret_zero(va, 0, 0x10));
	EXPECT_EQ(1, failures(mmio, "C1"));
	EXPECT_EQ(0, failures(mmio, "C2"));
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

Observation nisv_exit(uint64_t ipa, uint64_t esr_iss)
{
	Observation o;
	o.run.exit_reason = KVM_EXIT_ARM_NISV;
	o.run.arm_nisv.fault_ipa = ipa;
	o.run.arm_nisv.esr_iss = esr_iss;
	return o;
}

/* ESR ISS of a stage-2 translation fault at level 1/3, with WnR (bit 6). */
constexpr uint64_t tf_l1 = 0x05, tf_l3 = 0x07, wnr = 1u << 6, cm = 1u << 8;

TEST(c6_nisv_exit_with_the_gpa_and_esr_iss)
{
	EXPECT_TRUE(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, tf_l3)).passed());
	EXPECT_TRUE(judge(Expectation::nisv(gpa, true), nisv_exit(gpa, wnr | tf_l1)).passed());
	EXPECT_TRUE(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, 0x2b)).passed()); /* level -1 */
}

TEST(c6_nisv_each_field_wrong_fails)
{
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), nisv_exit(gpa & ~0xfffull, tf_l3)),
			       "C6 arm_nisv.fault_ipa=0x80001000"));
	/* the write bit, both ways */
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, wnr | tf_l3)),
			       "C6 arm_nisv.esr_iss.WnR=1"));
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, true), nisv_exit(gpa, tf_l3)),
			       "C6 arm_nisv.esr_iss.WnR=0"));
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, cm | tf_l3)),
			       "C6 arm_nisv.esr_iss.CM=1"));
	/* a permission fault (0x0f), an external abort (0x10), nothing */
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, 0x0f)),
			       "C6 arm_nisv.esr_iss.DFSC=0xf"));
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, 0x10)),
			       "C6 arm_nisv.esr_iss.DFSC=0x10"));
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, 0)),
			       "C6 arm_nisv.esr_iss.DFSC=0x0"));
	/* the unsanitised ISS: ISV (24), SAS (23:22), SRT (20:16) leak through */
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, 1u << 24 | 3u << 22 | tf_l3)),
			       "C6 arm_nisv.esr_iss=0x1c00007"));
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), nisv_exit(gpa, 0x1fu << 16 | tf_l3)),
			       "C6 arm_nisv.esr_iss=0x1f0007"));
	Observation other = nisv_exit(gpa, tf_l3);
	other.run.exit_reason = KVM_EXIT_MMIO;
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), other), "C6 exit_reason=KVM_EXIT_MMIO(6)"));
	EXPECT_TRUE(fails_with(judge(Expectation::nisv(gpa, false), failed_run(ENOSYS, 0)), "C6 ret=-1"));
}

/* ---- S: synchronous external abort handed to userspace --------------- */

Observation sea_exit(uint64_t esr, uint64_t gva, uint64_t flags, uint64_t ipa)
{
	Observation o;
	o.run.exit_reason = KVM_EXIT_ARM_SEA;
	o.run.arm_sea.esr = esr;
	o.run.arm_sea.gva = gva;
	o.run.arm_sea.flags = flags;
	o.run.arm_sea.gpa = ipa;
	return o;
}

/* ESR_EL2 of an SEA on a load from a lower EL: EC 0x24, IL, FSC 0x10;
 * FnV (bit 10), EA (9), SET (12:11). */
constexpr uint64_t sea_load = 0x24ull << 26 | 1u << 25 | 0x10, fnv = 1u << 10, ea = 1u << 9, set = 3u << 11;
constexpr uint64_t gpa_valid = KVM_EXIT_ARM_SEA_FLAG_GPA_VALID;

TEST(s_arm_sea_exit_with_the_documented_fields)
{
	const Expectation load = Expectation::arm_sea(gpa, gpa, false);
	EXPECT_TRUE(judge(load, sea_exit(sea_load, gpa, gpa_valid, gpa)).passed());
	/* gpa from HPFAR_EL2: the page; EA and SET may be set */
	EXPECT_TRUE(judge(load, sea_exit(sea_load | ea | set, gpa, gpa_valid, gpa & ~0xfffull)).passed());
	/* FnV: gva unknown; no GPA_VALID: gpa unknown */
	EXPECT_TRUE(judge(load, sea_exit(sea_load | fnv, 0x1234, 0, 0x5678)).passed());
	EXPECT_TRUE(judge(Expectation::arm_sea(gpa, gpa, true), sea_exit(sea_load | wnr, gpa, 0, 0)).passed());
	const uint64_t sea_fetch = 0x20ull << 26 | 1u << 25 | 0x10;
	EXPECT_TRUE(judge(Expectation::arm_sea(gpa, gpa, false, true), sea_exit(sea_fetch, gpa, 0, 0)).passed());
}

TEST(s_arm_sea_each_field_wrong_fails)
{
	const Expectation load = Expectation::arm_sea(gpa, gpa, false);
	/* unsanitised: ISV (24) and SRT (20:16) leak through */
	EXPECT_TRUE(fails_with(judge(load, sea_exit(sea_load | 1u << 24 | 9u << 16, gpa, 0, 0)),
			       "S arm_sea.esr=0x93090010"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit(0x25ull << 26 | 1u << 25 | 0x10, gpa, 0, 0)), "S arm_sea.esr.EC=0x25"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit(sea_load & ~(1ull << 25), gpa, 0, 0)), "S arm_sea.esr.IL=0"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit(sea_load | cm, gpa, 0, 0)), "S arm_sea.esr.CM=1"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit(sea_load | wnr, gpa, 0, 0)), "S arm_sea.esr.WnR=1"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit((sea_load & ~0x3full) | 0x15, gpa, 0, 0)), "S arm_sea.esr.FSC=0x15"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit(sea_load, 0, 0, 0)), "S arm_sea.gva=0x0"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit(sea_load, gpa, 2, 0)), "S arm_sea.flags=0x2"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit(sea_load, gpa, gpa_valid, gpa + 0x1000)),
			       "S arm_sea.gpa=0x80002020"));
	EXPECT_TRUE(fails_with(judge(load, sea_exit(sea_load, gpa, gpa_valid, gpa + 8)), "S arm_sea.gpa=0x80001028"));
	EXPECT_TRUE(fails_with(judge(load, failed_run(EFAULT, KVM_EXIT_ARM_SEA)), "S ret=-1"));
	EXPECT_TRUE(fails_with(judge(load, mmio_exit(gpa, 8, false)), "S exit_reason=KVM_EXIT_MMIO(6)"));
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

constexpr uint64_t huge = 0x7f0000200000;	/* a 2 MiB huge page */
constexpr uint64_t poisoned = huge + 0x3040;	/* the address the guest touched */

SignalRecord native_fault(uint64_t addr, int lsb) { return {SIGBUS, BUS_MCEERR_AR, addr, lsb}; }

TEST(c8_sigbus_then_eintr)
{
	const uint64_t hva = 0x7f0000123000;
	EXPECT_TRUE(judge(Expectation::poison_signal(hva + 0x40), poison_run(SIGBUS, BUS_MCEERR_AR, hva, 12)).passed());
	/* the kernel's convention: si_addr need not be aligned */
	EXPECT_TRUE(judge(Expectation::poison_signal(hva + 0x40), poison_run(SIGBUS, BUS_MCEERR_AR, hva + 0x40, 12))
			    .passed());
}

TEST(c8_extent_of_any_size_holding_the_page)
{
	/* arm64 on a 2 MiB hugetlb page: the page-aligned hva, lsb 21 */
	EXPECT_TRUE(judge(Expectation::poison_signal(poisoned), poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x3000, 21))
			    .passed());
	/* x86: the 4 KiB page */
	EXPECT_TRUE(judge(Expectation::poison_signal(poisoned), poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x3000, 12))
			    .passed());
}

TEST(c8_each_field_wrong_fails)
{
	const Expectation e = Expectation::poison_signal(poisoned);
	EXPECT_TRUE(fails_with(judge(e, poison_run(SIGSEGV, BUS_MCEERR_AR, huge, 21)), "C8 signal=SIGSEGV(11)"));
	EXPECT_TRUE(fails_with(judge(e, poison_run(SIGBUS, BUS_MCEERR_AO, huge, 21)), "C8 si_code=5"));
	/* below PAGE_SHIFT, and beyond any address */
	EXPECT_TRUE(fails_with(judge(e, poison_run(SIGBUS, BUS_MCEERR_AR, poisoned, 0)), "C8 si_addr_lsb=0"));
	EXPECT_TRUE(fails_with(judge(e, poison_run(SIGBUS, BUS_MCEERR_AR, poisoned, 64)), "C8 si_addr_lsb=64"));
	/* the right size, the next page */
	EXPECT_TRUE(fails_with(judge(e, poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x4000, 12)),
			       "C8 si_addr=0x7f0000204000"));
	/* the right address, an lsb that leaves the page out (extent of the
	 * page before it cannot hold it: a 2 MiB extent of the huge page
	 * before) */
	EXPECT_TRUE(fails_with(judge(e, poison_run(SIGBUS, BUS_MCEERR_AR, huge - 0x1000, 21)),
			       "C8 si_addr=0x7f00001ff000"));
	Observation efault = poison_run(SIGBUS, BUS_MCEERR_AR, huge, 21);
	efault.err = EFAULT;
	EXPECT_TRUE(fails_with(judge(e, efault), "C8 errno=EFAULT(14)"));
	Observation exit = poison_run(SIGBUS, BUS_MCEERR_AR, huge, 21);
	exit.run.exit_reason = KVM_EXIT_MMIO;
	EXPECT_TRUE(fails_with(judge(e, exit), "C8 exit_reason=KVM_EXIT_MMIO(6)"));
	Observation ret0 = poison_run(SIGBUS, BUS_MCEERR_AR, huge, 21);
	ret0.ret = 0;
	EXPECT_TRUE(fails_with(judge(e, ret0), "C8 ret=0"));
}

TEST(c8_missing_signal_fails)
{
	EXPECT_TRUE(fails_with(judge(Expectation::poison_signal(poisoned), failed_run(EINTR, KVM_EXIT_INTR)),
			       "C8 signal=none"));
}

TEST(c8_same_extent_as_native_passes)
{
	/* arm64 on 7.3: KVM's page-aligned hva with lsb 21, the native
	 * fault's unaligned address with lsb 21: one extent */
	Verdict v = judge(Expectation::poison_signal(poisoned, native_fault(poisoned, 21)),
			  poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x3000, 21));
	EXPECT_TRUE(v.passed());
	EXPECT_EQ(0, v.findings.size());
}

TEST(c8_lsb_alone_differing_from_native_is_a_note)
{
	/* x86 on 7.3: the 4 KiB page where the native fault names the huge page */
	Verdict v = judge(Expectation::poison_signal(poisoned, native_fault(poisoned, 21)),
			  poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x3000, 12));
	EXPECT_TRUE(v.passed());
	EXPECT_TRUE(notes_with(v, "C8 si_addr_lsb=12"));
	/* and the other way round */
	v = judge(Expectation::poison_signal(poisoned, native_fault(poisoned, 12)),
		  poison_run(SIGBUS, BUS_MCEERR_AR, huge, 21));
	EXPECT_TRUE(v.passed());
	EXPECT_TRUE(notes_with(v, "C8 si_addr_lsb=21"));
}

TEST(c8_disjoint_from_native_fails)
{
	/* Both extents hold a poisoned page (the whole huge page is lost),
	 * but not the same one. */
	Verdict v = judge(Expectation::poison_signal(poisoned, native_fault(huge + 0x5008, 12)),
			  poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x3000, 12));
	EXPECT_FALSE(v.passed());
	EXPECT_TRUE(fails_with(v, "C8 si_addr=0x7f0000203000"));
}

TEST(c8_no_native_report_fails)
{
	Verdict v = judge(Expectation::poison_signal(poisoned, SignalRecord{}),
			  poison_run(SIGBUS, BUS_MCEERR_AR, huge + 0x3000, 12));
	EXPECT_TRUE(fails_with(v, "C8 native.signal=no_signal"));
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
	for (bool cap : {true, false}) {
		Expectation e = Expectation::memory_fault(rules::C10, EFAULT, gpa).with_memory_fault_info(cap);
		EXPECT_TRUE(fails_with(judge(e, failed_run(EFAULT, KVM_EXIT_UNKNOWN)),
				       "C10 exit_reason=KVM_EXIT_UNKNOWN(0)"));
		EXPECT_TRUE(fails_with(judge(e, memory_fault(EFAULT, gpa + 0x1000, 0x1000)),
				       "C2 memory_fault.gpa=0x80002020"));
	}
}

TEST(c9_c10_without_the_capability_name_their_basis)
{
	/* api.rst 8.44 is x86-only: on arm64 (capability 0) the exit rests
	 * on gmem_abort(), and the verdict says so. */
	Expectation without = Expectation::memory_fault(rules::C9, EHWPOISON, gpa).with_memory_fault_info(false);
	EXPECT_STREQ(memory_fault_exit_basis, without.basis);
	Observation o = failed_run(EHWPOISON, KVM_EXIT_UNKNOWN);
	EXPECT_TRUE(contains(judge(without, o).report(without, o), "basis: KVM_CAP_MEMORY_FAULT_INFO=0"));
	Expectation with = Expectation::memory_fault(rules::C9, EHWPOISON, gpa).with_memory_fault_info(true);
	EXPECT_TRUE(with.basis == nullptr);
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

TEST(g4_enomem_with_payload_is_the_folio_allocation)
{
	Observation o = memory_fault(ENOMEM, gpa & ~0xfffull, 0x1000);
	Verdict v = judge(Expectation::allocation_failure(gpa), o);
	EXPECT_TRUE(v.passed());
	EXPECT_TRUE(notes_with(v, "C3 errno=ENOMEM(12)"));
	EXPECT_TRUE(notes_with(v, "G4 failed_allocation=guest_memfd_folio"));
	Verdict strict = judge(Expectation::allocation_failure(gpa), o, Mode{.strict = true});
	EXPECT_TRUE(fails_with(strict, "C3 errno=ENOMEM(12)"));
}

TEST(g4_enomem_without_payload_is_the_mmu_cache)
{
	for (bool strict : {false, true}) {
		Verdict v = judge(Expectation::allocation_failure(gpa), failed_run(ENOMEM, KVM_EXIT_UNKNOWN),
				  Mode{.strict = strict});
		EXPECT_TRUE(v.passed());
		EXPECT_TRUE(notes_with(v, "G4 failed_allocation=mmu_memory_cache"));
		EXPECT_EQ(0, notes(v, "C3"));
	}
}

TEST(g4_enomem_with_a_payload_for_another_page_is_a_note)
{
	Verdict v = judge(Expectation::allocation_failure(gpa), memory_fault(ENOMEM, gpa + 0x1000, 0x1000));
	EXPECT_TRUE(v.passed());
	EXPECT_TRUE(notes_with(v, "G4 memory_fault.gpa=0x80002020"));
}

TEST(g4_efault_needs_the_exit)
{
	EXPECT_TRUE(judge(Expectation::allocation_failure(gpa), memory_fault(EFAULT, gpa & ~0xfffull, 0x1000)).passed());
	EXPECT_TRUE(fails_with(judge(Expectation::allocation_failure(gpa), failed_run(EFAULT, KVM_EXIT_UNKNOWN)),
			       "C1 exit_reason=KVM_EXIT_UNKNOWN(0)"));
	EXPECT_TRUE(fails_with(judge(Expectation::allocation_failure(gpa), memory_fault(EFAULT, gpa + 0x1000, 0x1000)),
			       "C2 memory_fault.gpa=0x80002020"));
}

TEST(g4_other_errnos_fail)
{
	/* EHWPOISON: nothing is poisoned here; EIO: a binding mismatch
	 * (__kvm_gmem_get_pfn's WARN path); the rest are no allocation's. */
	for (int err : {EHWPOISON, EIO, EINTR, EAGAIN, ENOSPC, EINVAL, ENOENT}) {
		Verdict v = judge(Expectation::allocation_failure(gpa), memory_fault(err, gpa & ~0xfffull, 0x1000));
		EXPECT_FALSE(v.passed());
		EXPECT_TRUE(fails_with(v, finding_key("G4", "errno", errno_name(err)).c_str()));
	}
}

TEST(g4_not_reached_fails)
{
	Observation o = mmio_exit(0x100000000, 8, true);
	o.call = GuestCall{GuestCallKind::done, {}};
	EXPECT_TRUE(fails_with(judge(Expectation::allocation_failure(gpa), o), "G4 ret=0"));
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

TEST(guest_exception_address_unless_marked_unknown)
{
	/* arm64 ESR.FnV (bit 10): FAR not valid. */
	GuestException x{.vector = 0x400, .syndrome_mask = 0xfc00003f, .syndrome = 0x94000010,
			 .address = 0x80001078, .check_address = true, .address_unknown_bit = 1u << 10,
			 .what = "VNCR abort"};
	Observation o = mmio_exit(0x100000000, 8, true);
	o.call = GuestCall{GuestCallKind::exception, {0x400, 0x96002010, 0x80001078, 0x40001fa4}};
	EXPECT_TRUE(judge(Expectation::guest_exception(rules::M3, x), o).passed());
	o.call->args[2] = 0; /* a stale FAR, FnV clear */
	EXPECT_TRUE(fails_with(judge(Expectation::guest_exception(rules::M3, x), o), "M3 exception.address=0x0"));
	o.call->args[1] |= 1u << 10; /* FnV set: any FAR goes */
	EXPECT_TRUE(judge(Expectation::guest_exception(rules::M3, x), o).passed());
}

/* ---- C14: the architectural state after an exit ------------------------ */

namespace {

constexpr uint64_t access_pc = 0x40002510, next_pc = 0x40002514;

/* An observation as GuestVm makes it: the PC, the destination register
 * and the access the guest recorded. */
Observation at(Observation o, uint64_t pc, uint64_t dest, bool load = true)
{
	o.pc = pc;
	o.dest = dest;
	o.access = AccessRecord{access_pc, next_pc, load};
	return o;
}

} /* namespace */

TEST(c14_a_fault_exit_leaves_pc_and_destination_alone)
{
	Expectation e = Expectation::unresolvable_fault(gpa, true);
	Observation mf = memory_fault(EFAULT, gpa & ~0xfffull, 0x1000);
	EXPECT_TRUE(judge(e, at(mf, access_pc, guest::dest_canary)).passed());
	EXPECT_TRUE(fails_with(judge(e, at(mf, next_pc, guest::dest_canary)), "C14 pc=0x40002514"));
	EXPECT_TRUE(fails_with(judge(e, at(mf, access_pc, 0)), "C14 dest=0x0"));
	/* A store has no destination to judge. */
	EXPECT_TRUE(judge(e, at(mf, access_pc, 0, false)).passed());
	/* Without the guest's record nothing is judged. */
	Observation bare = mf;
	bare.pc = next_pc;
	EXPECT_TRUE(judge(e, bare).passed());
}

TEST(c14_judged_on_every_exit_that_retries_the_access)
{
	const uint64_t page = gpa & ~0xfffull;
	struct {
		Expectation e;
		Observation o;
	} cases[] = {
		{Expectation::memory_fault(rules::C9, EHWPOISON, gpa), memory_fault(EHWPOISON, page, 0x1000)},
		{Expectation::allocation_failure(gpa), memory_fault(EFAULT, page, 0x1000)},
		{Expectation::nisv(gpa, false), nisv_exit(gpa, tf_l3)},
		{Expectation::arm_sea(gpa, gpa, false), sea_exit(sea_load, gpa, gpa_valid, gpa)},
	};
	for (auto &c : cases) {
		EXPECT_TRUE(judge(c.e, at(c.o, access_pc, guest::dest_canary)).passed());
		EXPECT_TRUE(fails_with(judge(c.e, at(c.o, next_pc, guest::dest_canary)), "C14 pc=0x40002514"));
	}
}

TEST(c14_not_judged_at_an_mmio_exit_or_when_the_outcome_is_wrong)
{
	/* api.rst: the guest state is consistent once userspace re-enters. */
	EXPECT_TRUE(judge(Expectation::mmio(rules::C5, gpa, 4, false), at(mmio_exit(gpa, 4, false), next_pc, 0)).passed());
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), at(failed_run(EINVAL, 0), next_pc, 0));
	EXPECT_EQ(0, failures(v, "C14"));
}

TEST(c14_completion_retires_the_access_once)
{
	Observation o = failed_run(EINTR, KVM_EXIT_MMIO);
	Expectation load = Expectation::intr(rules::C11, false).completing(0x88);
	EXPECT_TRUE(judge(load, at(o, next_pc, 0x88)).passed());
	EXPECT_TRUE(fails_with(judge(load, at(o, access_pc, 0x88)), "C14 pc=0x40002510"));
	EXPECT_TRUE(fails_with(judge(load, at(o, next_pc, guest::dest_canary)), "C14 dest=0x5afec0de0ddba115"));
	/* the wrong extension: 0xffffff88 where 0x88 was due */
	EXPECT_TRUE(fails_with(judge(load, at(o, next_pc, 0xffffff88)), "C14 dest=0xffffff88"));
	Expectation store = Expectation::intr(rules::C11, false).completing();
	EXPECT_TRUE(judge(store, at(o, next_pc, 0, false)).passed());
	EXPECT_TRUE(fails_with(judge(store, at(o, access_pc, 0, false)), "C14 pc=0x40002510"));
	EXPECT_TRUE(fails_with(judge(store, o), "C14 access=none"));
}

/* A signal that ends a run while KVM waits on the access (a userfault,
 * U2) leaves it to be retried: the PC at it, the destination untouched. */
TEST(c14_plain_eintr_leaves_the_access_to_be_retried)
{
	Observation o = failed_run(EINTR, KVM_EXIT_INTR);
	Expectation e = Expectation::intr(rules::C11, true);
	EXPECT_TRUE(judge(e, at(o, access_pc, guest::dest_canary)).passed());
	EXPECT_TRUE(fails_with(judge(e, at(o, next_pc, guest::dest_canary)), "C14 pc=0x40002514"));
	EXPECT_TRUE(fails_with(judge(e, at(o, access_pc, 0x88)), "C14 dest=0x88"));
	/* No access recorded (K1, K2: the guest ran nothing): not judged. */
	Observation bare = o;
	bare.pc = next_pc;
	EXPECT_TRUE(judge(e, bare).passed());
}

namespace {

/* The arm64 external data abort KVM injects, as lib/arm64 expects it. */
GuestException injected_dabt()
{
	GuestException x;
	x.vector = 0x200;
	x.syndrome_mask = ~0ull;
	x.syndrome = 0x96000010; /* EC 0x25, IL, FSC 0x10 */
	x.address = gpa;
	x.returns = GuestException::Returns::to_access;
	x.pstate_mask = 0x3df;
	x.pstate = 0x3c5;
	x.what = "a data abort";
	return x;
}

Observation took(uint64_t esr, uint64_t far, uint64_t elr, uint64_t spsr, uint64_t hpfar = 0)
{
	Observation o = at(mmio_exit(0x100000000, 8, true), 0x40001ff0, guest::dest_canary);
	o.call = GuestCall{GuestCallKind::exception, {0x200, esr, far, elr, spsr, hpfar}};
	return o;
}

} /* namespace */

TEST(c14_every_esr_field_of_an_injected_abort)
{
	Expectation e = Expectation::guest_exception(rules::M9, injected_dabt());
	EXPECT_TRUE(judge(e, took(0x96000010, gpa, access_pc, 0x200003c5)).passed());
	/* Each field of ESR_EL1 wrong on its own: EC (an instruction abort, a
	 * lower EL), IL, ISV, SAS, SSE, SRT, SF, AR, VNCR, SET, FnV, EA, CM,
	 * S1PTW, WnR, the FSC (a translation fault), ISS2. */
	const uint64_t wrong[] = {0x86000010, 0x92000010, 0x94000010, 0x97000010, 0x96c00010, 0x96200010,
				  0x960f0010, 0x96008010, 0x96004010, 0x96002010, 0x96001810, 0x96000410,
				  0x96000210, 0x96000110, 0x96000090, 0x96000050, 0x96000007, 0x196000010};
	for (uint64_t esr : wrong) {
		Verdict v = judge(e, took(esr, gpa, access_pc, 0x200003c5));
		EXPECT_TRUE(fails_with(v, ("M9 exception.syndrome=" + hex(esr)).c_str()));
	}
}

TEST(c14_far_elr_and_pstate_of_an_injected_abort)
{
	Expectation e = Expectation::guest_exception(rules::M9, injected_dabt());
	EXPECT_TRUE(fails_with(judge(e, took(0x96000010, gpa & ~0xfffull, access_pc, 0x3c5)),
			       "M9 exception.address=0x80001000"));
	/* returning past the access, or to the vector */
	EXPECT_TRUE(fails_with(judge(e, took(0x96000010, gpa, next_pc, 0x3c5)), "C14 exception.return_pc=0x40002514"));
	/* taken from EL0, from EL1 with SP_EL0, from AArch32, with IRQs unmasked */
	for (uint64_t spsr : {0x3c0ull, 0x3c4ull, 0x3d5ull, 0x345ull}) {
		Verdict v = judge(e, took(0x96000010, gpa, access_pc, spsr));
		EXPECT_TRUE(fails_with(v, ("C14 exception.pstate=" + hex(spsr)).c_str()));
	}
	/* A fetch returns to the address it fetched. */
	GuestException fetch = injected_dabt();
	fetch.syndrome = 0x86000010;
	fetch.returns = GuestException::Returns::to_address;
	Expectation f = Expectation::guest_exception(rules::M3, fetch);
	EXPECT_TRUE(judge(f, took(0x86000010, gpa, gpa, 0x3c5)).passed());
	EXPECT_TRUE(fails_with(judge(f, took(0x86000010, gpa, access_pc, 0x3c5)), "C14 exception.return_pc=0x40002510"));
}

TEST(c14_hpfar_of_a_forwarded_stage2_fault)
{
	GuestException x = injected_dabt();
	x.hpfar = (gpa >> 12) << 4;
	Expectation e = Expectation::guest_exception(rules::M9, x);
	EXPECT_TRUE(judge(e, took(0x96000010, gpa, access_pc, 0x3c5, (gpa >> 12) << 4)).passed());
	EXPECT_TRUE(fails_with(judge(e, took(0x96000010, gpa, access_pc, 0x3c5, 0)), "C14 exception.hpfar=0x0"));
}

/* x86: a #PF KVM injects, as include/x86_64/exception.h expects it. */
TEST(c14_every_field_of_an_injected_page_fault)
{
	const uint64_t cr2 = 0x140006000, rflags = x86::rflags_fixed | x86::rflags_rf;
	Expectation e = Expectation::guest_exception(
		rules::C14, x86::page_fault(cr2, x86::pf_present | x86::pf_write, "#PF, protection, write"));
	auto took_pf = [](uint64_t error_code, uint64_t addr, uint64_t rip, uint64_t flags) {
		Observation o = at(Observation{}, 0x40001ff0, guest::dest_canary);
		o.call = GuestCall{GuestCallKind::exception, {x86::pf_vector, error_code, addr, rip, flags, 0}};
		return o;
	};
	EXPECT_TRUE(judge(e, took_pf(0x3, cr2, access_pc, rflags)).passed());
	/* The arithmetic flags are the guest's own: CF, PF, ZF, SF, OF. */
	EXPECT_TRUE(judge(e, took_pf(0x3, cr2, access_pc, rflags | 0x8c5)).passed());
	/* Each defined bit of the error code wrong on its own (P, R/W, U/S,
	 * RSV, I/D, PK, SS, RMP), and reserved ones (bit 7, SGX's 15). */
	for (uint64_t code : {0x2ull, 0x1ull, 0x7ull, 0xbull, 0x13ull, 0x23ull, 0x43ull, 0x80000003ull, 0x83ull,
			      0x8003ull}) {
		Verdict v = judge(e, took_pf(code, cr2, access_pc, rflags));
		EXPECT_TRUE(fails_with(v, ("C14 exception.syndrome=" + hex(code)).c_str()));
	}
	EXPECT_TRUE(fails_with(judge(e, took_pf(0x3, cr2 + 0x48, access_pc, rflags)),
			       "C14 exception.address=0x140006048"));
	EXPECT_TRUE(fails_with(judge(e, took_pf(0x3, cr2, next_pc, rflags)), "C14 exception.return_pc=0x40002514"));
	/* RF not set, IF or DF or TF set, IOPL 3, AC set */
	for (uint64_t flags : {uint64_t{0x2}, rflags | 0x200, rflags | 0x400, rflags | 0x100, rflags | 0x3000, rflags | 0x40000}) {
		Verdict v = judge(e, took_pf(0x3, cr2, access_pc, flags));
		EXPECT_TRUE(fails_with(v, ("C14 exception.pstate=" + hex(flags & x86::rflags_judged)).c_str()));
	}
	/* A fetch returns to the address it fetched. */
	Expectation f = Expectation::guest_exception(rules::C14, x86::page_fault(cr2, x86::pf_fetch, "#PF, fetch"));
	EXPECT_TRUE(judge(f, took_pf(0x10, cr2, cr2, rflags)).passed());
	EXPECT_TRUE(fails_with(judge(f, took_pf(0x10, cr2, access_pc, rflags)), "C14 exception.return_pc=0x40002510"));
}

/* x86: the #UD KVM injects when it cannot emulate at CPL 3. */
TEST(c14_injected_invalid_opcode)
{
	const uint64_t rflags = x86::rflags_fixed | x86::rflags_rf;
	Expectation e = Expectation::guest_exception(rules::C14, x86::invalid_opcode("#UD"));
	auto took_ud = [](uint64_t vector, uint64_t rip, uint64_t flags) {
		Observation o = at(Observation{}, 0x40001ff0, guest::dest_canary);
		o.call = GuestCall{GuestCallKind::exception, {vector, 0, 0x1234, rip, flags, 0}};
		return o;
	};
	EXPECT_TRUE(judge(e, took_ud(x86::ud_vector, access_pc, rflags)).passed());
	EXPECT_TRUE(fails_with(judge(e, took_ud(x86::pf_vector, access_pc, rflags)), "C14 exception.vector=0xe"));
	EXPECT_TRUE(fails_with(judge(e, took_ud(x86::ud_vector, next_pc, rflags)), "C14 exception.return_pc=0x40002514"));
	EXPECT_TRUE(fails_with(judge(e, took_ud(x86::ud_vector, access_pc, 0x2)), "C14 exception.pstate=0x2"));
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

/* ---- finding keys (baselines name findings, not tests) ---------------- */

TEST(keys_name_rule_field_and_observed_value)
{
	Verdict v = judge(Expectation::unresolvable_fault(gpa, true), failed_run(EFAULT, KVM_EXIT_UNKNOWN));
	ASSERT_EQ(1, v.findings.size());
	const std::string key = v.findings[0].key();
	EXPECT_STREQ("C4 exit_reason=KVM_EXIT_UNKNOWN(0)", key.c_str());
	EXPECT_TRUE(fails_with(judge(Expectation::mmio(rules::C5, gpa, 4, false), mmio_exit(gpa, 2, false)),
			       "C5 mmio.len=2"));
	EXPECT_TRUE(fails_with(judge(Expectation::mmio(rules::C5, gpa, 4, true, 1), mmio_exit(gpa, 4, true, 2)),
			       "C5 mmio.data=0x2"));
	EXPECT_TRUE(fails_with(judge(Expectation::mmio(rules::C5, gpa, 4, false), mmio_exit(gpa + 4, 4, false)),
			       "C5 mmio.phys_addr=0x80001024"));
	EXPECT_TRUE(fails_with(judge(Expectation::mmio(rules::C5, gpa, 4, false), mmio_exit(gpa, 4, true)),
			       "C5 mmio.is_write=1"));
	EXPECT_TRUE(fails_with(judge(Expectation::error(rules::K3, ENOEXEC), failed_run(EINVAL, 0)),
			       "K3 errno=EINVAL(22)"));
	EXPECT_TRUE(notes_with(judge(Expectation::error(rules::K3, ENOMEM), memory_fault(ENOMEM, gpa, 0x1000)),
			       "C3 errno=ENOMEM(12)"));
	Observation timed = failed_run(EINTR, KVM_EXIT_INTR);
	timed.timed_out = true;
	EXPECT_TRUE(fails_with(judge(Expectation::guest_done(rules::C12), timed), "time-limit KVM_RUN=timed_out"));
}

TEST(keys_have_no_spaces)
{
	const std::string k = finding_key("C12", "guest's earlier store", "0x1 2");
	EXPECT_STREQ("C12 guest's_earlier_store=0x1_2", k.c_str());
	Observation o = mmio_exit(0x100000000, 8, true);
	o.call = GuestCall{GuestCallKind::exception, {0x200, 0x96000045, 0x80001000, 0x40000234}};
	Verdict v = judge(Expectation::guest_done(rules::C12), o);
	ASSERT_EQ(1, v.findings.size());
	const std::string key = v.findings[0].key();
	EXPECT_STREQ("guest guest_call=exception(vector=0x200,syndrome=0x96000045)", key.c_str());
	for (const auto &f : v.findings)
		EXPECT_EQ(std::string::npos, f.key().find(' ', f.key().find(' ') + 1));
}

TEST(report_lines_end_with_the_key)
{
	Expectation e = Expectation::unresolvable_fault(gpa, true);
	Observation o = failed_run(EFAULT, KVM_EXIT_UNKNOWN);
	std::string r = judge(e, o).report(e, o);
	EXPECT_TRUE(contains(r, "FAIL C4 (api.rst 8.44 KVM_CAP_MEMORY_FAULT_INFO): exit_reason "
				"(KVM_CAP_MEMORY_FAULT_INFO=1): wanted KVM_EXIT_MEMORY_FAULT(39), got "
				"KVM_EXIT_UNKNOWN(0) [key: C4 exit_reason=KVM_EXIT_UNKNOWN(0)]\n"));
}

TEST(health_kinds_for_keys)
{
	const std::string warn = health_kind("kernel log: WARNING: CPU: 0 PID: 1 at arch/arm64/kvm/mmu.c:1");
	const std::string bug = health_kind("kernel log: kernel BUG at mm/memory.c:12!");
	const std::string taint = health_kind("new taint: 0x0 -> 0x200 (W)");
	EXPECT_STREQ("WARN", warn.c_str());
	EXPECT_STREQ("BUG", bug.c_str());
	EXPECT_STREQ("taint", taint.c_str());
	const std::string key = finding_key("C13", "kernel-health", warn);
	EXPECT_STREQ("C13 kernel-health=WARN", key.c_str());
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

/* ---- N with VA != IPA (lib/arm64/nested.cpp) ------------------------- */

namespace {

/* What the guest hypervisor reports from its vector 0x400. */
Observation took_at_el2(uint64_t esr, uint64_t far, uint64_t elr, uint64_t spsr, uint64_t hpfar = 0)
{
	Observation o = at(mmio_exit(0x100000000, 8, true), 0x40002050, guest::dest_canary, false);
	o.call = GuestCall{GuestCallKind::exception, {0x400, esr, far, elr, spsr, hpfar}};
	return o;
}

} /* namespace */

/*
 * The guest hypervisor's own EL2 stage-1 refused the VA in VNCR_EL2:
 * every field judged, each wrong on its own fails, and the VA (never the
 * IPA, never a stale 0) is FAR_EL2.
 */
TEST(n_vncr_stage1_fault_every_field)
{
	const uint64_t va = 0x4000007078, ipa = 0x80001078;
	using arch::Stage1Fault;
	struct Case {
		Stage1Fault fault;
		bool is_write;
		uint64_t esr;
	};
	for (const Case &c : {Case{Stage1Fault::translation, false, 0x96002007},
			      Case{Stage1Fault::translation, true, 0x96002047},
			      Case{Stage1Fault::access_flag, false, 0x9600200b},
			      Case{Stage1Fault::permission, true, 0x9600204f},
			      Case{Stage1Fault::walk_external_abort, false, 0x96002017}}) {
		const Expectation e = arch::vncr_stage1_fault(c.fault, 3, c.is_write, va);
		EXPECT_TRUE(judge(e, took_at_el2(c.esr, va, access_pc, 0x3c5)).passed());
		/* the instruction syndrome is not judged for a VNCR abort */
		EXPECT_TRUE(judge(e, took_at_el2(c.esr | 0x1c30000, va, access_pc, 0x3c5)).passed());
		/* EC (from a lower EL), IL, VNCR, WnR, the FSC's level and type,
		 * CM, S1PTW; FnV, EA, SET on a fault that is no external abort */
		std::vector<uint64_t> wrong = {c.esr ^ (0x01ull << 26), c.esr ^ (1ull << 25), c.esr ^ (1ull << 13),
					       c.esr ^ (1ull << 6), c.esr ^ 0x1, c.esr ^ 0x4, c.esr ^ (1ull << 8),
					       c.esr ^ (1ull << 7)};
		if (c.fault != Stage1Fault::walk_external_abort)
			for (uint64_t bit : {1ull << 10, 1ull << 9, 1ull << 11})
				wrong.push_back(c.esr ^ bit);
		for (uint64_t esr : wrong) {
			Verdict v = judge(e, took_at_el2(esr, va, access_pc, 0x3c5));
			EXPECT_TRUE(fails_with(v, ("N exception.syndrome=" + hex(esr & e.exception.syndrome_mask)).c_str()));
		}
		EXPECT_TRUE(fails_with(judge(e, took_at_el2(c.esr, ipa, access_pc, 0x3c5)), "N exception.address=0x80001078"));
		EXPECT_TRUE(fails_with(judge(e, took_at_el2(c.esr, 0, access_pc, 0x3c5)), "N exception.address=0x0"));
		EXPECT_TRUE(fails_with(judge(e, took_at_el2(c.esr, va, next_pc, 0x3c5)),
				       "C14 exception.return_pc=0x40002514"));
		EXPECT_TRUE(fails_with(judge(e, took_at_el2(c.esr, va, access_pc, 0x3c9)), "C14 exception.pstate=0x3c9"));
	}
	/* An external abort on the walk may say FAR is not valid (FnV). */
	const Expectation walk = arch::vncr_stage1_fault(Stage1Fault::walk_external_abort, 3, false, va);
	EXPECT_TRUE(judge(walk, took_at_el2(0x96002417, 0, access_pc, 0x3c5)).passed());
}

/*
 * A stage-2 fault forwarded from a nested context whose own stage-1 is
 * on: FAR_EL2 the nested VA, HPFAR_EL2 the nested IPA's page in FIPA;
 * the two swapped, or either wrong, fails.
 */
TEST(n_forwarded_stage2_fault_at_a_va)
{
	const uint64_t va = 0x4000008238, ipa = 0x180023238, hpfar = 0x1800230;
	const Expectation e = arch::forwarded_stage2_fault_at(arch::Stage2Fault::translation, 1,
							      arch::NestedAccessKind::load, va, ipa);
	EXPECT_TRUE(judge(e, took_at_el2(0x93c08005, va, access_pc, 0x3c5, hpfar)).passed());
	EXPECT_TRUE(fails_with(judge(e, took_at_el2(0x93c08005, ipa, access_pc, 0x3c5, hpfar)),
			       "N exception.address=0x180023238"));
	EXPECT_TRUE(fails_with(judge(e, took_at_el2(0x93c08005, va, access_pc, 0x3c5, (va >> 12) << 4)),
			       "C14 exception.hpfar=0x40000080"));
	EXPECT_TRUE(fails_with(judge(e, took_at_el2(0x93c08005, va, access_pc, 0x3c5, hpfar | 1ull << 63)),
			       "C14 exception.hpfar=0x8000000001800230"));
	/* S1PTW: the fault was on the access, not on the stage-1 walk */
	EXPECT_TRUE(fails_with(judge(e, took_at_el2(0x93c08085, va, access_pc, 0x3c5, hpfar)),
			       "N exception.syndrome=0x93c08085"));
	/* MMU off: the same expectation with va = ipa (N16) */
	const Expectation off = arch::forwarded_stage2_fault(arch::Stage2Fault::translation, 1,
							     arch::NestedAccessKind::load, ipa);
	EXPECT_TRUE(judge(off, took_at_el2(0x93c08005, ipa, access_pc, 0x3c5, hpfar)).passed());
	EXPECT_TRUE(fails_with(judge(off, took_at_el2(0x93c08005, va, access_pc, 0x3c5, hpfar)),
			       "N exception.address=0x4000008238"));
}

KVMC_TEST_MAIN

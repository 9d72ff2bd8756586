// SPDX-License-Identifier: GPL-2.0
/*
 * x86_64: the guest rewriting its own page tables while it runs (C14, C5
 * through GVA != GPA). Under shadow paging every such store lands on a
 * page KVM write-protects because it shadows it, and KVM must emulate or
 * retry the store and drop what it derived from the old entry; under NPT
 * the CPU walks the tables, but KVM's instruction emulator walks them
 * again for an access it emulates. The window page window_ram
 * (include/x86_64/window.h) is RAM; the steps rewrite its PTE.
 *
 *  guest_entry_cleared  the PTE, or the PDE above it, cleared by a MOV
 *                 or by REP STOSB (an instruction KVM's shadow MMU
 *                 retries rather than emulates) or an x87 store (one it
 *                 cannot emulate), then INVLPG: the next
 *                 load is a #PF, not present (the APM, vol. 2, 5.5:
 *                 after INVLPG no stale translation remains). A PT may
 *                 go out of sync in KVM's shadow MMU, a PD may not: its
 *                 store is the one KVM write-protects.
 *  guest_pte_remapped  the PTE pointed at an MMIO page, then INVLPG: the
 *                 next load exits at the new GPA (C5).
 *  stale_translation  the PTE cleared without INVLPG: the CPU may still
 *                 use the old translation or not (the APM, 5.5.3), so
 *                 either the access completes as before or it is the
 *                 #PF, but nothing else. Where the CPU uses it and the
 *                 access needs KVM's emulator (MMIO), the emulator's own
 *                 walk finds the PTE gone: the #PF KVM then injects must
 *                 be the one the CPU would have raised. For an
 *                 instruction fetched from the page, and for a load that
 *                 crosses from the page into MMIO.
 */
#include "test_util.h"

#include <cstring>

#include "layout.h"
#include "x86_64/exception.h"
#include "x86_64/placed_table.h"
#include "x86_64/window.h"

using namespace kvmc;
using namespace kvmc::x86;

namespace {

constexpr uint64_t pte_present = 1, pte_writable = 2, pte_pwt = 8, pte_pcd = 16;
constexpr uint64_t pattern = 0x8877665544332211ull;
const char *const invlpg_basis = "the APM vol. 2, 5.5 (INVLPG); under shadow paging arch/x86/kvm/mmu/mmu.c "
				 "write-protects the guest's tables (kvm_mmu_track_write(), RET_PF_WRITE_PROTECTED)";

/* pf, judged as far as KVM answers for it: under NPT the CPU may walk
 * the tables and deliver the #PF itself (for a stale translation, where
 * it no longer uses it). */
GuestException as_kvm_answers(const GuestException &pf)
{
	std::string why;
	return kvm_walks_guest_tables(&why) ? pf : rf_not_judged(pf);
}

} /* namespace */

KVM_FIXTURE(guest_entry_cleared);
enum class Clear { mov, rep_stos, x87 };
FIXTURE_VARIANT(guest_entry_cleared) { bool pde; Clear by; };
FIXTURE_VARIANT_ADD(guest_entry_cleared, pte_by_mov) { .pde = false, .by = Clear::mov };
FIXTURE_VARIANT_ADD(guest_entry_cleared, pte_by_rep_stos) { .pde = false, .by = Clear::rep_stos };
FIXTURE_VARIANT_ADD(guest_entry_cleared, pde_by_mov) { .pde = true, .by = Clear::mov };
FIXTURE_VARIANT_ADD(guest_entry_cleared, pde_by_rep_stos) { .pde = true, .by = Clear::rep_stos };
/* x87 FISTP: a store KVM's emulator cannot decode, so under shadow
 * paging KVM must let the CPU carry it out (unprotect and retry). */
FIXTURE_VARIANT_ADD(guest_entry_cleared, pde_by_x87_store) { .pde = true, .by = Clear::x87 };

TEST_F(guest_entry_cleared, then_load)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gva = window_gva(window_ram, 0x20);
	const uint64_t entry = variant->pde ? window_pd_gpa : window_pte_gpa(window_ram);
	g.ram(window_gpa(window_ram, 0x20)) = pattern;
	const guest::Step clear = variant->by == Clear::rep_stos ? rep_store(entry, 8, 0)
				  : variant->by == Clear::x87	 ? x87_store_zero(entry)
								 : store(entry, 8, 0);
	g.order({load(gva, 8), clear, invlpg(gva), load(gva, 8)});
	log_line(std::string("basis: ") + invlpg_basis);
	ASSERT_OUTCOME("the load after the entry is cleared",
		       Expectation::guest_exception(rules::C14, as_kvm_answers(page_fault(gva, 0, "#PF, not present"))),
		       g.run());
	EXPECT_VALUE(rules::C14, "the load before (through the old entry)", pattern, g.loaded(0));
	EXPECT_VALUE(rules::C14, "steps completed", 3, g.completed());
	EXPECT_VALUE(rules::C14, "the entry in guest memory", 0, g.ram(entry));
}

KVM_FIXTURE(guest_pte_remapped);

TEST_F(guest_pte_remapped, ram_to_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gva = window_gva(window_ram, 0x30), pte = window_pte_gpa(window_ram);
	const uint64_t new_page = ARCH_MMIO_GPA + 0xc000;
	g.ram(window_gpa(window_ram, 0x30)) = pattern;
	g.order({load(gva, 8), store(pte, 8, new_page | pte_present | pte_writable | pte_pwt | pte_pcd), invlpg(gva),
		 load(gva, 8)});
	log_line(std::string("basis: ") + invlpg_basis);
	ASSERT_OUTCOME("the load through the new PTE", Expectation::mmio(rules::C5, new_page + 0x30, 8, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(~pattern));
	EXPECT_VALUE(rules::C14, "the load before (through the old PTE)", pattern, g.loaded(0));
	EXPECT_VALUE(rules::C5, "the load after", ~pattern, g.loaded(3));
}

KVM_FIXTURE(stale_translation);

/* The page holds RET at 0 and, at 0x10, MOVABS AL from an MMIO address,
 * then RET. The first call warms the translation (no exit: nothing flushes
 * it); the second, after the PTE is cleared, runs the MMIO load. */
TEST_F(stale_translation, fetch_of_mmio_load)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = window_gva(window_ram), pte = window_pte_gpa(window_ram);
	const uint64_t target = ARCH_MMIO_GPA + 0x58;
	uint8_t *code = g.ram_at(window_gpa(window_ram));
	code[0] = 0xc3;
	code[0x10] = 0xa0; /* MOVABS AL, moffs64 */
	memcpy(code + 0x11, &target, 8);
	code[0x19] = 0xc3;
	g.order({fetch(page), store(pte, 8, 0), fetch(page + 0x10)});
	Observation obs = g.run();
	if (obs.exit_reason() == KVM_EXIT_MMIO) {
		log_line("the CPU used the old translation and the emulator its instruction bytes");
		ASSERT_OUTCOME("the MOVABS", Expectation::mmio(rules::C5, target, 1, false), obs);
		ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0x5a));
		return;
	}
	ASSERT_OUTCOME("the fetch after the PTE is cleared",
		       Expectation::guest_exception(
			       rules::C14, as_kvm_answers(page_fault(page + 0x10, pf_fetch, "#PF, fetch, not present")))
			       .because("the APM vol. 2, 5.5.3: a stale translation may be used or not; without it the "
					"fetch faults (arch/x86/kvm/x86.c x86_emulate_instruction(): an exception "
					"while fetching the instruction is injected)"),
		       obs);
	EXPECT_VALUE(rules::C14, "steps completed", 2, g.completed());
}

TEST_F(stale_translation, split_load_into_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gva = window_gva(window_ram, 0xffc), pte = window_pte_gpa(window_ram);
	g.order({load(window_gva(window_ram, 0x40), 8), store(pte, 8, 0), load(gva, 8)});
	Observation obs = g.run();
	ASSERT_OUTCOME("the load across into MMIO after the PTE is cleared",
		       Expectation::guest_exception(rules::C14, as_kvm_answers(page_fault(gva, 0, "#PF, not present")))
			       .because("the APM vol. 2, 5.5.3: a stale translation may be used or not; the MMIO half "
					"needs KVM's emulator (arch/x86/kvm/x86.c emulator_read_write()), whose walk "
					"of the first page finds it not present"),
		       obs);
	EXPECT_VALUE(rules::C14, "steps completed", 2, g.completed());
}

KVMC_TEST_MAIN

// SPDX-License-Identifier: GPL-2.0
/* arm64 nested virtualization: expectations resting on kernel code. */
#include "arm64/nested.h"

namespace kvmc::arch {

namespace {

/* ESR_ELx fields. */
constexpr uint64_t esr_ec_shift = 26;
constexpr uint64_t esr_ec_mask = 0x3full << esr_ec_shift;
constexpr uint64_t esr_ec_dabt_cur = 0x25ull << esr_ec_shift;
constexpr uint64_t esr_ec_dabt_low = 0x24ull << esr_ec_shift;
constexpr uint64_t esr_ec_iabt_low = 0x20ull << esr_ec_shift;
constexpr uint64_t esr_il = 1ull << 25;
/* Data abort ISS: the instruction syndrome (ISV and ISS[23:14]). */
constexpr uint64_t esr_isv = 1ull << 24;
constexpr uint64_t esr_sas_shift = 22;
constexpr uint64_t esr_srt_shift = 16;
constexpr uint64_t esr_sf = 1ull << 15;
constexpr uint64_t esr_syndrome = esr_isv | (0x3ffull << 14);
constexpr uint64_t esr_vncr = 1ull << 13;
constexpr uint64_t esr_set = 0x3ull << 11; /* synchronous error type (FEAT_RAS) */
constexpr uint64_t esr_ea = 1ull << 9;	   /* external abort type, IMPLEMENTATION DEFINED */
constexpr uint64_t esr_wnr = 1ull << 6;
constexpr uint64_t esr_s1ptw = 1ull << 7;
constexpr uint64_t esr_cm = 1ull << 8; /* cache maintenance */
constexpr uint64_t esr_fnv = 1ull << 10; /* FAR not valid */
constexpr uint64_t esr_fsc_mask = 0x3f;
constexpr uint64_t esr_fsc_extabt = 0x10;
constexpr uint64_t esr_fsc_extabt_walk = 0x14; /* + the level */
/* The guest hypervisor's vector for exceptions from a lower EL (AArch64,
 * synchronous): the nested context was running when the abort came. */
constexpr uint64_t vector_lower_sync = 0x400;
/* SPSR_EL2 of an exception from the nested context: AArch64 EL1h, DAIF
 * masked, as the guest hypervisor entered it (start.S nested_enter). */
constexpr uint64_t spsr_mode_daif_mask = 0x3df;
constexpr uint64_t spsr_el1h_masked = 0x3c5;

/* The registers of the nested context's accesses (start.S): LDR x0 and
 * STR x3, 8 bytes (SAS 3, SF: a 64-bit register). */
constexpr uint64_t load_register = 0, store_register = 3;

/* HPFAR_EL2 of a fault at ipa: FIPA (bits [43:4]) is the IPA's bits
 * [51:12]; NS (bit 63) is RES0 for aborts taken to Non-secure EL2. */
uint64_t hpfar_of(uint64_t ipa) { return (ipa >> 12) << 4; }

/* What every abort the guest hypervisor takes from its nested context
 * shares: the vector, SPSR_EL2 (EL1h, DAIF masked, as nested_enter
 * entered it) and where ELR_EL2 points: a data abort is precise (at the
 * access instruction the guest hypervisor recorded), an instruction
 * abort at the address fetched. FAR_EL2 is the nested VA (the IPA
 * where the nested context's MMU is off). */
GuestException from_nested_context(NestedAccessKind access, uint64_t va, const char *what)
{
	GuestException x;
	x.vector = vector_lower_sync;
	x.address = va;
	x.returns = access == NestedAccessKind::fetch ? GuestException::Returns::to_address
						      : GuestException::Returns::to_access;
	x.pstate_mask = spsr_mode_daif_mask;
	x.pstate = spsr_el1h_masked;
	x.what = what;
	return x;
}

/* ESR_EL2 of a data abort the nested context's LDR/STR took at stage 2,
 * with fsc. The Arm ARM (ESR_EL2, ISV) gives a stage-2 abort on a load
 * or store of one general-purpose register without writeback a valid
 * instruction syndrome: size, register, width; KVM's own MMIO
 * emulation (C5) rests on it. */
uint64_t stage2_data_abort_esr(NestedAccessKind access, uint64_t fsc)
{
	bool store = access == NestedAccessKind::store;
	return esr_ec_dabt_low | esr_il | esr_isv | 3ull << esr_sas_shift |
	       (store ? store_register : load_register) << esr_srt_shift | esr_sf | (store ? esr_wnr : 0) | fsc;
}

const char *const forwarded_basis =
	"arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): a fault on a nested stage-2 is walked through the guest "
	"hypervisor's own stage-2 (nested.c kvm_walk_nested_s2(), walk_nested_s2_pgd(); permissions: "
	"kvm_s2_handle_perm_fault()) and a fault found there is injected with kvm_inject_s2_fault(): ESR_EL2 the "
	"hardware's with the walk's FSC, FAR_EL2 and HPFAR_EL2 the hardware's; the Arm ARM has HPFAR_EL2 written for "
	"stage-2 translation, access flag and address size faults only (UNKNOWN for a permission fault)";

} /* namespace */

Expectation forwarded_stage2_fault(Stage2Fault fault, unsigned level, NestedAccessKind access, uint64_t ipa)
{
	return forwarded_stage2_fault_at(fault, level, access, ipa, ipa);
}

Expectation forwarded_stage2_fault_at(Stage2Fault fault, unsigned level, NestedAccessKind access, uint64_t va,
				      uint64_t ipa)
{
	const uint64_t fsc = (fault == Stage2Fault::translation	  ? 0x04 :
			      fault == Stage2Fault::access_flag ? 0x08 :
								  0x0c) |
			     level;
	GuestException x = from_nested_context(access, va,
					       fault == Stage2Fault::translation ? "a stage-2 translation fault" :
					       fault == Stage2Fault::access_flag ? "a stage-2 access flag fault" :
										   "a stage-2 permission fault");
	/* Every field of ESR_EL2 is fixed here: no external abort (EA, SET
	 * 0, FnV RES0), no cache maintenance or stage-1 walk (CM,
	 * S1PTW), not VNCR, ISS2 RES0 for a plain LDR/STR. An instruction
	 * abort's ISS has no instruction syndrome and no WnR. */
	x.syndrome_mask = ~0ull;
	x.syndrome = access == NestedAccessKind::fetch ? esr_ec_iabt_low | esr_il | fsc
						       : stage2_data_abort_esr(access, fsc);
	if (fault != Stage2Fault::permission)
		x.hpfar = hpfar_of(ipa);
	return Expectation::guest_exception(rules::N, x).because(forwarded_basis);
}

Expectation forwarded_stage2_walk_abort(unsigned level, NestedAccessKind access, uint64_t ipa)
{
	GuestException x = from_nested_context(access, ipa, "a synchronous external abort on the stage-2 walk");
	/* The external abort type (EA) is IMPLEMENTATION DEFINED, and the
	 * Arm ARM ties an external abort's instruction syndrome to FEAT_RAS
	 * and the implementation: neither is judged. The rest is fixed;
	 * HPFAR_EL2 is not written for an external abort on the stage-2
	 * walk itself (UNKNOWN). */
	x.syndrome_mask = ~(esr_ea | esr_syndrome);
	x.syndrome = stage2_data_abort_esr(access, esr_fsc_extabt_walk + level) & x.syndrome_mask;
	return Expectation::guest_exception(rules::N, x)
		.because("arch/arm64/kvm/nested.c walk_nested_s2_pgd(): when kvm_read_guest() cannot read a "
			 "descriptor of the guest hypervisor's stage-2 it reports ESR_ELx_FSC_SEA_TTW(level), "
			 "which kvm_handle_guest_abort() forwards with kvm_inject_s2_fault()");
}

Expectation nested_stage1_walk_external_abort(unsigned level, uint64_t va)
{
	GuestException x = from_nested_context(NestedAccessKind::load, va,
					       "a synchronous external abort on the stage-1 walk");
	/* As on the stage-2 walk (EA, the instruction syndrome), and SET
	 * (the error's type) and S1PTW (the abort is no stage-2 fault, but
	 * on the stage-2 output of a stage-1 walk) left to the
	 * implementation. The FSC is the Arm ARM's for an external abort on
	 * a translation table walk, at the level of the table read. */
	x.syndrome_mask = ~(esr_ea | esr_syndrome | esr_set | esr_s1ptw);
	x.syndrome = stage2_data_abort_esr(NestedAccessKind::load, esr_fsc_extabt_walk + level) & x.syndrome_mask;
	return Expectation::guest_exception(rules::N, x)
		.because("arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): a stage-2 fault on a stage-1 walk "
			 "(S1PTW) whose output has no memslot ends in kvm_inject_sea_dabt(), for a nested context "
			 "with HCR_EL2.TEA kvm_inject_nested_sea() (emulate-nested.c)");
}

Expectation nested_external_abort(NestedAccessKind access, uint64_t va)
{
	const bool fetch = access == NestedAccessKind::fetch;
	GuestException x = from_nested_context(access, va, fetch ? "an instruction abort (synchronous external abort)"
								 : "a data abort (synchronous external abort)");
	/* EA and SET (the error's type, FEAT_RAS) are for the
	 * implementation to choose; FnV clear: FAR_EL2 is valid. */
	x.syndrome_mask = ~(esr_ea | esr_set);
	x.syndrome = (fetch ? esr_ec_iabt_low : esr_ec_dabt_low) | esr_il | esr_fsc_extabt;
	return Expectation::guest_exception(rules::N, x)
		.because("arch/arm64/kvm/inject_fault.c kvm_inject_sea(): for a nested context whose guest "
			 "hypervisor set HCR_EL2.TEA, kvm_inject_nested_sea() (emulate-nested.c) injects EC "
			 "IABT_LOW/DABT_LOW, IL, FSC 0x10 and FAR_EL2; mmu.c kvm_handle_guest_abort(): a nested "
			 "fetch whose stage-2 output has no memslot ends in kvm_inject_sea_iabt()");
}

Expectation vncr_stage1_fault(Stage1Fault fault, unsigned level, bool is_write, uint64_t va)
{
	const uint64_t fsc = fault == Stage1Fault::translation	       ? 0x04 | level :
			     fault == Stage1Fault::access_flag	       ? 0x08 | level :
			     fault == Stage1Fault::permission	       ? 0x0c | level :
								 esr_fsc_extabt_walk + level;
	const bool external = fault == Stage1Fault::walk_external_abort;
	GuestException x;
	x.vector = vector_lower_sync;
	/* As vncr_external_abort(), and the bits the Arm ARM fixes for a
	 * stage-1 fault: no cache maintenance (CM), not on a stage-2 walk
	 * (S1PTW), FAR valid (FnV 0); no external abort (EA 0) but on the
	 * walk, whose EA and error type (SET) are the implementation's. The
	 * instruction syndrome (ISV, ISS[23:14]) is not judged, as for
	 * every VNCR abort. */
	x.syndrome_mask = esr_ec_mask | esr_il | esr_vncr | esr_wnr | esr_fsc_mask | esr_cm | esr_s1ptw |
			  (external ? 0 : esr_fnv | esr_ea | esr_set);
	x.syndrome = esr_ec_dabt_cur | esr_il | esr_vncr | (is_write ? esr_wnr : 0) | fsc;
	x.pstate_mask = spsr_mode_daif_mask;
	x.pstate = spsr_el1h_masked;
	/* Precise: ELR_EL2 at the nested context's MRS/MSR, which the guest
	 * hypervisor records before it enters the context. */
	x.returns = GuestException::Returns::to_access;
	x.address = va;
	if (external)
		x.address_unknown_bit = esr_fnv;
	x.what = fault == Stage1Fault::translation ? "a data abort with ESR.VNCR set (EL2 stage-1 translation fault)" :
		 fault == Stage1Fault::access_flag ? "a data abort with ESR.VNCR set (EL2 stage-1 access flag fault)" :
		 fault == Stage1Fault::permission  ? "a data abort with ESR.VNCR set (EL2 stage-1 permission fault)" :
						     "a data abort with ESR.VNCR set (external abort on the EL2 stage-1 walk)";
	return Expectation::guest_exception(rules::N, x)
		.because("arch/arm64/kvm/nested.c kvm_handle_vncr_abort(): kvm_translate_vncr() walks VNCR_EL2's VA "
			 "through the guest hypervisor's EL2&0 stage-1 (at.c __kvm_translate_va(), walk_s1(): "
			 "ESR_ELx_FSC_FAULT_L, _ACCESS_L, ESR_ELx_FSC_SEA_TTW when a table cannot be read) and "
			 "injects the walk's fault with kvm_inject_nested_sync(); a page the walk maps without "
			 "write permission takes handle_vncr_perm() (ESR_ELx_FSC_PERM_L at the walk's level); "
			 "FAR_EL2 as the Arm ARM has it for a data abort: the faulting VA");
}

Expectation vncr_external_abort(bool is_write, uint64_t va)
{
	GuestException x;
	x.vector = vector_lower_sync;
	x.syndrome_mask = esr_ec_mask | esr_il | esr_vncr | esr_wnr | esr_fsc_mask;
	x.syndrome = esr_ec_dabt_cur | esr_il | esr_vncr | (is_write ? esr_wnr : 0) | esr_fsc_extabt;
	x.pstate_mask = spsr_mode_daif_mask;
	x.pstate = spsr_el1h_masked;
	/* The architecture's data abort: FAR_EL2 holds the faulting virtual
	 * address unless ESR_EL2.FnV says it is not valid. */
	x.address = va;
	x.address_unknown_bit = esr_fnv;
	x.what = "a data abort with ESR.VNCR set (synchronous external abort)";
	return Expectation::guest_exception(rules::N, x)
		.because("arch/arm64/kvm/nested.c kvm_handle_vncr_abort(): when kvm_translate_vncr() finds "
			 "no memslot, or __kvm_faultin_pfn() no usable page (PROT_NONE, a read-only slot "
			 "written, a poisoned page: no SIGBUS either), on a memslot without guest_memfd, "
			 "it injects the walk's fault (ESR_ELx_FSC_EXTABT) into the guest hypervisor with "
			 "kvm_inject_nested_sync() and KVM_RUN does not return; FAR_EL2 as the Arm ARM has it "
			 "for a data abort: the faulting address, unless ESR_EL2.FnV is set");
}

} /* namespace kvmc::arch */

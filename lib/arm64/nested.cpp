// SPDX-License-Identifier: GPL-2.0
/* arm64 nested virtualization: expectations resting on kernel code. */
#include "arm64/nested.h"

namespace kvmc::arch {

namespace {

/* ESR_ELx fields. */
constexpr uint64_t esr_ec_shift = 26;
constexpr uint64_t esr_ec_mask = 0x3full << esr_ec_shift;
constexpr uint64_t esr_ec_dabt_cur = 0x25ull << esr_ec_shift;
constexpr uint64_t esr_il = 1ull << 25;
constexpr uint64_t esr_vncr = 1ull << 13;
constexpr uint64_t esr_wnr = 1ull << 6;
constexpr uint64_t esr_fnv = 1ull << 10; /* FAR not valid */
constexpr uint64_t esr_fsc_mask = 0x3f;
constexpr uint64_t esr_fsc_extabt = 0x10;
/* The guest hypervisor's vector for exceptions from a lower EL (AArch64,
 * synchronous): the nested context was running when the abort came. */
constexpr uint64_t vector_lower_sync = 0x400;
/* SPSR_EL2 of an exception from the nested context: AArch64 EL1h, DAIF
 * masked, as the guest hypervisor entered it (start.S nested_enter). */
constexpr uint64_t spsr_mode_daif_mask = 0x3df;
constexpr uint64_t spsr_el1h_masked = 0x3c5;

} /* namespace */

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

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64: the synchronous external abort a guest takes when KVM injects
 * one for a data access (lib/arm64/arch.cpp).
 */
#pragma once

#include <cstdint>

#include "kvm.h"
#include "oracle.h"

namespace kvmc::arch {

/* A data abort (synchronous external abort) at the guest's own EL,
 * FAR = gpa (the guest runs on an identity map). */
Expectation external_data_abort(Rule rule, uint64_t gpa, const char *basis);

/* Where an injected external data abort comes from. */
struct AbortSource {
	bool el0 = false;		/* the access was made at EL0 */
	int walk_level = -2;		/* the stage-1 walk for it, at this level
					 * (-1..3); -2: the access itself */
};

/* The same abort for an access at gva (FAR is the virtual address, the
 * Arm ARM's FAR_EL1), from where source says. */
Expectation external_data_abort(Rule rule, uint64_t gva, const char *basis, AbortSource source);

/* An instruction abort (synchronous external abort) at the guest's own
 * EL for a fetch at gva: FAR and the return address are the VA. */
Expectation external_instruction_abort(Rule rule, uint64_t gva, const char *basis);

/* Ask KVM to answer the pending MMIO (or NISV) exit with an external
 * data abort (KVM_SET_VCPU_EVENTS, ext_dabt_pending, api.rst 4.32):
 * 0 or -errno. */
int inject_ext_dabt(Vcpu &vcpu);

/*
 * SErrors userspace makes pending (KVM_SET_VCPU_EVENTS, api.rst 4.32) and
 * the guest takes: ESR EC 0x2f (SError interrupt), IL (RES1 for an
 * SError), the ISS userspace gave; no FAR. Where it returns to is not
 * judged: an SError is asynchronous.
 *
 * At the guest's own EL once it unmasked PSTATE.A (op_serror_unmask):
 * the vector for the current EL with SP_ELx, SPSR that EL (EL1h, or EL2h
 * for a guest hypervisor) with D, I, F masked and A clear.
 */
Expectation injected_serror(Rule rule, uint64_t iss, bool at_el2, const char *basis);

/* ... taken by a guest hypervisor that routes SErrors to itself
 * (HCR_EL2.AMO) from its nested context: the vector for a lower EL
 * (AArch64), SPSR_EL2 the nested context's (EL1h, DAIF masked), and
 * ELR_EL2 the nested access, which did not retire. */
Expectation forwarded_serror(Rule rule, uint64_t iss, const char *basis);

/* The UNDEF the guest takes for an instruction KVM trapped and has no
 * handler for: ESR EC 0 (unknown reason), IL, ISS 0; ELR the
 * instruction; SPSR EL1h with DAIF masked. */
Expectation undefined_instruction(Rule rule, const char *basis);

} /* namespace kvmc::arch */

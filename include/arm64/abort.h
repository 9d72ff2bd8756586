/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64: the synchronous external abort a guest takes when KVM injects
 * one for a data access (lib/arm64/arch.cpp).
 */
#pragma once

#include <cstdint>

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

} /* namespace kvmc::arch */

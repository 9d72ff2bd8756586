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

} /* namespace kvmc::arch */

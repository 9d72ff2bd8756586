/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 nested virtualization (FEAT_NV2): what a guest hypervisor's
 * accesses produce where api.rst says nothing and the kernel decides.
 * Each expectation names the kernel code it rests on.
 */
#pragma once

#include <cstdint>

#include "oracle.h"

namespace kvmc::arch {

namespace rules {
/* CONTRACT.md N: a guest hypervisor's VNCR page, and a nested context's
 * accesses through the guest hypervisor's stage-2. */
inline constexpr Rule N{"N", "CONTRACT.md N (nested); api.rst is silent on aborts KVM injects into a guest hypervisor"};
} /* namespace rules */

/* Where a nested context's register accesses land in its VNCR page: the
 * offset of HCR_EL2 (FEAT_NV2's VNCR layout). */
constexpr uint64_t vncr_hcr_offset = 0x78;

/* KVM could not back the guest hypervisor's VNCR page and injected a
 * synchronous external abort into it instead of exiting: what the guest
 * hypervisor sees at its EL2 vectors. */
Expectation vncr_external_abort(bool is_write, uint64_t va);

} /* namespace kvmc::arch */

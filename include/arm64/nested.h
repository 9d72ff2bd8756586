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

/*
 * The guest hypervisor runs with its own EL2 stage-1 on (start.S: with
 * HCR_EL2.E2H its _EL1 names reach TTBR0_EL2, TCR_EL2, MAIR_EL2 and
 * SCTLR_EL2, the EL2&0 regime; its tables are the guest's identity map
 * plus the stage-1 window, include/arm64/stage1.h). KVM translates the
 * VA in VNCR_EL2 through that regime itself (nested.c
 * kvm_translate_vncr(), at.c walk_s1()); where that walk finds no usable
 * entry, the guest hypervisor must see the fault its own MMU would give:
 * translation, access flag or permission at the level of the entry,
 * or a synchronous external abort on reading a table.
 */
enum class Stage1Fault { translation, access_flag, permission, walk_external_abort };

Expectation vncr_stage1_fault(Stage1Fault fault, unsigned level, bool is_write, uint64_t va);

/* A nested context's access (guest_code/arm64/start.S): nested_l2_load
 * is LDR x0, nested_l2_store STR x3 (8 bytes each), nested_l2_fetch a
 * branch to the address. Its MMU is off: the VA is the nested IPA. */
enum class NestedAccessKind { load, store, fetch };

/* The kind of fault the guest hypervisor's own stage-2 gives (Arm ARM
 * ESR_EL2 DFSC/IFSC: 0b0001LL, 0b0010LL, 0b0011LL at level LL). */
enum class Stage2Fault { translation, access_flag, permission };

/*
 * KVM walked the guest hypervisor's stage-2 for a nested access, found
 * the fault the hardware would have found there, and forwarded it: the
 * abort the guest hypervisor takes from the nested context, at ipa.
 */
Expectation forwarded_stage2_fault(Stage2Fault fault, unsigned level, NestedAccessKind access, uint64_t ipa);

/* ... the nested context runs with its own stage-1 on and made the
 * access at va, which its stage-1 maps onto ipa: FAR_EL2 is va, HPFAR_EL2
 * (where written) ipa. */
Expectation forwarded_stage2_fault_at(Stage2Fault fault, unsigned level, NestedAccessKind access, uint64_t va,
				      uint64_t ipa);

/* ... reading the guest hypervisor's level-`level` stage-2 table failed
 * (no memslot behind it): a synchronous external abort on the walk. */
Expectation forwarded_stage2_walk_abort(unsigned level, NestedAccessKind access, uint64_t ipa);

/* The nested context's own stage-1 walk (its MMU on, the guest
 * hypervisor's HCR_EL2.TEA set) read a level-`level` table at an IPA the
 * guest hypervisor's stage-2 maps onto a GPA without memslot: a
 * synchronous external abort on that walk, at va. */
Expectation nested_stage1_walk_external_abort(unsigned level, uint64_t va);

/* KVM injected a synchronous external abort into a nested context whose
 * guest hypervisor routes them to itself (HCR_EL2.TEA). */
Expectation nested_external_abort(NestedAccessKind access, uint64_t va);

} /* namespace kvmc::arch */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64 nested virtualization (AMD SVM): what a guest hypervisor sees
 * of its nested guest's faults, as the AMD APM (vol. 2, chapter 15)
 * defines it. Each expectation names the APM section and the kernel
 * code it rests on.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "guest.h"
#include "oracle.h"

namespace kvmc {
class Kvm;
}

namespace kvmc::x86 {

namespace rules {
/* CONTRACT.md NX: a guest hypervisor on SVM. */
inline constexpr Rule NX{"NX", "CONTRACT.md NX (nested, SVM); AMD APM vol. 2, 15.25.6 and 15.12, api.rst is silent on #VMEXITs KVM injects into a guest hypervisor"};
} /* namespace rules */

/* Why KVM's guest cannot run its nested guest through nested page tables
 * (KVM offers no NPT in CPUID: kvm_amd npt=0), or nothing when it can.
 * lib/x86_64/arch.cpp. */
std::optional<std::string> nested_paging_unavailable(const Kvm &kvm);

/* Replace the guest hypervisor's VMCB, nested page table root, MSR or
 * I/O permission map for the nested runs that follow (guest.h
 * SvmStructure); gpa 0 restores the default in RAM. */
inline guest::Step svm_structure_at(guest::SvmStructure which, uint64_t gpa)
{
	return {which, gpa, guest::op_svm_config, 0};
}

/* A nested guest's 8-byte load or store (start.S svm_l2_*). */
enum class NestedAccessKind { load, store, fetch };

/* Where a #NPF happened (APM 15.25.6, EXITINFO1 bits 32 and 33). */
enum class NpfStage { final_translation, table_walk };

/*
 * The guest hypervisor's nested page tables do not allow the nested
 * guest's access (not present, or a write to a read-only page): KVM walks
 * them, finds the fault and forwards it as #VMEXIT(NPF). EXITINFO1: the
 * #PF error code bits of the fault (error_code) plus the stage;
 * EXITINFO2: the nested guest's physical address; the nested guest's RIP
 * in the VMCB still at the access (for a fetch, I/D in error_code: at
 * the address fetched).
 */
Expectation forwarded_npf(NpfStage stage, uint64_t error_code, uint64_t nested_gpa);

/* The nested guest's own #PF, which the guest hypervisor intercepts:
 * #VMEXIT(0x4e), EXITINFO1 the error code, EXITINFO2 the faulting linear
 * address (what CR2 would have been), RIP at the access. */
Expectation intercepted_page_fault(uint64_t error_code, uint64_t gva);

/* VMRUN found the nested guest's VMCB invalid: #VMEXIT(VMEXIT_INVALID,
 * -1) with EXITINFO1 and EXITINFO2 zero. */
Expectation vmrun_failed(const char *basis);

} /* namespace kvmc::x86 */

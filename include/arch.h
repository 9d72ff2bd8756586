/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The hooks each architecture provides (lib/<arch>/); everything else is
 * architecture-neutral.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvm.h"
#include "oracle.h"

namespace kvmc::arch {

/* Make a freshly created vCPU runnable (arm64: KVM_ARM_VCPU_INIT;
 * x86: CPUID, with MAXPHYADDR lowered to phys_bits when not 0). */
void vcpu_init(Vcpu &vcpu, unsigned phys_bits = 0);
/* Instead of vcpu_init: make the vCPU a hypervisor's (arm64: an
 * in-kernel vGICv3, which KVM's nested virtualization needs, and
 * KVM_ARM_VCPU_HAS_EL2: the guest starts at EL2, HCR_EL2.E2H set). */
void hypervisor_init(Vcpu &vcpu);
/* Why the guest cannot be a hypervisor here, or nothing when it can. */
std::optional<std::string> hypervisor_unavailable(const Kvm &kvm);
/* Point the vCPU at the guest image entry; registers the entry code
 * relies on are set here. */
void vcpu_boot(Vcpu &vcpu);
/* Write what the guest needs in RAM before its first instruction (host
 * view of ARCH_RAM_GPA): page tables, and on x86 the GDT and TSS. */
void prepare_ram(uint8_t *ram);
/* The guest program counter, when it can be read. */
std::optional<uint64_t> guest_pc(const Vcpu &vcpu);
/* The program counter and the fault program's load destination register
 * (guest.h Access) after a KVM_RUN, read together: one KVM_GET_REGS on
 * x86. */
struct GuestRegisters {
	std::optional<uint64_t> pc;
	std::optional<uint64_t> dest;
};
GuestRegisters guest_registers(const Vcpu &vcpu);
/* When obs is the guest ringing the ucall doorbell: the guest physical
 * address of its Ucall block. */
std::optional<uint64_t> ucall_block(const Observation &obs);

/*
 * Outcomes that differ per architecture and that api.rst does not state
 * (or states wrongly): each names the kernel code it rests on.
 */
/* The bytes of the instruction that returns from a call (arm64 RET, x86
 * RET near): memory holding them is code the guest can fetch (a fetch
 * step calls it) and come back from. */
std::vector<uint8_t> return_instruction();

/* M3: the guest fetches an instruction at gpa, where no memslot is. */
Expectation no_memslot_fetch(uint64_t gpa);

/* M9: a VM whose guest physical address space is smaller than what the
 * host could offer, and a guest virtual address that reaches the first
 * physical address beyond it. Pass it to GuestVm. */
struct SmallAddressSpace {
	unsigned long vm_type;
	unsigned phys_bits;	/* x86: MAXPHYADDR the guest's CPUID reports */
	uint64_t beyond;	/* the guest virtual address to access */
};
/* The small address space, or why this architecture cannot have one. */
std::optional<SmallAddressSpace> small_address_space(const Kvm &kvm, std::string *why);
/* M9: what an access at the first address beyond it gives. */
Expectation beyond_address_space(uint64_t gpa);

/* The guest program image (guest_code/<arch>/), linked in as bytes. */
extern "C" const uint8_t guest_image_start[];
extern "C" const uint8_t guest_image_end[];

} /* namespace kvmc::arch */

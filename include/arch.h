/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The hooks each architecture provides (lib/<arch>/); everything else is
 * architecture-neutral.
 */
#pragma once

#include <cstdint>
#include <optional>

#include "kvm.h"

namespace kvmc::arch {

/* Make a freshly created vCPU runnable (arm64: KVM_ARM_VCPU_INIT). */
void vcpu_init(Vcpu &vcpu);
/* Point the vCPU at the guest image entry; registers the entry code
 * relies on are set here. */
void vcpu_boot(Vcpu &vcpu);
/* Write what the guest needs in RAM before its first instruction (host
 * view of ARCH_RAM_GPA): page tables, and on x86 the GDT and TSS. */
void prepare_ram(uint8_t *ram);
/* The guest program counter, when it can be read. */
std::optional<uint64_t> guest_pc(const Vcpu &vcpu);
/* When obs is the guest ringing the ucall doorbell: the guest physical
 * address of its Ucall block. */
std::optional<uint64_t> ucall_block(const Observation &obs);

/* The guest program image (guest_code/<arch>/), linked in as bytes. */
extern "C" const uint8_t guest_image_start[];
extern "C" const uint8_t guest_image_end[];

} /* namespace kvmc::arch */

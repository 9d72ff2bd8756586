// SPDX-License-Identifier: GPL-2.0
/* The x86_64 guest's IDT: 64-bit interrupt gates to the stubs in start.S. */
#include <stdint.h>

#include "layout.h"

extern "C" const uint8_t exception_stubs[];

namespace {

struct Gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

struct DescriptorPointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

constexpr uint8_t interrupt_gate = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
constexpr uint32_t vectors = 32;

} /* namespace */

extern "C" void guest_setup_idt()
{
	auto *idt = reinterpret_cast<volatile Gate *>(ARCH_RAM_GPA + ARCH_IDT_OFFSET);
	for (uint32_t v = 0; v < vectors; v++) {
		uint64_t handler = reinterpret_cast<uint64_t>(exception_stubs) + 16 * v;
		idt[v].offset_low = handler;
		idt[v].selector = ARCH_SEL_CODE;
		idt[v].ist = 0;
		idt[v].type_attr = interrupt_gate;
		idt[v].offset_mid = handler >> 16;
		idt[v].offset_high = handler >> 32;
		idt[v].reserved = 0;
	}
	DescriptorPointer p = {vectors * sizeof(Gate) - 1, ARCH_RAM_GPA + ARCH_IDT_OFFSET};
	asm volatile("lidt %0" : : "m"(p));
}

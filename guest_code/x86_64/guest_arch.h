/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64 accesses of the fault program: one hand-picked instruction each,
 * so KVM's instruction emulator sees exactly the access the scenario asks
 * for (the compiler may neither merge nor split it).
 */
#pragma once

#include <stdint.h>

#include "layout.h"

static inline uint64_t arch_load(uint64_t gpa, uint32_t width)
{
	uint64_t v = 0;
	switch (width) {
	case 1: asm volatile("movzbl (%1), %k0" : "=r"(v) : "r"(gpa) : "memory"); break;
	case 2: asm volatile("movzwl (%1), %k0" : "=r"(v) : "r"(gpa) : "memory"); break;
	case 4: asm volatile("movl (%1), %k0" : "=r"(v) : "r"(gpa) : "memory"); break;
	default: asm volatile("movq (%1), %0" : "=r"(v) : "r"(gpa) : "memory"); break;
	}
	return v;
}

/* Sign-extending loads (MOVSX/MOVSXD), decoded by KVM's emulator. A
 * 32-bit destination zeroes bits [63:32] of the register. */
static inline uint64_t arch_load_signed(uint64_t gpa, uint32_t width, uint64_t reg_bytes)
{
	uint64_t v = 0;
	if (reg_bytes == 4) {
		switch (width) {
		case 1: asm volatile("movsbl (%1), %k0" : "=r"(v) : "r"(gpa) : "memory"); break;
		default: asm volatile("movswl (%1), %k0" : "=r"(v) : "r"(gpa) : "memory"); break;
		}
	} else {
		switch (width) {
		case 1: asm volatile("movsbq (%1), %0" : "=r"(v) : "r"(gpa) : "memory"); break;
		case 2: asm volatile("movswq (%1), %0" : "=r"(v) : "r"(gpa) : "memory"); break;
		default: asm volatile("movslq (%1), %0" : "=r"(v) : "r"(gpa) : "memory"); break;
		}
	}
	return v;
}

static inline void arch_store(uint64_t gpa, uint32_t width, uint64_t v)
{
	switch (width) {
	case 1: asm volatile("movb %b0, (%1)" : : "r"(v), "r"(gpa) : "memory"); break;
	case 2: asm volatile("movw %w0, (%1)" : : "r"(v), "r"(gpa) : "memory"); break;
	case 4: asm volatile("movl %k0, (%1)" : : "r"(v), "r"(gpa) : "memory"); break;
	default: asm volatile("movq %0, (%1)" : : "r"(v), "r"(gpa) : "memory"); break;
	}
}

/* The arm64 pair accesses (no valid syndrome) have no x86 counterpart:
 * ordering one here raises #UD, which the guest reports to the host. */
static inline void arch_clean_cache(uint64_t gpa)
{
	asm volatile("clflush (%0)" : : "r"(gpa) : "memory");
}

static inline uint64_t arch_load_pair(uint64_t)
{
	asm volatile("ud2");
	return 0;
}

static inline void arch_store_pair(uint64_t, uint64_t)
{
	asm volatile("ud2");
}

static inline uint64_t arch_load_writeback(uint64_t)
{
	asm volatile("ud2");
	return 0;
}

static inline void arch_fetch(uint64_t gpa)
{
	asm volatile("call *%0" : : "r"(gpa) : "memory", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
		     "r10", "r11");
}

/* A loop that never exits to the host: the watchdog's self-test. */
[[noreturn]] static inline void arch_spin(void)
{
	for (;;)
		asm volatile("1: jmp 1b" ::: "memory");
}

/* The ucall doorbell: a 32-bit OUT of the block's address (below 4 GiB). */
static inline void arch_ucall(uint64_t block_gpa)
{
	asm volatile("outl %k0, %w1" : : "a"(block_gpa), "Nd"((uint16_t)ARCH_UCALL_PORT) : "memory");
}

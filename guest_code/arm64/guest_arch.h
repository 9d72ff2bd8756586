/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 accesses of the fault program. Each is one hand-picked instruction
 * in inline assembly, so the syndrome KVM sees is exactly the one the
 * scenario asks for (the compiler may neither merge nor split it).
 */
#pragma once

#include <stdint.h>

#include "layout.h"

static inline uint64_t arch_load(uint64_t gpa, uint32_t width)
{
	uint64_t v = 0;
	switch (width) {
	case 1: asm volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(gpa) : "memory"); break;
	case 2: asm volatile("ldrh %w0, [%1]" : "=r"(v) : "r"(gpa) : "memory"); break;
	case 4: asm volatile("ldr %w0, [%1]" : "=r"(v) : "r"(gpa) : "memory"); break;
	default: asm volatile("ldr %0, [%1]" : "=r"(v) : "r"(gpa) : "memory"); break;
	}
	return v;
}

static inline void arch_store(uint64_t gpa, uint32_t width, uint64_t v)
{
	switch (width) {
	case 1: asm volatile("strb %w0, [%1]" : : "r"(v), "r"(gpa) : "memory"); break;
	case 2: asm volatile("strh %w0, [%1]" : : "r"(v), "r"(gpa) : "memory"); break;
	case 4: asm volatile("str %w0, [%1]" : : "r"(v), "r"(gpa) : "memory"); break;
	default: asm volatile("str %0, [%1]" : : "r"(v), "r"(gpa) : "memory"); break;
	}
}

/* LDP/STP report no valid instruction syndrome (ISV=0) on a stage-2
 * abort: the access KVM cannot emulate for userspace (C6). */
static inline uint64_t arch_load_pair(uint64_t gpa)
{
	uint64_t a, b;
	asm volatile("ldp %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(gpa) : "memory");
	return a ^ b;
}

static inline void arch_store_pair(uint64_t gpa, uint64_t v)
{
	asm volatile("stp %0, %0, [%1]" : : "r"(v), "r"(gpa) : "memory");
}

/* A load with writeback (post-index) reports no valid syndrome either. */
static inline uint64_t arch_load_writeback(uint64_t gpa)
{
	uint64_t v;
	asm volatile("ldr %0, [%1], #8" : "=r"(v), "+r"(gpa) : : "memory");
	return v;
}

static inline void arch_fetch(uint64_t gpa)
{
	asm volatile("blr %0" : : "r"(gpa) : "x30", "memory");
}

/* The ucall doorbell: one 64-bit store to a GPA without a memslot. */
static inline void arch_ucall(uint64_t block_gpa)
{
	asm volatile("dsb sy\n\tstr %0, [%1]" : : "r"(block_gpa), "r"((uint64_t)ARCH_UCALL_GPA) : "memory");
}

/* A loop that never exits to the host: the watchdog's self-test. */
[[noreturn]] static inline void arch_spin(void)
{
	for (;;)
		asm volatile("1: b 1b" ::: "memory");
}

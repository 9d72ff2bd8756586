/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64 accesses of the fault program: one hand-picked instruction each,
 * so KVM's instruction emulator sees exactly the access the scenario asks
 * for (the compiler may neither merge nor split it).
 */
#pragma once

#include <stdint.h>

#include "guest.h"
#include "layout.h"

/*
 * One access instruction, recorded first (guest.h Access, C14): the
 * addresses of the instruction (label 1) and the next one (label 2), and
 * the flags. R10 is the scratch register; a load's destination is RAX,
 * preset to dest_canary.
 */
#define ARCH_ACCESS(flags, insn)                                                   \
	"lea 1f(%%rip), %%r10\n\tmov %%r10, (%[acc])\n\t"                          \
	"lea 2f(%%rip), %%r10\n\tmov %%r10, 8(%[acc])\n\t"                         \
	"movq $" flags ", 16(%[acc])\n"                                            \
	"1:\t" insn "\n2:"
#define ARCH_LOAD(insn)                                                            \
	asm volatile(ARCH_ACCESS("1", insn)                                        \
		     : [v] "+a"(v)                                                 \
		     : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa)            \
		     : "r10", "memory")
#define ARCH_STORE(insn)                                                           \
	asm volatile(ARCH_ACCESS("0", insn)                                        \
		     :                                                             \
		     : [v] "r"(v), [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa) \
		     : "r10", "memory")

static inline uint64_t arch_load(uint64_t gpa, uint32_t width)
{
	uint64_t v = kvmc::guest::dest_canary;
	switch (width) {
	case 1: ARCH_LOAD("movzbl (%[a]), %k[v]"); break;
	case 2: ARCH_LOAD("movzwl (%[a]), %k[v]"); break;
	case 4: ARCH_LOAD("movl (%[a]), %k[v]"); break;
	default: ARCH_LOAD("movq (%[a]), %[v]"); break;
	}
	return v;
}

/* Sign-extending loads (MOVSX/MOVSXD), decoded by KVM's emulator. A
 * 32-bit destination zeroes bits [63:32] of the register. */
static inline uint64_t arch_load_signed(uint64_t gpa, uint32_t width, uint64_t reg_bytes)
{
	uint64_t v = kvmc::guest::dest_canary;
	if (reg_bytes == 4) {
		switch (width) {
		case 1: ARCH_LOAD("movsbl (%[a]), %k[v]"); break;
		default: ARCH_LOAD("movswl (%[a]), %k[v]"); break;
		}
	} else {
		switch (width) {
		case 1: ARCH_LOAD("movsbq (%[a]), %[v]"); break;
		case 2: ARCH_LOAD("movswq (%[a]), %[v]"); break;
		default: ARCH_LOAD("movslq (%[a]), %[v]"); break;
		}
	}
	return v;
}

static inline void arch_store(uint64_t gpa, uint32_t width, uint64_t v)
{
	switch (width) {
	case 1: ARCH_STORE("movb %b[v], (%[a])"); break;
	case 2: ARCH_STORE("movw %w[v], (%[a])"); break;
	case 4: ARCH_STORE("movl %k[v], (%[a])"); break;
	default: ARCH_STORE("movq %[v], (%[a])"); break;
	}
}

/*
 * 16-byte moves through XMM0 (MOVDQU: SSE, unaligned), which KVM's
 * emulator carries out as MMIO fragments of at most 8 bytes (arch/x86/kvm/
 * x86.c, emulator_read_write and complete_emulated_mmio). The register's
 * other side is the 16 bytes at buffer, in RAM. The guest is built
 * without vector registers (-mgeneral-regs-only): nothing else lives in
 * XMM0, and the compiler will not hear of it as a clobber.
 */
#define ARCH_HAS_VECTOR_MOVE 1

static inline void arch_load_vector(uint64_t gpa, uint64_t buffer)
{
	asm volatile(ARCH_ACCESS("0", "movdqu (%[a]), %%xmm0") "\n\tmovdqu %%xmm0, (%[b])"
		     :
		     : [a] "r"(gpa), [b] "r"(buffer), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
}

static inline void arch_store_vector(uint64_t gpa, uint64_t buffer)
{
	asm volatile("movdqu (%[b]), %%xmm0\n\t" ARCH_ACCESS("0", "movdqu %%xmm0, (%[a])")
		     :
		     : [a] "r"(gpa), [b] "r"(buffer), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
}

/*
 * An access at CPL 3 (#PF U/S, and KVM's #UD there): IRETQ to the user
 * code and data selectors on the same stack, then the access, recorded
 * as usual (the page tables let CPL 3 reach the code, stack and
 * mailbox). Nothing brings the program back to CPL 0 but an exception,
 * so these are for accesses that fault; one that completes runs into
 * UD2. x87 FILD is a load KVM's instruction emulator has no entry for
 * (arch/x86/kvm/emulate.c: nothing under opcode 0xdf).
 */
#define ARCH_HAS_USER_MODE 1

enum class UserAccess { load, store, x87_load };

#define ARCH_TO_CPL3                                                               \
	"mov %%rsp, %%r11\n\tpushq %[ss]\n\tpushq %%r11\n\tpushfq\n\tpushq %[cs]\n\t"  \
	"lea 3f(%%rip), %%r11\n\tpushq %%r11\n\tiretq\n3:\n\t"
#define ARCH_USER_ACCESS(flags, insn, ...)                                         \
	asm volatile(ARCH_TO_CPL3 ARCH_ACCESS(flags, insn) "\n\tud2"                 \
		     :                                                             \
		     : [v] "r"(v), [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa), \
		       [ss] "i"(ARCH_SEL_USER_DATA | 3), [cs] "i"(ARCH_SEL_USER_CODE | 3) \
		     : "r10", "r11", "memory", ##__VA_ARGS__)

[[noreturn]] static inline void arch_user_access(UserAccess how, uint64_t gpa, uint64_t v)
{
	switch (how) {
	case UserAccess::load: ARCH_USER_ACCESS("1", "movq (%[a]), %%rax", "rax"); break;
	case UserAccess::store: ARCH_USER_ACCESS("0", "movq %[v], (%[a])"); break;
	case UserAccess::x87_load: ARCH_USER_ACCESS("0", "fildll (%[a])"); break;
	}
	__builtin_unreachable();
}

/* The arm64 pair accesses (no valid syndrome) have no x86 counterpart:
 * ordering one here raises #UD, which the guest reports to the host. */
static inline void arch_clean_cache(uint64_t gpa)
{
	asm volatile(ARCH_ACCESS("0", "clflush (%[a])")
		     :
		     : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
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

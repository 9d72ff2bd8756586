/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 guest entry. KVM_ARM_VCPU_INIT leaves the vCPU in EL1h with DAIF
 * masked and the MMU off; the host has put the identity map at
 * ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET (see include/arm64/layout.h).
 */
#include "layout.h"

/* MAIR_EL1: attr0 Normal write-back RW-allocate, attr1 Device-nGnRE. */
#define MAIR_VALUE	0x04ff
/* TCR_EL1: T0SZ=25 (39-bit VA, walk starts at level 1), inner/outer
 * write-back, inner shareable, 4 KiB granule, TTBR1 walks off (EPD1),
 * 40-bit intermediate physical addresses (IPS=2). */
#define TCR_VALUE	(25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2 << 32))
#define SCTLR_M		(1 << 0)
#define SCTLR_C		(1 << 2)
#define SCTLR_I		(1 << 12)

	.section .text.entry, "ax"
	.global _start
_start:
	ldr	x0, =(ARCH_RAM_GPA + ARCH_STACK_TOP_OFFSET)
	mov	sp, x0
	adr	x0, vectors
	msr	vbar_el1, x0

	ldr	x0, =MAIR_VALUE
	msr	mair_el1, x0
	ldr	x0, =TCR_VALUE
	msr	tcr_el1, x0
	ldr	x0, =(ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET)
	msr	ttbr0_el1, x0
	isb
	tlbi	vmalle1
	dsb	nsh
	isb
	mrs	x0, sctlr_el1
	orr	x0, x0, #SCTLR_M
	orr	x0, x0, #SCTLR_C
	orr	x0, x0, #SCTLR_I
	msr	sctlr_el1, x0
	isb

	bl	guest_main
1:	b	1b
	.ltorg

/*
 * Every vector reports to the host; none returns. The vector's offset in
 * the table (0x200: current EL with SP_ELx, synchronous) goes in x0.
 */
.macro report_vector offset
	.balign	0x80
	mov	x0, #\offset
	b	exception_common
.endm

	.balign	0x800
vectors:
	.irp	off, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
	report_vector \off
	.endr

exception_common:
	mrs	x1, esr_el1
	mrs	x2, far_el1
	mrs	x3, elr_el1
	/* A fresh stack, in case the exception came from a broken one. */
	ldr	x4, =(ARCH_RAM_GPA + ARCH_STACK_TOP_OFFSET)
	mov	sp, x4
	bl	guest_exception
1:	b	1b
	.ltorg

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
	.irp	off, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380
	report_vector \off
	.endr
	.balign	0x80
	b	lower_sync		// 0x400: the SVC that ends an EL0 access
	.irp	off, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
	report_vector \off
	.endr

/* guest_exception(vector, ESR, FAR, ELR, SPSR, 0) never returns. */
exception_common:
	mrs	x1, esr_el1
	mrs	x2, far_el1
	mrs	x3, elr_el1
	mrs	x4, spsr_el1
	mov	x5, #0
	/* A fresh stack, in case the exception came from a broken one. */
	ldr	x6, =(ARCH_RAM_GPA + ARCH_STACK_TOP_OFFSET)
	mov	sp, x6
	bl	guest_exception
1:	b	1b
	.ltorg

/*
 * The guest as a hypervisor (a vCPU with KVM_ARM_VCPU_HAS_EL2, entered at
 * EL2 with HCR_EL2.E2H set, so the _EL1 register names above reach the
 * EL2 registers). nested_enter runs one nested context (EL1) until it
 * traps back to EL2, like a setjmp around an ERET:
 *
 *   void nested_enter(uint64_t hcr, uint64_t l2_entry, uint64_t gpa,
 *                     uint64_t value, struct NestedExit *exit);
 *
 * It saves the callee-saved registers, installs nested_vectors, sets
 * HCR_EL2 for the nested context and ERETs to l2_entry at EL1h with x2
 * (gpa) and x3 (value) as they are. The nested context's first exception
 * to EL2 (vector 0x400, from a lower EL) lands in nested_exit, which fills
 * *exit {x0, ESR_EL2, FAR_EL2, ELR_EL2, SPSR_EL2, HPFAR_EL2}, restores
 * HCR_EL2, VBAR_EL2 and the registers, and returns from nested_enter.
 */
#define SPSR_EL1H_MASKED	0x3c5
#define NESTED_SAVE_SIZE	128

	.text
	.global nested_enter
nested_enter:
	ldr	x9, =nested_save
	stp	x19, x20, [x9, #0]
	stp	x21, x22, [x9, #16]
	stp	x23, x24, [x9, #32]
	stp	x25, x26, [x9, #48]
	stp	x27, x28, [x9, #64]
	stp	x29, x30, [x9, #80]
	mov	x10, sp
	stp	x10, x4, [x9, #96]
	mrs	x10, hcr_el2
	str	x10, [x9, #112]
	adr	x10, nested_vectors
	msr	vbar_el2, x10
	msr	hcr_el2, x0
	msr	elr_el2, x1
	mov	x10, #SPSR_EL1H_MASKED
	msr	spsr_el2, x10
	isb
	eret

nested_exit:
	ldr	x9, =nested_save
	ldp	x10, x4, [x9, #96]
	mov	sp, x10
	stp	x0, x1, [x4, #0]
	stp	x2, x3, [x4, #16]
	stp	x5, x6, [x4, #32]
	ldr	x10, [x9, #112]
	msr	hcr_el2, x10
	adr	x10, vectors
	msr	vbar_el2, x10
	isb
	ldp	x19, x20, [x9, #0]
	ldp	x21, x22, [x9, #16]
	ldp	x23, x24, [x9, #32]
	ldp	x25, x26, [x9, #48]
	ldp	x27, x28, [x9, #64]
	ldp	x29, x30, [x9, #80]
	ret
	.ltorg

/* EL2's vectors while a nested context runs: its traps (lower EL,
 * AArch64, synchronous) end the nested run; anything else is reported
 * like any unexpected exception. */
	.balign	0x800
nested_vectors:
	.irp	off, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380
	report_vector \off
	.endr
	.balign	0x80
	mrs	x1, esr_el2
	mrs	x2, far_el2
	mrs	x3, elr_el2
	mrs	x5, spsr_el2
	mrs	x6, hpfar_el2
	b	nested_exit
	.irp	off, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
	report_vector \off
	.endr

/*
 * The nested context's programs, one access each, run at EL1 with its
 * MMU off, then HVC back to the guest hypervisor (HVC from EL1 is
 * routed to EL2). The VNCR ones read or write HCR_EL2: with the guest
 * hypervisor's HCR_EL2.{NV,NV2} set, FEAT_NV2 turns that access into a
 * load or store at VNCR_EL2 + 0x78 instead of a trap.
 */
	.global	nested_l2_load, nested_l2_store, nested_l2_load_pair, nested_l2_vncr_load, nested_l2_vncr_store
	.global	nested_l2_fetch
/* The access is each program's first instruction: the guest hypervisor
 * records its address as the nested context's access (guest.h Access). */
nested_l2_load:
	ldr	x0, [x2]
	hvc	#0
nested_l2_store:
	str	x3, [x2]
	hvc	#0
nested_l2_load_pair:
	ldp	x0, x1, [x2]		// no valid syndrome: KVM cannot emulate it
	eor	x0, x0, x1
	hvc	#0
nested_l2_vncr_load:
	mrs	x0, hcr_el2
	hvc	#0
nested_l2_vncr_store:
	msr	hcr_el2, x3
	hvc	#0
nested_l2_fetch:
	br	x2			// gpa: what runs there is never fetched

/* The nested context's own EL1 vectors (VBAR_EL12 when the guest
 * hypervisor asks for them): every entry hands ESR_EL1 back to the guest
 * hypervisor with an HVC, so an exception the context takes itself ends
 * its run like its program's own HVC, with x0 = the syndrome. */
.macro nested_own_vector
	.balign	0x80
	mrs	x0, esr_el1
	hvc	#0
.endm
	.balign	0x800
	.global	nested_l2_vectors
nested_l2_vectors:
	.rept	16
	nested_own_vector
	.endr

	.bss
	.balign	16
nested_save:
	.skip	NESTED_SAVE_SIZE

/*
 * One access at EL0 (the fault program's el0 steps):
 *
 *   uint64_t el0_enter(uint64_t entry, uint64_t addr, uint64_t value,
 *                      uint64_t dest);
 *
 * ERETs to entry at EL0t, DAIF masked, with x1 = addr, x2 = value and
 * x9 = dest (the load destination, preset as guest.h Access says). The
 * stub makes its one access and an SVC; that lands in lower_sync
 * (vector 0x400), which returns x9 from el0_enter. Any other exception
 * from EL0 (an abort KVM injects for the access) is reported as vector
 * 0x400 like every unexpected exception.
 */
#define SPSR_EL0T_MASKED	0x3c0
#define ESR_EC_SVC64		0x15

	.text
	.global el0_enter
el0_enter:
	ldr	x10, =el0_save
	mov	x11, sp
	stp	x11, x30, [x10]
	msr	elr_el1, x0
	mov	x10, #SPSR_EL0T_MASKED
	msr	spsr_el1, x10
	mov	x9, x3
	isb
	eret

lower_sync:
	mrs	x16, esr_el1
	lsr	x16, x16, #26
	cmp	x16, #ESR_EC_SVC64
	b.ne	1f
	ldr	x10, =el0_save
	ldp	x11, x30, [x10]
	mov	sp, x11
	mov	x0, x9
	ret
1:	mov	x0, #0x400
	b	exception_common
	.ltorg

/* The EL0 stubs: executable at EL0 where they are (the RAM block's UXN
 * is clear, and EL0 needs no data access to it). */
	.global	el0_load, el0_store
el0_load:
	ldr	x9, [x1]
	svc	#0
el0_store:
	str	x2, [x1]
	svc	#0

	.bss
	.balign	16
el0_save:
	.skip	16

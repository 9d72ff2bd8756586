/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64 guest entry. The host starts the vCPU in 64-bit mode with paging,
 * segments and the stack already set up (lib/x86_64/arch.cpp); what is
 * left is the IDT, built from the stubs below, then the fault program.
 */
#include "layout.h"

	.section .text.entry, "ax"
	.code64
	.global _start
_start:
	mov	$(ARCH_RAM_GPA + ARCH_STACK_TOP_OFFSET), %rsp
	call	guest_setup_idt
	call	guest_main
1:	hlt
	jmp	1b

/*
 * One 16-byte stub per exception vector 0-31. Vectors whose exception has
 * no error code push a 0 so every frame looks the same: vector, error
 * code, RIP, CS, RFLAGS, RSP, SS.
 */
.macro stub vector, has_error_code
	.balign	16
	.if \has_error_code == 0
	pushq	$0
	.endif
	pushq	$\vector
	jmp	exception_common
.endm

	.balign	16
	.global	exception_stubs
exception_stubs:
	stub 0, 0;  stub 1, 0;  stub 2, 0;  stub 3, 0
	stub 4, 0;  stub 5, 0;  stub 6, 0;  stub 7, 0
	stub 8, 1;  stub 9, 0;  stub 10, 1; stub 11, 1
	stub 12, 1; stub 13, 1; stub 14, 1; stub 15, 0
	stub 16, 0; stub 17, 1; stub 18, 0; stub 19, 0
	stub 20, 0; stub 21, 1; stub 22, 0; stub 23, 0
	stub 24, 0; stub 25, 0; stub 26, 0; stub 27, 0
	stub 28, 0; stub 29, 1; stub 30, 1; stub 31, 0

/* guest_exception(vector, error code, CR2, RIP, RFLAGS, 0) never returns. */
exception_common:
	mov	(%rsp), %rdi
	mov	8(%rsp), %rsi
	mov	%cr2, %rdx
	mov	16(%rsp), %rcx
	mov	32(%rsp), %r8
	xor	%r9d, %r9d
	/* A fresh stack, in case the exception came from a broken one. */
	mov	$(ARCH_RAM_GPA + ARCH_STACK_TOP_OFFSET), %rsp
	call	guest_exception
1:	hlt
	jmp	1b

/*
 * The nested guest's programs (guest_arch.h arch_nested): one access at
 * RDI, then VMMCALL back to the guest hypervisor. The access's address
 * and the next instruction's are recorded (guest.h Access).
 */
	.balign	16
	.global	svm_l2_load, svm_l2_load_next, svm_l2_store, svm_l2_store_next
svm_l2_load:
	mov	(%rdi), %rax
svm_l2_load_next:
	vmmcall
	ud2
svm_l2_store:
	mov	%rsi, (%rdi)
svm_l2_store_next:
	vmmcall
	ud2

	.section .note.GNU-stack, "", @progbits

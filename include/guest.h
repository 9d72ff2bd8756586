/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface between the host and the guest's fault program, shared by
 * both sides (the guest side is freestanding: plain structs and constants).
 *
 * The host writes a list of steps into the mailbox page of guest RAM; the
 * guest performs them in order, records each loaded value and how many
 * steps completed, then reports "done" through the ucall channel: a 64-bit
 * store of the ucall block's address to ARCH_UCALL_GPA, where no memslot
 * exists and no scenario ever faults, so it reaches the host as an MMIO
 * (arm64) or port I/O (x86) exit the host recognises by its address.
 */
#pragma once

#include <stdint.h>

#include "layout.h"

namespace kvmc::guest {

enum Op : uint32_t {
	op_load = 1,		/* single load of width bytes, zero-extended */
	op_store = 2,		/* single store of the low width bytes of value */
	op_fetch = 3,		/* branch to gpa (instruction fetch) */
	op_load_pair = 4,	/* arm64 LDP: no valid syndrome */
	op_store_pair = 5,	/* arm64 STP: no valid syndrome */
	op_spin = 6,		/* loop forever without exiting (suite self-test) */
	op_sync = 7,		/* report "sync" to the host, go on when resumed */
	op_fill = 8,		/* store value 8-byte words, width bytes apart;
				 * loaded[step] counts the stores begun */
	op_load_writeback = 9,	/* arm64 LDR post-index: no valid syndrome */
	/* The guest as a hypervisor (arm64: with KVM_ARM_VCPU_HAS_EL2). */
	op_nested_load = 10,	/* a nested context loads 8 bytes at gpa, an
				 * IPA of the guest hypervisor's stage-2 */
	op_nested_store = 11,	/* ... stores value at gpa */
	op_vncr_load = 12,	/* VNCR_EL2 = gpa's page; a nested context
				 * with NV2 reads HCR_EL2, i.e. loads gpa's
				 * page + 0x78 (loaded[step]) */
	op_vncr_store = 13,	/* ... writes value to HCR_EL2 (a store) */
	op_level = 14,		/* loaded[step] = the level the program runs
				 * at (arm64: CurrentEL.EL) */
	op_nested_load_pair = 16, /* a nested context's LDP at gpa (no valid
				 * syndrome); loaded[step] = the xor of both */
	op_clean_cache = 17,	/* clean and invalidate the cache line at gpa
				 * (arm64 DC CIVAC, x86 CLFLUSH) */
	op_load_signed = 15,	/* sign-extending load of width bytes into a
				 * register of value bytes (4 or 8); loaded[step]
				 * is the whole 64-bit register */
	op_nested_fetch = 18,	/* a nested context branches to gpa, an IPA of
				 * the guest hypervisor's stage-2, with the
				 * guest hypervisor's HCR_EL2.TEA set */
	op_nested_load_s1 = 19,	/* as op_nested_load, gpa a VA, with the
				 * nested context's MMU on and its stage-1
				 * table at the IPA value, HCR_EL2.TEA set */
	op_nested_store_s1 = 20, /* ... a store at the VA gpa (of value, the
				 * table's IPA: a step has one value) */
	op_tlbi_el2_va = 21,	/* the guest hypervisor invalidates its EL2&0
				 * stage-1 TLB entries for the VA gpa (arm64
				 * TLBI VAE2IS); value bit 0: all of them
				 * (TLBI ALLE2IS), bit 1: with HCR_EL2.TGE
				 * set around it */
	/* x86 only (ARCH_HAS_VECTOR_MOVE): a 16-byte MOVDQU, which KVM's
	 * emulator splits into MMIO fragments. value is the address of a
	 * 16-byte buffer in RAM the vector register is moved through. */
	op_load_vector = 24,	/* XMM0 = 16 bytes at gpa; the buffer = XMM0 */
	op_store_vector = 25,	/* XMM0 = the buffer; 16 bytes at gpa = XMM0 */
	/* x86 only (ARCH_HAS_USER_MODE): an 8-byte access at CPL 3, for a
	 * #PF's U/S bit and what KVM injects at CPL 3. The step must fault:
	 * the program cannot go on at CPL 3, so an access that completes is
	 * followed by UD2 (#UD). */
	op_user_load = 26,
	op_user_store = 27,
	op_user_x87_load = 28,	/* an 8-byte x87 FILD at CPL 3 */
	/* One 8-byte access made at the lowest exception level (arm64 EL0):
	 * the page must allow it there. */
	op_el0_load = 29,	/* loaded[step] = the value loaded */
	op_el0_store = 30,	/* stores value */
	/* arm64: the stage-1 walk sets a descriptor's Access flag itself
	 * (TCR_EL1.HA, FEAT_HAFDBS) from now on; loaded[step] = 1, or 0
	 * where the CPU cannot (nothing changed). */
	op_hw_access_flag = 31,
	/* x86 guest hypervisor (SVM): replace one of the structures the
	 * next nested runs use, gpa selecting which (SvmConfig's index),
	 * value its guest physical address (0: the default in RAM). */
	op_svm_config = 32,
	/* x86 only (ARCH_HAS_REP_STORE): REP STOSB of width bytes, each the
	 * low byte of value, from gpa up (the direction flag clear). */
	op_rep_store = 33,
	/* arm64 (ARCH_HAS_SERROR): clear PSTATE.A, so that a pending SError
	 * is taken (reported like any exception). value: serror_* below. */
	op_serror_unmask = 34,
	/* An instruction UNDEFINED to the guest that KVM traps and must give
	 * back as such (ARCH_HAS_UNDEFINED): arm64 MRS of an IMPLEMENTATION
	 * DEFINED register (HCR_EL2.TIDCP sends it to KVM), x86 UD2 (KVM
	 * intercepts #UD). It is the step's recorded access (Access). */
	op_undefined = 35,
	/* x86 (ARCH_HAS_X87): an 8-byte x87 FILD at gpa at CPL 0, an
	 * instruction KVM's emulator has no entry for; recorded. */
	op_x87_load = 36,
	/* arm64 guest hypervisor (ARCH_HAS_GIC): enable the SPI with INTID
	 * value at its GIC (group 1, priority 0xa0, routed to CPU 0) and its
	 * CPU interface (PMR 0xff, group 1 on); PSTATE.I stays set. */
	op_gic_enable_spi = 37,
	/* x86 (ARCH_HAS_STRING_IO): REP OUTSB / REP INSB of width bytes
	 * between port gpa and memory at value (the direction flag clear);
	 * recorded. */
	op_string_out = 38,
	op_string_in = 39,
	/* x86 (ARCH_HAS_TF_STEP): one 8-byte load (value 0) or store of
	 * ~0 (value 1) at gpa with EFLAGS.TF set by the POPF just before it,
	 * so the single-step trap (#DB) comes right after the access;
	 * recorded. Without the trap the guest runs into UD2 (#UD). */
	op_tf_access = 40,
	/* x86 (ARCH_HAS_MMIO_CONTROL): JMP through the 8-byte pointer at gpa
	 * (the recorded access; a UD2 follows it, so a jump that falls
	 * through is #UD), and POPF of the 8 bytes at gpa as its stack
	 * (loaded[step] = RFLAGS after it; IF cleared again). */
	op_jump_via = 41,
	op_popf_from = 42,
	/* x86 (ARCH_HAS_REP_MOVE): REP MOVSB of width bytes from gpa to
	 * value (the direction flag clear); recorded. */
	op_rep_move = 43,
	/* x86 (ARCH_HAS_MMIO_CONTROL): IRETQ with RSP = gpa for that one
	 * instruction (recorded). Only for a gpa where it cannot complete:
	 * nothing brings the program back from where a completed IRETQ
	 * goes. */
	op_iret_from = 44,
	/* x86 (ARCH_HAS_MSR): RDMSR of MSR gpa (loaded[step] = EDX:EAX),
	 * WRMSR of value to MSR gpa; recorded. */
	op_rdmsr = 45,
	op_wrmsr = 46,
	/* x86 (ARCH_HAS_INVLPG): INVLPG of the virtual address gpa. */
	op_invlpg = 47,
	/* x86 (ARCH_HAS_FORCED_EMULATION): an instruction behind KVM's
	 * forced-emulation prefix (UD2 "kvm", with kvm.force_emulation_prefix
	 * set), so KVM's emulator runs it: RDMSR of MSR gpa (loaded[step] =
	 * EDX:EAX), and a NOP with an instruction breakpoint on it (DR0, DR7
	 * L0; recorded: a #DB at it ends the program). */
	op_forced_rdmsr = 48,
	op_forced_breakpoint = 49,
	/* x86 (ARCH_HAS_X87): an 8-byte x87 FISTP of zero (FLDZ first) at
	 * gpa at CPL 0, a store KVM's emulator has no entry for; recorded. */
	op_x87_store_zero = 50,
};

/* op_serror_unmask's value. */
constexpr uint64_t serror_route_el2 = 1;	/* first set HCR_EL2.AMO (the guest is
						 * a hypervisor at EL2): SErrors go to
						 * EL2, not an EL1 it is not running at */
constexpr uint64_t serror_keep_masked = 2;	/* then leave PSTATE.A set */

/* op_nested_load's value: what the guest hypervisor routes to itself
 * while the nested context runs (arm64 HCR_EL2 bits). */
constexpr uint64_t nested_route_serror = 1;	/* SErrors (AMO) */
constexpr uint64_t nested_route_abort = 2;	/* external aborts (TEA) */
constexpr uint64_t nested_route_irq = 4;	/* IRQs, not FIQs (IMO alone) */
constexpr uint64_t nested_route_interrupts = 8;	/* IRQs and FIQs (IMO, FMO) */
/* Not a route: the nested context gets vectors of its own (VBAR_EL12)
 * that end its run with x0 = ESR_EL1, loaded[step]. */
constexpr uint64_t nested_own_vectors = 16;

/* x86: the guest hypervisor's structures (ARCH_SVM_CONFIG_OFFSET in RAM,
 * zero = the default there, include/x86_64/layout.h). */
enum SvmStructure : uint32_t {
	svm_vmcb = 0,		/* the nested guest's VMCB (VMRUN's RAX) */
	svm_ncr3 = 1,		/* the nested page tables' root (VMCB N_CR3) */
	svm_msrpm = 2,		/* MSRPM_BASE_PA */
	svm_iopm = 3,		/* IOPM_BASE_PA */
	svm_nested_paging_off = 4, /* not a structure: nonzero, run the nested
				 * guest without nested paging (NP_ENABLE
				 * clear; its physical addresses are the
				 * guest's) */
	svm_structures = 5,
};

struct SvmConfig {
	uint64_t gpa[svm_structures];
};

struct Step {
	uint64_t gpa;
	uint64_t value;
	uint32_t op;
	uint32_t width;
};

constexpr uint32_t max_steps = 16;
constexpr uint32_t mailbox_magic = 0x6b766d63; /* "kvmc" */

/*
 * Where the guest is (C14). Just before the single instruction of a load,
 * store or cache maintenance step, the guest writes that instruction's
 * address and the address of the one after it here; every step begins by
 * clearing pc, so a step without such an instruction (a fetch) leaves no
 * record. A load's destination register (arm64 x9, x86 RAX) holds
 * dest_canary until the load completes. A nested context's access is
 * recorded by the guest hypervisor before it enters the context, without
 * access_load: its destination is another register.
 */
struct Access {
	uint64_t pc;		/* the access instruction, 0: none */
	uint64_t next_pc;	/* the instruction after it */
	uint64_t flags;		/* access_load: a load into the destination register */
};

constexpr uint64_t access_load = 1;
constexpr uint64_t dest_canary = 0x5afec0de0ddba115ull;

struct Mailbox {
	uint32_t magic;
	uint32_t nsteps;
	uint32_t completed;	/* steps finished so far (written by the guest) */
	uint32_t reserved;
	Step steps[max_steps];
	uint64_t loaded[max_steps];	/* value of each load step */
	Access access;
};

/* The guest physical address of Mailbox::access. */
constexpr uint64_t access_gpa = ARCH_RAM_GPA + ARCH_MAILBOX_OFFSET + __builtin_offsetof(Mailbox, access);

/* Values of Ucall::kind match kvmc::GuestCallKind. */
enum UcallKind : uint32_t {
	ucall_done = 1,
	ucall_exception = 2,
	ucall_failed = 3,
	ucall_sync = 4,
};

/* args: for ucall_exception the vector, syndrome, fault address, the PC
 * the exception returns to, the saved PSTATE (arm64 SPSR, x86 RFLAGS)
 * and, for an exception a guest hypervisor takes from its nested context,
 * arm64 HPFAR_EL2 (0 otherwise). */
struct Ucall {
	uint32_t kind;
	uint32_t reserved;
	uint64_t args[6];
};

} /* namespace kvmc::guest */

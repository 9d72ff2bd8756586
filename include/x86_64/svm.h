/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AMD SVM as the guest hypervisor and the host's expectations see it
 * (AMD APM vol. 2, chapter 15 and appendix B): the VMCB fields the guest
 * hypervisor writes and reads, the intercept bits, and the #VMEXIT codes.
 * Freestanding: shared by the guest program and the host.
 */
#pragma once

#include <stdint.h>

namespace kvmc::svm {

/* APM 15.5.1: a VMCB segment (selector, packed attributes, limit, base). */
struct Segment {
	uint16_t selector;
	uint16_t attrib;
	uint32_t limit;
	uint64_t base;
};

/* APM appendix B, table B-1: the control area, offsets 0x000-0x3ff. */
struct Control {
	uint32_t intercept_cr;		/* 0x000 */
	uint32_t intercept_dr;		/* 0x004 */
	uint32_t intercept_exceptions;	/* 0x008: bit n, vector n */
	uint32_t intercept_misc1;	/* 0x00c */
	uint32_t intercept_misc2;	/* 0x010: VMRUN (bit 0), VMMCALL (bit 1) */
	uint32_t intercept_misc3;	/* 0x014 */
	uint8_t reserved_18[0x3c - 0x18];
	uint16_t pause_filter_thresh;
	uint16_t pause_filter_count;
	uint64_t iopm_base_pa;		/* 0x040 */
	uint64_t msrpm_base_pa;		/* 0x048 */
	uint64_t tsc_offset;		/* 0x050 */
	uint32_t asid;			/* 0x058 */
	uint8_t tlb_control;		/* 0x05c */
	uint8_t reserved_5d[3];
	uint32_t int_ctl;		/* 0x060 */
	uint32_t int_vector;
	uint32_t int_state;		/* 0x068 */
	uint32_t reserved_6c;
	uint64_t exit_code;		/* 0x070 */
	uint64_t exit_info_1;		/* 0x078 */
	uint64_t exit_info_2;		/* 0x080 */
	uint32_t exit_int_info;		/* 0x088 */
	uint32_t exit_int_info_err;
	uint64_t np_enable;		/* 0x090: bit 0 nested paging */
	uint64_t avic_apic_bar;
	uint64_t ghcb_gpa;		/* 0x0a0 */
	uint32_t event_inj;		/* 0x0a8 */
	uint32_t event_inj_err;
	uint64_t nested_cr3;		/* 0x0b0 */
	uint64_t virt_ext;		/* 0x0b8 */
	uint32_t clean;			/* 0x0c0 */
	uint32_t reserved_c4;
	uint64_t next_rip;		/* 0x0c8 */
	uint8_t insn_len;		/* 0x0d0 */
	uint8_t insn_bytes[15];
	uint8_t reserved_e0[0x400 - 0xe0];
};

/* Table B-2: the state save area, from 0x400. */
struct Save {
	Segment es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; /* 0x400 */
	uint8_t reserved_a0[0xcb - 0xa0];
	uint8_t cpl;			/* 0x4cb */
	uint32_t reserved_cc;
	uint64_t efer;			/* 0x4d0 */
	uint8_t reserved_d8[0x148 - 0xd8];
	uint64_t cr4;			/* 0x548 */
	uint64_t cr3;
	uint64_t cr0;
	uint64_t dr7;
	uint64_t dr6;
	uint64_t rflags;		/* 0x570 */
	uint64_t rip;			/* 0x578 */
	uint8_t reserved_180[0x1d8 - 0x180];
	uint64_t rsp;			/* 0x5d8 */
	uint8_t reserved_1e0[0x1f8 - 0x1e0];
	uint64_t rax;			/* 0x5f8 */
	uint8_t reserved_200[0x240 - 0x200];
	uint64_t cr2;			/* 0x640 */
	uint8_t reserved_248[0x268 - 0x248];
	uint64_t g_pat;			/* 0x668 */
};

struct Vmcb {
	Control control;
	Save save;
};

static_assert(__builtin_offsetof(Control, exit_code) == 0x70, "VMCB exit_code");
static_assert(__builtin_offsetof(Control, nested_cr3) == 0xb0, "VMCB nested_cr3");
static_assert(__builtin_offsetof(Control, next_rip) == 0xc8, "VMCB next_rip");
static_assert(sizeof(Control) == 0x400, "VMCB control area");
static_assert(__builtin_offsetof(Save, efer) == 0xd0, "VMCB efer");
static_assert(__builtin_offsetof(Save, rip) == 0x178, "VMCB rip");
static_assert(__builtin_offsetof(Save, rax) == 0x1f8, "VMCB rax");
static_assert(__builtin_offsetof(Save, g_pat) == 0x268, "VMCB g_pat");

constexpr uint32_t intercept_vmrun = 1u << 0, intercept_vmmcall = 1u << 1;
/* misc1: INTR (0), NMI (1), HLT (24), IOIO_PROT (27), MSR_PROT (28), SHUTDOWN (31). */
constexpr uint32_t intercept_intr = 1u << 0, intercept_nmi = 1u << 1, intercept_hlt = 1u << 24,
		   intercept_ioio = 1u << 27, intercept_msr = 1u << 28, intercept_shutdown = 1u << 31;

constexpr uint64_t efer_svme = 1ull << 12;
constexpr uint32_t msr_efer = 0xc0000080, msr_vm_hsave_pa = 0xc0010117;
constexpr uint64_t msrpm_bytes = 0x2000, iopm_bytes = 0x3000;

/* #VMEXIT codes (APM appendix C). */
constexpr uint64_t exit_excp_base = 0x40;	/* + the vector: an intercepted exception */
constexpr uint64_t exit_pf = exit_excp_base + 14;
constexpr uint64_t exit_vmmcall = 0x81;
constexpr uint64_t exit_npf = 0x400;
constexpr uint64_t exit_err = ~0ull;		/* VMRUN found the VMCB invalid */

/* EXITINFO1 of #NPF (APM 15.25.6): a #PF error code in bits 31:0, and
 * where the fault happened. */
constexpr uint64_t npf_final_translation = 1ull << 32;
constexpr uint64_t npf_table_walk = 1ull << 33;

} /* namespace kvmc::svm */

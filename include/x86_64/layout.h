/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64 guest physical layout. The guest starts directly in 64-bit long
 * mode (the host sets CR0/CR3/CR4/EFER and the segments with
 * KVM_SET_SREGS) over an identity map of the low 4 GiB in 2 MiB pages:
 *
 *   0x4000_0000  RAM memslot: image, page tables, GDT/TSS, IDT, mailbox, stack
 *   0x8000_0000  test region: memslots a scenario creates
 *   0xc000_0000  MMIO region: never backed by a memslot (mapped uncached)
 *
 * The ucall doorbell is port I/O (ARCH_UCALL_PORT), which no scenario
 * touches. Same RAM offsets as arm64 where the two share a meaning.
 */
#pragma once

#define ARCH_RAM_GPA		0x40000000
#define ARCH_RAM_SIZE		0x200000
#define ARCH_IMAGE_MAX		0x10000
#define ARCH_PGTABLE_OFFSET	0x10000	/* PML4, PDPT, 5 PDs: 7 pages */
#define ARCH_GDT_OFFSET		0x18000
#define ARCH_TSS_OFFSET		0x18100
#define ARCH_IDT_OFFSET		0x19000
#define ARCH_MAILBOX_OFFSET	0x20000
#define ARCH_UCALL_OFFSET	0x30000
#define ARCH_STACK_TOP_OFFSET	0x80000

#define ARCH_TEST_GPA		0x80000000
#define ARCH_MMIO_GPA		0xc0000000
#define ARCH_UCALL_PORT		0x7c

/* Canonical but beyond the 4 GiB identity map: a #PF the guest takes
 * itself (the suite's self-test of exception reporting). */
#define ARCH_UNMAPPED_GVA	0x1000000000

/* M9: one 2 MiB page at this virtual address maps guest physical
 * 1 << ARCH_SMALL_PHYS_BITS, the first address beyond a guest whose CPUID
 * says MAXPHYADDR = ARCH_SMALL_PHYS_BITS. */
#define ARCH_SMALL_PHYS_BITS	36
#define ARCH_BEYOND_GVA		0x100000000

/*
 * The window: guest virtual addresses whose guest physical address is
 * another (C5, C7, C4 with the MMU translating; the variants "GVA !=
 * GPA" of CONTRACT.md). ARCH_WINDOW_GVA is 1 GiB the identity map leaves
 * out; the host maps it with its own page directory:
 *  - the first 2 MiB with 4 KiB pages: the few at its start map what
 *    include/x86_64/window.h lists (each page's neighbours chosen for
 *    the page-crossing accesses: MMIO next to RAM, MMIO next to MMIO
 *    elsewhere in guest physical space, MMIO next to a page whose guest
 *    PTE faults); the rest are not present;
 *  - then two 2 MiB pages: ARCH_WINDOW_LARGE_SLOT_GVA onto
 *    ARCH_WINDOW_LARGE_SLOT_GPA (a test memslot), ARCH_WINDOW_LARGE_MMIO_GVA
 *    onto ARCH_WINDOW_LARGE_MMIO_GPA (no memslot).
 * The GPAs of neighbouring pages are not neighbours, and none equals its
 * GVA, so KVM reporting a GVA, or a GPA computed from the wrong page,
 * shows in the exit.
 */
#define ARCH_WINDOW_GVA		0x140000000
#define ARCH_WINDOW_TABLES_OFFSET 0x1a000	/* the window's PD and PT */
#define ARCH_WINDOW_RAM_OFFSET	0x90000		/* in RAM, above the stack */
#define ARCH_WINDOW_RAM_GPA	(ARCH_RAM_GPA + ARCH_WINDOW_RAM_OFFSET)
#define ARCH_WINDOW_LARGE_SLOT_GVA (ARCH_WINDOW_GVA + 0x200000)
#define ARCH_WINDOW_LARGE_SLOT_GPA (ARCH_TEST_GPA + 0x200000)
#define ARCH_WINDOW_LARGE_MMIO_GVA (ARCH_WINDOW_GVA + 0x400000)
#define ARCH_WINDOW_LARGE_MMIO_GPA (ARCH_MMIO_GPA + 0x400000)
/*
 * Window tables a test places at a GPA of its choice
 * (include/x86_64/placed_table.h): the 2 MiB at ARCH_WINDOW_PLACED_PT_GVA
 * are translated by a PT there (its PDE, the window PD's fourth entry,
 * in RAM), the GiB at ARCH_WINDOW_PLACED_PD_GVA by a PD there (its PDPTE
 * in RAM) whose first entry is the window's PT in RAM.
 */
#define ARCH_WINDOW_PLACED_PT_GVA (ARCH_WINDOW_GVA + 0x600000)
#define ARCH_WINDOW_PLACED_PD_GVA 0x1c0000000

/* GDT selectors the host installs. */
#define ARCH_SEL_CODE		0x08
#define ARCH_SEL_DATA		0x10
#define ARCH_SEL_TSS		0x18	/* 16 bytes */
#define ARCH_SEL_USER_DATA	0x28	/* DPL 3, for steps at CPL 3 */
#define ARCH_SEL_USER_CODE	0x30

/*
 * The guest as a hypervisor (AMD SVM, include/x86_64/svm.h): what the
 * guest hypervisor needs in RAM, above everything else there. The host
 * prepares the nested page tables (NPT) and zeroes the rest; the guest
 * hypervisor fills the VMCB for each nested run.
 *
 * Its nested page tables map nested-guest physical addresses onto the
 * guest's own: identity over the low 4 GiB in 2 MiB pages (the nested
 * guest runs the guest's own code with the guest's own page tables),
 * except a window of 4 KiB pages at ARCH_NESTED_WINDOW_NPA whose page n
 * maps ARCH_TEST_GPA + n * 4 KiB: the nested guest's address and the
 * guest's differ there, so an exit that names the wrong one shows.
 * Page ARCH_NESTED_PAGE_NOT_PRESENT is not present, ARCH_NESTED_PAGE_RO
 * read-only, ARCH_NESTED_PAGE_RSVD has a reserved bit set (#NPF forwarded
 * to the guest hypervisor, NX4).
 */
#define ARCH_VMCB_OFFSET	0x100000
#define ARCH_HSAVE_OFFSET	0x101000	/* MSR_VM_HSAVE_PA */
#define ARCH_MSRPM_OFFSET	0x102000	/* 8 KiB, all ones: every MSR intercepted */
#define ARCH_IOPM_OFFSET	0x104000	/* 12 KiB, all ones: every port intercepted */
#define ARCH_NPT_OFFSET		0x108000	/* PML4, PDPT, 4 PDs, the window's PT: 7 pages */
#define ARCH_SVM_CONFIG_OFFSET	0x110000	/* guest.h SvmConfig (host: zero = defaults) */
#define ARCH_NESTED_STACK_TOP_OFFSET 0x120000

#define ARCH_NESTED_WINDOW_NPA	0xa0000000
#define ARCH_NESTED_WINDOW_PAGES 8
#define ARCH_NESTED_PAGE_NOT_PRESENT 4
#define ARCH_NESTED_PAGE_RO	5
#define ARCH_NESTED_PAGE_RSVD	6	/* bit 51 set: reserved while MAXPHYADDR < 52 */
/* A guest virtual address whose page directory (per the guest's own page
 * tables) is at nested-guest physical ARCH_NESTED_WINDOW_NPA + page
 * ARCH_NESTED_PAGE_NOT_PRESENT: the nested guest's own page-table walk
 * there takes the #NPF (EXITINFO1 bit 33). The guest itself never uses
 * it. */
#define ARCH_NESTED_WALK_GVA	0x180000000

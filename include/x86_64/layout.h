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

/* GDT selectors the host installs. */
#define ARCH_SEL_CODE		0x08
#define ARCH_SEL_DATA		0x10
#define ARCH_SEL_TSS		0x18	/* 16 bytes */
#define ARCH_SEL_USER_DATA	0x28	/* DPL 3, for steps at CPL 3 */
#define ARCH_SEL_USER_CODE	0x30

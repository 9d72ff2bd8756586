/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 guest physical layout. The guest runs with its MMU on and an
 * identity map (VA == IPA) built by the host from one level-1 table of
 * 1 GiB blocks (4 KiB granule, 39-bit VA), but for the stage-1 window
 * below, where VA != IPA:
 *
 *   block 1  0x4000_0000  RAM memslot: image, page table, mailbox, stack
 *   block 2  0x8000_0000  test region: memslots a scenario creates
 *   block 3  0xc000_0000  MMIO region: never backed by a memslot
 *   block 4  0x1_0000_0000  ucall doorbell: never backed, never faulted on
 *
 * RAM and the test region are Normal write-back memory: the host reads what
 * the guest wrote through a cacheable mapping, so the guest must write
 * through a cacheable one too (with the MMU off its stores would be
 * Device-nGnRnE and, on real hardware, bypass the caches the host reads
 * through). Everything else is Device-nGnRE, as MMIO is in a real guest.
 */
#pragma once

#define ARCH_RAM_GPA		0x40000000
#define ARCH_RAM_SIZE		0x200000
#define ARCH_IMAGE_MAX		0x10000
#define ARCH_PGTABLE_OFFSET	0x10000
#define ARCH_MAILBOX_OFFSET	0x20000
#define ARCH_UCALL_OFFSET	0x30000
#define ARCH_STACK_TOP_OFFSET	0x80000

/* The stage-2 table a guest hypervisor gives its nested context (one
 * level-1 table of 1 GiB blocks): the nested IPA space is the identity of
 * the guest's own below 4 GiB, plus block 5, ARCH_NESTED_WINDOW_IPA,
 * mapped onto the test region, so a nested access there has a different
 * address on each side of the guest hypervisor's stage-2. */
#define ARCH_S2_PGTABLE_OFFSET	0x11000
#define ARCH_NESTED_WINDOW_IPA	0x140000000

/*
 * Where the guest hypervisor's stage-2 itself faults (N16 on), each
 * fault at a known level of its walk:
 *
 *   block 6  ARCH_NESTED_HOLE_IPA: invalid at level 1
 *   block 7  ARCH_NESTED_PAGES_IPA: a level-2 table (ARCH_S2_L2_OFFSET)
 *     2 MiB 0  a level-3 table (ARCH_S2_L3_OFFSET) of 4 KiB pages onto
 *              the test region's first pages, ARCH_NESTED_PAGE_* below
 *              (page n onto ARCH_TEST_GPA + n pages), the rest invalid
 *     2 MiB 1  a 2 MiB block onto ARCH_NESTED_BLOCK_GPA (another offset
 *              in the test region, so a wrong block offset shows)
 *     2 MiB 2  invalid at level 2
 *     2 MiB 3  a table descriptor naming ARCH_MMIO_GPA, where no memslot
 *              is: reading that level-3 table is an external abort
 */
#define ARCH_S2_L2_OFFSET	0x12000
#define ARCH_S2_L3_OFFSET	0x13000
#define ARCH_NESTED_HOLE_IPA	0x180000000
#define ARCH_NESTED_PAGES_IPA	0x1c0000000
#define ARCH_NESTED_PAGE_RW	0	/* read/write */
#define ARCH_NESTED_PAGE_RO	1	/* S2AP read-only */
#define ARCH_NESTED_PAGE_WO	2	/* S2AP write-only */
#define ARCH_NESTED_PAGE_NO_AF	3	/* read/write, access flag clear */
#define ARCH_NESTED_PAGE_INVALID 4	/* invalid at level 3 */
#define ARCH_NESTED_BLOCK_IPA	(ARCH_NESTED_PAGES_IPA + 0x200000)
#define ARCH_NESTED_BLOCK_GPA	(ARCH_TEST_GPA + 0x400000)
#define ARCH_NESTED_L2_HOLE_IPA	(ARCH_NESTED_PAGES_IPA + 0x400000)
#define ARCH_NESTED_BAD_TABLE_IPA (ARCH_NESTED_PAGES_IPA + 0x600000)

/*
 * The identity map's entry for VA ARCH_NESTED_BAD_S1_VA (block 8) is a
 * table descriptor naming ARCH_NESTED_BAD_S1_TABLE, a nested IPA: the
 * guest never touches that VA, and a nested context that walks this
 * table with its MMU on finds its level-2 table where the guest
 * hypervisor's stage-2 maps test region page 5, which no test backs.
 */
#define ARCH_NESTED_BAD_S1_VA	0x200000000
#define ARCH_NESTED_BAD_S1_TABLE (ARCH_NESTED_WINDOW_IPA + 0x5000)

#define ARCH_TEST_GPA		0x80000000
/* The in-kernel GICv3 of a guest hypervisor's VM (lib/arm64/arch.cpp
 * hypervisor_init()): distributor and redistributor frames, in the
 * identity map's Device memory. */
#define ARCH_GIC_DIST_GPA	0x08000000
#define ARCH_GIC_REDIST_GPA	0x080a0000
#define ARCH_MMIO_GPA		0xc0000000
#define ARCH_UCALL_GPA		0x100000000

/* Beyond the 39-bit VA range of TTBR0: a stage-1 translation fault the
 * guest takes itself (the suite's self-test of exception reporting). */
#define ARCH_UNMAPPED_GVA	0x8000000000

/*
 * The stage-1 window (lib/arm64/stage1.cpp): guest virtual addresses that
 * are not the IPA they reach, 4 KiB pages the host maps one by one. The
 * level-1 entry for ARCH_WINDOW_GVA points to a level-2 table in RAM;
 * its entry 0 to a level-3 table in RAM (window pages 0-511), its entry
 * 1 to a level-3 table wherever a test places it (pages 512-1023; none
 * until then). A page the host did not map is invalid. The next GiB,
 * ARCH_WINDOW_GVA + 1 GiB, is translated by a level-2 table a test
 * places (invalid until then).
 */
#define ARCH_WINDOW_GVA		0x4000000000
#define ARCH_WINDOW_L2_OFFSET	0x1c000
#define ARCH_WINDOW_L3_OFFSET	0x1d000

/* MAIR_EL1 attribute indexes used by the identity map. */
#define ARCH_MAIR_NORMAL_WB	0
#define ARCH_MAIR_DEVICE_nGnRE	1

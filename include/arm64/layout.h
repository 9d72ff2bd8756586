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

#define ARCH_TEST_GPA		0x80000000
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

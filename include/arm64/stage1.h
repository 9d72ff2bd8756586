/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64: the guest's stage-1 window (include/arm64/layout.h), where a
 * guest virtual address is not the IPA it reaches. The host maps window
 * pages before the guest's first run (the guest's TLB holds nothing of
 * the window until then), so a step's address may be a window address.
 */
#pragma once

#include <cstdint>

#include "guest_vm.h"
#include "layout.h"

namespace kvmc::arch {

/* How one 4 KiB window page is mapped. */
struct WindowPage {
	uint64_t ipa;
	bool device = false;	/* Device-nGnRE (MMIO), else Normal write-back */
	bool el0 = false;	/* EL0 may load and store too (AP[2:1] = 01) */
};

/* Window pages per level-3 table: pages [0, 512) are translated by the
 * table in guest RAM, [512, 1024) by the table a test places. */
constexpr unsigned window_table_pages = 512;
constexpr uint64_t window_page_bytes = 4096;

constexpr uint64_t window_gva(unsigned page)
{
	return ARCH_WINDOW_GVA + page * window_page_bytes;
}

/* The level-3 descriptor of a window page. */
uint64_t window_descriptor(const WindowPage &page);

/* Window page n (< 512) maps page, through the table in guest RAM.
 * Returns the page's virtual address. */
uint64_t map_window_page(GuestVm &g, unsigned n, const WindowPage &page);

/* Window pages [512, 1024) are translated by a level-3 table at the IPA
 * table_ipa (the level-2 entry that says so is in guest RAM). Whatever
 * backs that IPA holds the table: the test writes its entries there
 * (window_descriptor(), entry n - 512 for page n), or leaves the IPA
 * without a memslot. */
void place_window_table(GuestVm &g, uint64_t table_ipa);

/* prepare_ram()'s part: the window's level-1 entry and its tables in
 * guest RAM (ram: the host's view of ARCH_RAM_GPA), every page invalid. */
void prepare_window(uint8_t *ram);

} /* namespace kvmc::arch */

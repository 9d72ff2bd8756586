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
	bool exec = false;	/* EL1 may fetch from it (PXN clear) */
	bool accessed = true;	/* AF set; clear, the first access sets it
				 * (hw_access_flag()) or takes an Access
				 * flag fault */
	bool read_only = false;	/* AP[2] set: no write at any level */
};

/* The descriptor bit the walk sets for a page first accessed. */
constexpr uint64_t window_descriptor_af = 1ull << 10;

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

/* The window tables a test places at an IPA of its choice. Whatever
 * backs that IPA holds the table: the test writes its entries there, or
 * leaves the IPA without a memslot. */
enum class PlacedTable {
	/* Translates window pages [512, 1024): entry n - 512 is page n's
	 * window_descriptor(). Its level-2 entry is in guest RAM. */
	level3,
	/* Translates the GiB at ARCH_WINDOW_GVA + 1 GiB (placed_gva()):
	 * entry 0 is window_level3_in_ram(), so page n there maps as window
	 * page n does. Its level-1 entry is in guest RAM. */
	level2,
};
void place_window_table(GuestVm &g, uint64_t table_ipa, PlacedTable which = PlacedTable::level3);

/* A table descriptor for the level-3 table in guest RAM (window pages
 * 0-511), for entry 0 of a placed level-2 table. */
uint64_t window_level3_in_ram();

/* Page n of what the placed table translates. */
constexpr uint64_t placed_gva(PlacedTable which, unsigned n)
{
	return which == PlacedTable::level3 ? window_gva(window_table_pages + n)
					    : ARCH_WINDOW_GVA + (1ull << 30) + n * window_page_bytes;
}

/* prepare_ram()'s part: the window's level-1 entry and its tables in
 * guest RAM (ram: the host's view of ARCH_RAM_GPA), every page invalid. */
void prepare_window(uint8_t *ram);

} /* namespace kvmc::arch */

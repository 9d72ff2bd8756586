/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64: a table of the window's walk (include/x86_64/layout.h) that a
 * test places at a GPA of its choice, in whatever backs that GPA (an
 * ordinary, read-only or guest_memfd memslot, a broken backing, no
 * memslot at all): the x86 counterpart of include/arm64/stage1.h
 * place_window_table(). The host writes the entry that points to the
 * table (in guest RAM) before the guest's first run, so the guest's TLB
 * holds nothing of it then.
 */
#pragma once

#include <cstdint>
#include <string>

#include "guest_vm.h"
#include "layout.h"

namespace kvmc::x86 {

/* Which table is placed. */
enum class PlacedTable {
	/* A PT: entry n maps page n at placed_gva(pt, n). Its PDE is the
	 * window PD's entry 3, in guest RAM. */
	pt,
	/* A PD: entry 0 is placed_pd_entry() (the window's PT in RAM, whose
	 * entries placed_pd_first + n map_placed_pd_page() writes), so page
	 * n at placed_gva(pd, n) is translated through it. Its PDPTE is in
	 * guest RAM. */
	pd,
};

/* A page a placed table (or, for PlacedTable::pd, the window PT under
 * it) maps: present, writable, supervisor. accessed, dirty: the A and D
 * bits the host writes (a walk that finds them clear must write them,
 * AMD APM vol. 2, 5.4.2). */
struct PlacedPage {
	uint64_t gpa;
	bool mmio = false;	/* uncached (PCD, PWT) */
	bool accessed = true;
	bool dirty = true;
};

constexpr uint64_t entry_accessed = 1ull << 5, entry_dirty = 1ull << 6;

/* The 4 KiB PTE for page. */
uint64_t placed_pte(const PlacedPage &page);
/* A PDE for the window's PT in RAM (entry 0 of a placed PD). */
uint64_t placed_pd_entry(bool accessed);

/* Index in the window's PT in RAM of the first page a placed PD reaches
 * (pages below it are window.h's). */
constexpr unsigned placed_pd_first = 0x100;

constexpr uint64_t placed_gva(PlacedTable which, unsigned n)
{
	return which == PlacedTable::pt ? ARCH_WINDOW_PLACED_PT_GVA + n * 0x1000ull
					: ARCH_WINDOW_PLACED_PD_GVA + (placed_pd_first + n) * 0x1000ull;
}

/* Point the window's walk at the table at table_gpa (the PDE or PDPTE in
 * guest RAM, A set). */
void place_window_table(GuestVm &g, uint64_t table_gpa, PlacedTable which);
/* Page n of what a placed PD translates: the window PT's entry
 * placed_pd_first + n in guest RAM. */
void map_placed_pd_page(GuestVm &g, unsigned n, const PlacedPage &page);

/*
 * Whether KVM walks the guest's page tables for every access (its shadow
 * MMU, kvm_amd npt=0 or kvm_intel ept=0): with two-dimensional paging the
 * CPU walks them and KVM sees only what faults at the second stage.
 * Unknown (no such parameter): true. *why says which parameter decided.
 */
bool kvm_walks_guest_tables(std::string *why);

} /* namespace kvmc::x86 */

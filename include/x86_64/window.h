/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The window's 4 KiB pages (include/x86_64/layout.h, ARCH_WINDOW_GVA):
 * what each guest virtual page maps, read by prepare_ram() (which builds
 * the guest PTEs) and by the tests (which access the GVA and expect the
 * GPA).
 */
#pragma once

#include <cstdint>

#include "layout.h"

namespace kvmc::x86 {

/* What the guest PTE of a window page says. */
enum class Pte {
	ordinary,	/* present, writable */
	not_present,	/* P = 0 */
	read_only,	/* R/W = 0 (CR0.WP is set: supervisor writes fault too) */
	reserved_bit,	/* bit 51 set: reserved where MAXPHYADDR < 52 */
};

struct WindowPage {
	uint64_t gpa;
	Pte pte;
	bool mmio;	/* gpa is in the MMIO region: the PTE says uncached */
	bool user = false; /* U/S set: CPL 3 may use it */
};

enum WindowIndex : unsigned {
	window_mmio_a,		/* MMIO, then MMIO elsewhere (b) */
	window_mmio_b,		/* MMIO, then RAM */
	window_ram,		/* RAM, then MMIO */
	window_mmio_c,
	window_slot,		/* the second page of a test memslot at ARCH_TEST_GPA */
	window_mmio_d,		/* MMIO, then a page that is not present */
	window_not_present,
	window_mmio_e,		/* MMIO, then a read-only page */
	window_read_only,
	window_mmio_f,		/* MMIO, then a page with a reserved bit set */
	window_reserved_bit,
	window_user_mmio,	/* MMIO that CPL 3 may use */
	window_pages,
};

inline constexpr WindowPage window_page[window_pages] = {
	{ARCH_MMIO_GPA + 0x3000, Pte::ordinary, true},
	{ARCH_MMIO_GPA + 0x2000, Pte::ordinary, true},
	{ARCH_WINDOW_RAM_GPA, Pte::ordinary, false},
	{ARCH_MMIO_GPA + 0x4000, Pte::ordinary, true},
	{ARCH_TEST_GPA + 0x1000, Pte::ordinary, false},
	{ARCH_MMIO_GPA + 0x5000, Pte::ordinary, true},
	{ARCH_MMIO_GPA + 0x6000, Pte::not_present, true},
	{ARCH_MMIO_GPA + 0x7000, Pte::ordinary, true},
	{ARCH_MMIO_GPA + 0x8000, Pte::read_only, true},
	{ARCH_MMIO_GPA + 0x9000, Pte::ordinary, true},
	{ARCH_MMIO_GPA + 0xa000, Pte::reserved_bit, true},
	{ARCH_MMIO_GPA + 0xb000, Pte::ordinary, true, true},
};

constexpr uint64_t window_page_bytes = 0x1000;

/* The guest virtual address offset bytes into window page n, and the
 * guest physical address it maps. */
constexpr uint64_t window_gva(unsigned n, uint64_t offset = 0)
{
	return ARCH_WINDOW_GVA + n * window_page_bytes + offset;
}
constexpr uint64_t window_gpa(unsigned n, uint64_t offset = 0)
{
	return window_page[n].gpa + offset;
}

/* The window's PD and its PT (whose PDE is the PD's entry 0), in RAM
 * under the identity map, so the guest can rewrite them with a plain
 * store: where the guest PTE of window page n is. */
constexpr uint64_t window_pd_gpa = ARCH_RAM_GPA + ARCH_WINDOW_TABLES_OFFSET;
constexpr uint64_t window_pte_gpa(unsigned n)
{
	return window_pd_gpa + window_page_bytes + 8 * n;
}

} /* namespace kvmc::x86 */

// SPDX-License-Identifier: GPL-2.0
/* arm64: the guest's stage-1 window (include/arm64/stage1.h). */
#include "arm64/stage1.h"

#include <cstring>

#include "kvm.h"

namespace kvmc::arch {

namespace {

/* Stage-1 VMSAv8-64 descriptors, 4 KiB granule: a table descriptor at
 * levels 0-2 and a page descriptor at level 3 have the same low bits. */
constexpr uint64_t desc_table = 0x3;
constexpr uint64_t desc_page = 0x3;
constexpr uint64_t desc_attr_index_shift = 2;
constexpr uint64_t desc_ap_el0 = 1ull << 6;	/* AP[1]: EL0 access too */
constexpr uint64_t desc_ap_ro = 1ull << 7;	/* AP[2]: read-only */
constexpr uint64_t desc_sh_inner = 0x3ull << 8;
constexpr uint64_t desc_af = window_descriptor_af;
constexpr uint64_t desc_pxn = 1ull << 53;
constexpr uint64_t desc_uxn = 1ull << 54;
constexpr uint64_t level1_bytes = 1ull << 30;
constexpr uint64_t level2_bytes = 1ull << 21;

uint64_t *level2(GuestVm &g)
{
	return reinterpret_cast<uint64_t *>(g.ram_at(ARCH_RAM_GPA + ARCH_WINDOW_L2_OFFSET));
}

} /* namespace */

uint64_t window_descriptor(const WindowPage &page)
{
	uint64_t d = (page.ipa & ~(window_page_bytes - 1)) | desc_page | desc_uxn;
	if (!page.exec)
		d |= desc_pxn;
	if (page.accessed)
		d |= desc_af;
	if (page.device)
		d |= (uint64_t)ARCH_MAIR_DEVICE_nGnRE << desc_attr_index_shift;
	else
		d |= (uint64_t)ARCH_MAIR_NORMAL_WB << desc_attr_index_shift | desc_sh_inner;
	if (page.el0)
		d |= desc_ap_el0;
	if (page.read_only)
		d |= desc_ap_ro;
	return d;
}

uint64_t map_window_page(GuestVm &g, unsigned n, const WindowPage &page)
{
	if (n >= window_table_pages)
		die("window page %u is not in the table in guest RAM", n);
	auto *l3 = reinterpret_cast<uint64_t *>(g.ram_at(ARCH_RAM_GPA + ARCH_WINDOW_L3_OFFSET));
	l3[n] = window_descriptor(page);
	return window_gva(n);
}

void place_window_table(GuestVm &g, uint64_t table_ipa, PlacedTable which)
{
	const uint64_t d = (table_ipa & ~(window_page_bytes - 1)) | desc_table;
	if (which == PlacedTable::level3) {
		level2(g)[1] = d;
		return;
	}
	auto *l1 = reinterpret_cast<uint64_t *>(g.ram_at(ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET));
	l1[ARCH_WINDOW_GVA / level1_bytes + 1] = d;
}

uint64_t window_level3_in_ram()
{
	return (ARCH_RAM_GPA + ARCH_WINDOW_L3_OFFSET) | desc_table;
}

void prepare_window(uint8_t *ram)
{
	static_assert(ARCH_WINDOW_GVA % level1_bytes == 0 && ARCH_WINDOW_GVA + 2 * level1_bytes <= (1ull << 39));
	auto *l1 = reinterpret_cast<uint64_t *>(ram + ARCH_PGTABLE_OFFSET);
	auto *l2 = reinterpret_cast<uint64_t *>(ram + ARCH_WINDOW_L2_OFFSET);
	auto *l3 = reinterpret_cast<uint64_t *>(ram + ARCH_WINDOW_L3_OFFSET);
	l1[ARCH_WINDOW_GVA / level1_bytes] = (ARCH_RAM_GPA + ARCH_WINDOW_L2_OFFSET) | desc_table;
	l1[ARCH_WINDOW_GVA / level1_bytes + 1] = 0;
	memset(l2, 0, window_page_bytes);
	memset(l3, 0, window_page_bytes);
	l2[0] = (ARCH_RAM_GPA + ARCH_WINDOW_L3_OFFSET) | desc_table;
	static_assert(window_table_pages * window_page_bytes == level2_bytes);
}

} /* namespace kvmc::arch */

// SPDX-License-Identifier: GPL-2.0
/* x86_64: window tables a test places (include/x86_64/placed_table.h). */
#include "x86_64/placed_table.h"

#include "x86_64/window.h"

#include <optional>
#include <string>
#include <utility>

namespace kvmc::x86 {

namespace {

constexpr uint64_t present = 1ull << 0, writable = 1ull << 1, pwt = 1ull << 3, pcd = 1ull << 4;
constexpr uint64_t table_bytes = 4096;
/* The window's PD and PT in RAM (prepare_ram()), and the PDPT. */
constexpr uint64_t window_pt_gpa = window_pte_gpa(0);
constexpr uint64_t pdpt_gpa = ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET + table_bytes;

static_assert((ARCH_WINDOW_PLACED_PT_GVA >> 30) == (ARCH_WINDOW_GVA >> 30),
	      "the placed PT's PDE is in the window's PD");
static_assert((ARCH_WINDOW_PLACED_PD_GVA & ((1ull << 30) - 1)) == 0, "a placed PD covers one GiB");

} /* namespace */

uint64_t placed_pte(const PlacedPage &page)
{
	return page.gpa | present | writable | (page.mmio ? pcd | pwt : 0) | (page.accessed ? entry_accessed : 0) |
	       (page.dirty ? entry_dirty : 0);
}

uint64_t placed_pd_entry(bool accessed)
{
	return window_pt_gpa | present | writable | (accessed ? entry_accessed : 0);
}

void place_window_table(GuestVm &g, uint64_t table_gpa, PlacedTable which)
{
	const uint64_t entry = table_gpa | present | writable | entry_accessed;
	if (which == PlacedTable::pt)
		g.ram(window_pd_gpa + 8 * ((ARCH_WINDOW_PLACED_PT_GVA >> 21) & 511)) = entry;
	else
		g.ram(pdpt_gpa + 8 * ((ARCH_WINDOW_PLACED_PD_GVA >> 30) & 511)) = entry;
}

void map_placed_pd_page(GuestVm &g, unsigned n, const PlacedPage &page)
{
	g.ram(window_pt_gpa + 8 * (placed_pd_first + n)) = placed_pte(page);
}

bool kvm_walks_guest_tables(std::string *why)
{
	for (const auto &[module, param] : {std::pair{"kvm_amd", "npt"}, std::pair{"kvm_intel", "ept"}}) {
		const std::optional<std::string> value = module_param(module, param);
		if (!value)
			continue;
		const std::string name = std::string(module) + "." + param;
		if (param_set(*value)) {
			*why = name + " is set: the CPU, not KVM, walks the guest's page tables";
			return false;
		}
		*why = name + " is clear: KVM's shadow MMU walks the guest's page tables";
		return true;
	}
	*why = "neither kvm_amd.npt nor kvm_intel.ept is readable: assumed KVM walks the guest's page tables";
	return true;
}

} /* namespace kvmc::x86 */

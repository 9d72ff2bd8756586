// SPDX-License-Identifier: GPL-2.0
/*
 * A memslot over device memory (arm64): its host mapping is a page of
 * /dev/mem over one of the machine's AMBA PrimeCell devices (QEMU virt's
 * PL031 real-time clock or PL061 GPIO controller), a VM_IO | VM_PFNMAP
 * mapping like the one VFIO gives a VMM for a device's registers. KVM
 * maps such a page at stage 2 as device memory (arch/arm64/kvm/mmu.c
 * kvm_s2_fault_pin_pfn(): a PFNMAP page that is not kernel memory, in a
 * VMA that is not cacheable) and never executable:
 * - the guest's loads read the device's registers as the host reads them
 *   through the same mapping (api.rst 4.35: the slot's memory is the host
 *   memory at userspace_addr), here the identification registers, which
 *   do not change; a store to one of them (read-only) completes with no
 *   exit and changes nothing;
 * - an instruction fetch there, before or after a load mapped the page,
 *   gets the guest an instruction abort (kvm_s2_fault_compute_prot():
 *   -ENOEXEC for an execute fault on a non-cacheable mapping, which
 *   kvm_handle_guest_abort() turns into kvm_inject_sea_iabt()), judged by
 *   C14;
 * - dirty logging over it is refused (kvm_arch_prepare_memory_region():
 *   "IO region dirty page logging not allowed", EINVAL) and nothing is
 *   created.
 * None of this is in api.rst beyond 4.35 and 7.44 (cacheable PFNMAP,
 * which a /dev/mem page of a device is not); the basis is the kernel
 * code named. Skipped where /dev/mem is absent or refuses the device
 * (EPERM from CONFIG_IO_STRICT_DEVMEM, which Debian's kernels have, for a
 * device a driver claimed: the suite's own kernel builds have /dev/mem
 * without it), or the machine has no such device.
 */
#include "test_util.h"

#include <cctype>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "arm64/abort.h"
#include "backing.h"
#include "layout.h"

using namespace kvmc;

namespace {

constexpr Rule device_memory{"memslot", "api.rst 4.35 KVM_SET_USER_MEMORY_REGION (the guest's memory is the host's "
					"at userspace_addr; a device's page: arch/arm64/kvm/mmu.c kvm_s2_fault_pin_pfn())"};
const char *const no_exec_basis =
	"arch/arm64/kvm/mmu.c kvm_s2_fault_compute_prot(): an execute fault on a non-cacheable PFNMAP page is -ENOEXEC, "
	"which kvm_handle_guest_abort() turns into kvm_inject_sea_iabt() (not in api.rst)";

/* The AMBA PrimeCell identification registers: PeriphID0-3 at 0xfe0 and
 * PCellID0-3 at 0xff0, 32 bits each, the low byte meaningful. The
 * PCellIDs are the same for every PrimeCell. */
constexpr uint64_t id_base = 0xfe0;
constexpr uint32_t id_registers = 8;
constexpr uint8_t pcell_id[4] = {0x0d, 0xf0, 0x05, 0xb1};

struct Device {
	uint64_t pa;
	std::string name;
	HostMapping page;
	uint32_t id(uint32_t n) const
	{
		return *reinterpret_cast<const volatile uint32_t *>(page.data() + id_base + 4 * n);
	}
};

bool names_one_of(const std::string &name, std::initializer_list<const char *> parts)
{
	std::string lower(name);
	for (char &c : lower)
		c = (char)tolower((unsigned char)c);
	for (const char *p : parts)
		if (lower.find(p) != std::string::npos)
			return true;
	return false;
}

/* The first PL031 or PL061 of /proc/iomem that /dev/mem maps and that
 * answers with the PrimeCell identification. nullopt and *why otherwise. */
std::optional<Device> primecell(std::string *why)
{
	std::vector<IomemRange> ranges = iomem_ranges(why);
	std::string tried;
	uint64_t last_refused = ~0ull;
	for (const IomemRange &r : ranges) {
		if (!names_one_of(r.name, {"pl031", "pl061"}) || r.start % page_size() || r.end - r.start + 1 < 0x1000 ||
		    r.start == last_refused)
			continue;
		std::string refused;
		std::optional<HostMapping> page = physical_page(r.start, &refused);
		if (!page) {
			/* EPERM: CONFIG_IO_STRICT_DEVMEM (Debian's kernels have
			 * it) keeps /dev/mem off a range a driver has claimed. */
			tried += (tried.empty() ? "" : "; ") + r.name + ": " + refused;
			last_refused = r.start;
			continue;
		}
		Device d{r.start, r.name, std::move(*page)};
		bool primecell = true;
		for (uint32_t n = 0; n < 4; n++)
			primecell = primecell && (d.id(4 + n) & 0xff) == pcell_id[n];
		if (primecell)
			return d;
		tried += (tried.empty() ? "" : "; ") + r.name + ": no PrimeCell identification at " + hex(r.start + 0xff0);
	}
	if (why->empty())
		*why = tried.empty() ? "no PL031 or PL061 in /proc/iomem" : tried;
	return std::nullopt;
}

} /* namespace */

KVM_FIXTURE(device_memslot);

TEST_F(device_memslot, loads_read_the_device)
{
	std::string why;
	std::optional<Device> dev = primecell(&why);
	if (!dev)
		SKIP(return, "no device page to map: %s", why.c_str());
	log_line("device: " + dev->name + " at physical " + hex(dev->pa) + ", through /dev/mem");
	Kvm kvm;
	GuestVm g(kvm);
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, dev->page);
	std::vector<guest::Step> steps;
	for (uint32_t n = 0; n < id_registers; n++)
		steps.push_back(load(ARCH_TEST_GPA + id_base + 4 * n, 4));
	/* PeriphID0 is read-only: the store goes to the device, which
	 * ignores it, and the load after it reads the register unchanged. */
	steps.push_back(store(ARCH_TEST_GPA + id_base, 4, 0xa5a5a5a5));
	steps.push_back(load(ARCH_TEST_GPA + id_base, 4));
	g.order(steps);
	ASSERT_OUTCOME("loads and a store, device memory", Expectation::guest_done(device_memory), g.run());
	for (uint32_t n = 0; n < id_registers; n++) {
		const std::string what = "register " + hex(id_base + 4 * n) + " as the guest read it";
		EXPECT_VALUE(device_memory, what.c_str(), (uint64_t)dev->id(n), g.loaded(n));
	}
	EXPECT_VALUE(device_memory, "PeriphID0 after the guest's store (read-only)", (uint64_t)dev->id(0),
		     g.loaded(id_registers + 1));
}

TEST_F(device_memslot, fetch_is_an_abort)
{
	std::string why;
	std::optional<Device> dev = primecell(&why);
	if (!dev)
		SKIP(return, "no device page to map: %s", why.c_str());
	for (bool mapped_first : {false, true}) {
		Kvm kvm;
		GuestVm g(kvm);
		Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, dev->page);
		const uint64_t target = ARCH_TEST_GPA + 0x100;
		if (mapped_first) {
			/* A load maps the page (device, not executable) first: the
			 * fetch is then a permission fault, not a translation fault. */
			g.order({load(ARCH_TEST_GPA + id_base, 4), fetch(target)});
		} else {
			g.order({fetch(target)});
		}
		ASSERT_OUTCOME(mapped_first ? "fetch after a load mapped the page" : "fetch from the unmapped page",
			       arch::external_instruction_abort(rules::C14, target, no_exec_basis), g.run());
		if (mapped_first)
			EXPECT_VALUE(device_memory, "PeriphID0 as the guest read it", (uint64_t)dev->id(0), g.loaded(0));
	}
}

TEST_F(device_memslot, dirty_logging_refused)
{
	std::string why;
	std::optional<Device> dev = primecell(&why);
	if (!dev)
		SKIP(return, "no device page to map: %s", why.c_str());
	Kvm kvm;
	GuestVm g(kvm);
	log_line("basis (not api.rst): arch/arm64/kvm/mmu.c kvm_arch_prepare_memory_region(): dirty logging of a "
		 "VM_PFNMAP range is EINVAL");
	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot;
	region.flags = KVM_MEM_LOG_DIRTY_PAGES;
	region.guest_phys_addr = ARCH_TEST_GPA;
	region.memory_size = page_size();
	region.userspace_addr = dev->page.hva();
	ASSERT_ERRNO(device_memory, "a dirty-logged slot over device memory", EINVAL,
		     g.vm().set_memory_region_raw(region));
	/* Nothing was created: the address is still no memory (C5). */
	g.order({load(ARCH_TEST_GPA + id_base, 4)});
	ASSERT_OUTCOME("load where the refused slot would be", Expectation::mmio(rules::C5, ARCH_TEST_GPA + id_base, 4, false),
		       g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0x12345678));
	EXPECT_VALUE(rules::C5, "value the guest loaded", 0x12345678, g.loaded(0));
}

KVMC_TEST_MAIN

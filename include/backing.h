/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host memory behind a test's memslot, set up the same way by more than
 * one test file: two pages a test breaks and repairs under the guest
 * (M4-M6, N8), hugetlb pages it poisons (P2, N15), and a guest_memfd the
 * host maps (G1, G3, G4 and the nested N tests), and physical pages of
 * /dev/mem (S, the device-memory memslot).
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvm.h"

namespace kvmc {

/* How a BreakableBacking's second page stops being usable. */
enum class Breakage { prot_none, unmapped, truncated };

/*
 * Two pages of host memory in memslot test_slot at ARCH_TEST_GPA:
 * anonymous memory, or for Breakage::truncated a MAP_SHARED view of a
 * memfd named memfd_name. break_page() makes the second page unusable
 * after the memslot was added: PROT_NONE (M4), munmap()ed (M5), the memfd
 * truncated below it (M6). repair() undoes that: the page is usable again
 * (and zero, unless it was PROT_NONE).
 *
 * Page::huge: two 2 MiB hugetlb pages instead (MAP_HUGETLB, a
 * MFD_HUGETLB memfd), broken and repaired whole. Page::thp: two 2 MiB
 * transparent huge pages of anonymous memory (not for a memfd). Where the
 * machine has none to give, no memslot is made and unavailable() says
 * why.
 */
enum class Page { small, huge, thp };

class BreakableBacking {
public:
	BreakableBacking(Vm &vm, Breakage how, const char *memfd_name, Page page = Page::small);
	void break_page();
	void repair();
	/* The host's view of the 8 bytes at offset in the backing. */
	uint64_t &host(uint64_t offset) { return *reinterpret_cast<uint64_t *>(backing_.data() + offset); }
	/* The size of each of the two pages. */
	size_t unit() const { return unit_; }
	/* Why there is no backing (no huge pages), empty when there is. */
	const std::string &unavailable() const { return unavailable_; }

private:
	Breakage how_;
	size_t unit_;
	bool huge_;
	bool thp_;
	std::string unavailable_;
	UniqueFd memfd_;
	HostMapping backing_;
	std::optional<Memslot> slot_;
};

/*
 * G4's condition for a page of gmem: in a memory cgroup (cgroup.h),
 * fallocate() gmem until the cgroup is full, leaving its last page
 * unallocated, so that the guest's access to that page is the
 * allocation that fails. gmem must have been created inside the cgroup
 * (its pages are charged where its file was made). nullopt when it
 * stopped as it should (ENOMEM, or 7.3's EAGAIN, into *stopped),
 * otherwise why it could not be done.
 */
std::optional<std::string> fill_gmem_but_last_page(const GuestMemfd &gmem, int *stopped);

/* The hugetlb pages P2 and N15 poison. */
constexpr size_t huge_page_size = 2ul << 20;

/*
 * count hugetlb pages of huge_page_size, populated, for the rest of the
 * process: nothing unmaps them. nullptr and *why where this machine has
 * none to give.
 */
uint8_t *map_huge_pages(size_t count, std::string *why);

/* One 1 GiB hugetlb page (x86 PDPE1GB, arm64 4 KiB granule level 1),
 * populated, for the rest of the process; nullptr and *why where none
 * is reserved (the test VM reserves one where its memory allows). */
constexpr size_t gigantic_page_size = 1ul << 30;
uint8_t *map_gigantic_page(std::string *why);

/*
 * A memslot test_slot at ARCH_TEST_GPA over the count huge pages (of
 * page bytes) at base, which no owner deletes (it goes with the VM):
 * KVM_SET_USER_MEMORY_REGION2's 0 or -errno.
 */
int add_huge_pages_memslot(Vm &vm, const uint8_t *base, size_t count, size_t page = huge_page_size);

/* A memslot test_slot at gpa over backing, which no owner deletes (it
 * goes with the VM), for a test that judges KVM's answer itself:
 * KVM_SET_USER_MEMORY_REGION2's 0 or -errno. */
int add_test_memslot(Vm &vm, uint64_t gpa, const HostMapping &backing);

/*
 * A guest_memfd of size bytes made with flags (GUEST_MEMFD_FLAG_MMAP
 * among them), mapped by the host (view) and bound whole to memslot slot
 * at gpa, with the view as the memslot's userspace_addr. fill: a byte the
 * host writes all over the view before the memslot is added.
 */
struct MappedGmemSlot {
	MappedGmemSlot(Vm &vm, uint32_t slot, uint64_t gpa, uint64_t size, uint64_t flags,
		       std::optional<uint8_t> fill = std::nullopt);

	GuestMemfd gmem;
	HostMapping view;
	std::optional<Memslot> memslot;
};

/* A range of the machine's physical address space, as /proc/iomem lists
 * it: [start, end], its name, and whether it is a top-level range (one
 * not nested in another). */
struct IomemRange {
	uint64_t start;
	uint64_t end;
	std::string name;
	bool top;
};

/* /proc/iomem's ranges, in its order. Empty and *why where it cannot be
 * read or hides its addresses (not root). */
std::vector<IomemRange> iomem_ranges(std::string *why);

/* A page of /dev/mem at physical address pa: a VM_IO | VM_PFNMAP
 * mapping, the kind of host memory VFIO gives a VMM for a device.
 * nullopt and *why where /dev/mem is absent or refuses the page. */
std::optional<HostMapping> physical_page(uint64_t pa, std::string *why);

} /* namespace kvmc */

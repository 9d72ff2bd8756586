// SPDX-License-Identifier: GPL-2.0
#include "backing.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_vm.h"
#include "layout.h"
#include "names.h"

namespace kvmc {

BreakableBacking::BreakableBacking(Vm &vm, Breakage how, const char *memfd_name, Page page)
	: how_(how), unit_(page == Page::small ? page_size() : huge_page_size), huge_(page == Page::huge),
	  thp_(page == Page::thp)
{
	const size_t size = 2 * unit_;
	if (thp_) {
		if (how == Breakage::truncated) {
			unavailable_ = "transparent huge pages here are anonymous memory's; a memfd's are shmem's "
				       "(shmem_enabled), not tested";
			return;
		}
		backing_ = HostMapping::anonymous_thp(size, unit_);
		if (!backing_.thp_backed()) {
			unavailable_ = "the kernel gave no transparent huge pages for MADV_HUGEPAGE memory "
				       "(/sys/kernel/mm/transparent_hugepage/enabled is never, or none was free)";
			return;
		}
	} else if (how == Breakage::truncated) {
		memfd_.reset(memfd_create(memfd_name, MFD_CLOEXEC | (huge_ ? MFD_HUGETLB : 0)));
		if (memfd_.get() < 0 || ftruncate(memfd_.get(), size)) {
			if (!huge_)
				die("memfd of %zu bytes: %s", size, errno_name(errno).c_str());
			unavailable_ = "no hugetlb memfd of 4 MiB (" + errno_name(errno) +
				       "): reserve huge pages with echo 8 > /proc/sys/vm/nr_hugepages";
			return;
		}
		const int r = HostMapping::shared_file_raw(memfd_.get(), size, 0, &backing_);
		if (r) {
			if (!huge_)
				die("mmap of the memfd: %s", errno_name(-r).c_str());
			unavailable_ = "no 2 MiB huge pages to map the hugetlb memfd (" + errno_name(-r) +
				       "): reserve some with echo 8 > /proc/sys/vm/nr_hugepages";
			return;
		}
	} else if (huge_) {
		const int r = HostMapping::anonymous_huge_raw(size, &backing_);
		if (r) {
			unavailable_ = "no 2 MiB huge pages (" + errno_name(-r) +
				       "): reserve some with echo 8 > /proc/sys/vm/nr_hugepages";
			return;
		}
	} else {
		backing_ = HostMapping::anonymous(size);
	}
	if (huge_) {
		/* Fault both in now: hugetlb reserves at mmap(), but a page
		 * the pool cannot give would SIGBUS the host later. */
		for (size_t off = 0; off < size; off += unit_)
			backing_.data()[off] = 0;
	}
	slot_.emplace(vm, test_slot, ARCH_TEST_GPA, backing_);
}

void BreakableBacking::break_page()
{
	switch (how_) {
	case Breakage::prot_none:
		backing_.protect(unit_, unit_, PROT_NONE);
		break;
	case Breakage::unmapped:
		if (munmap(backing_.data() + unit_, unit_))
			die("munmap: %s", errno_name(errno).c_str());
		break;
	case Breakage::truncated:
		if (ftruncate(memfd_.get(), unit_))
			die("ftruncate: %s", errno_name(errno).c_str());
		break;
	}
}

void BreakableBacking::repair()
{
	void *page = backing_.data() + unit_;
	switch (how_) {
	case Breakage::prot_none:
		backing_.protect(unit_, unit_, PROT_READ | PROT_WRITE);
		break;
	case Breakage::unmapped:
		if (mmap(page, unit_, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | (huge_ ? MAP_HUGETLB : 0), -1, 0) != page)
			die("mmap(MAP_FIXED): %s", errno_name(errno).c_str());
		if (thp_)
			madvise(page, unit_, MADV_HUGEPAGE);
		break;
	case Breakage::truncated:
		if (ftruncate(memfd_.get(), 2 * unit_))
			die("ftruncate: %s", errno_name(errno).c_str());
		break;
	}
}

std::optional<std::string> fill_gmem_but_last_page(const GuestMemfd &gmem, int *stopped)
{
	const uint64_t last = gmem.size() - page_size();
	if (fallocate(gmem.fd(), FALLOC_FL_KEEP_SIZE, 0, last) == 0)
		return "fallocate() of the guest_memfd did not fail under the memory cgroup's limit";
	*stopped = errno;
	if (errno != ENOMEM && errno != EAGAIN)
		return "fallocate() of the guest_memfd failed with " + errno_name(errno) + ", not ENOMEM or EAGAIN";
	return std::nullopt;
}

uint8_t *map_huge_pages(size_t count, std::string *why)
{
	void *p = mmap(nullptr, count * huge_page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		*why = "no 2 MiB huge pages (" + errno_name(errno) +
		       "): reserve some with echo 8 > /proc/sys/vm/nr_hugepages";
		return nullptr;
	}
	return static_cast<uint8_t *>(p);
}

uint8_t *map_gigantic_page(std::string *why)
{
	void *p = mmap(nullptr, gigantic_page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		*why = "no 1 GiB huge page (" + errno_name(errno) +
		       "): reserve one (hugepagesz=1G hugepages=1 at boot, or "
		       "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages) where there is memory for it; "
		       "for the test VM: KVMC_VM_MEMORY=3G KVMC_APPEND='hugepagesz=1G hugepages=1'";
		return nullptr;
	}
	return static_cast<uint8_t *>(p);
}

static int add_raw(Vm &vm, uint64_t gpa, uint64_t size, uint64_t hva)
{
	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot;
	region.guest_phys_addr = gpa;
	region.memory_size = size;
	region.userspace_addr = hva;
	return vm.set_memory_region_raw(region);
}

int add_huge_pages_memslot(Vm &vm, const uint8_t *base, size_t count, size_t page)
{
	return add_raw(vm, ARCH_TEST_GPA, count * page, reinterpret_cast<uint64_t>(base));
}

int add_test_memslot(Vm &vm, uint64_t gpa, const HostMapping &backing)
{
	return add_raw(vm, gpa, backing.size(), backing.hva());
}

MappedGmemSlot::MappedGmemSlot(Vm &vm, uint32_t slot, uint64_t gpa, uint64_t size, uint64_t flags,
			       std::optional<uint8_t> fill)
	: gmem(vm, size, flags), view(gmem.map())
{
	if (fill)
		memset(view.data(), *fill, view.size());
	memslot.emplace(vm, slot, gpa, gmem, 0, size, view);
}

std::vector<IomemRange> iomem_ranges(std::string *why)
{
	std::vector<IomemRange> out;
	FILE *f = fopen("/proc/iomem", "re");
	if (!f) {
		*why = "cannot read /proc/iomem: " + errno_name(errno);
		return out;
	}
	char line[256];
	bool any_address = false;
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end;
		char name[200] = "";
		const char *text = line + strspn(line, " ");
		if (sscanf(text, "%" SCNx64 "-%" SCNx64 " : %199[^\n]", &start, &end, name) < 2)
			continue;
		any_address = any_address || end != 0;
		out.push_back({start, end, name, line[0] != ' '});
	}
	fclose(f);
	if (!any_address) {
		*why = "/proc/iomem hides its addresses (not root)";
		out.clear();
	}
	return out;
}

std::optional<HostMapping> physical_page(uint64_t pa, std::string *why)
{
	UniqueFd mem(open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC));
	if (mem.get() < 0) {
		*why = "open(/dev/mem): " + errno_name(errno) + " (needs CONFIG_DEVMEM and root)";
		return std::nullopt;
	}
	HostMapping page;
	int r = HostMapping::shared_file_raw(mem.get(), page_size(), (off_t)pa, &page);
	if (r) {
		*why = "mmap(/dev/mem at " + hex(pa) + "): " + errno_name(-r) +
		       " (CONFIG_STRICT_DEVMEM/IO_STRICT_DEVMEM may refuse it)";
		return std::nullopt;
	}
	return page;
}

} /* namespace kvmc */

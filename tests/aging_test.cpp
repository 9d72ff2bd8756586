// SPDX-License-Identifier: GPL-2.0
/*
 * A guest page the host ages (idle page tracking, which memory reclaim's
 * aging also uses): marking the page idle reaches KVM through the MMU
 * notifier's clear_young, which clears the accessed state of its
 * stage-2/NPT/shadow mapping (arm64: the Access Flag, so the next guest
 * access takes an access-flag fault KVM handles itself). The guest's next
 * access must work as before with no exit (api.rst 4.35: "Changes in the
 * backing of the memory region are automatically reflected into the
 * guest", here a change of nothing but its age), and the page must read
 * as young again afterwards, since KVM reports the guest's access
 * (test_young), or reclaim would evict a page the guest is using.
 * Needs CONFIG_IDLE_PAGE_TRACKING, which neither Debian's kernels nor the
 * suite's built ones have (it adds page flags, so turning it on in the
 * fragments rebuilds nearly the whole kernel): skipped without
 * /sys/kernel/mm/page_idle/bitmap, saying so. Build a tree with
 * --kconfig-add CONFIG_IDLE_PAGE_TRACKING=y to run it.
 */
#include "test_util.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backing.h"
#include "layout.h"

using namespace kvmc;

namespace {

constexpr Rule aging{"aging", "api.rst 4.35 KVM_SET_USER_MEMORY_REGION (changes in the backing are reflected "
			      "into the guest) with Documentation/admin-guide/mm/idle_page_tracking.rst"};

constexpr uint64_t pattern = 0x0f1e2d3c4b5a6978ull;
constexpr const char *bitmap_path = "/sys/kernel/mm/page_idle/bitmap";

/* The page frame behind a host virtual address (/proc/self/pagemap; the
 * frame number needs CAP_SYS_ADMIN), 0 when unknown. */
uint64_t pfn_of(const void *hva)
{
	UniqueFd fd(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
	uint64_t entry = 0;
	const off_t at = static_cast<off_t>(reinterpret_cast<uintptr_t>(hva) / page_size() * 8);
	if (fd.get() < 0 || pread(fd.get(), &entry, sizeof(entry), at) != sizeof(entry))
		return 0;
	if (!(entry & (1ull << 63))) /* not present */
		return 0;
	return entry & ((1ull << 55) - 1);
}

/* Mark the frame idle (1) or read whether it still is (0 young, 1 idle,
 * -errno). The bitmap is read and written in 8-byte words. */
int idle_word(uint64_t pfn, bool mark)
{
	UniqueFd fd(open(bitmap_path, (mark ? O_WRONLY : O_RDONLY) | O_CLOEXEC));
	if (fd.get() < 0)
		return -errno;
	const off_t at = static_cast<off_t>(pfn / 64 * 8);
	uint64_t word = mark ? 1ull << (pfn % 64) : 0;
	ssize_t n = mark ? pwrite(fd.get(), &word, sizeof(word), at) : pread(fd.get(), &word, sizeof(word), at);
	if (n != sizeof(word))
		return n < 0 ? -errno : -EIO;
	return mark ? 0 : static_cast<int>((word >> (pfn % 64)) & 1);
}

} /* namespace */

KVM_FIXTURE(aged_page);
FIXTURE_VARIANT(aged_page) { bool is_write; };
FIXTURE_VARIANT_ADD(aged_page, load) { .is_write = false };
FIXTURE_VARIANT_ADD(aged_page, store) { .is_write = true };

TEST_F(aged_page, access_after_aging)
{
	if (access(bitmap_path, W_OK))
		SKIP(return, "%s: %s (CONFIG_IDLE_PAGE_TRACKING off, or not root)", bitmap_path, strerror(errno));
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_TEST_GPA;
	HostMapping memory = HostMapping::anonymous(page_size());
	/* Idle page tracking ignores pages it cannot walk the rmap of; THP
	 * would age the whole huge page: keep it a plain small page. */
	madvise(memory.data(), page_size(), MADV_NOHUGEPAGE);
	uint64_t &word = *reinterpret_cast<uint64_t *>(memory.data() + 0x20);
	word = ~pattern;
	Memslot slot(g.vm(), test_slot, gpa, memory);

	g.order({store(gpa + 0x20, 8, pattern), sync_point(),
		 variant->is_write ? store(gpa + 0x20, 8, ~pattern) : load(gpa + 0x20, 8)});
	ASSERT_OUTCOME("the guest maps the page", Expectation::guest_sync(rules::guest), g.run());
	const uint64_t pfn = pfn_of(&word);
	ASSERT_NE(static_cast<uint64_t>(0), pfn) TH_LOG("no page frame for the guest's page in /proc/self/pagemap");

	ASSERT_ERRNO(aging, "marking the page idle", 0, idle_word(pfn, true));
	EXPECT_VALUE(aging, "idle bit right after marking (nothing accessed it since)", 1, idle_word(pfn, false));

	ASSERT_OUTCOME("the guest's access after the aging", Expectation::guest_done(aging), g.run());
	if (variant->is_write)
		EXPECT_VALUE(aging, "the guest's store, in the page", ~pattern, word);
	else
		EXPECT_VALUE(aging, "the guest's load", pattern, g.loaded(2));
	EXPECT_VALUE(aging, "idle bit after the guest's access (KVM reports it young)", 0, idle_word(pfn, false));
}

KVMC_TEST_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_PRE_FAULT_MEMORY (CONTRACT.md F; api.rst 4.143): userspace asks
 * KVM to map guest memory ahead of the guest's first access. Every call
 * is judged whole: the result (0 when at least one page was processed,
 * else the errno of 4.143's table), the range the kernel hands back
 * (what is left of it), and the input fields it copies back unchanged.
 * After the calls that mapped memory the guest reads it.
 */
#include "test_util.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/falloc.h>
#include <memory>
#include <linux/userfaultfd.h>
#include <sys/mman.h>

#include "backing.h"
#include "cgroup.h"
#include "layout.h"
#include "userfault.h"

using namespace kvmc;

namespace {

/* Distinct per page, so a page read from the wrong place shows. */
uint64_t page_word(unsigned page) { return 0x5eed000000000000ull | (0x1111ull * (page + 1)); }

/* Where KVM cannot pre-fault at all: why (nothing where it can). */
std::optional<std::string> no_pre_fault(const Vm &vm)
{
	if (vm.check_extension(KVM_CAP_PRE_FAULT_MEMORY) >= 1)
		return std::nullopt;
	return "KVM_CAP_PRE_FAULT_MEMORY is 0: this KVM cannot pre-fault (arm64 7.3 does not implement it; "
	       "x86 only with two-dimensional paging, shadow paging is f6's case)";
}

/* A memslot of pages host pages at ARCH_TEST_GPA, each page's first
 * word page_word(page). */
struct FilledSlot {
	FilledSlot(Vm &vm, unsigned pages, uint32_t flags = 0) : backing(HostMapping::anonymous(pages * page_size()))
	{
		for (unsigned i = 0; i < pages; i++)
			*reinterpret_cast<uint64_t *>(backing.data() + i * page_size()) = page_word(i);
		slot.emplace(vm, test_slot, ARCH_TEST_GPA, backing, flags);
	}
	HostMapping backing;
	std::optional<Memslot> slot;
};

/*
 * The errno 4.143 gives a page whose host memory cannot be had: in the
 * text as it is, EOPNOTSUPP, the only entry of its table that can
 * describe it (see f4_broken_backing); with the documentation fix
 * 12-doc-pre-fault-memory-errors (scripts/kvmc/patches/fixes/), the
 * errno that fix lists for the cause.
 */
int unmappable_errno(int listed_by_the_fix)
{
	return doc_fix("12-doc-pre-fault-memory-errors") ? listed_by_the_fix : EOPNOTSUPP;
}

} /* namespace */

#define REQUIRE_PRE_FAULT(vm)                                                      \
	do {                                                                       \
		if (auto why = no_pre_fault(vm))                                   \
			SKIP(return, "%s", why->c_str());                          \
	} while (0)

KVM_FIXTURE(f1_pre_fault);

/* A range inside one memslot: 0, the whole range consumed (gpa at its
 * end, size 0); the guest then reads the pages. */
TEST_F(f1_pre_fault, whole_memslot)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	FilledSlot s(g.vm(), 8);

	EXPECT_PRE_FAULT(g.vcpu(), "whole slot", {ARCH_TEST_GPA, 8 * page}, 0, {ARCH_TEST_GPA + 8 * page, 0});
	g.order({load(ARCH_TEST_GPA, 8), load(ARCH_TEST_GPA + 3 * page, 8), load(ARCH_TEST_GPA + 7 * page, 8)});
	ASSERT_OUTCOME("guest reads the pre-faulted pages", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "page 0", page_word(0), g.loaded(0));
	EXPECT_VALUE(rules::F, "page 3", page_word(3), g.loaded(1));
	EXPECT_VALUE(rules::F, "page 7", page_word(7), g.loaded(2));
}

/* A range in the middle of a memslot, twice: mapped pages are
 * processed again (0, consumed), nothing beyond the range is reported. */
TEST_F(f1_pre_fault, inside_memslot_twice)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	FilledSlot s(g.vm(), 8);
	const PreFaultRange r = {ARCH_TEST_GPA + 2 * page, 3 * page};

	EXPECT_PRE_FAULT(g.vcpu(), "pages 2-4", r, 0, {r.gpa + r.size, 0});
	EXPECT_PRE_FAULT(g.vcpu(), "pages 2-4 again", r, 0, {r.gpa + r.size, 0});
	g.order({load(r.gpa, 8), load(r.gpa + 2 * page, 8)});
	ASSERT_OUTCOME("guest reads the pre-faulted pages", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "page 2", page_word(2), g.loaded(0));
	EXPECT_VALUE(rules::F, "page 4", page_word(4), g.loaded(1));
}

/*
 * A range that starts in a memslot and runs past its end: the pages in
 * the slot are processed, so 0 with the range left at the slot's end
 * ("0 if at least one page is processed"); the next call, from there,
 * finds no memslot: ENOENT, the range left as it was.
 */
TEST_F(f1_pre_fault, past_memslot_end)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	FilledSlot s(g.vm(), 8);
	const uint64_t end = ARCH_TEST_GPA + 8 * page;

	EXPECT_PRE_FAULT(g.vcpu(), "pages 6-9 (8 and 9 past the slot)", {end - 2 * page, 4 * page}, 0,
			 {end, 2 * page});
	EXPECT_PRE_FAULT(g.vcpu(), "the rest", {end, 2 * page}, ENOENT, {end, 2 * page});
	g.order({load(end - 2 * page, 8), load(end - page, 8)});
	ASSERT_OUTCOME("guest reads the pre-faulted pages", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "page 6", page_word(6), g.loaded(0));
	EXPECT_VALUE(rules::F, "page 7", page_word(7), g.loaded(1));
}

/*
 * A memslot of one 2 MiB hugetlb page: KVM may map the whole huge page
 * for the first page of a range, but the range it hands back must not
 * run past what was asked (x86 kvm_arch_vcpu_pre_fault_memory() clamps
 * to the range): a one-page range in the middle, then two pages at the
 * huge page's end, each consumed exactly.
 */
TEST_F(f1_pre_fault, huge_page_larger_than_range)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	std::string why;
	uint8_t *huge = map_huge_pages(1, &why);
	if (!huge)
		SKIP(return, "%s", why.c_str());
	*reinterpret_cast<uint64_t *>(huge + 16 * page) = page_word(16);
	*reinterpret_cast<uint64_t *>(huge + huge_page_size - page) = page_word(511);
	ASSERT_EQ(0, add_huge_pages_memslot(g.vm(), huge, 1));

	EXPECT_PRE_FAULT(g.vcpu(), "one page in the middle", {ARCH_TEST_GPA + 16 * page, page}, 0,
			 {ARCH_TEST_GPA + 17 * page, 0});
	const uint64_t end = ARCH_TEST_GPA + huge_page_size;
	EXPECT_PRE_FAULT(g.vcpu(), "the last two pages", {end - 2 * page, 2 * page}, 0, {end, 0});
	g.order({load(ARCH_TEST_GPA + 16 * page, 8), load(end - page, 8)});
	ASSERT_OUTCOME("guest reads the pre-faulted pages", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "page 16", page_word(16), g.loaded(0));
	EXPECT_VALUE(rules::F, "last page", page_word(511), g.loaded(1));
}

/* A read-only memslot (KVM_MEM_READONLY): pre-faulting maps as for a
 * read, which the slot allows: 0, consumed; the guest reads the pages. */
TEST_F(f1_pre_fault, read_only_memslot)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	FilledSlot s(g.vm(), 4, KVM_MEM_READONLY);

	EXPECT_PRE_FAULT(g.vcpu(), "read-only slot", {ARCH_TEST_GPA, 4 * page}, 0, {ARCH_TEST_GPA + 4 * page, 0});
	g.order({load(ARCH_TEST_GPA, 8), load(ARCH_TEST_GPA + 3 * page, 8)});
	ASSERT_OUTCOME("guest reads the pre-faulted pages", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "page 0", page_word(0), g.loaded(0));
	EXPECT_VALUE(rules::F, "page 3", page_word(3), g.loaded(1));
}

/* A memslot bound to an mmap()able guest_memfd (G1's kind): its pages
 * are allocated and mapped: 0, consumed; the guest reads what the host
 * wrote through the guest_memfd's mapping. */
TEST_F(f1_pre_fault, guest_memfd)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	if (g.vm().check_extension(KVM_CAP_GUEST_MEMFD) < 1 ||
	    (g.vm().check_extension(KVM_CAP_GUEST_MEMFD_FLAGS) & flags) != flags)
		SKIP(return, "needs KVM_CAP_GUEST_MEMFD with GUEST_MEMFD_FLAG_MMAP | INIT_SHARED");
	const uint64_t page = page_size();
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 4 * page, flags, 0x5a);

	EXPECT_PRE_FAULT(g.vcpu(), "guest_memfd slot", {ARCH_TEST_GPA, 4 * page}, 0, {ARCH_TEST_GPA + 4 * page, 0});
	g.order({load(ARCH_TEST_GPA + 2 * page, 8)});
	ASSERT_OUTCOME("guest reads a pre-faulted page", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "page 2", 0x5a5a5a5a5a5a5a5aull, g.loaded(0));
}

/* F2: no memslot at gpa: ENOENT, the range left as it was (nothing
 * processed); in the MMIO region and just past a memslot. */
KVM_FIXTURE(f2_no_memslot);

TEST_F(f2_no_memslot, range)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	FilledSlot s(g.vm(), 2);

	EXPECT_PRE_FAULT(g.vcpu(), "MMIO region", {ARCH_MMIO_GPA, 2 * page}, ENOENT, {ARCH_MMIO_GPA, 2 * page});
	EXPECT_PRE_FAULT(g.vcpu(), "just past the slot", {ARCH_TEST_GPA + 2 * page, page}, ENOENT,
			 {ARCH_TEST_GPA + 2 * page, page});
	EXPECT_PRE_FAULT(g.vcpu(), "just before the slot", {ARCH_TEST_GPA - page, 2 * page}, ENOENT,
			 {ARCH_TEST_GPA - page, 2 * page});
}

/* F3: a range api.rst calls invalid ("not page aligned, causes an
 * overflow, or size is zero") or flags other than zero: EINVAL, the
 * range left as it was. */
KVM_FIXTURE(f3_invalid_range);
FIXTURE_VARIANT(f3_invalid_range) { int64_t gpa_offset; uint64_t pages; uint64_t extra; uint64_t flags; };
/* gpa: ARCH_TEST_GPA + gpa_offset (negative: from the top of the
 * address space); size: pages whole pages plus extra bytes. */
FIXTURE_VARIANT_ADD(f3_invalid_range, gpa_unaligned) { .gpa_offset = 0x800, .pages = 1, .extra = 0, .flags = 0 };
FIXTURE_VARIANT_ADD(f3_invalid_range, size_unaligned) { .gpa_offset = 0, .pages = 0, .extra = 0x800, .flags = 0 };
FIXTURE_VARIANT_ADD(f3_invalid_range, size_zero) { .gpa_offset = 0, .pages = 0, .extra = 0, .flags = 0 };
FIXTURE_VARIANT_ADD(f3_invalid_range, overflow) { .gpa_offset = -1, .pages = 2, .extra = 0, .flags = 0 };
FIXTURE_VARIANT_ADD(f3_invalid_range, flags) { .gpa_offset = 0, .pages = 1, .extra = 0, .flags = 1 };

TEST_F(f3_invalid_range, einval)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	FilledSlot s(g.vm(), 2);
	/* overflow: the last page of the 64-bit space, two pages long */
	const uint64_t gpa = variant->gpa_offset < 0 ? 0ull - page : ARCH_TEST_GPA + variant->gpa_offset;
	const PreFaultRange r = {gpa, variant->pages * page + variant->extra};

	EXPECT_PRE_FAULT(g.vcpu(), "invalid", r, EINVAL, r, variant->flags);
}

/*
 * F4: a memslot whose host memory cannot be mapped (PROT_NONE M4,
 * munmap()ed M5, memfd truncated M6; broken after the slot was added):
 * the first page is processed (0, the range left at the broken page);
 * the next call must fail with an errno of 4.143's table. Of those only
 * EOPNOTSUPP ("mapping memory for a GPA is unsupported") can describe
 * this: the range is valid (not EINVAL), in a memslot (not ENOENT), no
 * signal is pending (not EINTR), the parameter address is good (not
 * EFAULT) and EIO comes with a WARN (C13).
 */
KVM_FIXTURE(f4_broken_backing);
FIXTURE_VARIANT(f4_broken_backing) { Breakage how; };
FIXTURE_VARIANT_ADD(f4_broken_backing, prot_none) { .how = Breakage::prot_none };
FIXTURE_VARIANT_ADD(f4_broken_backing, unmapped) { .how = Breakage::unmapped };
FIXTURE_VARIANT_ADD(f4_broken_backing, truncated) { .how = Breakage::truncated };

TEST_F(f4_broken_backing, second_page)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	BreakableBacking b(g.vm(), variant->how, "kvmc-f4");
	b.host(0) = page_word(0);
	b.break_page();

	EXPECT_PRE_FAULT(g.vcpu(), "both pages", {ARCH_TEST_GPA, 2 * page}, 0, {ARCH_TEST_GPA + page, page});
	EXPECT_PRE_FAULT(g.vcpu(), "the broken page", {ARCH_TEST_GPA + page, page}, unmappable_errno(EFAULT),
			 {ARCH_TEST_GPA + page, page});
	/* C12: repaired, the page is processed. */
	b.repair();
	EXPECT_PRE_FAULT(g.vcpu(), "after the repair", {ARCH_TEST_GPA + page, page}, 0, {ARCH_TEST_GPA + 2 * page, 0});
}

namespace {

/* Why this VM cannot have a guest_memfd with flags, or nothing. */
std::optional<std::string> no_gmem(const Vm &vm, uint64_t flags)
{
	if (vm.check_extension(KVM_CAP_GUEST_MEMFD) < 1 || (vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS) & flags) != flags)
		return "needs KVM_CAP_GUEST_MEMFD with flags " + hex(flags) + " (KVM_CAP_GUEST_MEMFD_FLAGS is " +
		       hex(vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS)) + ")";
	return std::nullopt;
}

constexpr uint64_t shared_gmem = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

} /* namespace */

/*
 * F4 for guest_memfd: the file gone (G2's case: its only fd closed,
 * never mapped, so KVM dropped the binding; KVM_RUN gives C10) is judged
 * against 4.143's table as the broken backings are; a hole punched in
 * it (G3's case) is no error: the page comes back as a new zero page.
 */
KVM_FIXTURE(f4_guest_memfd);

TEST_F(f4_guest_memfd, gone)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	if (auto why = no_gmem(g.vm(), shared_gmem))
		SKIP(return, "%s", why->c_str());
	const uint64_t page = page_size();
	GuestMemfd gmem(g.vm(), page, shared_gmem);
	HostMapping shared = HostMapping::anonymous(page);
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, page, shared);
	gmem.close();

	const PreFaultRange range = {ARCH_TEST_GPA, page};
	EXPECT_PRE_FAULT(g.vcpu(), "guest_memfd gone", range, unmappable_errno(EFAULT), range);
}

TEST_F(f4_guest_memfd, punched_hole)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	if (auto why = no_gmem(g.vm(), shared_gmem))
		SKIP(return, "%s", why->c_str());
	const uint64_t page = page_size();
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page, shared_gmem, 0x5a);
	const PreFaultRange both = {ARCH_TEST_GPA, 2 * page};

	EXPECT_PRE_FAULT(g.vcpu(), "before the punch", both, 0, {ARCH_TEST_GPA + 2 * page, 0});
	ASSERT_EQ(0, fallocate(region.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page, page))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	EXPECT_PRE_FAULT(g.vcpu(), "after the punch", both, 0, {ARCH_TEST_GPA + 2 * page, 0});
	g.order({load(ARCH_TEST_GPA, 8), load(ARCH_TEST_GPA + page, 8)});
	ASSERT_OUTCOME("guest reads both pages", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "the page kept", 0x5a5a5a5a5a5a5a5aull, g.loaded(0));
	EXPECT_VALUE(rules::F, "the punched page (zero)", 0, g.loaded(1));
}

/*
 * F4 for G4's allocation failure: the process in a memory cgroup whose
 * limit the guest_memfd's folios reach. The pages allocated before are
 * processed (0, the range left at the first page that could not be);
 * the next call, from there, fails, and is judged against 4.143's table
 * as the broken backings are (EOPNOTSUPP the only errno that can
 * describe it). Both calls are made before anything is judged: at the
 * limit the process cannot take a page fault that needs a new page (see
 * cgroup.h). With the limit lifted the page is processed.
 */
TEST_F(f4_guest_memfd, allocation_failure)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	if (auto why = no_gmem(g.vm(), shared_gmem))
		SKIP(return, "%s", why->c_str());
	const uint64_t page = page_size();
	const uint64_t size = 64ull << 20;
	const uint64_t end = ARCH_TEST_GPA + size;
	std::string why;
	auto cg = MemoryCgroup::enter(4u << 20, &why);
	if (!cg)
		SKIP(return, "%s", why.c_str());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, size, shared_gmem);

	const PreFaultCall all = pre_fault(g.vcpu(), {ARCH_TEST_GPA, size});
	const PreFaultCall rest = pre_fault(g.vcpu(), {all.out.gpa, all.out.size});
	cg->lift();

	const uint64_t stop = all.out.gpa;
	log_line("the pre-fault stopped after " + std::to_string((stop - ARCH_TEST_GPA) / page) + " of " +
		 std::to_string(size / page) + " pages under a 4 MiB memory.max");
	ASSERT_TRUE(stop > ARCH_TEST_GPA && stop < end && stop % page == 0)
		TH_LOG("the limit must stop the pre-fault inside the range: it stopped at %#llx",
		       (unsigned long long)stop);
	EXPECT_PRE_FAULT("the whole guest_memfd", all, 0, {stop, end - stop});
	EXPECT_PRE_FAULT("from the page that could not be allocated", rest, unmappable_errno(ENOMEM), {stop, end - stop});
	EXPECT_PRE_FAULT(g.vcpu(), "that page, the limit lifted", {stop, page}, 0, {stop + page, 0});
}

/*
 * F4 for poisoned pages (P1's anonymous page, P3's guest_memfd page).
 * P1: KVM finds the page poisoned, sends this thread SIGBUS
 * BUS_MCEERR_AR naming it, as on a guest access (C8: the kernel's
 * convention, not api.rst), and stops on the signal it made pending: 0
 * with the range left at the poisoned page when a page was processed
 * before, else 4.143's EINTR ("an unmasked signal is pending and no page
 * was processed"); each call sends the signal again. P3: no signal
 * (KVM_RUN reports C9's EHWPOISON), so it is judged as the broken
 * backings are (EOPNOTSUPP the only errno of the table that can describe
 * it). A new page in the place of the poisoned one is processed (C12).
 */
KVM_FIXTURE(f4_poisoned);

/* The SIGBUS KVM sent while pre-faulting the poisoned page at hva. */
#define EXPECT_POISON_SIGNAL(step, hva)                                                         \
	do {                                                                                    \
		const std::optional<SignalRecord> sig = take_recorded_signal();                 \
		if (!sig) {                                                                     \
			EXPECT_VALUE(rules::C8, step ": SIGBUS received", SIGBUS, 0);           \
			break;                                                                  \
		}                                                                               \
		EXPECT_VALUE(rules::C8, step ": signal", SIGBUS, sig->signo);                  \
		EXPECT_VALUE(rules::C8, step ": si_code", BUS_MCEERR_AR, sig->code);           \
		EXPECT_VALUE(rules::C8, step ": si_addr", hva, sig->addr);                     \
		EXPECT_VALUE(rules::C8, step ": si_addr_lsb", __builtin_ctzll(page_size()),     \
			     sig->addr_lsb);                                                     \
	} while (0)

TEST_F(f4_poisoned, anon_page)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	FilledSlot s(g.vm(), 2);
	uint8_t *poisoned = s.backing.data() + page;
	if (const char *why = poison_unavailable(poison(poisoned)))
		SKIP(return, "%s", why);
	take_recorded_signal(); /* what madvise() itself sent */
	const uint64_t hva = s.backing.hva() + page;
	const PreFaultRange second = {ARCH_TEST_GPA + page, page};

	EXPECT_PRE_FAULT(g.vcpu(), "both pages", {ARCH_TEST_GPA, 2 * page}, 0, second);
	EXPECT_POISON_SIGNAL("both pages", hva);
	EXPECT_PRE_FAULT(g.vcpu(), "the poisoned page", second, EINTR, second);
	EXPECT_POISON_SIGNAL("the poisoned page", hva);

	ASSERT_EQ(poisoned, mmap(poisoned, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0))
		TH_LOG("mmap(MAP_FIXED): %s", errno_name(errno).c_str());
	*reinterpret_cast<uint64_t *>(poisoned) = page_word(1);
	EXPECT_PRE_FAULT(g.vcpu(), "a new page in its place", second, 0, {ARCH_TEST_GPA + 2 * page, 0});
	g.order({load(ARCH_TEST_GPA, 8), load(ARCH_TEST_GPA + page, 8)});
	ASSERT_OUTCOME("guest reads both pages", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "page 0", page_word(0), g.loaded(0));
	EXPECT_VALUE(rules::C12, "the new page", page_word(1), g.loaded(1));
}

TEST_F(f4_poisoned, guest_memfd_page)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	if (auto why = no_gmem(g.vm(), shared_gmem))
		SKIP(return, "%s", why->c_str());
	const uint64_t page = page_size();
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page, shared_gmem, 0x5a);
	if (const char *why = poison_unavailable(poison(region.view.data() + page)))
		SKIP(return, "%s", why);
	take_recorded_signal(); /* what madvise() itself sent */
	const PreFaultRange second = {ARCH_TEST_GPA + page, page};

	EXPECT_PRE_FAULT(g.vcpu(), "both pages", {ARCH_TEST_GPA, 2 * page}, 0, second);
	EXPECT_PRE_FAULT(g.vcpu(), "the poisoned page", second, unmappable_errno(EHWPOISON), second);
	if (auto sig = take_recorded_signal())
		log_line("a signal came with the pre-faults (none is promised): signo " + std::to_string(sig->signo) +
			 " si_code " + std::to_string(sig->code) + " si_addr " + hex(sig->addr));

	ASSERT_EQ(0, fallocate(region.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page, page))
		TH_LOG("fallocate(PUNCH_HOLE) of the poisoned page: %s", errno_name(errno).c_str());
	EXPECT_PRE_FAULT(g.vcpu(), "after the punch", second, 0, {ARCH_TEST_GPA + 2 * page, 0});
	g.order({load(ARCH_TEST_GPA, 8), load(ARCH_TEST_GPA + page, 8)});
	ASSERT_OUTCOME("guest reads both pages", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "page 0", 0x5a5a5a5a5a5a5a5aull, g.loaded(0));
	EXPECT_VALUE(rules::C12, "the punched page (zero)", 0, g.loaded(1));
}

/*
 * F4 for post-copy without waiting: the page is missing behind a
 * userfaultfd with UFFD_FEATURE_SIGBUS, so faulting it in fails at once.
 * Judged against 4.143's table as the broken backings are (EOPNOTSUPP
 * the only errno that can describe it); filled, the page is processed.
 */
KVM_FIXTURE(f4_userfault_sigbus);

TEST_F(f4_userfault_sigbus, missing_page)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	std::string why;
	auto uffd = Userfault::create(page, &why, UFFD_FEATURE_SIGBUS);
	if (!uffd)
		SKIP(return, "%s", why.c_str());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, uffd->memory());
	const PreFaultRange missing = {ARCH_TEST_GPA, page};

	EXPECT_PRE_FAULT(g.vcpu(), "the missing page", missing, unmappable_errno(EFAULT), missing);
	HostMapping source = HostMapping::anonymous(page);
	*reinterpret_cast<uint64_t *>(source.data()) = page_word(0);
	ASSERT_EQ(0, uffd->copy_raw(0, source.data()));
	EXPECT_PRE_FAULT(g.vcpu(), "after the fill", missing, 0, {ARCH_TEST_GPA + page, 0});
	g.order({load(ARCH_TEST_GPA, 8)});
	ASSERT_OUTCOME("guest reads the page", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "page 0", page_word(0), g.loaded(0));
}

/*
 * F5: a signal arrives while KVM waits for a page (it is behind a
 * userfaultfd nobody filled yet; the page server sends SIGUSR1 to this
 * thread once it sees the fault). api.rst: EINTR only when "no page was
 * processed"; with a page processed before, 0 and the range left at the
 * page it waited on. Once the server filled the page, the rest goes
 * through.
 */
KVM_FIXTURE(f5_signal);
FIXTURE_VARIANT(f5_signal) { unsigned waiting_page; };
FIXTURE_VARIANT_ADD(f5_signal, first_page) { .waiting_page = 0 };
FIXTURE_VARIANT_ADD(f5_signal, second_page) { .waiting_page = 1 };

TEST_F(f5_signal, while_waiting_for_a_page)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_PRE_FAULT(g.vm());
	const uint64_t page = page_size();
	std::string why;
	auto uffd = Userfault::create(2 * page, &why);
	if (!uffd)
		SKIP(return, "%s", why.c_str());
	/* The page that does not wait is filled before the slot exists. */
	HostMapping source = HostMapping::anonymous(page);
	const unsigned waiting = variant->waiting_page, other = 1 - waiting;
	*reinterpret_cast<uint64_t *>(source.data()) = page_word(other);
	ASSERT_EQ(0, uffd->copy_raw(other * page, source.data()));
	*reinterpret_cast<uint64_t *>(source.data()) = page_word(waiting);
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, uffd->memory());
	install_signal_recorder();

	const PreFaultRange all = {ARCH_TEST_GPA, 2 * page};
	const uint64_t at = ARCH_TEST_GPA + waiting * page;
	{
		PageServer server(*uffd, {.offset = waiting * page, .source = source.data(), .signal = SIGUSR1,
					  .hold_ms = 2000});
		if (waiting == 0)
			EXPECT_PRE_FAULT(g.vcpu(), "signal, no page processed", all, EINTR, all);
		else
			EXPECT_PRE_FAULT(g.vcpu(), "signal after the first page", all, 0, {at, page});
		log_line(std::string("the page server had begun filling the page when the call returned: ") +
			 (server.filling() ? "yes" : "no"));
		server.join();
		ASSERT_TRUE(server.fault_address().has_value());
		EXPECT_VALUE(rules::F, "page the kernel waited on (host address)", uffd->memory().hva() + waiting * page,
			     *server.fault_address() & ~(page - 1));
		EXPECT_VALUE(rules::F, "UFFDIO_COPY result", 0, server.fill_result());
	}
	EXPECT_PRE_FAULT(g.vcpu(), "after the fill", {at, ARCH_TEST_GPA + 2 * page - at}, 0, {ARCH_TEST_GPA + 2 * page, 0});
	g.order({load(ARCH_TEST_GPA, 8), load(ARCH_TEST_GPA + page, 8)});
	ASSERT_OUTCOME("guest reads both pages", Expectation::guest_done(rules::F), g.run());
	EXPECT_VALUE(rules::F, "page 0", page_word(0), g.loaded(0));
	EXPECT_VALUE(rules::F, "page 1", page_word(1), g.loaded(1));
}

KVMC_TEST_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Memslots that change over addresses the guest has already touched
 * (CONTRACT.md M1, M7, M8 with api.rst 4.35): KVM keeps what it learnt
 * about a GPA (an MMIO translation, the slot a lookup found, a stage-2 or
 * NPT or shadow mapping), and every change of the memslots must be seen
 * by the guest's next access all the same. Each test touches the first
 * and the last byte of the slot and the page just past its end.
 */
#include "test_util.h"

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <sys/mman.h>

#include "backing.h"
#include "layout.h"

using namespace kvmc;

namespace {

/* api.rst 4.35: slots are created, deleted ("passing zero for
 * memory_size"), moved or get new flags; the guest sees each change. */
constexpr Rule slot_change{"memslot", "api.rst 4.35 KVM_SET_USER_MEMORY_REGION (a slot created, deleted, moved, "
				      "or its flags modified)"};
constexpr Rule dirty_log{"dirty-log", "api.rst 4.8 KVM_GET_DIRTY_LOG, 4.35 (KVM_MEM_LOG_DIRTY_PAGES)"};

constexpr uint64_t pattern = 0x8877665544332211ull;
constexpr uint8_t first_byte = 0xa5, last_byte = 0x5a;

/* Two pages of ordinary memory, the host's view of them by offset. */
struct TwoPages {
	TwoPages() : memory(HostMapping::anonymous(2 * page_size())) {}
	uint64_t &word(uint64_t offset) { return *reinterpret_cast<uint64_t *>(memory.data() + offset); }
	uint8_t &byte(uint64_t offset) { return memory.data()[offset]; }
	uint64_t last() const { return 2 * page_size() - 1; }

	HostMapping memory;
};

} /* namespace */

/*
 * M1, then a memslot appears: the guest loads and stores at a GPA without
 * a memslot (C5, twice at the same address, so KVM has a cached MMIO
 * translation to reuse), then the host adds a memslot over it. The next
 * accesses there read and write the slot's memory without an exit; the
 * page past its end is still no memory (C5).
 */
KVM_FIXTURE(m1_memslot_changed);

TEST_F(m1_memslot_changed, added_over_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t base = ARCH_TEST_GPA, last = base + 2 * page_size() - 1;
	g.order({load(base + 0x10, 8), store(base + 0x10, 8, pattern), load(base + 0x10, 8), load(last, 1),
		 sync_point(), load(base + 0x10, 8), load(base, 1), load(last, 1), store(base, 1, 0xc3),
		 store(last, 1, 0x3c), load(base + 2 * page_size(), 8)});
	ASSERT_OUTCOME("load, no memslot", Expectation::mmio(rules::C5, base + 0x10, 8, false), g.run());
	ASSERT_OUTCOME("store, no memslot", Expectation::mmio(rules::C5, base + 0x10, 8, true, pattern),
		       g.complete_load_and_run(1));
	ASSERT_OUTCOME("load again, no memslot", Expectation::mmio(rules::C5, base + 0x10, 8, false), g.run());
	ASSERT_OUTCOME("last byte, no memslot", Expectation::mmio(rules::C5, last, 1, false),
		       g.complete_load_and_run(2));
	ASSERT_OUTCOME("sync", Expectation::guest_sync(rules::guest), g.complete_load_and_run(3));

	TwoPages memory;
	memory.word(0x10) = ~pattern;
	memory.byte(0) = first_byte;
	memory.byte(memory.last()) = last_byte;
	Memslot slot(g.vm(), test_slot, base, memory.memory);
	ASSERT_OUTCOME("load past the new slot's end", Expectation::mmio(rules::C5, base + 2 * page_size(), 8, false),
		       g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(4));
	EXPECT_VALUE(slot_change, "load where the MMIO exits were, from the new slot", ~pattern, g.loaded(5));
	EXPECT_VALUE(slot_change, "the slot's first byte", first_byte, g.loaded(6));
	EXPECT_VALUE(slot_change, "the slot's last byte", last_byte, g.loaded(7));
	EXPECT_VALUE(slot_change, "the guest's store to the first byte, in the slot's memory", 0xc3, memory.byte(0));
	EXPECT_VALUE(slot_change, "the guest's store to the last byte, in the slot's memory", 0x3c,
		     memory.byte(memory.last()));
}

/*
 * M8 at the slot's edges: the guest has stored to and loaded from the
 * first and last byte of a two-page slot (KVM mapped both pages), then
 * the slot is deleted. Every access there is now C5, at its own GPA and
 * width, and a store no longer reaches the memory that was behind it.
 */
KVM_FIXTURE(m8_memslot_changed);

TEST_F(m8_memslot_changed, deleted_after_mapped)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = page_size(), base = ARCH_TEST_GPA, last = base + 2 * page - 1;
	TwoPages memory;
	std::optional<Memslot> slot;
	slot.emplace(g.vm(), test_slot, base, memory.memory);

	g.order({store(base, 1, first_byte), store(last, 1, last_byte), load(base, 1), load(last, 1),
		 load(base + 2 * page, 8), sync_point(), load(base, 1), store(last, 1, 0x77), load(base + page, 8)});
	ASSERT_OUTCOME("load past the slot's end", Expectation::mmio(rules::C5, base + 2 * page, 8, false), g.run());
	ASSERT_OUTCOME("sync", Expectation::guest_sync(rules::guest), g.complete_load_and_run(0));
	EXPECT_VALUE(slot_change, "first byte, stored and loaded back", first_byte, g.loaded(2));
	EXPECT_VALUE(slot_change, "last byte, stored and loaded back", last_byte, g.loaded(3));

	slot.reset();
	ASSERT_OUTCOME("first byte after the delete", Expectation::mmio(rules::C5, base, 1, false), g.run());
	ASSERT_OUTCOME("store to the last byte after the delete", Expectation::mmio(rules::C5, last, 1, true, 0x77),
		       g.complete_load_and_run(0x11));
	ASSERT_OUTCOME("second page after the delete", Expectation::mmio(rules::C5, base + page, 8, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0x22));
	EXPECT_VALUE(rules::C5, "value the guest loaded from the first byte", 0x11, g.loaded(6));
	EXPECT_VALUE(slot_change, "the deleted slot's memory after the store", last_byte, memory.byte(memory.last()));
}

/*
 * Changes api.rst 4.35 forbids, on a slot the guest has mapped: a resize
 * ("it may not be resized") and a move onto another slot's pages ("Slots
 * may not overlap"), here by one page onto a slot that begins a page
 * after this one ends; and, on the kernel's word, the slot pointed at
 * other host memory or made read-only in place. api.rst names no errno;
 * the kernel's are EINVAL and EEXIST (virt/kvm/kvm_main.c
 * kvm_set_memory_region()). Refused, the slot is where it was with its
 * data, and the other slot is unchanged. Given again unchanged, the slot
 * is accepted (success) and nothing moves.
 */
TEST_F(m8_memslot_changed, forbidden_change_refused)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = page_size(), base = ARCH_TEST_GPA, last = base + 2 * page - 1;
	const uint64_t other_gpa = base + 3 * page;
	TwoPages memory;
	HostMapping other_memory = HostMapping::anonymous(page);
	*reinterpret_cast<uint64_t *>(other_memory.data()) = pattern;
	Memslot slot(g.vm(), test_slot, base, memory.memory);
	Memslot other(g.vm(), test_slot + 1, other_gpa, other_memory);

	g.order({store(base, 1, first_byte), store(last, 1, last_byte), sync_point(), load(base, 1), load(last, 1),
		 load(other_gpa, 8), load(base + 2 * page, 8)});
	ASSERT_OUTCOME("stores before the changes", Expectation::guest_sync(rules::guest), g.run());

	log_line("basis (not api.rst): virt/kvm/kvm_main.c kvm_set_memory_region(): another memory_size for an "
		 "existing slot is EINVAL, a range overlapping another slot EEXIST");
	for (uint64_t pages : {1, 3}) {
		struct kvm_userspace_memory_region2 resized {};
		resized.slot = test_slot;
		resized.guest_phys_addr = base;
		resized.memory_size = pages * page;
		resized.userspace_addr = memory.memory.hva();
		const std::string what = "resizing the two-page slot to " + std::to_string(pages) + " pages";
		EXPECT_ERRNO(slot_change, what.c_str(), EINVAL, g.vm().set_memory_region_raw(resized));
	}
	EXPECT_ERRNO(slot_change, "moving the slot one page onto the next slot", EEXIST,
		     slot.modify_raw(base + 2 * page, 0));
	/* Neither the host memory behind a slot nor its read-only flag can
	 * change in place (kvm_set_memory_region(): EINVAL); the same slot
	 * given again unchanged is accepted and changes nothing. */
	struct kvm_userspace_memory_region2 elsewhere {};
	elsewhere.slot = test_slot;
	elsewhere.guest_phys_addr = base;
	elsewhere.memory_size = 2 * page;
	elsewhere.userspace_addr = memory.memory.hva() + page;
	EXPECT_ERRNO(slot_change, "pointing the slot at other host memory", EINVAL,
		     g.vm().set_memory_region_raw(elsewhere));
	EXPECT_ERRNO(slot_change, "making the slot read-only in place", EINVAL,
		     slot.modify_raw(base, KVM_MEM_READONLY));
	EXPECT_ERRNO(slot_change, "the slot given again, unchanged", 0, slot.modify_raw(base, 0));

	ASSERT_OUTCOME("page past the slot's end", Expectation::mmio(rules::C5, base + 2 * page, 8, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0));
	EXPECT_VALUE(slot_change, "first byte after the refused changes", first_byte, g.loaded(3));
	EXPECT_VALUE(slot_change, "last byte after the refused changes", last_byte, g.loaded(4));
	EXPECT_VALUE(slot_change, "the other slot after the refused move", pattern, g.loaded(5));
}

/*
 * A mapped slot moves to another GPA: deleted and added again, or moved
 * in place by KVM_SET_USER_MEMORY_REGION2 with a new guest_phys_addr
 * (api.rst 4.35: "it may be moved in the guest physical memory space"),
 * far away or by one page, so that half of the new range is where the
 * slot's other half was. The guest's data is at the new GPA, first and
 * last byte included; the old GPA is C5 where no slot covers it now;
 * the page past the new end is C5. By one page, the GPA that reached
 * the slot's second page before reaches its first page now.
 */
namespace {

enum class Move { delete_and_add, far, by_one_page };

} /* namespace */

KVM_FIXTURE(m8_memslot_moved);
FIXTURE_VARIANT(m8_memslot_moved) { Move how; };
FIXTURE_VARIANT_ADD(m8_memslot_moved, delete_and_add) { .how = Move::delete_and_add };
FIXTURE_VARIANT_ADD(m8_memslot_moved, far) { .how = Move::far };
FIXTURE_VARIANT_ADD(m8_memslot_moved, by_one_page) { .how = Move::by_one_page };

TEST_F(m8_memslot_moved, after_mapped)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = page_size(), old_gpa = ARCH_TEST_GPA;
	const uint64_t new_gpa = variant->how == Move::by_one_page ? old_gpa + page : old_gpa + (4u << 20);
	TwoPages memory;
	std::optional<Memslot> slot;
	slot.emplace(g.vm(), test_slot, old_gpa, memory.memory);

	g.order({store(old_gpa, 1, first_byte), store(old_gpa + 2 * page - 1, 1, last_byte),
		 store(old_gpa + page, 8, pattern), load(old_gpa + page, 8), sync_point(), load(old_gpa, 8),
		 load(new_gpa, 1), load(new_gpa + 2 * page - 1, 1), load(new_gpa + page, 8),
		 store(new_gpa + 8, 8, ~pattern), load(new_gpa + 2 * page, 8), load(old_gpa + page, 8)});
	ASSERT_OUTCOME("stores at the old GPA", Expectation::guest_sync(rules::guest), g.run());
	EXPECT_VALUE(slot_change, "loaded back at the old GPA", pattern, g.loaded(3));

	if (variant->how == Move::delete_and_add) {
		slot.reset();
		slot.emplace(g.vm(), test_slot, new_gpa, memory.memory);
	} else {
		ASSERT_EQ(0, slot->modify_raw(new_gpa, 0))
			TH_LOG("moving the slot to %#llx", (unsigned long long)new_gpa);
	}
	ASSERT_OUTCOME("old GPA after the move", Expectation::mmio(rules::C5, old_gpa, 8, false), g.run());
	ASSERT_OUTCOME("page past the new end", Expectation::mmio(rules::C5, new_gpa + 2 * page, 8, false),
		       g.complete_load_and_run(0x11));
	if (variant->how == Move::by_one_page) {
		ASSERT_OUTCOME("resume", Expectation::guest_done(slot_change), g.complete_load_and_run(0x22));
		EXPECT_VALUE(slot_change, "old GPA of the second page, now the first page", first_byte, g.loaded(11));
	} else {
		ASSERT_OUTCOME("old GPA of the second page after the move",
			       Expectation::mmio(rules::C5, old_gpa + page, 8, false), g.complete_load_and_run(0x22));
		ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0x33));
	}
	EXPECT_VALUE(slot_change, "first byte at the new GPA", first_byte, g.loaded(6));
	EXPECT_VALUE(slot_change, "last byte at the new GPA", last_byte, g.loaded(7));
	EXPECT_VALUE(slot_change, "second page at the new GPA", pattern, g.loaded(8));
	EXPECT_VALUE(slot_change, "store at the new GPA, in the slot's memory", ~pattern, memory.word(8));
}

/*
 * New memslots api.rst 4.35 refuses, each with the guest about to load
 * from where the slot would be: the ioctl fails and nothing was created
 * (the load is still C5). Documented: a slot id not "less than the
 * maximum number of user memory slots" (KVM_CAP_NR_MEMSLOTS), an address
 * space not less than KVM_CAP_MULTI_ADDRESS_SPACE, a userspace_addr that
 * does not "point at user addressable memory for the entire memory slot
 * size" (a kernel address: where user space ends depends on the
 * kernel's paging, 47 to 56 bits, so a range across that end is not
 * tried), on arm64 a tagged userspace_addr ("must be an untagged
 * address"). Not in api.rst, checked on the kernel's word
 * (virt/kvm/kvm_main.c kvm_set_memory_region()): sizes and addresses not
 * page aligned, a GPA range that wraps, more pages than a dirty bitmap
 * can index, deleting a slot that does not exist. All are EINVAL there.
 */
namespace {

#if defined(__aarch64__)
constexpr bool on_arm64 = true;
#else
constexpr bool on_arm64 = false;
#endif

enum class Refused {
	slot_id, address_space, kernel_address, tagged_address, unaligned_size, unaligned_gpa,
	unaligned_hva, wrapping_gpa, too_many_pages, delete_missing
};

} /* namespace */

KVM_FIXTURE(memslot_refused);
FIXTURE_VARIANT(memslot_refused) { Refused how; bool documented; const char *what; };
FIXTURE_VARIANT_ADD(memslot_refused, slot_id) { Refused::slot_id, true, "slot id KVM_CAP_NR_MEMSLOTS" };
FIXTURE_VARIANT_ADD(memslot_refused, address_space) { Refused::address_space, true,
						      "address space KVM_CAP_MULTI_ADDRESS_SPACE" };
FIXTURE_VARIANT_ADD(memslot_refused, kernel_address) { Refused::kernel_address, true, "a kernel userspace_addr" };
FIXTURE_VARIANT_ADD(memslot_refused, tagged_address) { Refused::tagged_address, true, "a tagged userspace_addr" };
FIXTURE_VARIANT_ADD(memslot_refused, unaligned_size) { Refused::unaligned_size, false, "a size not page aligned" };
FIXTURE_VARIANT_ADD(memslot_refused, unaligned_gpa) { Refused::unaligned_gpa, false, "a GPA not page aligned" };
FIXTURE_VARIANT_ADD(memslot_refused, unaligned_hva) { Refused::unaligned_hva, false,
						      "a userspace_addr not page aligned" };
FIXTURE_VARIANT_ADD(memslot_refused, wrapping_gpa) { Refused::wrapping_gpa, false, "a GPA range that wraps" };
FIXTURE_VARIANT_ADD(memslot_refused, too_many_pages) { Refused::too_many_pages, false,
						       "2^31 pages (past KVM_MEM_MAX_NR_PAGES)" };
FIXTURE_VARIANT_ADD(memslot_refused, delete_missing) { Refused::delete_missing, false,
						       "deleting a slot that does not exist" };

TEST_F(memslot_refused, create)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = page_size(), base = ARCH_TEST_GPA;
	TwoPages memory;
	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot;
	region.guest_phys_addr = base;
	region.memory_size = 2 * page;
	region.userspace_addr = memory.memory.hva();
	switch (variant->how) {
	case Refused::slot_id: {
		const int n = g.vm().check_extension(KVM_CAP_NR_MEMSLOTS);
		ASSERT_GT(n, 0) TH_LOG("KVM_CAP_NR_MEMSLOTS");
		region.slot = static_cast<uint32_t>(n);
		break;
	}
	case Refused::address_space: {
		const int n = g.vm().check_extension(KVM_CAP_MULTI_ADDRESS_SPACE);
		region.slot = (static_cast<uint32_t>(n > 0 ? n : 1) << 16) | test_slot;
		break;
	}
	case Refused::kernel_address:
		region.userspace_addr = ~0ull << 47; /* kernel space under 4- and 5-level paging */
		break;
	case Refused::tagged_address:
		if (!on_arm64)
			SKIP(return, "address tags (TBI) are arm64's");
		region.userspace_addr |= 0x5aull << 56;
		break;
	case Refused::unaligned_size:
		region.memory_size = page + page / 2;
		break;
	case Refused::unaligned_gpa:
		region.guest_phys_addr = base + 0x800;
		break;
	case Refused::unaligned_hva:
		region.userspace_addr += 0x800;
		break;
	case Refused::wrapping_gpa:
		region.guest_phys_addr = ~0ull & ~(page - 1);
		break;
	case Refused::too_many_pages:
		region.userspace_addr = page * 16;
		region.memory_size = (1ull << 31) * page;
		break;
	case Refused::delete_missing:
		region.memory_size = 0;
		break;
	}
	if (!variant->documented)
		log_line("basis (not api.rst): virt/kvm/kvm_main.c kvm_set_memory_region() refuses it with EINVAL");
	EXPECT_ERRNO(slot_change, variant->what, EINVAL, g.vm().set_memory_region_raw(region));

	/* Nothing was created where the slot would have been. */
	g.order({load(base, 8), load(base + page, 8)});
	ASSERT_OUTCOME("load where the slot would be", Expectation::mmio(rules::C5, base, 8, false), g.run());
	ASSERT_OUTCOME("second page", Expectation::mmio(rules::C5, base + page, 8, false), g.complete_load_and_run(1));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(2));
}

/*
 * M5 from the start: a memslot over four pages of host address space of
 * which the second and the last were never mapped (two VMAs, a hole
 * between them and one at the end). api.rst 4.35 asks only that userspace_addr "point at user
 * addressable memory"; the slot is accepted (arm64 walks its VMAs at
 * creation, kvm_arch_prepare_memory_region(), and finds the hole), the
 * pages of both VMAs work, and the hole is C4: -1/EFAULT with the
 * memory_fault of its page (api.rst 8.44's "valid memslot but no backing
 * VMA"). Mapped afterwards, the hole is memory (C12).
 */
KVM_FIXTURE(m5_hole_in_memslot);
FIXTURE_VARIANT(m5_hole_in_memslot) { bool is_write; };
FIXTURE_VARIANT_ADD(m5_hole_in_memslot, load) { .is_write = false };
FIXTURE_VARIANT_ADD(m5_hole_in_memslot, store) { .is_write = true };

TEST_F(m5_hole_in_memslot, from_creation)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = page_size(), base = ARCH_TEST_GPA, hole = base + page;
	HostMapping memory = HostMapping::anonymous(4 * page);
	uint8_t *const hole_hva = memory.data() + page;
	ASSERT_EQ(0, munmap(hole_hva, page)) TH_LOG("munmap: %s", strerror(errno));
	ASSERT_EQ(0, munmap(memory.data() + 3 * page, page)) TH_LOG("munmap: %s", strerror(errno));
	auto word = [&](uint64_t offset) -> uint64_t & { return *reinterpret_cast<uint64_t *>(memory.data() + offset); };
	word(0) = pattern;
	word(2 * page) = ~pattern;
	Memslot slot(g.vm(), test_slot, base, memory);

	g.order({load(base, 8), load(base + 2 * page, 8), store(base + 2 * page + 8, 8, pattern),
		 variant->is_write ? store(hole + 0x18, 8, ~pattern) : load(hole + 0x18, 8)});
	const bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	EXPECT_OUTCOME("access to the hole", Expectation::unresolvable_fault(hole + 0x18, promised), g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the hole", 3, g.completed());
	EXPECT_VALUE(slot_change, "first VMA's page", pattern, g.loaded(0));
	EXPECT_VALUE(slot_change, "second VMA's page", ~pattern, g.loaded(1));
	EXPECT_VALUE(slot_change, "store to the second VMA's page, in its memory", pattern, word(2 * page + 8));

	void *again = mmap(hole_hva, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(static_cast<void *>(hole_hva), again) TH_LOG("mmap over the hole: %s", strerror(errno));
	word(page + 0x18) = pattern;
	ASSERT_OUTCOME("after mapping the hole", Expectation::guest_done(rules::C12), g.run());
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the retried store, in the new page", ~pattern, word(page + 0x18));
	else
		EXPECT_VALUE(rules::C12, "the retried load", pattern, g.loaded(3));
}

/*
 * Dirty logging turned on and off on a slot the guest has mapped (api.rst
 * 4.35: flags may be modified; KVM_MEM_LOG_DIRTY_PAGES "to keep track of
 * writes"). With logging on, the guest's stores land in memory and
 * KVM_GET_DIRTY_LOG reports their pages (4.8), also the page it had
 * mapped writable before logging began, and a page stored to again
 * after the log was read; the read clears the bits, so a page not stored
 * to since is not reported again. Off again, the guest's accesses go on
 * as before.
 */
KVM_FIXTURE(dirty_logging_toggled);

TEST_F(dirty_logging_toggled, after_mapped)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = page_size(), base = ARCH_TEST_GPA, last = base + 2 * page - 1;
	TwoPages memory;
	Memslot slot(g.vm(), test_slot, base, memory.memory);
	const uint64_t v1 = 0x1111111111111111ull, v2 = 0x2222222222222222ull, v3 = 0x3333333333333333ull;

	g.order({store(base + 0x10, 8, v1), load(base + page + 0x10, 8), sync_point(), store(base + 0x10, 8, v2),
		 store(last, 1, last_byte), load(base + 0x10, 8), load(last, 1), sync_point(),
		 store(base, 1, first_byte), sync_point(), store(base + page, 8, v3), load(base + page, 8),
		 load(base + 2 * page, 8)});
	ASSERT_OUTCOME("accesses before logging", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_EQ(0, slot.modify_raw(base, KVM_MEM_LOG_DIRTY_PAGES)) TH_LOG("turning dirty logging on");

	ASSERT_OUTCOME("stores with logging on", Expectation::guest_sync(rules::guest), g.run());
	EXPECT_VALUE(slot_change, "first page's word, stored and loaded back", v2, g.loaded(5));
	EXPECT_VALUE(slot_change, "the last byte, stored and loaded back", last_byte, g.loaded(6));
	EXPECT_VALUE(slot_change, "the store to the mapped page, in memory", v2, memory.word(0x10));
	EXPECT_VALUE(slot_change, "the store to the last byte, in memory", last_byte, memory.byte(memory.last()));
	uint64_t bitmap = 0;
	ASSERT_EQ(0, g.vm().get_dirty_log_raw(test_slot, &bitmap)) TH_LOG("KVM_GET_DIRTY_LOG");
	log_line("KVM_GET_DIRTY_LOG of the two-page slot: " + hex(bitmap));
	EXPECT_VALUE(dirty_log, "page 0 (mapped writable before logging) in the dirty log", 1, bitmap & 1);
	EXPECT_VALUE(dirty_log, "page 1 (its last byte stored) in the dirty log", 1, (bitmap >> 1) & 1);

	ASSERT_OUTCOME("a store after the log was read", Expectation::guest_sync(rules::guest), g.run());
	EXPECT_VALUE(slot_change, "the store to the first byte, in memory", first_byte, memory.byte(0));
	bitmap = 0;
	ASSERT_EQ(0, g.vm().get_dirty_log_raw(test_slot, &bitmap)) TH_LOG("KVM_GET_DIRTY_LOG");
	log_line("KVM_GET_DIRTY_LOG of the two-page slot: " + hex(bitmap));
	EXPECT_VALUE(dirty_log, "page 0, stored to again after the log was read, in the dirty log", 1, bitmap & 1);
	EXPECT_VALUE(dirty_log, "page 1, not stored to since the log was read (the read clears its bit)", 0,
		     (bitmap >> 1) & 1);

	ASSERT_EQ(0, slot.modify_raw(base, 0)) TH_LOG("turning dirty logging off");
	ASSERT_OUTCOME("page past the slot's end", Expectation::mmio(rules::C5, base + 2 * page, 8, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0));
	EXPECT_VALUE(slot_change, "second page's word with logging off, loaded back", v3, g.loaded(11));
	EXPECT_VALUE(slot_change, "the store with logging off, in memory", v3, memory.word(page));
}

/*
 * M7: KVM_MEM_READONLY is set when a slot is made (api.rst 4.35: "to make
 * a new slot read-only") and cannot be changed on a slot that exists:
 * virt/kvm/kvm_main.c kvm_set_memory_region() refuses a READONLY change
 * of an existing slot with EINVAL. After the refusal the slot, which the
 * guest has used, is what it was: writable, or read-only (C7).
 */
KVM_FIXTURE(m7_readonly_changed);
FIXTURE_VARIANT(m7_readonly_changed) { bool readonly; };
FIXTURE_VARIANT_ADD(m7_readonly_changed, set) { .readonly = false };
FIXTURE_VARIANT_ADD(m7_readonly_changed, cleared) { .readonly = true };

TEST_F(m7_readonly_changed, refused)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	const uint64_t page = page_size(), base = ARCH_TEST_GPA, last = base + 2 * page - 1;
	TwoPages memory;
	memory.word(0x40) = pattern;
	memory.byte(memory.last()) = last_byte;
	Memslot slot(g.vm(), test_slot, base, memory.memory, variant->readonly ? KVM_MEM_READONLY : 0);

	g.order({load(base + 0x40, 8), sync_point(), load(base + 0x40, 8), load(last, 1),
		 store(base + 0x40, 8, ~pattern), load(base + 2 * page, 8)});
	ASSERT_OUTCOME("load before the change", Expectation::guest_sync(rules::guest), g.run());
	log_line("basis (not api.rst): virt/kvm/kvm_main.c kvm_set_memory_region(): changing KVM_MEM_READONLY of an "
		 "existing slot is refused with EINVAL");
	EXPECT_ERRNO(rules::C7, variant->readonly ? "clearing KVM_MEM_READONLY" : "setting KVM_MEM_READONLY", EINVAL,
		     slot.modify_raw(base, variant->readonly ? 0 : KVM_MEM_READONLY));

	if (variant->readonly)
		ASSERT_OUTCOME("store to the slot, still read-only",
			       Expectation::mmio(rules::C7, base + 0x40, 8, true, ~pattern), g.run());
	ASSERT_OUTCOME("page past the slot's end", Expectation::mmio(rules::C5, base + 2 * page, 8, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C7), g.complete_load_and_run(0));
	EXPECT_VALUE(rules::C7, "load after the refused change", pattern, g.loaded(2));
	EXPECT_VALUE(rules::C7, "the slot's last byte", last_byte, g.loaded(3));
	EXPECT_VALUE(rules::C7, "the slot's memory after the guest's store", variant->readonly ? pattern : ~pattern,
		     memory.word(0x40));
}

KVMC_TEST_MAIN

/*
 * M1 at the edge of a memslot that covers half of a 2 MiB host page
 * (hugetlb, or a transparent huge page), GPA and host address aligned
 * alike, so KVM could map the whole 2 MiB at once (an arm64 stage-2
 * block, an x86 2 MiB NPT or shadow entry) if it forgot that the memslot
 * ends (or starts) inside it. The guest first uses the slot's memory,
 * then touches the page just past its end (or just before its start):
 * no memslot holds that GPA, so api.rst gives C5, an MMIO exit at it,
 * never the host page's other half (filled with a marker the guest must
 * not see).
 */
KVM_FIXTURE(m1_huge_page_slot_edge);
FIXTURE_VARIANT(m1_huge_page_slot_edge) { bool hugetlb; bool first_half; bool gigantic; };
FIXTURE_VARIANT_ADD(m1_huge_page_slot_edge, hugetlb_end) { .hugetlb = true, .first_half = true, .gigantic = false };
FIXTURE_VARIANT_ADD(m1_huge_page_slot_edge, hugetlb_start) { .hugetlb = true, .first_half = false, .gigantic = false };
FIXTURE_VARIANT_ADD(m1_huge_page_slot_edge, thp_end) { .hugetlb = false, .first_half = true, .gigantic = false };
FIXTURE_VARIANT_ADD(m1_huge_page_slot_edge, thp_start) { .hugetlb = false, .first_half = false, .gigantic = false };
/* The same over a 1 GiB hugetlb page (an arm64 level-1 block, an x86
 * 1 GiB NPT entry), where one is reserved. */
FIXTURE_VARIANT_ADD(m1_huge_page_slot_edge, hugetlb_1g_end) { .hugetlb = true, .first_half = true, .gigantic = true };
FIXTURE_VARIANT_ADD(m1_huge_page_slot_edge, hugetlb_1g_start) { .hugetlb = true, .first_half = false, .gigantic = true };

TEST_F(m1_huge_page_slot_edge, access_past_the_slot)
{
	const uint64_t huge = variant->gigantic ? gigantic_page_size : huge_page_size, half = huge / 2;
	constexpr uint64_t marker = 0xbadc0ffee0ddf00dull;
	Kvm kvm;
	GuestVm g(kvm);

	uint8_t *page = nullptr;
	HostMapping thp;
	if (variant->gigantic) {
		std::string why;
		page = map_gigantic_page(&why);
		if (!page)
			SKIP(return, "%s", why.c_str());
	} else if (variant->hugetlb) {
		std::string why;
		page = map_huge_pages(1, &why);
		if (!page)
			SKIP(return, "%s", why.c_str());
	} else {
		/* Twice the size, so a 2 MiB-aligned 2 MiB lies inside. */
		thp = HostMapping::anonymous(2 * huge);
		page = reinterpret_cast<uint8_t *>((thp.hva() + huge - 1) & ~(huge - 1));
		madvise(page, huge, MADV_HUGEPAGE);
	}
	/* The marker where the guest could see it: all of a 2 MiB page,
	 * 64 KiB each side of the middle of a 1 GiB one. */
	const uint64_t window = variant->gigantic ? 64 << 10 : half;
	for (uint64_t off = half - window; off < half + window; off += 8)
		*reinterpret_cast<uint64_t *>(page + off) = marker;

	const uint64_t offset = variant->first_half ? 0 : half;
	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot;
	region.guest_phys_addr = ARCH_TEST_GPA + offset;
	region.memory_size = half;
	region.userspace_addr = reinterpret_cast<uint64_t>(page) + offset;
	ASSERT_EQ(0, g.vm().set_memory_region_raw(region));

	const uint64_t inside = region.guest_phys_addr + (variant->first_half ? half - 8 : 0);
	const uint64_t outside = variant->first_half ? region.guest_phys_addr + half : region.guest_phys_addr - 8;
	g.order({store(inside, 8, pattern), load(inside, 8), load(outside, 8)});
	ASSERT_OUTCOME("past the slot", Expectation::mmio(rules::C5, outside, 8, false), g.run());
	EXPECT_VALUE(rules::C5, "the guest's store, in the slot's half of the host page", pattern,
		     *reinterpret_cast<uint64_t *>(page + (inside - ARCH_TEST_GPA)));
	EXPECT_VALUE(rules::C5, "the other half of the host page, untouched", marker,
		     *reinterpret_cast<uint64_t *>(page + (outside - ARCH_TEST_GPA)));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(1));
	EXPECT_VALUE(rules::C5, "the load past the slot got userspace's answer", 1, g.loaded(2));
}

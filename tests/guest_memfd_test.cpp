// SPDX-License-Identifier: GPL-2.0
/* guest_memfd memslots (CONTRACT.md G1-G5; G6 is x86-only, in x86_64/). */
#include "test_util.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backing.h"
#include "cgroup.h"
#include "layout.h"

using namespace kvmc;

namespace {

constexpr uint64_t shared_flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

/* Why this VM cannot have a guest_memfd created with these flags, or
 * nothing. Each test asks only for the flags it relies on. */
std::optional<std::string> no_gmem(Vm &vm, uint64_t flags)
{
	if (vm.check_extension(KVM_CAP_GUEST_MEMFD) < 1)
		return "needs KVM_CAP_GUEST_MEMFD (CONFIG_KVM_GUEST_MEMFD)";
	const uint64_t offered = vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS);
	if ((offered & flags) != flags)
		return "needs guest_memfd flags " + hex(flags) + " for this VM type, KVM_CAP_GUEST_MEMFD_FLAGS is " +
		       hex(offered);
	return std::nullopt;
}

/* The flags of wanted this VM offers: a guest_memfd a memslot can bind
 * where the test needs no more than KVM_CAP_GUEST_MEMFD (arm64 binds
 * only mmap()able ones). */
uint64_t offered_gmem_flags(Vm &vm, uint64_t wanted)
{
	return vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS) & wanted;
}

} /* namespace */

/* Skip unless the VM offers a guest_memfd with these flags. */
#define REQUIRE_GMEM(vm, flags)                                                    \
	do {                                                                       \
		if (auto why = no_gmem(vm, flags))                                 \
			SKIP(return, "%s", why->c_str());                          \
	} while (0)

/* G1, G3, G4: the host reads and writes the guest's memory through the
 * guest_memfd's own mapping. */
#define REQUIRE_SHARED_GMEM(vm) REQUIRE_GMEM(vm, shared_flags)

/*
 * G1: a memslot bound to an mmap()able, shared guest_memfd. The guest's
 * accesses are served from the guest_memfd without any exit, and what the
 * guest stored is what the host sees through the guest_memfd mapping.
 */
KVM_FIXTURE(g1_guest_memfd);

TEST_F(g1_guest_memfd, store_then_load)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page_size(), shared_flags);

	const uint64_t value = 0x0123456789abcdefull;
	const uint64_t host_value = 0xfedcba9876543210ull;
	*reinterpret_cast<uint64_t *>(region.view.data() + page_size() + 8) = host_value;
	g.order({store(ARCH_TEST_GPA + 0x30, 8, value), load(ARCH_TEST_GPA + page_size() + 8, 8)});
	ASSERT_OUTCOME("accesses", Expectation::guest_done(rules::G1), g.run());
	EXPECT_VALUE(rules::G1, "guest store seen through the guest_memfd mapping", value,
		     *reinterpret_cast<uint64_t *>(region.view.data() + 0x30));
	EXPECT_VALUE(rules::G1, "host store seen by the guest", host_value, g.loaded(1));
}

/*
 * G2: the guest_memfd file is gone: its only fd closed, never mapped, so
 * KVM drops the binding. C10: -1/EFAULT with KVM_EXIT_MEMORY_FAULT.
 *
 * The guest's accesses must reach the guest_memfd, not userspace_addr:
 * GUEST_MEMFD_FLAG_MMAP makes the memslot guest_memfd-only (api.rst
 * 4.142: "the fault will always be consumed from guest_memfd"), so that is
 * the one flag G2 needs; INIT_SHARED is taken where offered.
 */
namespace {

/* A one-page guest_memfd memslot at gpa whose file is closed at once or
 * by close_file(); the host never maps the guest_memfd. */
class GoneGmemSlot {
public:
	GoneGmemSlot(Vm &vm, uint32_t slot, uint64_t gpa)
		: gmem_(vm, page_size(), GUEST_MEMFD_FLAG_MMAP | offered_gmem_flags(vm, GUEST_MEMFD_FLAG_INIT_SHARED)),
		  shared_(HostMapping::anonymous(page_size()))
	{
		slot_.emplace(vm, slot, gpa, gmem_, 0, page_size(), shared_);
	}
	void close_file() { gmem_.close(); }
	/* C12's repair: the memslot replaced by one over ordinary memory
	 * that holds value at gpa. */
	void replace_with_memory(Vm &vm, uint32_t slot, uint64_t gpa, uint64_t offset, uint64_t value)
	{
		slot_.reset();
		memory_ = HostMapping::anonymous(page_size());
		*reinterpret_cast<uint64_t *>(memory_.data() + offset) = value;
		slot_.emplace(vm, slot, gpa, memory_);
	}

private:
	GuestMemfd gmem_;
	HostMapping shared_;
	HostMapping memory_;
	std::optional<Memslot> slot_;
};

} /* namespace */

#define REQUIRE_G2(vm) REQUIRE_GMEM(vm, GUEST_MEMFD_FLAG_MMAP)

KVM_FIXTURE(g2_guest_memfd_gone);

TEST_F(g2_guest_memfd_gone, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_G2(g.vm());
	GoneGmemSlot gone(g.vm(), test_slot, ARCH_TEST_GPA);
	gone.close_file();

	const uint64_t gpa = ARCH_TEST_GPA + 0x48;
	g.order({load(gpa, 8)});
	ASSERT_OUTCOME("load", Expectation::memory_fault(rules::C10, EFAULT, gpa)
				       .with_memory_fault_info(g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1),
		       g.run());
}

/* C2 after an MMIO exit of the same vCPU: every memory_fault field must
 * be written, none left from the MMIO exit's bytes. */
TEST_F(g2_guest_memfd_gone, load_after_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_G2(g.vm());
	GoneGmemSlot gone(g.vm(), test_slot, ARCH_TEST_GPA);
	gone.close_file();

	const uint64_t gpa = ARCH_TEST_GPA + 0x48;
	g.order({stale_mmio_load(), load(gpa, 8)});
	ASSERT_OUTCOME("MMIO load", Expectation::mmio(rules::C5, stale_mmio_gpa, 1, false), g.run());
	ASSERT_OUTCOME("load", Expectation::memory_fault(rules::C10, EFAULT, gpa),
		       g.complete_load_and_run(stale_mmio_value));
}

/* After an earlier memory fault with another gpa: the first slot is
 * repaired, the guest goes on to a second gone slot, and the second
 * fault's payload must not be the first's. */
TEST_F(g2_guest_memfd_gone, load_after_fault)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_G2(g.vm());
	const uint64_t first_base = ARCH_TEST_GPA, second_base = ARCH_TEST_GPA + (1u << 20);
	GoneGmemSlot first(g.vm(), test_slot, first_base);
	GoneGmemSlot second(g.vm(), test_slot + 1, second_base);
	first.close_file();
	second.close_file();

	const uint64_t first_gpa = first_base + 0x48, second_gpa = second_base + 0x650;
	g.order({load(first_gpa, 8), load(second_gpa, 8)});
	ASSERT_OUTCOME("first load", Expectation::memory_fault(rules::C10, EFAULT, first_gpa), g.run());
	first.replace_with_memory(g.vm(), test_slot, first_base, 0x48, 0x1122334455667788ull);
	ASSERT_OUTCOME("second load", Expectation::memory_fault(rules::C10, EFAULT, second_gpa), g.run());
	EXPECT_VALUE(rules::C12, "the first load, retried after the repair", 0x1122334455667788ull, g.loaded(0));
}

/*
 * After a memory fault exit, a fault of another kind: the guest_memfd
 * slot is repaired, the guest goes on to a page whose host memory is
 * PROT_NONE (M4). That -EFAULT is judged as M4 on its own (C4: where
 * KVM_CAP_MEMORY_FAULT_INFO is 0 nothing is promised), but a
 * KVM_EXIT_MEMORY_FAULT it carries must describe this fault (C2): not
 * the first one's, left over from the previous exit.
 */
TEST_F(g2_guest_memfd_gone, then_broken_backing)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_G2(g.vm());
	const uint64_t gone_base = ARCH_TEST_GPA, broken_base = ARCH_TEST_GPA + (1u << 20);
	GoneGmemSlot gone(g.vm(), test_slot, gone_base);
	gone.close_file();
	HostMapping backing = HostMapping::anonymous(page_size());
	Memslot broken(g.vm(), test_slot + 1, broken_base, backing);
	ASSERT_EQ(0, mprotect(backing.data(), page_size(), PROT_NONE));

	const uint64_t gone_gpa = gone_base + 0x48, broken_gpa = broken_base + 0x650;
	g.order({load(gone_gpa, 8), load(broken_gpa, 8)});
	ASSERT_OUTCOME("guest_memfd load", Expectation::memory_fault(rules::C10, EFAULT, gone_gpa), g.run());
	gone.replace_with_memory(g.vm(), test_slot, gone_base, 0x48, 0x1122334455667788ull);
	const bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	ASSERT_OUTCOME("load from PROT_NONE memory", Expectation::unresolvable_fault(broken_gpa, promised), g.run());
}

/*
 * The file goes away after the guest mapped its page: the binding holds
 * no reference to the file (kvm_gmem_release() in virt/kvm/guest_memfd.c
 * runs at the last close, clears the memslot's file and zaps the
 * mappings KVM made from it), so the guest's next access must fault as
 * in load.
 */
TEST_F(g2_guest_memfd_gone, load_after_mapped)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_G2(g.vm());
	GoneGmemSlot gone(g.vm(), test_slot, ARCH_TEST_GPA);

	const uint64_t gpa = ARCH_TEST_GPA + 0x48;
	g.order({store(gpa, 8, 0x0123456789abcdefull), load(gpa, 8), sync_point(), load(gpa, 8)});
	ASSERT_OUTCOME("store and load while the file exists", Expectation::guest_sync(rules::G1), g.run());
	EXPECT_VALUE(rules::G1, "value the guest loaded back", 0x0123456789abcdefull, g.loaded(1));
	gone.close_file();
	ASSERT_OUTCOME("load after the close", Expectation::memory_fault(rules::C10, EFAULT, gpa), g.run());
}

/*
 * KVM_RUN again with nothing repaired reports the same fault (api.rst
 * 8.44: userspace that retries "is encouraged to guard against repeatedly
 * receiving the same error/annotated fault"); then a new memslot repairs
 * it (C12), and the guest's next exit, an MMIO store, carries its own
 * payload, not the memory fault's bytes (len = size, data = gpa, ...).
 */
TEST_F(g2_guest_memfd_gone, rerun_then_new_slot)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_G2(g.vm());
	GoneGmemSlot gone(g.vm(), test_slot, ARCH_TEST_GPA);
	gone.close_file();

	const uint64_t gpa = ARCH_TEST_GPA + 0x48, value = 0x8899aabbccddeeffull, mmio_data = 0x0706050403020100ull;
	g.order({load(gpa, 8), store(ARCH_MMIO_GPA + 0x30, 8, mmio_data)});
	const Expectation fault = Expectation::memory_fault(rules::C10, EFAULT, gpa);
	ASSERT_OUTCOME("load", fault, g.run());
	ASSERT_OUTCOME("KVM_RUN again, nothing repaired", fault, g.run());
	gone.replace_with_memory(g.vm(), test_slot, ARCH_TEST_GPA, 0x48, value);
	ASSERT_OUTCOME("MMIO store after the repair",
		       Expectation::mmio(rules::C5, ARCH_MMIO_GPA + 0x30, 8, true, mmio_data), g.run());
	EXPECT_VALUE(rules::C12, "the retried load", value, g.loaded(0));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C12), g.run());
}

/* G3: a hole punched under the guest: no exit, the page reads zero. */
KVM_FIXTURE(g3_punched_hole);

TEST_F(g3_punched_hole, load_after_punch)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page_size(), shared_flags);

	const uint64_t gpa = ARCH_TEST_GPA + page_size() + 0x18;
	g.order({store(gpa, 8, 0x1234567890abcdefull), sync_point(), load(gpa, 8)});
	ASSERT_OUTCOME("store", Expectation::guest_sync(rules::G3), g.run());
	ASSERT_EQ(0, fallocate(region.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page_size(),
			       page_size()))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("load after the punch", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "value loaded from the punched page", 0, g.loaded(2));
}

/*
 * G3, the other direction: after the punch the guest stores to the page
 * again. KVM must map the new, zeroed page: the store is seen through the
 * guest_memfd mapping and the rest of the page reads zero (a stale
 * mapping of the freed page would show neither).
 */
TEST_F(g3_punched_hole, store_after_punch)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page_size(), shared_flags);

	const uint64_t gpa = ARCH_TEST_GPA + page_size() + 0x18;
	const uint64_t value = 0x5566778899aabbccull;
	g.order({store(gpa, 8, 0x1234567890abcdefull), store(gpa + 8, 8, 0x1234567890abcdefull), sync_point(),
		 store(gpa, 8, value), load(gpa + 8, 8)});
	ASSERT_OUTCOME("stores", Expectation::guest_sync(rules::G3), g.run());
	ASSERT_EQ(0, fallocate(region.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page_size(),
			       page_size()))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("store and load after the punch", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "guest store after the punch, seen through the guest_memfd mapping", value,
		     *reinterpret_cast<uint64_t *>(region.view.data() + page_size() + 0x18));
	EXPECT_VALUE(rules::G3, "value loaded from the rest of the punched page", 0, g.loaded(4));
}

/*
 * G3: a punch frees exactly the pages asked for. The guest writes the last
 * word of the page before the hole, the hole and the first word of the
 * page after it; after the punch of the middle page it reads the hole as
 * zero and both neighbours unchanged (an inclusive/exclusive slip at
 * either end of the range shows as a zeroed neighbour byte).
 */
TEST_F(g3_punched_hole, neighbours_intact)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	const uint64_t page = page_size();
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 3 * page, shared_flags);

	const uint64_t before = ARCH_TEST_GPA + page - 8, hole = ARCH_TEST_GPA + page, after = ARCH_TEST_GPA + 2 * page;
	const uint64_t v_before = 0xa1a2a3a4a5a6a7a8ull, v_hole = 0xb1b2b3b4b5b6b7b8ull, v_after = 0xc1c2c3c4c5c6c7c8ull;
	g.order({store(before, 8, v_before), store(hole, 8, v_hole), store(after, 8, v_after), sync_point(),
		 load(before, 8), load(hole, 8), load(after, 8)});
	ASSERT_OUTCOME("stores", Expectation::guest_sync(rules::G3), g.run());
	ASSERT_EQ(0, fallocate(region.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page, page))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("loads after the punch", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "last word before the hole", v_before, g.loaded(4));
	EXPECT_VALUE(rules::G3, "first word of the hole", 0, g.loaded(5));
	EXPECT_VALUE(rules::G3, "first word after the hole", v_after, g.loaded(6));
	EXPECT_VALUE(rules::G3, "first word after the hole, through the guest_memfd mapping", v_after,
		     *reinterpret_cast<uint64_t *>(region.view.data() + 2 * page));
}

/*
 * G3: guest_memfd punches whole pages only: an offset or a length that is
 * not page aligned is refused with EINVAL (virt/kvm/guest_memfd.c
 * kvm_gmem_fallocate(); api.rst 4.142 names PUNCH_HOLE, not its limits)
 * and nothing of the page is lost.
 */
TEST_F(g3_punched_hole, unaligned_rejected)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	const uint64_t page = page_size();
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page, shared_flags);

	const uint64_t value = 0xd1d2d3d4d5d6d7d8ull;
	g.order({store(ARCH_TEST_GPA + page, 8, value), store(ARCH_TEST_GPA + page + 0x800, 8, value), sync_point(),
		 load(ARCH_TEST_GPA + page, 8), load(ARCH_TEST_GPA + page + 0x800, 8)});
	ASSERT_OUTCOME("stores", Expectation::guest_sync(rules::G3), g.run());
	const int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	EXPECT_ERRNO(rules::G3, "PUNCH_HOLE of half a page", EINVAL,
		     fallocate(region.gmem.fd(), mode, page, page / 2) ? -errno : 0);
	EXPECT_ERRNO(rules::G3, "PUNCH_HOLE from the middle of a page", EINVAL,
		     fallocate(region.gmem.fd(), mode, page + page / 2, page / 2) ? -errno : 0);
	ASSERT_OUTCOME("loads", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "first word of the page", value, g.loaded(3));
	EXPECT_VALUE(rules::G3, "word in the page's second half", value, g.loaded(4));
}

/*
 * G4: the guest_memfd allocation fails: the vCPU runs in a memory cgroup
 * whose limit the guest's stores exceed, shielded from the OOM killer, so
 * the kernel has to fail the allocation. The errnos it can give there are
 * pinned (virt/kvm/guest_memfd.c, arm64 gmem_abort, x86
 * kvm_mmu_faultin_pfn_gmem): ENOMEM, with a speculative payload when the
 * guest_memfd folio allocation failed (the RFC's case, C3: a note, a
 * failure in strict mode) or without one when an MMU memory cache top-up
 * did; EFAULT with a C1/C2 exit. Any other errno fails.
 */
KVM_FIXTURE(g4_allocation_failure);

TEST_F(g4_allocation_failure, fill)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	std::string why;
	auto cg = MemoryCgroup::enter(4u << 20, &why);
	if (!cg)
		SKIP(return, "%s", why.c_str());

	const uint64_t size = 64ull << 20;
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, size, shared_flags);
	const uint64_t pages = size / page_size();
	g.order({fill(ARCH_TEST_GPA, pages, page_size())});

	Observation obs = g.run();
	cg->lift();
	const uint64_t reached = g.loaded(0);
	log_line("the guest began " + std::to_string(reached) + " of " + std::to_string(pages) +
		 " page stores under a " + std::to_string(4) + " MiB memory.max");
	ASSERT_OUTCOME("fill", Expectation::allocation_failure(ARCH_TEST_GPA + reached * page_size()), obs);
}

/*
 * G5: bindings KVM must refuse, with nothing changed: the GPA stays
 * without a memslot (a guest load there exits as MMIO, and deleting the
 * refused slot number finds no slot), and a slot bound before is still
 * there and usable. api.rst 4.140 names no errno; they are the kernel's:
 * virt/kvm/kvm_main.c check_memory_region_flags() (no READONLY or
 * LOG_DIRTY_PAGES with KVM_MEM_GUEST_MEMFD: EINVAL),
 * __kvm_set_memory_region() (guest_memfd_offset not page aligned:
 * EINVAL; deleting a slot that does not exist: EINVAL),
 * virt/kvm/guest_memfd.c kvm_gmem_bind() (an fd that is no guest_memfd
 * of this VM, or a range past the end of the file: EINVAL) and
 * kvm_gmem_commit_memory_region() (a range already bound: EEXIST).
 * Needs KVM_CAP_GUEST_MEMFD only; the guest_memfd takes the mmap flags
 * the VM offers, so that it is one a memslot could bind (arm64 binds only
 * mmap()able guest_memfds, see tests/arm64/).
 */
KVM_FIXTURE(g5_invalid_binding);
FIXTURE_VARIANT(g5_invalid_binding) {
	const char *what;
	uint32_t flags;
	uint64_t offset_pages;
	uint64_t offset_bytes;
	bool overlap;
	bool not_guest_memfd;
	int err;
};
FIXTURE_VARIANT_ADD(g5_invalid_binding, readonly) {
	.what = "KVM_MEM_READONLY with KVM_MEM_GUEST_MEMFD", .flags = KVM_MEM_READONLY,
	.offset_pages = 0, .offset_bytes = 0, .overlap = false, .not_guest_memfd = false, .err = EINVAL };
FIXTURE_VARIANT_ADD(g5_invalid_binding, offset_past_end) {
	.what = "guest_memfd_offset + size past the end of the file", .flags = 0,
	.offset_pages = 2, .offset_bytes = 0, .overlap = false, .not_guest_memfd = false, .err = EINVAL };
FIXTURE_VARIANT_ADD(g5_invalid_binding, offset_sign_bit) {
	.what = "a guest_memfd_offset with bit 63 set (negative as a loff_t, past any file)", .flags = 0,
	.offset_pages = 0, .offset_bytes = 1ull << 63, .overlap = false, .not_guest_memfd = false, .err = EINVAL };
FIXTURE_VARIANT_ADD(g5_invalid_binding, overlapping) {
	.what = "a guest_memfd range another memslot is bound to", .flags = 0,
	.offset_pages = 0, .offset_bytes = 0, .overlap = true, .not_guest_memfd = false, .err = EEXIST };
FIXTURE_VARIANT_ADD(g5_invalid_binding, log_dirty) {
	.what = "KVM_MEM_LOG_DIRTY_PAGES with KVM_MEM_GUEST_MEMFD", .flags = KVM_MEM_LOG_DIRTY_PAGES,
	.offset_pages = 0, .offset_bytes = 0, .overlap = false, .not_guest_memfd = false, .err = EINVAL };
FIXTURE_VARIANT_ADD(g5_invalid_binding, unaligned_offset) {
	.what = "a guest_memfd_offset that is not page aligned", .flags = 0,
	.offset_pages = 0, .offset_bytes = 0x800, .overlap = false, .not_guest_memfd = false, .err = EINVAL };
FIXTURE_VARIANT_ADD(g5_invalid_binding, not_guest_memfd) {
	.what = "a memfd (not a guest_memfd) as guest_memfd", .flags = 0,
	.offset_pages = 0, .offset_bytes = 0, .overlap = false, .not_guest_memfd = true, .err = EINVAL };

TEST_F(g5_invalid_binding, rejected)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_GUEST_MEMFD, 1);
	/* Two pages: only the property under test makes a binding invalid. */
	const uint64_t gmem_flags = offered_gmem_flags(g.vm(), shared_flags);
	GuestMemfd gmem(g.vm(), 2 * page_size(), gmem_flags);
	HostMapping shared = HostMapping::anonymous(2 * page_size());
	UniqueFd memfd(memfd_create("kvm-contract-g5", MFD_CLOEXEC));
	ASSERT_LE(0, memfd.get()) TH_LOG("memfd_create: %s", errno_name(errno).c_str());
	ASSERT_EQ(0, ftruncate(memfd.get(), 2 * page_size()));

	std::optional<Memslot> first;
	const uint64_t gpa = ARCH_TEST_GPA + (variant->overlap ? 2 * page_size() : 0);
	if (variant->overlap)
		first.emplace(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, page_size(), shared);

	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot + 1;
	region.flags = KVM_MEM_GUEST_MEMFD | variant->flags;
	region.guest_phys_addr = gpa;
	region.memory_size = page_size();
	region.userspace_addr = shared.hva();
	region.guest_memfd = variant->not_guest_memfd ? memfd.get() : gmem.fd();
	region.guest_memfd_offset = variant->offset_pages * page_size() + variant->offset_bytes;
	EXPECT_ERRNO(rules::G5, variant->what, variant->err, g.vm().set_memory_region_raw(region));

	/* Nothing changed: no slot under that number, none at that GPA. */
	struct kvm_userspace_memory_region2 gone {};
	gone.slot = region.slot;
	EXPECT_ERRNO(rules::G5, "deleting the refused slot (there is none)", EINVAL,
		     g.vm().set_memory_region_raw(gone));
	if (!variant->overlap) {
		g.order({load(gpa + 0x10, 8)});
		ASSERT_OUTCOME("load where the binding was refused",
			       Expectation::mmio(rules::G5, gpa + 0x10, 8, false), g.run());
		return;
	}

	/* The first binding survives the refused overlap: the guest uses
	 * it, and binding its range again is still refused. */
	const uint64_t value = 0x13579bdf2468ace0ull;
	g.order({store(ARCH_TEST_GPA + 0x18, 8, value), load(ARCH_TEST_GPA + 0x18, 8), load(gpa + 0x10, 8)});
	ASSERT_OUTCOME("load where the binding was refused", Expectation::mmio(rules::G5, gpa + 0x10, 8, false),
		       g.run());
	EXPECT_VALUE(rules::G5, "value stored and loaded through the first binding", value, g.loaded(1));
	EXPECT_ERRNO(rules::G5, "the same overlap again (the first binding is still there)", EEXIST,
		     g.vm().set_memory_region_raw(region));
}

/* G5: KVM_CREATE_GUEST_MEMFD refuses flags it does not offer and sizes
 * that are not whole pages (kvm_gmem_create(): EINVAL). */
KVM_FIXTURE(g5_invalid_create);

TEST_F(g5_invalid_create, flags_and_size)
{
	Kvm kvm;
	Vm vm(kvm);
	REQUIRE_CAP(vm, KVM_CAP_GUEST_MEMFD, 1);
	auto create = [&vm](uint64_t size, uint64_t flags) {
		struct kvm_create_guest_memfd args {};
		args.size = size;
		args.flags = flags;
		int fd = ioctl(vm.fd(), KVM_CREATE_GUEST_MEMFD, &args);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		return -errno;
	};
	const uint64_t offered = vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS);
	EXPECT_ERRNO(rules::G5, "a flag KVM_CAP_GUEST_MEMFD_FLAGS does not offer", EINVAL,
		     create(page_size(), (1ull << 63) | offered));
	EXPECT_ERRNO(rules::G5, "a size that is not a multiple of the page size", EINVAL,
		     create(page_size() + 1, 0));
	EXPECT_ERRNO(rules::G5, "size 0", EINVAL, create(0, 0));
	EXPECT_ERRNO(rules::G5, "one page, flags 0 (valid)", 0, create(page_size(), 0));
}

KVMC_TEST_MAIN

// SPDX-License-Identifier: GPL-2.0
/* guest_memfd memslots (CONTRACT.md G1-G5; G6 is x86-only, in x86_64/). */
#include "test_util.h"

#include <cstring>
#include <map>
#include <optional>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
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
 * G1 for an instruction fetch: the guest calls code in its guest_memfd
 * memory (a return instruction the host wrote through the guest_memfd
 * mapping, on a page the guest never touched) and comes back, with no
 * exit: KVM maps the page executable on the instruction abort (arm64
 * gmem_abort()) or the NPT/shadow fault, as for a data access.
 */
TEST_F(g1_guest_memfd, fetch)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page_size(), shared_flags);

	const std::vector<uint8_t> ret = arch::return_instruction();
	memcpy(region.view.data() + page_size() + 0x40, ret.data(), ret.size());
	const uint64_t value = 0x1122334455667788ull;
	*reinterpret_cast<uint64_t *>(region.view.data() + 0x80) = value;
	g.order({fetch(ARCH_TEST_GPA + page_size() + 0x40), load(ARCH_TEST_GPA + 0x80, 8)});
	ASSERT_OUTCOME("a call into guest_memfd memory, then a load", Expectation::guest_done(rules::G1), g.run());
	EXPECT_VALUE(rules::G1, "the load after the call came back", value, g.loaded(1));
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

/* The same for a store: a shared (not private) access whatever its
 * direction, so KVM_MEMORY_EXIT_FLAG_PRIVATE stays clear (C2), and the
 * store is retried, not retired (C14). */
TEST_F(g2_guest_memfd_gone, store)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_G2(g.vm());
	GoneGmemSlot gone(g.vm(), test_slot, ARCH_TEST_GPA);
	gone.close_file();

	const uint64_t gpa = ARCH_TEST_GPA + 0x3f8;
	g.order({store(gpa, 8, 0x0123456789abcdefull)});
	ASSERT_OUTCOME("store", Expectation::memory_fault(rules::C10, EFAULT, gpa)
					.with_memory_fault_info(g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1),
		       g.run());
	EXPECT_VALUE(rules::C12, "steps completed", 0, g.completed());
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

/*
 * G1 and a move: api.rst 4.35 lets userspace move an existing memslot in
 * the guest physical address space (same slot number, new
 * guest_phys_addr), and 4.140 gives KVM_SET_USER_MEMORY_REGION2 the same
 * fields "identically", naming no exception for a guest_memfd memslot.
 * So the move succeeds and the guest finds the file's data at the new
 * GPA, the old one without a memslot (C5). The kernel refuses (guest_memfd
 * memslots are immutable); the documentation fix
 * 13-doc-guest-memfd-slot-immutable says so in 4.140, and with --doc-fix
 * the test judges by it: EINVAL, and the region where it was.
 */
KVM_FIXTURE(g1_guest_memfd_moved);

TEST_F(g1_guest_memfd_moved, after_mapped)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, page_size(), shared_flags);
	const uint64_t old_gpa = ARCH_TEST_GPA, new_gpa = ARCH_TEST_GPA + (4u << 20);
	const uint64_t value = 0x0123456789abcdefull;

	g.order({store(old_gpa + 0x30, 8, value), sync_point(), load(new_gpa + 0x30, 8), load(old_gpa + 0x30, 8)});
	ASSERT_OUTCOME("store at the old GPA", Expectation::guest_sync(rules::G1), g.run());
	if (doc_fix("13-doc-guest-memfd-slot-immutable")) {
		/* That fix's 4.140: a guest_memfd memslot can only be deleted;
		 * a move fails with EINVAL and leaves the region as it was. */
		if (!judge_errno(rules::G1, "move (refused)", EINVAL,
				 region.memslot->modify_raw(new_gpa, KVM_MEM_GUEST_MEMFD))) {
			_metadata->exit_code = KSFT_FAIL;
			return;
		}
		ASSERT_OUTCOME("new GPA after the refused move", Expectation::mmio(rules::C5, new_gpa + 0x30, 8, false),
			       g.run());
		ASSERT_OUTCOME("resume", Expectation::guest_done(rules::G1), g.complete_load_and_run(1));
		EXPECT_VALUE(rules::G1, "the file's data at the old GPA, still there", value, g.loaded(3));
		return;
	}
	log_line("api.rst 4.35: \"it may be moved in the guest physical memory space\"; neither 4.140 nor "
		 "4.142 makes an exception for a guest_memfd memslot");
	if (!judge_errno(rules::G1, "move", 0, region.memslot->modify_raw(new_gpa, KVM_MEM_GUEST_MEMFD))) {
		_metadata->exit_code = KSFT_FAIL;
		return;
	}
	ASSERT_OUTCOME("old GPA after the move", Expectation::mmio(rules::C5, old_gpa + 0x30, 8, false), g.run());
	EXPECT_VALUE(rules::G1, "the file's data at the new GPA", value, g.loaded(2));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(1));
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
 * virt/kvm/guest_memfd.c kvm_gmem_prepare_memory_region() (an fd with no
 * file behind it: EBADF; one that is no guest_memfd of this VM, or a range
 * past the end of the file: EINVAL) and
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
	bool other_vm = false;	/* a guest_memfd another VM created */
	bool no_file = false;	/* an fd number with no file behind it */
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
FIXTURE_VARIANT_ADD(g5_invalid_binding, offset_wraps) {
	.what = "a guest_memfd_offset whose range wraps past 2^64", .flags = 0,
	.offset_pages = 0, .offset_bytes = ~0ull << 12, .overlap = false, .not_guest_memfd = false, .err = EINVAL };
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
/* api.rst 4.143: "guest_memfd files are bound to their owning virtual machine". */
FIXTURE_VARIANT_ADD(g5_invalid_binding, another_vms_guest_memfd) {
	.what = "a guest_memfd another VM created", .flags = 0, .offset_pages = 0, .offset_bytes = 0,
	.overlap = false, .not_guest_memfd = false, .err = EINVAL, .other_vm = true };

FIXTURE_VARIANT_ADD(g5_invalid_binding, no_file) {
	.what = "a guest_memfd field that is no open file descriptor", .flags = 0, .offset_pages = 0,
	.offset_bytes = 0, .overlap = false, .not_guest_memfd = false, .err = EBADF, .other_vm = false,
	.no_file = true };

TEST_F(g5_invalid_binding, rejected)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_GUEST_MEMFD, 1);
	/* Two pages: only the property under test makes a binding invalid. */
	const uint64_t gmem_flags = offered_gmem_flags(g.vm(), shared_flags);
	GuestMemfd gmem(g.vm(), 2 * page_size(), gmem_flags);
	Vm other(kvm);
	GuestMemfd others(other, 2 * page_size(), gmem_flags);
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
	region.guest_memfd = variant->not_guest_memfd ? memfd.get() : variant->other_vm ? others.fd() : gmem.fd();
	if (variant->no_file)
		region.guest_memfd = 0x7fffffff; /* past any open file (RLIMIT_NOFILE) */
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

/*
 * One guest_memfd file behind several memslots, each bound at a non-zero
 * offset (CONTRACT.md, "Variants": guest_memfd bound at non-zero offsets,
 * one file bound by several memslots). api.rst 4.140 binds a memslot to
 * [guest_memfd_offset, guest_memfd_offset + memory_size) of the file, so
 * gpa reaches file offset guest_memfd_offset + (gpa - guest_phys_addr);
 * 4.142: any number of memslots may bind one file, the ranges must not
 * overlap.
 */
namespace {

/* The value of the 8-byte word at offset of a file before anyone stores:
 * the offset is in it, so a load served from the wrong file page or the
 * wrong binding names the offset it came from. */
uint64_t file_word(uint64_t offset)
{
	return 0xf11e000000000000ull | offset;
}

/* A guest_memfd of pages pages, mmap()ed by the host (view), every word
 * filled with file_word() before any memslot binds it. */
struct FilledGmem {
	FilledGmem(Vm &vm, uint64_t pages, uint64_t flags) : gmem(vm, pages * page_size(), flags), view(gmem.map())
	{
		for (uint64_t off = 0; off < view.size(); off += 8)
			word(off) = file_word(off);
	}
	uint64_t &word(uint64_t offset) { return *reinterpret_cast<uint64_t *>(view.data() + offset); }
	/* The words of the file that differ from wanted (file_word() where
	 * wanted has no entry); the first is logged. */
	uint64_t differences(const std::map<uint64_t, uint64_t> &wanted)
	{
		uint64_t count = 0;
		for (uint64_t off = 0; off < view.size(); off += 8) {
			auto it = wanted.find(off);
			const uint64_t want = it == wanted.end() ? file_word(off) : it->second;
			if (word(off) != want && count++ == 0)
				log_line("first unexpected word of the guest_memfd at offset " + hex(off) + ": " +
					 hex(word(off)) + ", wanted " + hex(want));
		}
		return count;
	}

	GuestMemfd gmem;
	HostMapping view;
};

/*
 * A memslot at gpa bound to [offset, offset + size) of gmem. Its
 * userspace_addr side is anonymous memory of its own: with
 * GUEST_MEMFD_FLAG_MMAP every fault is served from the guest_memfd
 * (api.rst 4.142), so zeros read from there would show.
 */
struct Binding {
	Binding(Vm &vm, uint32_t slot, uint64_t gpa, const GuestMemfd &gmem, uint64_t offset, uint64_t size)
		: gpa(gpa), offset(offset), size(size), shared(HostMapping::anonymous(size))
	{
		memslot.emplace(vm, slot, gpa, gmem, offset, size, shared);
	}
	/* The file offset behind guest physical address at. */
	uint64_t file_offset(uint64_t at) const { return offset + (at - gpa); }

	uint64_t gpa, offset, size;
	HostMapping shared;
	std::optional<Memslot> memslot;
};

/* Where the second binding of a file goes: another 1 GiB block on arm64
 * would need page tables the guest lacks, so 1 MiB up. */
constexpr uint64_t second_gpa = ARCH_TEST_GPA + (1u << 20);

} /* namespace */

/*
 * G1 at non-zero offsets: two memslots bound to one file, A at a_pages
 * pages into it and B at b_pages (reversed: B lower in the file than A;
 * adjacent: the two ranges touch), two pages each. The guest's stores
 * through each binding land at offset + (gpa - base) of the file and
 * nowhere else (every other word keeps its file_word()); the host's
 * stores at those offsets, before and after the guest mapped the pages,
 * are what the guest loads; the page past each memslot is no memory
 * (C5), not the file's next page.
 */
KVM_FIXTURE(g1_gmem_offsets);
FIXTURE_VARIANT(g1_gmem_offsets) { uint64_t a_pages; uint64_t b_pages; };
FIXTURE_VARIANT_ADD(g1_gmem_offsets, apart) { .a_pages = 2, .b_pages = 5 };
FIXTURE_VARIANT_ADD(g1_gmem_offsets, reversed) { .a_pages = 5, .b_pages = 2 };
FIXTURE_VARIANT_ADD(g1_gmem_offsets, adjacent) { .a_pages = 2, .b_pages = 4 };

TEST_F(g1_gmem_offsets, two_bindings)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	const uint64_t page = page_size();
	FilledGmem file(g.vm(), 8, shared_flags);
	Binding a(g.vm(), test_slot, ARCH_TEST_GPA, file.gmem, variant->a_pages * page, 2 * page);
	Binding b(g.vm(), test_slot + 1, second_gpa, file.gmem, variant->b_pages * page, 2 * page);

	const uint64_t a_first = a.gpa, a_last = a.gpa + 2 * page - 8, b_first = b.gpa, b_last = b.gpa + 2 * page - 8;
	const uint64_t a_mid = a.gpa + page + 0x20, b_mid = b.gpa + page + 0x20;
	g.order({store(a_first, 8, 0xa0a0a0a0a0a0a001ull), store(a_last, 8, 0xa0a0a0a0a0a0a002ull),
		 store(b_first, 8, 0xb0b0b0b0b0b0b001ull), store(b_last, 8, 0xb0b0b0b0b0b0b002ull),
		 load(a_mid, 8), load(b_mid, 8), load(a_last, 8), sync_point(),
		 load(a_mid, 8), load(b_mid, 8), load(a.gpa + 2 * page, 8), load(b.gpa + 2 * page, 8)});
	ASSERT_OUTCOME("stores and loads through both bindings", Expectation::guest_sync(rules::G1), g.run());
	EXPECT_VALUE(rules::G1, "host value loaded through A", file_word(a.file_offset(a_mid)), g.loaded(4));
	EXPECT_VALUE(rules::G1, "host value loaded through B", file_word(b.file_offset(b_mid)), g.loaded(5));
	EXPECT_VALUE(rules::G1, "A's last word, stored and loaded back", 0xa0a0a0a0a0a0a002ull, g.loaded(6));
	const std::map<uint64_t, uint64_t> stored{
		{a.file_offset(a_first), 0xa0a0a0a0a0a0a001ull}, {a.file_offset(a_last), 0xa0a0a0a0a0a0a002ull},
		{b.file_offset(b_first), 0xb0b0b0b0b0b0b001ull}, {b.file_offset(b_last), 0xb0b0b0b0b0b0b002ull}};
	EXPECT_VALUE(rules::G1, "words of the file other than the guest's four stores at offset + (gpa - base)", 0,
		     file.differences(stored));

	/* The host writes the pages the guest has mapped: the guest must
	 * load the new values, not its earlier view. */
	file.word(a.file_offset(a_mid)) = 0xa1a1a1a1a1a1a1a1ull;
	file.word(b.file_offset(b_mid)) = 0xb1b1b1b1b1b1b1b1ull;
	ASSERT_OUTCOME("load past A's end", Expectation::mmio(rules::C5, a.gpa + 2 * page, 8, false), g.run());
	ASSERT_OUTCOME("load past B's end", Expectation::mmio(rules::C5, b.gpa + 2 * page, 8, false),
		       g.complete_load_and_run(0x1111));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::G1), g.complete_load_and_run(0x2222));
	EXPECT_VALUE(rules::G1, "host value written after the guest mapped it, through A", 0xa1a1a1a1a1a1a1a1ull,
		     g.loaded(8));
	EXPECT_VALUE(rules::G1, "host value written after the guest mapped it, through B", 0xb1b1b1b1b1b1b1b1ull,
		     g.loaded(9));
}

/*
 * G3 at a non-zero offset: a hole punched in the first page of the
 * second binding's range (file offset 5 pages) frees that page only: no
 * exit, the guest reads zero through B there, B's second page and A's
 * pages keep what the guest stored, and a store after the punch lands
 * at B's offset in the file.
 */
KVM_FIXTURE(g3_gmem_offsets);

TEST_F(g3_gmem_offsets, punch_in_second_binding)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	const uint64_t page = page_size();
	FilledGmem file(g.vm(), 8, shared_flags);
	Binding a(g.vm(), test_slot, ARCH_TEST_GPA, file.gmem, 2 * page, 2 * page);
	Binding b(g.vm(), test_slot + 1, second_gpa, file.gmem, 5 * page, 2 * page);

	const uint64_t va = 0xa2a2a2a2a2a2a2a2ull, vb = 0xb2b2b2b2b2b2b2b2ull, vc = 0xc2c2c2c2c2c2c2c2ull;
	const uint64_t a_gpa = a.gpa + page + 0x18, hole_gpa = b.gpa + 0x18, b_gpa = b.gpa + page + 0x18;
	g.order({store(a_gpa, 8, va), store(hole_gpa, 8, vb), store(b_gpa, 8, vb), sync_point(),
		 load(hole_gpa, 8), load(b_gpa, 8), load(a_gpa, 8), load(a.gpa + 0x18, 8), store(hole_gpa + 8, 8, vc)});
	ASSERT_OUTCOME("stores through both bindings", Expectation::guest_sync(rules::G3), g.run());
	ASSERT_EQ(0, fallocate(file.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, b.offset, page))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("loads and a store after the punch", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "B's punched page, loaded through B", 0, g.loaded(4));
	EXPECT_VALUE(rules::G3, "B's second page, loaded through B", vb, g.loaded(5));
	EXPECT_VALUE(rules::G3, "A's page, loaded through A", va, g.loaded(6));
	EXPECT_VALUE(rules::G3, "A's first page, never stored to", file_word(a.file_offset(a.gpa + 0x18)),
		     g.loaded(7));

	std::map<uint64_t, uint64_t> wanted{{a.file_offset(a_gpa), va}, {b.file_offset(b_gpa), vb}};
	for (uint64_t off = b.offset; off < b.offset + page; off += 8)
		wanted[off] = 0;
	wanted[b.file_offset(hole_gpa + 8)] = vc;
	EXPECT_VALUE(rules::G3, "words of the file other than the punched page and the guest's stores", 0,
		     file.differences(wanted));
}

/*
 * G2 (C10) at non-zero offsets: the file behind two bindings goes away
 * after the guest mapped pages through both. Each access then faults
 * with a payload naming its own binding's GPA, not the other binding's
 * and not the file offset: B's first, then, B repaired with a memslot of
 * ordinary memory (C12), A's.
 */
KVM_FIXTURE(g2_gmem_offsets);

TEST_F(g2_gmem_offsets, fault_names_the_binding)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_G2(g.vm());
	const uint64_t page = page_size();
	std::optional<GuestMemfd> gmem;
	gmem.emplace(g.vm(), 8 * page,
		     GUEST_MEMFD_FLAG_MMAP | offered_gmem_flags(g.vm(), GUEST_MEMFD_FLAG_INIT_SHARED));
	Binding a(g.vm(), test_slot, ARCH_TEST_GPA, *gmem, 2 * page, 2 * page);
	Binding b(g.vm(), test_slot + 1, second_gpa, *gmem, 5 * page, 2 * page);

	const uint64_t a_gpa = a.gpa + 0x30, b_gpa = b.gpa + page + 0x48, value = 0x3344556677889900ull;
	g.order({store(a_gpa, 8, 1), store(b_gpa, 8, 2), load(a_gpa, 8), load(b_gpa, 8), sync_point(),
		 load(b_gpa, 8), load(a_gpa, 8)});
	ASSERT_OUTCOME("accesses while the file exists", Expectation::guest_sync(rules::G1), g.run());
	EXPECT_VALUE(rules::G1, "loaded back through A", 1, g.loaded(2));
	EXPECT_VALUE(rules::G1, "loaded back through B", 2, g.loaded(3));
	gmem->close();

	const bool info = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	const Expectation b_fault = Expectation::memory_fault(rules::C10, EFAULT, b_gpa).with_memory_fault_info(info);
	ASSERT_OUTCOME("load through B after the close", b_fault, g.run());
	ASSERT_OUTCOME("KVM_RUN again, nothing repaired", b_fault, g.run());

	b.memslot.reset();
	HostMapping memory = HostMapping::anonymous(2 * page);
	*reinterpret_cast<uint64_t *>(memory.data() + (b_gpa - b.gpa)) = value;
	Memslot b_repaired(g.vm(), test_slot + 1, b.gpa, memory);
	ASSERT_OUTCOME("load through A after B's repair",
		       Expectation::memory_fault(rules::C10, EFAULT, a_gpa).with_memory_fault_info(info), g.run());
	EXPECT_VALUE(rules::C12, "B's load, retried after the repair", value, g.loaded(5));
}

/*
 * G5: a second binding of one file whose range overlaps the first's is
 * refused, whatever the geometry; one that only touches it is accepted.
 * api.rst 4.142: "the bound ranges must not overlap"; the errno is the
 * kernel's (virt/kvm/guest_memfd.c kvm_gmem_commit_memory_region(): any
 * page of the new range already bound: EEXIST). The first binding covers
 * pages [3, 6) of a ten-page file; the overlapping geometries share one
 * page with it where they can, so an off-by-one in the check shows.
 * After a refusal nothing changed: there is no slot under the refused
 * number, its GPA is no memory (C5), and the first binding serves the
 * file's data and the guest's stores. After an acceptance both bindings
 * do, each at its own offsets.
 */
KVM_FIXTURE(g5_overlapping_binding);
FIXTURE_VARIANT(g5_overlapping_binding) { uint64_t first_page; uint64_t pages; bool accepted; };
FIXTURE_VARIANT_ADD(g5_overlapping_binding, before_into) { .first_page = 2, .pages = 2, .accepted = false };
FIXTURE_VARIANT_ADD(g5_overlapping_binding, inside_past) { .first_page = 5, .pages = 2, .accepted = false };
FIXTURE_VARIANT_ADD(g5_overlapping_binding, containing) { .first_page = 2, .pages = 5, .accepted = false };
FIXTURE_VARIANT_ADD(g5_overlapping_binding, contained) { .first_page = 4, .pages = 1, .accepted = false };
FIXTURE_VARIANT_ADD(g5_overlapping_binding, identical) { .first_page = 3, .pages = 3, .accepted = false };
FIXTURE_VARIANT_ADD(g5_overlapping_binding, ends_at_start) { .first_page = 1, .pages = 2, .accepted = true };
FIXTURE_VARIANT_ADD(g5_overlapping_binding, starts_at_end) { .first_page = 6, .pages = 2, .accepted = true };

TEST_F(g5_overlapping_binding, bind)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	const uint64_t page = page_size();
	FilledGmem file(g.vm(), 10, shared_flags);
	Binding first(g.vm(), test_slot, ARCH_TEST_GPA, file.gmem, 3 * page, 3 * page);

	HostMapping shared = HostMapping::anonymous(variant->pages * page);
	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot + 1;
	region.flags = KVM_MEM_GUEST_MEMFD;
	region.guest_phys_addr = second_gpa;
	region.memory_size = variant->pages * page;
	region.userspace_addr = shared.hva();
	region.guest_memfd = file.gmem.fd();
	region.guest_memfd_offset = variant->first_page * page;
	const std::string what = "binding pages [" + std::to_string(variant->first_page) + ", " +
				 std::to_string(variant->first_page + variant->pages) + ") next to a binding of [3, 6)";
	EXPECT_ERRNO(rules::G5, what.c_str(), variant->accepted ? 0 : EEXIST, g.vm().set_memory_region_raw(region));

	const uint64_t first_last = first.gpa + 3 * page - 8, second_last = second_gpa + region.memory_size - 8;
	const uint64_t v_first = 0x5151515151515151ull, v_second = 0x5252525252525252ull;
	if (!variant->accepted) {
		struct kvm_userspace_memory_region2 gone {};
		gone.slot = region.slot;
		EXPECT_ERRNO(rules::G5, "deleting the refused slot (there is none)", EINVAL,
			     g.vm().set_memory_region_raw(gone));
		g.order({load(first.gpa, 8), load(first_last, 8), store(first.gpa + page + 0x10, 8, v_first),
			 load(second_gpa + 0x10, 8)});
		ASSERT_OUTCOME("load where the binding was refused",
			       Expectation::mmio(rules::G5, second_gpa + 0x10, 8, false), g.run());
		ASSERT_OUTCOME("resume", Expectation::guest_done(rules::G5), g.complete_load_and_run(0));
		EXPECT_VALUE(rules::G5, "first word of the first binding", file_word(3 * page), g.loaded(0));
		EXPECT_VALUE(rules::G5, "last word of the first binding", file_word(6 * page - 8), g.loaded(1));
		EXPECT_VALUE(rules::G5, "words of the file other than the guest's store through the first binding", 0,
			     file.differences({{first.file_offset(first.gpa + page + 0x10), v_first}}));
		return;
	}

	g.order({load(first.gpa, 8), load(first_last, 8), load(second_gpa, 8), load(second_last, 8),
		 store(first_last, 8, v_first), store(second_gpa, 8, v_second)});
	ASSERT_OUTCOME("accesses through both bindings", Expectation::guest_done(rules::G5), g.run());
	EXPECT_VALUE(rules::G5, "first word of the first binding", file_word(3 * page), g.loaded(0));
	EXPECT_VALUE(rules::G5, "last word of the first binding", file_word(6 * page - 8), g.loaded(1));
	EXPECT_VALUE(rules::G5, "first word of the second binding", file_word(region.guest_memfd_offset),
		     g.loaded(2));
	EXPECT_VALUE(rules::G5, "last word of the second binding",
		     file_word(region.guest_memfd_offset + region.memory_size - 8), g.loaded(3));
	EXPECT_VALUE(rules::G5, "words of the file other than the guest's store through each binding", 0,
		     file.differences({{6 * page - 8, v_first}, {region.guest_memfd_offset, v_second}}));
}

KVMC_TEST_MAIN

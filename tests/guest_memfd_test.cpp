// SPDX-License-Identifier: GPL-2.0
/* guest_memfd memslots (CONTRACT.md G1-G5; G6 is x86-only, in x86_64/). */
#include "test_util.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/ioctl.h>

#include "cgroup.h"
#include "layout.h"

using namespace kvmc;

namespace {

constexpr uint64_t shared_flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

/* Why this VM cannot have a host-visible guest_memfd, or nothing. */
std::optional<std::string> no_shared_gmem(Vm &vm)
{
	if (vm.check_extension(KVM_CAP_GUEST_MEMFD) < 1)
		return "needs KVM_CAP_GUEST_MEMFD (CONFIG_KVM_GUEST_MEMFD)";
	if ((vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS) & shared_flags) != shared_flags)
		return "needs guest_memfd flags MMAP|INIT_SHARED for this VM type";
	return std::nullopt;
}

} /* namespace */

#define REQUIRE_SHARED_GMEM(vm)                                                    \
	do {                                                                       \
		if (auto why = no_shared_gmem(vm))                                 \
			SKIP(return, "%s", why->c_str());                          \
	} while (0)

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

	const size_t size = 2 * page_size();
	GuestMemfd gmem(g.vm(), size, shared_flags);
	HostMapping view = gmem.map();
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, size, view);

	const uint64_t value = 0x0123456789abcdefull;
	const uint64_t host_value = 0xfedcba9876543210ull;
	*reinterpret_cast<uint64_t *>(view.data() + page_size() + 8) = host_value;
	g.order({store(ARCH_TEST_GPA + 0x30, 8, value), load(ARCH_TEST_GPA + page_size() + 8, 8)});
	ASSERT_OUTCOME("accesses", Expectation::guest_done(rules::G1), g.run());
	EXPECT_VALUE(rules::G1, "guest store seen through the guest_memfd mapping", value,
		     *reinterpret_cast<uint64_t *>(view.data() + 0x30));
	EXPECT_VALUE(rules::G1, "host store seen by the guest", host_value, g.loaded(1));
}

/*
 * G2: the guest_memfd file is gone: its only fd closed, never mapped, so
 * KVM drops the binding. C10: -1/EFAULT with KVM_EXIT_MEMORY_FAULT.
 */
KVM_FIXTURE(g2_guest_memfd_gone);

TEST_F(g2_guest_memfd_gone, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	GuestMemfd gmem(g.vm(), page_size(), shared_flags);
	HostMapping shared = HostMapping::anonymous(page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, page_size(), shared);
	gmem.close();

	const uint64_t gpa = ARCH_TEST_GPA + 0x48;
	g.order({load(gpa, 8)});
	ASSERT_OUTCOME("load", Expectation::memory_fault(rules::C10, EFAULT, gpa)
				       .with_memory_fault_info(g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1),
		       g.run());
}

/* G3: a hole punched under the guest: no exit, the page reads zero. */
KVM_FIXTURE(g3_punched_hole);

TEST_F(g3_punched_hole, load_after_punch)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	GuestMemfd gmem(g.vm(), 2 * page_size(), shared_flags);
	HostMapping view = gmem.map();
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, 2 * page_size(), view);

	const uint64_t gpa = ARCH_TEST_GPA + page_size() + 0x18;
	g.order({store(gpa, 8, 0x1234567890abcdefull), sync_point(), load(gpa, 8)});
	ASSERT_OUTCOME("store", Expectation::guest_sync(rules::G3), g.run());
	ASSERT_EQ(0, fallocate(gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page_size(),
			       page_size()))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("load after the punch", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "value loaded from the punched page", 0, g.loaded(2));
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
	GuestMemfd gmem(g.vm(), size, shared_flags);
	HostMapping view = gmem.map();
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, size, view);
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
 * without a memslot (a guest load there exits as MMIO). The errnos are
 * the kernel's (api.rst names none): check_memory_region_flags() and
 * kvm_gmem_bind() in virt/kvm, kvm_gmem_commit_memory_region() for EEXIST.
 */
KVM_FIXTURE(g5_invalid_binding);
FIXTURE_VARIANT(g5_invalid_binding) {
	const char *what;
	uint32_t flags;
	uint64_t offset_pages;
	bool overlap;
	int err;
};
FIXTURE_VARIANT_ADD(g5_invalid_binding, readonly) {
	.what = "KVM_MEM_READONLY with KVM_MEM_GUEST_MEMFD", .flags = KVM_MEM_READONLY,
	.offset_pages = 0, .overlap = false, .err = EINVAL };
FIXTURE_VARIANT_ADD(g5_invalid_binding, offset_past_end) {
	.what = "guest_memfd_offset + size past the end of the file", .flags = 0,
	.offset_pages = 1, .overlap = false, .err = EINVAL };
FIXTURE_VARIANT_ADD(g5_invalid_binding, overlapping) {
	.what = "a guest_memfd range another memslot is bound to", .flags = 0,
	.offset_pages = 0, .overlap = true, .err = EEXIST };

TEST_F(g5_invalid_binding, rejected)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_SHARED_GMEM(g.vm());
	GuestMemfd gmem(g.vm(), page_size(), shared_flags);
	HostMapping view = gmem.map();
	std::optional<Memslot> first;
	const uint64_t gpa = ARCH_TEST_GPA + (variant->overlap ? page_size() : 0);
	if (variant->overlap)
		first.emplace(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, page_size(), view);

	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot + 1;
	region.flags = KVM_MEM_GUEST_MEMFD | variant->flags;
	region.guest_phys_addr = gpa;
	region.memory_size = page_size();
	region.userspace_addr = view.hva();
	region.guest_memfd = gmem.fd();
	region.guest_memfd_offset = variant->offset_pages * page_size();
	EXPECT_ERRNO(rules::G5, variant->what, variant->err, g.vm().set_memory_region_raw(region));

	g.order({load(gpa + 0x10, 8)});
	ASSERT_OUTCOME("load where the binding was refused", Expectation::mmio(rules::G5, gpa + 0x10, 8, false),
		       g.run());
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

// SPDX-License-Identifier: GPL-2.0
/*
 * G5 (arm64): a guest_memfd without GUEST_MEMFD_FLAG_MMAP cannot back a
 * memslot. api.rst 4.142 names no such limit; arm64 has it because no
 * arm64 VM type has private memory, so every guest_memfd memslot must be
 * guest_memfd-only (mmap()able): arch/arm64/kvm/mmu.c
 * kvm_arch_prepare_memory_region() refuses it with EINVAL. Nothing
 * changes: the GPA stays without a memslot.
 */
#include "test_util.h"

#include "layout.h"

using namespace kvmc;

KVM_FIXTURE(g5_gmem_without_mmap);

TEST_F(g5_gmem_without_mmap, rejected)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_GUEST_MEMFD, 1);
	GuestMemfd gmem(g.vm(), page_size(), 0);
	HostMapping shared = HostMapping::anonymous(page_size());

	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot;
	region.flags = KVM_MEM_GUEST_MEMFD;
	region.guest_phys_addr = ARCH_TEST_GPA;
	region.memory_size = page_size();
	region.userspace_addr = shared.hva();
	region.guest_memfd = gmem.fd();
	log_line("basis (not api.rst): arch/arm64/kvm/mmu.c kvm_arch_prepare_memory_region(): a guest_memfd "
		 "memslot that is not guest_memfd-only (no GUEST_MEMFD_FLAG_MMAP) is refused with EINVAL");
	EXPECT_ERRNO(rules::G5, "a guest_memfd created without GUEST_MEMFD_FLAG_MMAP", EINVAL,
		     g.vm().set_memory_region_raw(region));

	g.order({load(ARCH_TEST_GPA + 0x10, 8)});
	ASSERT_OUTCOME("load where the binding was refused",
		       Expectation::mmio(rules::G5, ARCH_TEST_GPA + 0x10, 8, false), g.run());
}

KVMC_TEST_MAIN

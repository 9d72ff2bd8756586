// SPDX-License-Identifier: GPL-2.0
/* guest_memfd memslots (CONTRACT.md G1). */
#include "test_util.h"

#include "layout.h"

using namespace kvmc;

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
	REQUIRE_CAP(g.vm(), KVM_CAP_GUEST_MEMFD, 1);
	const uint64_t needed = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	const uint64_t offered = g.vm().check_extension(KVM_CAP_GUEST_MEMFD_FLAGS);
	if ((offered & needed) != needed)
		SKIP(return, "needs guest_memfd flags MMAP|INIT_SHARED (%#llx), this VM offers %#llx",
		     (unsigned long long)needed, (unsigned long long)offered);

	const size_t size = 2 * page_size();
	GuestMemfd gmem(g.vm(), size, needed);
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

KVMC_TEST_MAIN

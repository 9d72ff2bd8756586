// SPDX-License-Identifier: GPL-2.0
/*
 * F6: KVM_PRE_FAULT_MEMORY under shadow paging (api.rst 4.143: "Shadow
 * page tables cannot support this ioctl because they are indexed by
 * virtual address or nested guest physical address ... will fail with
 * EOPNOTSUPP"). x86 only: kvm_amd with npt=0 (./run_tests.sh --arch
 * x86_64-shadow) makes KVM shadow the guest's page tables.
 */
#include "test_util.h"

#include <cerrno>

#include "layout.h"

using namespace kvmc;

KVM_FIXTURE(f6_shadow_paging);

/* Over guest RAM (a memslot, a valid range): EOPNOTSUPP, the range left
 * as it was. KVM_CAP_PRE_FAULT_MEMORY is 0 here (x86.c: tdp_enabled),
 * but the ioctl exists and must say why it cannot work. */
TEST_F(f6_shadow_paging, eopnotsupp)
{
	Kvm kvm;
	GuestVm g(kvm);
	if (g.vm().check_extension(KVM_CAP_PRE_FAULT_MEMORY) >= 1)
		SKIP(return, "KVM uses two-dimensional paging here (KVM_CAP_PRE_FAULT_MEMORY is 1): "
			     "shadow paging is ./run_tests.sh --arch x86_64-shadow");
	const PreFaultRange ram = {ARCH_RAM_GPA, 2 * page_size()};
	EXPECT_PRE_FAULT(g.vcpu(), "guest RAM", ram, EOPNOTSUPP, ram);
	ASSERT_OUTCOME("the guest runs", Expectation::guest_done(rules::F), g.run());
}

KVMC_TEST_MAIN

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
#include <cstdio>
#include <string>
#include <sys/utsname.h>

#include "layout.h"

using namespace kvmc;

namespace {

/* KVM_PRE_FAULT_MEMORY arrived in Linux 6.10: before it the ioctl is
 * unknown (EINVAL) and the capability 0 whatever the paging, so the
 * capability cannot tell shadow paging from an older kernel. */
bool kernel_predates_pre_fault(std::string *release)
{
	struct utsname u {};
	unsigned major = 0, minor = 0;
	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	*release = u.release;
	return major < 6 || (major == 6 && minor < 10);
}

} /* namespace */

KVM_FIXTURE(f6_shadow_paging);

/* Over guest RAM (a memslot, a valid range): EOPNOTSUPP, the range left
 * as it was. KVM_CAP_PRE_FAULT_MEMORY is 0 here (x86.c: tdp_enabled),
 * but the ioctl exists and must say why it cannot work. */
TEST_F(f6_shadow_paging, eopnotsupp)
{
	Kvm kvm;
	GuestVm g(kvm);
	std::string release;
	if (kernel_predates_pre_fault(&release))
		SKIP(return, "kernel %s predates KVM_PRE_FAULT_MEMORY (6.10)", release.c_str());
	if (g.vm().check_extension(KVM_CAP_PRE_FAULT_MEMORY) >= 1)
		SKIP(return, "KVM uses two-dimensional paging here (KVM_CAP_PRE_FAULT_MEMORY is 1): "
			     "shadow paging is ./run_tests.sh --arch x86_64-shadow");
	const PreFaultRange ram = {ARCH_RAM_GPA, 2 * page_size()};
	EXPECT_PRE_FAULT(g.vcpu(), "guest RAM", ram, EOPNOTSUPP, ram);
	ASSERT_OUTCOME("the guest runs", Expectation::guest_done(rules::F), g.run());
}

KVMC_TEST_MAIN

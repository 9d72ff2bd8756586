// SPDX-License-Identifier: GPL-2.0
/* K3 (arm64): KVM_RUN on a vCPU that never had KVM_ARM_VCPU_INIT. */
#include "test_util.h"

using namespace kvmc;

KVM_FIXTURE(k3_no_vcpu_init);

TEST_F(k3_no_vcpu_init, run)
{
	Kvm kvm;
	Vm vm(kvm);
	Vcpu vcpu(vm, 0);
	EXPECT_OUTCOME("run", Expectation::error(rules::K3, ENOEXEC), vcpu.observe(run_limit_ms()));
}

KVMC_TEST_MAIN

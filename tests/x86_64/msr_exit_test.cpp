// SPDX-License-Identifier: GPL-2.0
/*
 * MSR accesses KVM hands to userspace (api.rst 5 "KVM_EXIT_X86_RDMSR /
 * KVM_EXIT_X86_WRMSR", 7.21 KVM_CAP_X86_USER_SPACE_MSR): with
 * KVM_MSR_EXIT_REASON_UNKNOWN enabled, RDMSR or WRMSR of an MSR KVM does
 * not know exits with msr.reason, msr.index and (for WRMSR) msr.data =
 * EDX:EAX. The next KVM_RUN finishes the instruction: an answered RDMSR
 * leaves msr.data in EDX:EAX and the guest goes on after it; msr.error = 1
 * is a #GP(0) at the instruction, which has not retired (the APM: RDMSR
 * and WRMSR of an unsupported MSR raise #GP(0)). Without the capability,
 * the guest takes that #GP with no exit.
 */
#include "test_util.h"

#include <optional>
#include <string>

#include "layout.h"
#include "x86_64/exception.h"
#include "x86_64/forced_emulation.h"

using namespace kvmc;

namespace {

constexpr Rule msr_rule{"C14", "api.rst 5 \"KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR\", 7.21 KVM_CAP_X86_USER_SPACE_MSR"};
/* An index no MSR range KVM emulates contains. */
constexpr uint32_t unknown_msr = 0x53554954;
constexpr uint64_t msr_value = 0x1122334455667788ull;
constexpr uint64_t gp_vector = 13;

/* kvm.ignore_msrs makes KVM answer unknown MSRs itself. */
bool kvm_ignores_msrs()
{
	const std::optional<std::string> value = module_param("kvm", "ignore_msrs");
	return value && param_set(*value);
}

GuestException general_protection(const char *what)
{
	GuestException x = x86::invalid_opcode(what);
	x.vector = gp_vector;
	return x;
}

} /* namespace */

KVM_FIXTURE(msr_exit);
FIXTURE_VARIANT(msr_exit) { bool write; bool refuse; bool forced; };
FIXTURE_VARIANT_ADD(msr_exit, rdmsr_answered) { .write = false, .refuse = false, .forced = false };
FIXTURE_VARIANT_ADD(msr_exit, rdmsr_refused) { .write = false, .refuse = true, .forced = false };
FIXTURE_VARIANT_ADD(msr_exit, wrmsr_answered) { .write = true, .refuse = false, .forced = false };
FIXTURE_VARIANT_ADD(msr_exit, wrmsr_refused) { .write = true, .refuse = true, .forced = false };
/* RDMSR run by KVM's instruction emulator (the forced-emulation prefix):
 * the same exit and the same ending, reached through the emulator's
 * completion (msrs.c complete_emulated_rdmsr(), not the intercept's). */
FIXTURE_VARIANT_ADD(msr_exit, emulated_rdmsr_answered) { .write = false, .refuse = false, .forced = true };
FIXTURE_VARIANT_ADD(msr_exit, emulated_rdmsr_refused) { .write = false, .refuse = true, .forced = true };

TEST_F(msr_exit, unknown_msr)
{
	Kvm kvm;
	GuestVm g(kvm);
	if (kvm_ignores_msrs())
		SKIP(return, "kvm.ignore_msrs is set: KVM answers unknown MSRs itself");
	std::string why;
	if (variant->forced && !x86::forced_emulation_enabled(&why))
		SKIP(return, "%s", why.c_str());
	REQUIRE_CAP(g.vm(), KVM_CAP_X86_USER_SPACE_MSR, 1);
	ASSERT_EQ(0, g.vm().enable_cap(KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_UNKNOWN));
	g.order({variant->write ? wrmsr(unknown_msr, msr_value)
				: variant->forced ? forced_rdmsr(unknown_msr) : rdmsr(unknown_msr),
		 sync_point()});
	log_line("basis: api.rst 5 \"KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR\"");
	Observation exit = g.run();
	const uint32_t reason = variant->write ? KVM_EXIT_X86_WRMSR : KVM_EXIT_X86_RDMSR;
	ASSERT_VALUE(msr_rule, "KVM_RUN return value", 0, exit.ret);
	ASSERT_VALUE(msr_rule, variant->write ? "exit_reason (KVM_EXIT_X86_WRMSR)" : "exit_reason (KVM_EXIT_X86_RDMSR)",
		     reason, exit.exit_reason());
	EXPECT_VALUE(msr_rule, "msr.reason (KVM_MSR_EXIT_REASON_UNKNOWN)", KVM_MSR_EXIT_REASON_UNKNOWN,
		     exit.run.msr.reason);
	EXPECT_VALUE(msr_rule, "msr.index", unknown_msr, exit.run.msr.index);
	if (variant->write)
		EXPECT_VALUE(msr_rule, "msr.data (EDX:EAX)", msr_value, exit.run.msr.data);
	ASSERT_TRUE(exit.access.has_value());

	struct kvm_run *run = g.vcpu().shared();
	run->msr.error = variant->refuse ? 1 : 0;
	if (!variant->write)
		run->msr.data = msr_value;
	Observation after = g.run();
	if (variant->refuse) {
		ASSERT_OUTCOME("after msr.error = 1",
			       Expectation::guest_exception(msr_rule, general_protection("#GP(0) at the MSR access")),
			       after);
		return;
	}
	ASSERT_OUTCOME("after the answer", Expectation::guest_sync(msr_rule), after);
	EXPECT_VALUE(msr_rule, "steps completed", 1, g.completed());
	if (!variant->write)
		EXPECT_VALUE(msr_rule, "EDX:EAX after RDMSR (msr.data)", msr_value, g.loaded(0));
}

/* The control: the same accesses without the capability, #GP(0). */
KVM_FIXTURE(msr_unknown);
FIXTURE_VARIANT(msr_unknown) { bool write; };
FIXTURE_VARIANT_ADD(msr_unknown, rdmsr) { .write = false };
FIXTURE_VARIANT_ADD(msr_unknown, wrmsr) { .write = true };

TEST_F(msr_unknown, without_user_space_msr)
{
	Kvm kvm;
	GuestVm g(kvm);
	if (kvm_ignores_msrs())
		SKIP(return, "kvm.ignore_msrs is set: KVM answers unknown MSRs itself");
	g.order({variant->write ? wrmsr(unknown_msr, msr_value) : rdmsr(unknown_msr)});
	ASSERT_OUTCOME("an unknown MSR",
		       Expectation::guest_exception(msr_rule, general_protection("#GP(0) at the MSR access"))
			       .because("arch/x86/kvm/x86.c: an MSR KVM does not handle is #GP(0) unless "
					"userspace asked for it (kvm_msr_user_space())"),
		       g.run());
}

KVMC_TEST_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * SErrors userspace makes pending (api.rst 4.31 KVM_GET_VCPU_EVENTS and
 * 4.32 KVM_SET_VCPU_EVENTS, arm64), the way a VMM reports an error of a
 * device it emulates, and the UNDEF KVM gives back for an instruction it
 * traps and has no handler for. C14: every field of what the guest
 * takes, against the Arm ARM.
 *
 * The ESR userspace gives is the ISS (api.rst: "the lower 24 bits of
 * exception.serror_esr"); the guest must see EC 0x2f (SError
 * interrupt), IL (RES1 for an SError) and that ISS. api.rst says 24
 * bits where the Arm ARM's ISS has 25 (bit 24, IDS, included) and the
 * kernel accepts 25 (guest.c: ESR_ELx_ISS_MASK): the ISS used here stays
 * below bit 24, and only bits the two agree are outside it are refused.
 *
 * When it is taken: the Arm ARM's routing. A guest at EL1 takes it once
 * PSTATE.A is clear. A guest hypervisor (arm64-nested) at EL2 with
 * HCR_EL2.AMO set takes it once A is clear, and from its nested context
 * whatever that context's A; with AMO clear it may or may not (below).
 */
#include "test_util.h"

#include <cerrno>
#include <sys/ioctl.h>

#include "arch.h"
#include "arm64/abort.h"
#include "layout.h"

using namespace kvmc;

namespace {

/* An ISS below bit 24 with bits set in every byte. */
constexpr uint64_t iss = 0x1d1ed;
constexpr uint64_t pattern = 0x8877665544332211ull;

int set_serror(Vcpu &vcpu, uint64_t esr, bool has_esr = true)
{
	struct kvm_vcpu_events events {};
	events.exception.serror_pending = 1;
	events.exception.serror_has_esr = has_esr;
	events.exception.serror_esr = esr;
	return ioctl(vcpu.fd(), KVM_SET_VCPU_EVENTS, &events) ? -errno : 0;
}

struct kvm_vcpu_events get_events(Vcpu &vcpu)
{
	struct kvm_vcpu_events events {};
	if (ioctl(vcpu.fd(), KVM_GET_VCPU_EVENTS, &events))
		die("KVM_GET_VCPU_EVENTS: %s", errno_name(errno).c_str());
	return events;
}

std::optional<std::string> no_serror_esr(const Kvm &kvm)
{
	if (kvm.check_extension(KVM_CAP_VCPU_EVENTS) < 1)
		return "needs KVM_CAP_VCPU_EVENTS";
	if (kvm.check_extension(KVM_CAP_ARM_INJECT_SERROR_ESR) < 1)
		return "KVM_CAP_ARM_INJECT_SERROR_ESR is 0 (no FEAT_RAS): the guest's ESR is KVM's choice";
	return std::nullopt;
}

#define REQUIRE_SERROR_ESR(kvm)                                                    \
	do {                                                                       \
		if (auto why = no_serror_esr(kvm))                                 \
			SKIP(return, "%s", why->c_str());                          \
	} while (0)

#define GUEST_HYPERVISOR(kvm, g)                                                   \
	Kvm kvm;                                                                   \
	REQUIRE_SERROR_ESR(kvm);                                                   \
	if (auto why = arch::hypervisor_unavailable(kvm))                          \
		SKIP(return, "%s", why->c_str());                                  \
	GuestVm g(kvm, GuestVm::hypervisor)

const char *const pending_basis = "api.rst 4.31/4.32 (arm64): serror_pending, serror_esr's ISS; the Arm ARM: a "
				  "pending SError is taken when PSTATE.A is clear at the EL it targets";

/* The SError is pending as set: KVM_GET_VCPU_EVENTS reports it, with the
 * ISS (api.rst 4.31: has_esr "will always have a non-zero value when
 * read" where KVM_CAP_ARM_INJECT_SERROR_ESR is offered). */
void expect_pending(struct __test_metadata *_metadata, Vcpu &vcpu, const char *when)
{
	struct kvm_vcpu_events e = get_events(vcpu);
	EXPECT_VALUE(rules::C14, (std::string("serror_pending ") + when).c_str(), 1, e.exception.serror_pending);
	EXPECT_TRUE(e.exception.serror_has_esr != 0) TH_LOG("serror_has_esr is 0 %s", when);
	EXPECT_VALUE(rules::C14, (std::string("serror_esr ") + when).c_str(), iss, e.exception.serror_esr);
}

} /* namespace */

/*
 * At EL1 with PSTATE.A set the SError waits: KVM_GET_VCPU_EVENTS shows
 * it, and the guest takes it at the instruction that clears A.
 */
KVM_FIXTURE(serror_injected);

TEST_F(serror_injected, pending_until_unmasked)
{
	Kvm kvm;
	REQUIRE_SERROR_ESR(kvm);
	GuestVm g(kvm);
	g.order({sync_point(), serror_unmask(), sync_point()});
	ASSERT_OUTCOME("to the sync point", Expectation::guest_sync(rules::guest), g.run());
	EXPECT_VALUE(rules::C14, "serror_pending before any is set", 0, get_events(g.vcpu()).exception.serror_pending);
	ASSERT_EQ(0, set_serror(g.vcpu(), iss)) TH_LOG("KVM_SET_VCPU_EVENTS(serror_pending)");
	expect_pending(_metadata, g.vcpu(), "while PSTATE.A is set");
	ASSERT_OUTCOME("PSTATE.A cleared", arch::injected_serror(rules::C14, iss, false, pending_basis), g.run());
	EXPECT_VALUE(rules::C14, "steps completed (the SError came at the unmasking)", 1, g.completed());
	EXPECT_VALUE(rules::C14, "serror_pending once taken", 0, get_events(g.vcpu()).exception.serror_pending);
}

/* With PSTATE.A already clear the guest takes it on its next instruction. */
TEST_F(serror_injected, unmasked)
{
	Kvm kvm;
	REQUIRE_SERROR_ESR(kvm);
	GuestVm g(kvm);
	g.order({serror_unmask(), sync_point(), sync_point()});
	ASSERT_OUTCOME("to the sync point", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_EQ(0, set_serror(g.vcpu(), iss)) TH_LOG("KVM_SET_VCPU_EVENTS(serror_pending)");
	ASSERT_OUTCOME("next run", arch::injected_serror(rules::C14, iss, false, pending_basis), g.run());
	EXPECT_VALUE(rules::C14, "steps completed (nothing after the sync point)", 1, g.completed());
}

/*
 * api.rst 4.32: "Setting anything other than the lower 24bits of
 * exception.serror_esr will return -EINVAL". Nothing becomes pending.
 */
TEST_F(serror_injected, esr_outside_iss_refused)
{
	Kvm kvm;
	REQUIRE_SERROR_ESR(kvm);
	GuestVm g(kvm);
	const uint64_t bad[] = {iss | 1ull << 25 /* IL */, iss | 0x2full << 26 /* EC */, 1ull << 32};
	for (uint64_t esr : bad) {
		int r = set_serror(g.vcpu(), esr);
		EXPECT_ERRNO(rules::C14, ("KVM_SET_VCPU_EVENTS with serror_esr " + hex(esr)).c_str(), EINVAL, r);
	}
	EXPECT_VALUE(rules::C14, "serror_pending after the refusals", 0, get_events(g.vcpu()).exception.serror_pending);
	g.order({serror_unmask()});
	ASSERT_OUTCOME("run, A clear", Expectation::guest_done(rules::C14), g.run());
}

/*
 * An instruction the CPU leaves UNDEFINED and KVM traps (an MRS of an
 * IMPLEMENTATION DEFINED register, HCR_EL2.TIDCP): the guest takes the
 * UNDEF at the instruction, as without KVM.
 */
KVM_FIXTURE(undefined_instruction);

TEST_F(undefined_instruction, implementation_defined_register)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({undefined_instruction()});
	ASSERT_OUTCOME("MRS S3_0_C15_C0_0",
		       arch::undefined_instruction(rules::C14,
						   "the Arm ARM: an unallocated or IMPLEMENTATION DEFINED register the "
						   "CPU lacks is UNDEFINED; arch/arm64/kvm/sys_regs.c "
						   "emulate_sys_reg(): no descriptor, kvm_inject_undefined()"),
		       g.run());
	EXPECT_VALUE(rules::C14, "steps completed", 0, g.completed());
}

/*
 * A guest hypervisor (arm64-nested) at EL2 with HCR_EL2.{E2H,TGE} =
 * {1,0} and AMO clear clears PSTATE.A. The Arm ARM (DDI0487L.b, known
 * issue D22105) leaves it IMPLEMENTATION DEFINED whether the effective
 * AMO at EL2 is then as programmed (the SError targets EL1: not taken
 * at EL2, still pending) or 1 (taken at EL2). Either is judged in full;
 * KVM chooses 1 (kvm_emulate.h vcpu_el2_amo_is_set()).
 */
KVM_FIXTURE(serror_at_el2);

TEST_F(serror_at_el2, e2h_without_amo)
{
	GUEST_HYPERVISOR(kvm, g);
	g.order({sync_point(), serror_unmask(), level()});
	ASSERT_OUTCOME("to the sync point", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_EQ(0, set_serror(g.vcpu(), iss)) TH_LOG("KVM_SET_VCPU_EVENTS(serror_pending)");
	Observation obs = g.run();
	if (obs.call && obs.call->kind == GuestCallKind::done) {
		log_line("not taken at EL2: the effective HCR_EL2.AMO is as programmed");
		EXPECT_VALUE(rules::C14, "exception level", 2, g.loaded(2));
		expect_pending(_metadata, g.vcpu(), "after the program ended at EL2");
		return;
	}
	ASSERT_OUTCOME("A cleared at EL2 (the effective HCR_EL2.AMO is 1)",
		       arch::injected_serror(rules::C14, iss, true,
					     "the Arm ARM, known issue D22105: with HCR_EL2.{E2H,TGE} = {1,0} the "
					     "effective AMO at EL2 may be 1; then as routed to EL2"),
		       obs);
	EXPECT_VALUE(rules::C14, "steps completed (the SError came at the unmasking)", 1, g.completed());
}

/* Routed to EL2 (HCR_EL2.AMO) with A set: pending until A is cleared. */
TEST_F(serror_at_el2, routed_pending_until_unmasked)
{
	GUEST_HYPERVISOR(kvm, g);
	g.order({serror_route_to_el2(), sync_point(), serror_unmask(true), sync_point()});
	ASSERT_OUTCOME("to the sync point", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_EQ(0, set_serror(g.vcpu(), iss)) TH_LOG("KVM_SET_VCPU_EVENTS(serror_pending)");
	expect_pending(_metadata, g.vcpu(), "while PSTATE.A is set");
	ASSERT_OUTCOME("A cleared at EL2", arch::injected_serror(rules::C14, iss, true, pending_basis), g.run());
	EXPECT_VALUE(rules::C14, "steps completed (the SError came at the unmasking)", 2, g.completed());
}

/* Routed to EL2 with A clear: taken on the next instruction. */
TEST_F(serror_at_el2, routed_unmasked)
{
	GUEST_HYPERVISOR(kvm, g);
	g.order({serror_unmask(true), sync_point(), sync_point()});
	ASSERT_OUTCOME("to the sync point", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_EQ(0, set_serror(g.vcpu(), iss)) TH_LOG("KVM_SET_VCPU_EVENTS(serror_pending)");
	ASSERT_OUTCOME("next run", arch::injected_serror(rules::C14, iss, true, pending_basis), g.run());
	EXPECT_VALUE(rules::C14, "steps completed (nothing after the sync point)", 1, g.completed());
}

/*
 * Set while the nested context waits on an MMIO load (its A set, as
 * the guest hypervisor entered it). Routed to EL2 (HCR_EL2.AMO): the
 * guest hypervisor takes it from the nested context at once, PSTATE.A of
 * EL1 does not mask an SError taken to EL2; the load never completes.
 * Not routed: it targets the nested context's EL1, where A masks it; the
 * load completes, the context returns to EL2, and there the SError is
 * still not taken and still pending.
 */
KVM_FIXTURE(serror_nested_context);
FIXTURE_VARIANT(serror_nested_context) { bool routed; };
FIXTURE_VARIANT_ADD(serror_nested_context, routed_to_el2) { .routed = true };
FIXTURE_VARIANT_ADD(serror_nested_context, not_routed) { .routed = false };

TEST_F(serror_nested_context, during_mmio_load)
{
	/* 7.3.4 injects the routed one from the ioctl with the vCPU not
	 * loaded (kvm_inject_nested() puts and loads it): an oops. */
	if (variant->routed)
		REQUIRE_DESTRUCTIVE_FOR("can oops a kernel without fix 17-arm64-nv-set-events-inject");
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = 0x2040;
	g.order({nested_load(ARCH_NESTED_WINDOW_IPA + offset, variant->routed ? guest::nested_route_serror : 0), level()});
	ASSERT_OUTCOME("nested load", Expectation::mmio(rules::C5, ARCH_TEST_GPA + offset, 8, false), g.run());
	ASSERT_EQ(0, set_serror(g.vcpu(), iss)) TH_LOG("KVM_SET_VCPU_EVENTS(serror_pending)");
	Observation next = g.complete_load_and_run(pattern);
	if (variant->routed) {
		ASSERT_OUTCOME("after the SError",
			       arch::forwarded_serror(rules::C14, iss,
						      "the Arm ARM: with HCR_EL2.AMO an SError from EL1 is taken to EL2, "
						      "unmasked by EL1's PSTATE.A; api.rst 4.32 serror_esr's ISS"),
			       next);
		EXPECT_VALUE(rules::C14, "steps completed", 0, g.completed());
		return;
	}
	ASSERT_OUTCOME("after the load",
		       Expectation::guest_done(rules::C14)
			       .because("the Arm ARM: without HCR_EL2.{AMO,TGE} the SError targets EL1, masked "
					"there by PSTATE.A, and is not taken at EL2"),
		       next);
	EXPECT_VALUE(rules::C5, "value the nested context loaded", pattern, g.loaded(0));
	expect_pending(_metadata, g.vcpu(), "after the program ended at EL2");
}

/*
 * Set while the guest hypervisor runs at EL2 with PSTATE.A set, before it
 * enters its nested context. Routed to EL2 (HCR_EL2.AMO for the nested
 * run): once the nested context runs, EL1's A no longer masks it, and the
 * guest hypervisor takes it from the context before its first
 * instruction (the load, which never happens). Not routed: it targets
 * the context's EL1, where A masks it; the load exits, completes, and
 * the SError is still pending at the end.
 */
KVM_FIXTURE(serror_entering_nested_context);
FIXTURE_VARIANT(serror_entering_nested_context) { bool routed; };
FIXTURE_VARIANT_ADD(serror_entering_nested_context, routed_to_el2) { .routed = true };
FIXTURE_VARIANT_ADD(serror_entering_nested_context, not_routed) { .routed = false };

TEST_F(serror_entering_nested_context, pending_at_el2)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = 0x2040;
	g.order({sync_point(),
		 nested_load(ARCH_NESTED_WINDOW_IPA + offset, variant->routed ? guest::nested_route_serror : 0), level()});
	ASSERT_OUTCOME("to the sync point", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_EQ(0, set_serror(g.vcpu(), iss)) TH_LOG("KVM_SET_VCPU_EVENTS(serror_pending)");
	expect_pending(_metadata, g.vcpu(), "at EL2 with PSTATE.A set");
	Observation obs = g.run();
	if (variant->routed) {
		ASSERT_OUTCOME("entering the nested context",
			       arch::forwarded_serror(rules::C14, iss,
						      "the Arm ARM: with HCR_EL2.AMO a pending SError is taken to EL2 "
						      "as soon as EL1 runs, unmasked by EL1's PSTATE.A"),
			       obs);
		EXPECT_VALUE(rules::C14, "steps completed", 1, g.completed());
		return;
	}
	ASSERT_OUTCOME("nested load", Expectation::mmio(rules::C5, ARCH_TEST_GPA + offset, 8, false), obs);
	ASSERT_OUTCOME("after the load",
		       Expectation::guest_done(rules::C14)
			       .because("the Arm ARM: without HCR_EL2.{AMO,TGE} the SError targets EL1, masked "
					"there by PSTATE.A"),
		       g.complete_load_and_run(pattern));
	EXPECT_VALUE(rules::C5, "value the nested context loaded", pattern, g.loaded(1));
	expect_pending(_metadata, g.vcpu(), "after the program ended at EL2");
}

KVMC_TEST_MAIN

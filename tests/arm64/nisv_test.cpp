// SPDX-License-Identifier: GPL-2.0
/*
 * M2 (arm64): a data abort outside every memslot with no valid syndrome
 * (LDP/STP, or a load with writeback: KVM cannot tell userspace what the
 * access was). C6: -1/ENOSYS, unless userspace enabled
 * KVM_CAP_ARM_NISV_TO_USER; then 0 with KVM_EXIT_ARM_NISV at the GPA, the
 * valid ESR_EL2 bits in esr_iss (the write bit among them), and the PC
 * not advanced past the access.
 */
#include "test_util.h"

#include "layout.h"

using namespace kvmc;

namespace {

enum class Form { load_pair, store_pair, load_writeback };

guest::Step access(Form form, uint64_t gpa)
{
	switch (form) {
	case Form::load_pair:
		return load_pair(gpa);
	case Form::store_pair:
		return store_pair(gpa, 0x1122334455667788ull);
	case Form::load_writeback:
		return load_writeback(gpa);
	}
	return load_pair(gpa);
}

/* api.rst says "the valid bits from the ESR_EL2"; which ones they are is
 * the kernel's choice. */
const char *const esr_iss_basis =
	"esr_iss: io_mem_abort() (arch/arm64/kvm/mmio.c) sends kvm_vcpu_dabt_iss_nisv_sanitized() "
	"(arch/arm64/include/asm/kvm_emulate.h): ESR_EL2 & (CM | WnR | DFSC)";

} /* namespace */

KVM_FIXTURE(m2_no_syndrome);
FIXTURE_VARIANT(m2_no_syndrome) { Form form; bool is_write; };
FIXTURE_VARIANT_ADD(m2_no_syndrome, load_pair) { .form = Form::load_pair, .is_write = false };
FIXTURE_VARIANT_ADD(m2_no_syndrome, store_pair) { .form = Form::store_pair, .is_write = true };
/* LDR x, [x], #8 (post-index): the writeback leaves ISV clear. */
FIXTURE_VARIANT_ADD(m2_no_syndrome, load_writeback) { .form = Form::load_writeback, .is_write = false };

TEST_F(m2_no_syndrome, nisv_off)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x300;
	g.order({access(variant->form, gpa)});
	ASSERT_OUTCOME("access", Expectation::error(rules::C6, ENOSYS), g.run());
}

TEST_F(m2_no_syndrome, nisv_on)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_ARM_NISV_TO_USER, 1);
	int r = g.vm().enable_cap(KVM_CAP_ARM_NISV_TO_USER);
	ASSERT_EQ(0, r) TH_LOG("KVM_ENABLE_CAP(KVM_CAP_ARM_NISV_TO_USER): %s", errno_name(-r).c_str());

	const uint64_t gpa = ARCH_MMIO_GPA + 0x308;
	g.order({access(variant->form, gpa)});
	const Expectation nisv = Expectation::nisv(gpa, variant->is_write).because(esr_iss_basis);
	Observation first = g.run();
	ASSERT_OUTCOME("access", nisv, first);

	/* Not advanced: run again and the same instruction faults again. */
	Observation again = g.run();
	ASSERT_OUTCOME("access again", nisv, again);
	ASSERT_TRUE(first.pc && again.pc);
	EXPECT_VALUE(rules::C6, "pc after the second exit (not advanced)", *first.pc, *again.pc);
	EXPECT_VALUE(rules::C6, "steps completed", 0, g.completed());
}

KVMC_TEST_MAIN

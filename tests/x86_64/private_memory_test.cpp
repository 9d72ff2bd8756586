// SPDX-License-Identifier: GPL-2.0
/*
 * G6 (x86): a private/shared mismatch on a VM type with private memory.
 * On KVM_X86_SW_PROTECTED_VM a fault is private exactly when its gfn has
 * KVM_MEMORY_ATTRIBUTE_PRIVATE (arch/x86/kvm/mmu/mmu.c,
 * kvm_mmu_page_fault); a private fault on a memslot without a guest_memfd
 * cannot be served (kvm_mmu_faultin_pfn_gmem): C1, C2 with the PRIVATE
 * flag. Skips where the VM type is not offered (Debian builds without
 * CONFIG_KVM_SW_PROTECTED_VM).
 */
#include "test_util.h"

#include <optional>
#include <sys/ioctl.h>

#include "layout.h"

using namespace kvmc;

namespace {

/* A G6 test: where the private page is and what the guest does. */
struct PrivateLoad {
	const char *step;	/* the name of the run that loads */
	uint64_t gpa;		/* the load's address, in the page at ARCH_TEST_GPA */
	bool in_memslot;	/* the page is in a memslot of ordinary memory (no guest_memfd) */
	bool after_mmio;	/* the guest makes an MMIO exit before the load */
};

/*
 * On KVM_X86_SW_PROTECTED_VM, with the page at ARCH_TEST_GPA made private
 * (KVM_SET_MEMORY_ATTRIBUTES), the guest loads 8 bytes at t.gpa: a
 * private fault that cannot be served, C1 and C2 with the PRIVATE flag.
 */
void private_load(struct __test_metadata *_metadata, const PrivateLoad &t)
{
	Kvm kvm;
	const int types = kvm.check_extension(KVM_CAP_VM_TYPES);
	if (!(types & (1 << KVM_X86_SW_PROTECTED_VM)))
		SKIP(return, "KVM_CAP_VM_TYPES is %#x: no KVM_X86_SW_PROTECTED_VM "
			     "(CONFIG_KVM_SW_PROTECTED_VM), no VM type with private memory", types);
	GuestVm g(kvm, KVM_X86_SW_PROTECTED_VM);
	REQUIRE_CAP(g.vm(), KVM_CAP_MEMORY_ATTRIBUTES, KVM_MEMORY_ATTRIBUTE_PRIVATE);
	HostMapping backing;
	std::optional<Memslot> slot;
	if (t.in_memslot) {
		backing = HostMapping::anonymous(page_size());
		slot.emplace(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	}

	struct kvm_memory_attributes attrs {};
	attrs.address = ARCH_TEST_GPA;
	attrs.size = page_size();
	attrs.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	ASSERT_EQ(0, ioctl(g.vm().fd(), KVM_SET_MEMORY_ATTRIBUTES, &attrs))
		TH_LOG("KVM_SET_MEMORY_ATTRIBUTES: %s", errno_name(errno).c_str());

	const Expectation fault = Expectation::memory_fault(rules::C2, EFAULT, t.gpa, true);
	if (!t.after_mmio) {
		g.order({load(t.gpa, 8)});
		ASSERT_OUTCOME(t.step, fault, g.run());
		return;
	}
	/* As memory_fault the MMIO exit leaves flags without PRIVATE (and
	 * with undefined bits), a gpa far away and size 1. */
	g.order({stale_mmio_load(), load(t.gpa, 8)});
	ASSERT_OUTCOME("MMIO load", Expectation::mmio(rules::C5, stale_mmio_gpa, 1, false), g.run());
	ASSERT_OUTCOME(t.step, fault, g.complete_load_and_run(stale_mmio_value));
}

} /* namespace */

KVM_FIXTURE(g6_private_mismatch);

TEST_F(g6_private_mismatch, load)
{
	private_load(_metadata, {.step = "private load", .gpa = ARCH_TEST_GPA + 0x28, .in_memslot = true,
				 .after_mmio = false});
}

/* G6 after an MMIO exit of the same vCPU: flags (PRIVATE), gpa and size
 * must all be written, none left from the MMIO exit's union bytes. */
TEST_F(g6_private_mismatch, load_after_mmio)
{
	private_load(_metadata, {.step = "private load", .gpa = ARCH_TEST_GPA + 0x28, .in_memslot = true,
				 .after_mmio = true});
}

/* G6 where no memslot is: a private access cannot be emulated MMIO
 * (emulated MMIO is shared-only), so KVM exits with the PRIVATE memory
 * fault instead of KVM_EXIT_MMIO (kvm_handle_noslot_fault(),
 * arch/x86/kvm/mmu/mmu.c): C1, C2 with the PRIVATE flag. */
TEST_F(g6_private_mismatch, no_memslot)
{
	private_load(_metadata, {.step = "private load where no memslot is", .gpa = ARCH_TEST_GPA + 0x30,
				 .in_memslot = false, .after_mmio = false});
}

KVMC_TEST_MAIN

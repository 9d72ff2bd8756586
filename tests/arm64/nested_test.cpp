// SPDX-License-Identifier: GPL-2.0
/*
 * Nested virtualization (CONTRACT.md N, arm64 FEAT_NV2): the guest is a
 * hypervisor (KVM_ARM_VCPU_HAS_EL2) that runs nested contexts at EL1.
 *
 * N1-N6: the guest hypervisor's VNCR page. With its HCR_EL2.{NV,NV2} set
 * for a nested context, that context's accesses to EL2 registers become
 * loads and stores to the page VNCR_EL2 names; KVM maps that page for the
 * hardware by translating VNCR_EL2 itself (arch/arm64/kvm/nested.c,
 * kvm_translate_vncr()), outside the stage-2 fault path every other test
 * takes. Its failures either end KVM_RUN, judged by C1-C3, C9, C10 like
 * any memory fault, or become an abort KVM injects into the guest
 * hypervisor: then the test asserts what the guest hypervisor saw.
 *
 * Every test skips where KVM offers no KVM_CAP_ARM_EL2 (QEMU without
 * FEAT_NV2, a kernel without kvm-arm.mode=nested).
 */
#include "test_util.h"

#include <cerrno>
#include <optional>
#include <sys/mman.h>

#include "arch.h"
#include "arm64/nested.h"
#include "cgroup.h"
#include "layout.h"

using namespace kvmc;

namespace {

constexpr uint64_t pattern = 0x8877665544332211ull;
constexpr uint64_t gmem_flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

/* The VNCR page: the second page of the test region (the first stays
 * usable, so an access there shows the slot itself works). */
uint64_t vncr_page() { return ARCH_TEST_GPA + page_size(); }
uint64_t vncr_hcr_gpa() { return vncr_page() + arch::vncr_hcr_offset; }

guest::Step vncr_access(bool is_write)
{
	return is_write ? vncr_store(vncr_hcr_gpa(), ~pattern) : vncr_load(vncr_hcr_gpa());
}

std::optional<std::string> no_shared_gmem(Vm &vm)
{
	if (vm.check_extension(KVM_CAP_GUEST_MEMFD) < 1)
		return "needs KVM_CAP_GUEST_MEMFD (CONFIG_KVM_GUEST_MEMFD)";
	if ((vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS) & gmem_flags) != gmem_flags)
		return "needs guest_memfd flags MMAP|INIT_SHARED for this VM type";
	return std::nullopt;
}

const char *const gmem_basis =
	"arch/arm64/kvm/nested.c kvm_translate_vncr(): a guest_memfd error from kvm_gmem_get_pfn() "
	"fills KVM_EXIT_MEMORY_FAULT for the VNCR page; kvm_handle_vncr_abort() then returns 0 for "
	"-EFAULT, -EHWPOISON, -EIO and -ENOMEM on a guest_memfd slot, so KVM_RUN returns 0 (api.rst: "
	"-1 with EFAULT or EHWPOISON)";

} /* namespace */

#define REQUIRE_GUEST_HYPERVISOR(kvm)                                              \
	do {                                                                       \
		if (auto why = arch::hypervisor_unavailable(kvm))                  \
			SKIP(return, "%s", why->c_str());                          \
	} while (0)

#define REQUIRE_SHARED_GMEM(vm)                                                    \
	do {                                                                       \
		if (auto why = no_shared_gmem(vm))                                 \
			SKIP(return, "%s", why->c_str());                          \
	} while (0)

/*
 * N0: the runtime itself. The guest starts at EL2; a nested context's
 * HCR_EL2 read lands in the VNCR page at +0x78 (the host's value comes
 * back), its write lands there too (the host sees it), and a nested access
 * through the guest hypervisor's stage-2 reaches the guest's own memory.
 */
KVM_FIXTURE(n0_guest_hypervisor);

TEST_F(n0_guest_hypervisor, vncr_page_and_stage2)
{
	Kvm kvm;
	REQUIRE_GUEST_HYPERVISOR(kvm);
	GuestVm g(kvm, GuestVm::hypervisor);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	auto host = [&](uint64_t gpa) -> uint64_t & {
		return *reinterpret_cast<uint64_t *>(backing.data() + gpa - ARCH_TEST_GPA);
	};
	host(vncr_hcr_gpa()) = pattern;
	host(ARCH_TEST_GPA + 0x40) = ~pattern;

	g.order({level(), vncr_load(vncr_hcr_gpa()), vncr_store(vncr_hcr_gpa(), 0x1234),
		 nested_load(ARCH_NESTED_WINDOW_IPA + 0x40), nested_store(ARCH_NESTED_WINDOW_IPA + 0x48, pattern)});
	ASSERT_OUTCOME("run", Expectation::guest_done(arch::rules::N), g.run());
	EXPECT_VALUE(arch::rules::N, "exception level the guest starts at", 2, g.loaded(0));
	EXPECT_VALUE(arch::rules::N, "nested HCR_EL2 read (from the VNCR page)", pattern, g.loaded(1));
	EXPECT_VALUE(arch::rules::N, "nested HCR_EL2 write (in the VNCR page)", 0x1234, host(vncr_hcr_gpa()));
	EXPECT_VALUE(arch::rules::N, "nested load through the guest's stage-2", ~pattern, g.loaded(3));
	EXPECT_VALUE(arch::rules::N, "nested store through the guest's stage-2", pattern, host(ARCH_TEST_GPA + 0x48));
}

/*
 * N1: VNCR_EL2 names a page no memslot backs. A plain guest access there
 * would be MMIO (C5); a VNCR access cannot be emulated, and KVM injects an
 * external abort into the guest hypervisor.
 */
KVM_FIXTURE(n1_vncr_no_memslot);
FIXTURE_VARIANT(n1_vncr_no_memslot) { bool is_write; };
FIXTURE_VARIANT_ADD(n1_vncr_no_memslot, load) { .is_write = false };
FIXTURE_VARIANT_ADD(n1_vncr_no_memslot, store) { .is_write = true };

TEST_F(n1_vncr_no_memslot, access)
{
	Kvm kvm;
	REQUIRE_GUEST_HYPERVISOR(kvm);
	GuestVm g(kvm, GuestVm::hypervisor);
	g.order({vncr_access(variant->is_write)});
	ASSERT_OUTCOME("VNCR access", arch::vncr_external_abort(variant->is_write), g.run());
}

/*
 * N2: the VNCR page in a KVM_MEM_READONLY memslot. Reads are served from
 * the slot (C7's loads); a write cannot be (C7's MMIO exit has no meaning
 * for a register page) and KVM injects an external abort.
 */
KVM_FIXTURE(n2_vncr_readonly_slot);

TEST_F(n2_vncr_readonly_slot, load_then_store)
{
	Kvm kvm;
	REQUIRE_GUEST_HYPERVISOR(kvm);
	GuestVm g(kvm, GuestVm::hypervisor);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	auto *host = reinterpret_cast<uint64_t *>(backing.data() + vncr_hcr_gpa() - ARCH_TEST_GPA);
	*host = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing, KVM_MEM_READONLY);

	g.order({vncr_access(false), vncr_access(true)});
	ASSERT_OUTCOME("VNCR store", arch::vncr_external_abort(true), g.run());
	EXPECT_VALUE(rules::C7, "VNCR load from the read-only slot", pattern, g.loaded(0));
	EXPECT_VALUE(rules::C7, "slot memory after the store", pattern, *host);
}

/*
 * N3: the VNCR page in a memslot over PROT_NONE memory. On a plain guest
 * access this is M4 (-1/EFAULT, C4); KVM_CAP_MEMORY_FAULT_INFO is 0 on
 * arm64, so injecting an abort is within api.rst, and what the test
 * asserts.
 */
KVM_FIXTURE(n3_vncr_prot_none);
FIXTURE_VARIANT(n3_vncr_prot_none) { bool is_write; };
FIXTURE_VARIANT_ADD(n3_vncr_prot_none, load) { .is_write = false };
FIXTURE_VARIANT_ADD(n3_vncr_prot_none, store) { .is_write = true };

TEST_F(n3_vncr_prot_none, access)
{
	Kvm kvm;
	REQUIRE_GUEST_HYPERVISOR(kvm);
	GuestVm g(kvm, GuestVm::hypervisor);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	backing.protect(page_size(), page_size(), PROT_NONE);
	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	if (promised)
		SKIP(return, "KVM_CAP_MEMORY_FAULT_INFO is 1: C4 would want an exit, not the injection asserted here");

	g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), vncr_access(variant->is_write)});
	ASSERT_OUTCOME("VNCR access", arch::vncr_external_abort(variant->is_write), g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the abort", 1, g.completed());
}

/* N4: the VNCR page in a guest_memfd memslot whose file is gone. C10:
 * -1/EFAULT with KVM_EXIT_MEMORY_FAULT covering the page. */
KVM_FIXTURE(n4_vncr_guest_memfd_gone);
FIXTURE_VARIANT(n4_vncr_guest_memfd_gone) { bool is_write; };
FIXTURE_VARIANT_ADD(n4_vncr_guest_memfd_gone, load) { .is_write = false };
FIXTURE_VARIANT_ADD(n4_vncr_guest_memfd_gone, store) { .is_write = true };

TEST_F(n4_vncr_guest_memfd_gone, access)
{
	Kvm kvm;
	REQUIRE_GUEST_HYPERVISOR(kvm);
	GuestVm g(kvm, GuestVm::hypervisor);
	REQUIRE_SHARED_GMEM(g.vm());
	GuestMemfd gmem(g.vm(), 2 * page_size(), gmem_flags);
	HostMapping shared = HostMapping::anonymous(2 * page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, 2 * page_size(), shared);
	gmem.close();

	g.order({vncr_access(variant->is_write)});
	ASSERT_OUTCOME("VNCR access",
		       Expectation::memory_fault(rules::C10, EFAULT, vncr_hcr_gpa()).because(gmem_basis), g.run());
}

/* N5: the VNCR page is a poisoned guest_memfd page. C9: -1/EHWPOISON with
 * KVM_EXIT_MEMORY_FAULT covering it. */
KVM_FIXTURE(n5_vncr_poisoned_guest_memfd);

TEST_F(n5_vncr_poisoned_guest_memfd, load)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	REQUIRE_GUEST_HYPERVISOR(kvm);
	GuestVm g(kvm, GuestVm::hypervisor);
	REQUIRE_SHARED_GMEM(g.vm());
	GuestMemfd gmem(g.vm(), 2 * page_size(), gmem_flags);
	HostMapping view = gmem.map();
	memset(view.data(), 0x5a, view.size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, 2 * page_size(), view);

	install_signal_recorder();
	int err = madvise(view.data() + page_size(), page_size(), MADV_HWPOISON) ? errno : 0;
	if (err && err != EBUSY) /* guest_memfd may refuse yet poison the page */
		SKIP(return, "MADV_HWPOISON: %s (needs root and CONFIG_MEMORY_FAILURE)", errno_name(err).c_str());
	g.order({vncr_access(false)});
	ASSERT_OUTCOME("VNCR load",
		       Expectation::memory_fault(rules::C9, EHWPOISON, vncr_hcr_gpa()).because(gmem_basis), g.run());
}

/*
 * N6: the guest_memfd page behind the VNCR page cannot be allocated: the
 * vCPU runs in a memory cgroup already at its limit (G4's setup), entered
 * after a first run faulted in everything else the guest needs. C1 with
 * EFAULT/EHWPOISON, C3 for any other errno.
 */
KVM_FIXTURE(n6_vncr_guest_memfd_allocation_failure);

TEST_F(n6_vncr_guest_memfd_allocation_failure, load)
{
	Kvm kvm;
	REQUIRE_GUEST_HYPERVISOR(kvm);
	GuestVm g(kvm, GuestVm::hypervisor);
	REQUIRE_SHARED_GMEM(g.vm());
	const uint64_t size = 16 * page_size();
	GuestMemfd gmem(g.vm(), size, gmem_flags);
	HostMapping view = gmem.map();
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, size, view);
	/* The first VNCR access, on a page that can be allocated, sets up
	 * everything a nested run needs; the second page is fresh. */
	const uint64_t fresh = ARCH_TEST_GPA + 8 * page_size() + arch::vncr_hcr_offset;
	g.order({vncr_load(vncr_hcr_gpa()), sync_point(), vncr_load(fresh)});
	ASSERT_OUTCOME("first VNCR load", Expectation::guest_sync(arch::rules::N), g.run());

	std::string why;
	auto cg = MemoryCgroup::enter(0, &why);
	if (!cg)
		SKIP(return, "%s", why.c_str());
	Observation obs = g.run();
	cg->lift();
	ASSERT_OUTCOME("VNCR load with no memory left", Expectation::allocation_failure(fresh).because(gmem_basis),
		       obs);
}

KVMC_TEST_MAIN

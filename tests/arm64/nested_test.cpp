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
 * N7-N15: a nested context's access through the guest hypervisor's
 * stage-2; N16-N22: faults of that stage-2 (and external aborts) KVM
 * forwards to the guest hypervisor.
 *
 * With VA != IPA (CONTRACT.md's MMU-on variant): N23-N30 put the VNCR page
 * at a VA of the guest hypervisor's own EL2 stage-1 that is not its IPA
 * (N23 the runtime, N24-N29 N1-N6 so, N30 faults of that stage-1 on the
 * VNCR access); N31 gives the nested context its own stage-1 and judges
 * forwarded stage-2 faults at a VA (FAR_EL2) that is not the IPA
 * (HPFAR_EL2); N32 puts the table the VNCR VA's walk reads in each kind
 * of memslot; N33 remaps the VNCR VA with TLBI by VA.
 *
 * Every test skips where KVM offers no KVM_CAP_ARM_EL2 (QEMU without
 * FEAT_NV2, a kernel without kvm-arm.mode=nested).
 */
#include "test_util.h"

#include <cerrno>
#include <optional>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "arch.h"
#include "arm64/nested.h"
#include "arm64/stage1.h"
#include "backing.h"
#include "cgroup.h"
#include "layout.h"
#include "userfault.h"

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

/* Why N4-N6 see KVM_RUN return 0 (7.3: nested.c lines 1484, 1591, 1598):
 * the expectation is api.rst's, the deviation the kernel's. */
const char *const gmem_basis =
	"arch/arm64/kvm/nested.c kvm_translate_vncr(): a guest_memfd error from kvm_gmem_get_pfn() "
	"fills KVM_EXIT_MEMORY_FAULT for the VNCR page; kvm_handle_vncr_abort() then returns 0 for "
	"-EFAULT, -EHWPOISON, -EIO and -ENOMEM on a guest_memfd slot, so KVM_RUN returns 0 (api.rst: "
	"-1 with EFAULT or EHWPOISON)";

/* The test region as two pages of anonymous memory in test_slot at
 * ARCH_TEST_GPA. fill: a byte the host writes all over them before the
 * memslot is added. */
struct AnonRegion {
	explicit AnonRegion(Vm &vm, std::optional<uint8_t> fill = std::nullopt)
		: backing(HostMapping::anonymous(2 * page_size()))
	{
		if (fill)
			memset(backing.data(), *fill, backing.size());
		memslot.emplace(vm, test_slot, ARCH_TEST_GPA, backing);
	}

	HostMapping backing;
	std::optional<Memslot> memslot;
};

/* The test region as two pages of a guest_memfd the host never maps (the
 * memslot's userspace_addr side is anonymous memory): closing gmem
 * closes the file's only reference. */
struct UnmappedGmemRegion {
	explicit UnmappedGmemRegion(Vm &vm)
		: gmem(vm, 2 * page_size(), gmem_flags), shared(HostMapping::anonymous(2 * page_size())),
		  memslot(vm, test_slot, ARCH_TEST_GPA, gmem, 0, 2 * page_size(), shared)
	{
	}

	GuestMemfd gmem;
	HostMapping shared;
	Memslot memslot;
};

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
 * Every N test's VM: open /dev/kvm as kvm, skip the test where KVM offers
 * no guest hypervisor, and make g a GuestVm whose guest is one. A macro,
 * as SKIP must return from the test body that then owns kvm and g.
 */
#define GUEST_HYPERVISOR(kvm, g)                                                   \
	Kvm kvm;                                                                   \
	REQUIRE_GUEST_HYPERVISOR(kvm);                                             \
	GuestVm g(kvm, GuestVm::hypervisor)

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
	log_line("KVM_CAP_ARM_EL2=" + std::to_string(kvm.check_extension(KVM_CAP_ARM_EL2)) +
		 " KVM_CAP_ARM_EL2_E2H0=" + std::to_string(kvm.check_extension(KVM_CAP_ARM_EL2_E2H0)));
	GuestVm g(kvm, GuestVm::hypervisor);
	AnonRegion region(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	auto host = [&](uint64_t gpa) -> uint64_t & {
		return *reinterpret_cast<uint64_t *>(region.backing.data() + gpa - ARCH_TEST_GPA);
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
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	g.order({vncr_access(variant->is_write)});
	ASSERT_OUTCOME("VNCR access", arch::vncr_external_abort(variant->is_write, vncr_hcr_gpa()), g.run());
}

/*
 * N2: the VNCR page in a KVM_MEM_READONLY memslot. Reads are served from
 * the slot (C7's loads); a write cannot be (C7's MMIO exit has no meaning
 * for a register page) and KVM injects an external abort.
 */
KVM_FIXTURE(n2_vncr_readonly_slot);

TEST_F(n2_vncr_readonly_slot, load_then_store)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	auto *host = reinterpret_cast<uint64_t *>(backing.data() + vncr_hcr_gpa() - ARCH_TEST_GPA);
	*host = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing, KVM_MEM_READONLY);
	ExitWhenDone exit_when_done(_metadata);

	g.order({vncr_access(false), vncr_access(true)});
	ASSERT_OUTCOME("VNCR store", arch::vncr_external_abort(true, vncr_hcr_gpa()), g.run());
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
	GUEST_HYPERVISOR(kvm, g);
	AnonRegion region(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	region.backing.protect(page_size(), page_size(), PROT_NONE);
	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	if (promised)
		SKIP(return, "KVM_CAP_MEMORY_FAULT_INFO is 1: C4 would want an exit, not the injection asserted here");

	g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), vncr_access(variant->is_write)});
	ASSERT_OUTCOME("VNCR access", arch::vncr_external_abort(variant->is_write, vncr_hcr_gpa()), g.run());
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
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	UnmappedGmemRegion region(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	region.gmem.close();

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
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page_size(), gmem_flags, 0x5a);
	ExitWhenDone exit_when_done(_metadata);

	install_signal_recorder();
	int err = madvise(region.view.data() + page_size(), page_size(), MADV_HWPOISON) ? errno : 0;
	if (err && err != EBUSY) /* guest_memfd may refuse yet poison the page */
		SKIP(return, "MADV_HWPOISON: %s (needs root and CONFIG_MEMORY_FAILURE)", errno_name(err).c_str());
	g.order({vncr_access(false)});
	ASSERT_OUTCOME("VNCR load",
		       Expectation::memory_fault(rules::C9, EHWPOISON, vncr_hcr_gpa()).because(gmem_basis), g.run());
}

/*
 * N5a: the VNCR page is a poisoned anonymous page (P1's page, under the
 * VNCR path). A plain guest access gets C8 (SIGBUS BUS_MCEERR_AR, then
 * -1/EINTR); __kvm_faultin_pfn() in kvm_translate_vncr() gives an error
 * pfn and nothing sends the signal: KVM injects an external abort into
 * the guest hypervisor, and the test asserts that (with the basis).
 */
KVM_FIXTURE(n5_vncr_poisoned_anon_page);

TEST_F(n5_vncr_poisoned_anon_page, load)
{
	REQUIRE_DESTRUCTIVE();
	GUEST_HYPERVISOR(kvm, g);
	AnonRegion region(g.vm(), 0x5a);
	ExitWhenDone exit_when_done(_metadata);

	install_signal_recorder();
	if (madvise(region.backing.data() + page_size(), page_size(), MADV_HWPOISON))
		SKIP(return, "MADV_HWPOISON: %s (needs root and CONFIG_MEMORY_FAILURE)", errno_name(errno).c_str());
	g.order({vncr_access(false)});
	ASSERT_OUTCOME("VNCR load", arch::vncr_external_abort(false, vncr_hcr_gpa()), g.run());
}

/*
 * N6: the guest_memfd page behind the VNCR page cannot be allocated. As
 * in G4, the vCPU runs in a memory cgroup (4 MiB, shielded from the OOM
 * killer); fallocate() fills the guest_memfd up to the limit (it fails
 * with ENOMEM where the cgroup is full) except for its last page, the
 * VNCR page, which KVM must then allocate itself. A first run, before the
 * cgroup, sets up everything else a nested run needs. C1 with
 * EFAULT/EHWPOISON, C3 for any other errno.
 */
namespace {

constexpr uint64_t alloc_gmem_size = 64ull << 20;

/*
 * N6, N10 once the guest has run to its sync point: in a 4 MiB memory
 * cgroup, a guest_memfd of alloc_gmem_size bound at gpa (test_slot + 1)
 * is filled but for its last page, and the next run, whose access needs
 * that page, is judged against expected.
 */
void run_out_of_memory(struct __test_metadata *_metadata, GuestVm &g, uint64_t gpa, const char *step,
		       const Expectation &expected)
{
	std::string why;
	auto cg = MemoryCgroup::enter(4u << 20, &why);
	if (!cg)
		SKIP(return, "%s", why.c_str());
	MappedGmemSlot region(g.vm(), test_slot + 1, gpa, alloc_gmem_size, gmem_flags);
	ExitWhenDone exit_first(_metadata);
	int stopped = 0;
	if (auto full = fill_gmem_but_last_page(region.gmem, &stopped))
		SKIP(return, "%s", full->c_str());
	log_line("fallocate() stopped with " + errno_name(stopped) + ": the cgroup is full");
	Observation obs = g.run();
	cg->lift();
	ASSERT_OUTCOME(step, expected, obs);
}

} /* namespace */

KVM_FIXTURE(n6_vncr_guest_memfd_allocation_failure);

TEST_F(n6_vncr_guest_memfd_allocation_failure, load)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	AnonRegion setup(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t gmem_gpa = ARCH_TEST_GPA + (1ull << 28);
	const uint64_t last = gmem_gpa + alloc_gmem_size - page_size() + arch::vncr_hcr_offset;
	g.order({vncr_load(vncr_hcr_gpa()), sync_point(), vncr_load(last)});
	ASSERT_OUTCOME("first VNCR load", Expectation::guest_sync(arch::rules::N), g.run());
	run_out_of_memory(_metadata, g, gmem_gpa, "VNCR load with no memory left",
			  Expectation::allocation_failure(last).because(gmem_basis));
}

/*
 * N7-N12: a nested context's access through the guest hypervisor's
 * stage-2, at ARCH_NESTED_WINDOW_IPA, which that stage-2 maps onto the
 * guest's ARCH_TEST_GPA. KVM resolves it like the guest's own access to
 * the output address, and what userspace hears names that address, the
 * one of its own memslots (api.rst KVM_EXIT_MMIO and KVM_EXIT_MEMORY_FAULT
 * speak of the guest physical address), never the nested IPA.
 */
namespace {

/* The nested IPA of the test region's byte at offset, and its GPA. */
uint64_t window_ipa(uint64_t offset) { return ARCH_NESTED_WINDOW_IPA + offset; }
uint64_t window_gpa(uint64_t offset) { return ARCH_TEST_GPA + offset; }

guest::Step nested_access(uint64_t offset, bool is_write)
{
	return is_write ? nested_store(window_ipa(offset), ~pattern) : nested_load(window_ipa(offset));
}

} /* namespace */

/* N7: the window's output has no memslot: C5, KVM_EXIT_MMIO at the
 * guest's GPA; the load completes with userspace's data. */
KVM_FIXTURE(n7_nested_no_memslot);
FIXTURE_VARIANT(n7_nested_no_memslot) { bool is_write; };
FIXTURE_VARIANT_ADD(n7_nested_no_memslot, load) { .is_write = false };
FIXTURE_VARIANT_ADD(n7_nested_no_memslot, store) { .is_write = true };

TEST_F(n7_nested_no_memslot, access)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = 0x2040;
	g.order({nested_access(offset, variant->is_write)});
	ASSERT_OUTCOME("nested access",
		       Expectation::mmio(rules::C5, window_gpa(offset), 8, variant->is_write, ~pattern), g.run());
	Observation done = variant->is_write ? g.run() : g.complete_load_and_run(pattern);
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), done);
	if (!variant->is_write)
		EXPECT_VALUE(rules::C5, "value the nested context loaded", pattern, g.loaded(0));
}

/*
 * N13: the window's output has no memslot and the nested context's access
 * has no valid syndrome (LDP): C6 as for the guest's own access, and the
 * NISV exit's fault_ipa is the guest's GPA, the output of the guest
 * hypervisor's stage-2, not the nested IPA (which is also the nested
 * context's virtual address: its MMU is off).
 */
KVM_FIXTURE(n13_nested_no_syndrome);

TEST_F(n13_nested_no_syndrome, nisv_off)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	g.order({nested_load_pair(window_ipa(0x2080))});
	ASSERT_OUTCOME("nested LDP", Expectation::error(rules::C6, ENOSYS), g.run());
}

TEST_F(n13_nested_no_syndrome, nisv_on)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_CAP(g.vm(), KVM_CAP_ARM_NISV_TO_USER, 1);
	int r = g.vm().enable_cap(KVM_CAP_ARM_NISV_TO_USER);
	ASSERT_EQ(0, r) TH_LOG("KVM_ENABLE_CAP(KVM_CAP_ARM_NISV_TO_USER): %s", errno_name(-r).c_str());
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = 0x2088;
	g.order({nested_load_pair(window_ipa(offset))});
	ASSERT_OUTCOME("nested LDP",
		       Expectation::nisv(window_gpa(offset), false)
			       .because("arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): a nested fault is resolved "
					"through the guest hypervisor's stage-2 and io_mem_abort() gets its output"),
		       g.run());
}

/*
 * N8: the window's output is memory KVM cannot fault in: a memslot over
 * PROT_NONE memory (M4), munmap()ed (M5), a truncated memfd (M6).
 * -1/EFAULT, the payload as KVM_CAP_MEMORY_FAULT_INFO promises (C4), and
 * C12 once userspace repairs it: the nested context's access completes.
 */
KVM_FIXTURE(n8_nested_broken_backing);
FIXTURE_VARIANT(n8_nested_broken_backing) { Breakage how; bool is_write; };
FIXTURE_VARIANT_ADD(n8_nested_broken_backing, prot_none_load) { .how = Breakage::prot_none, .is_write = false };
FIXTURE_VARIANT_ADD(n8_nested_broken_backing, prot_none_store) { .how = Breakage::prot_none, .is_write = true };
FIXTURE_VARIANT_ADD(n8_nested_broken_backing, unmapped_load) { .how = Breakage::unmapped, .is_write = false };
FIXTURE_VARIANT_ADD(n8_nested_broken_backing, truncated_load) { .how = Breakage::truncated, .is_write = false };

TEST_F(n8_nested_broken_backing, fault_then_recover)
{
	GUEST_HYPERVISOR(kvm, g);
	BreakableBacking b(g.vm(), variant->how, "kvm-contract-n8");
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t before = 0x10, offset = page_size() + 0x20;
	g.order({nested_store(window_ipa(before), pattern), nested_access(offset, variant->is_write)});
	b.break_page();
	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	ASSERT_OUTCOME("nested access", Expectation::unresolvable_fault(window_gpa(offset), promised), g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the fault", 1, g.completed());

	b.repair();
	if (!variant->is_write)
		b.host(offset) = ~pattern;
	ASSERT_OUTCOME("after the repair", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "the nested context's earlier store", pattern, b.host(before));
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the retried store", ~pattern, b.host(offset));
	else
		EXPECT_VALUE(rules::C12, "the retried load", ~pattern, g.loaded(1));
}

/* N9: the window's output is a guest_memfd slot whose file is gone (G2).
 * C10: -1/EFAULT, KVM_EXIT_MEMORY_FAULT covering the guest's GPA. (7.3's
 * gmem_abort() in arch/arm64/kvm/mmu.c fills memory_fault.gpa with
 * s2fd->fault_ipa, the nested IPA, where it looked the page up by the
 * stage-2's output: C2 fails there, as in N10's stale payload and N12.) */
KVM_FIXTURE(n9_nested_guest_memfd_gone);

TEST_F(n9_nested_guest_memfd_gone, load)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	UnmappedGmemRegion region(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	region.gmem.close();

	const uint64_t offset = page_size() + 0x48;
	g.order({nested_load(window_ipa(offset))});
	ASSERT_OUTCOME("nested load", Expectation::memory_fault(rules::C10, EFAULT, window_gpa(offset)), g.run());
}

/* N10: the guest_memfd page behind the window cannot be allocated (N6's
 * cgroup and fallocate; the window maps the guest_memfd's last page).
 * C1 with EFAULT/EHWPOISON covering the guest's GPA, C3 otherwise. */
KVM_FIXTURE(n10_nested_guest_memfd_allocation_failure);

TEST_F(n10_nested_guest_memfd_allocation_failure, load)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	AnonRegion setup(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	/* The guest_memfd slot ends at the top of the window's 1 GiB block. */
	const uint64_t slot_offset = (1ull << 30) - alloc_gmem_size;
	const uint64_t last = slot_offset + alloc_gmem_size - page_size() + 0x30;
	g.order({nested_load(window_ipa(0x30)), sync_point(), nested_load(window_ipa(last))});
	ASSERT_OUTCOME("first nested load", Expectation::guest_sync(arch::rules::N), g.run());
	run_out_of_memory(_metadata, g, window_gpa(slot_offset), "nested load with no memory left",
			  Expectation::allocation_failure(window_gpa(last)));
}

/* N11: the window's output is a poisoned anonymous page (P1). C8: SIGBUS
 * BUS_MCEERR_AR at the host address of the guest's GPA, then -1/EINTR,
 * the extent the one the kernel reports natively for the same memory;
 * C12 with a fresh page. */
KVM_FIXTURE(n11_nested_poisoned_anon_page);

TEST_F(n11_nested_poisoned_anon_page, load)
{
	REQUIRE_DESTRUCTIVE();
	GUEST_HYPERVISOR(kvm, g);
	AnonRegion region(g.vm(), 0x5a);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = page_size() + 0x40;
	g.order({nested_store(window_ipa(0x10), pattern), nested_load(window_ipa(offset))});

	uint8_t *page = region.backing.data() + page_size();
	if (const char *why = poison_unavailable(poison(page)))
		SKIP(return, "%s", why);
	Observation obs = g.run();
	SignalRecord native = native_fault(region.backing.data() + offset);
	ASSERT_OUTCOME("nested load",
		       Expectation::poison_signal(region.backing.hva() + offset, native)
			       .because("not in api.rst. KVM: user_mem_abort() on the guest hypervisor's stage-2 "
					"output, kvm_send_hwpoison_signal() (arch/arm64/kvm/mmu.c); compared with "
					"the native fault on the same memory"),
		       obs);

	ASSERT_EQ(page, mmap(page, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	ASSERT_OUTCOME("after a new mapping", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "the nested context's earlier store", pattern,
		     *reinterpret_cast<uint64_t *>(region.backing.data() + 0x10));
}

/* N12: the window's output is a poisoned guest_memfd page (P3). C9:
 * -1/EHWPOISON, KVM_EXIT_MEMORY_FAULT covering the guest's GPA. */
KVM_FIXTURE(n12_nested_poisoned_guest_memfd);

TEST_F(n12_nested_poisoned_guest_memfd, load)
{
	REQUIRE_DESTRUCTIVE();
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page_size(), gmem_flags, 0x5a);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = page_size() + 0x40;
	g.order({nested_load(window_ipa(offset))});

	if (const char *why = poison_unavailable(poison(region.view.data() + page_size())))
		SKIP(return, "%s", why);
	ASSERT_OUTCOME("nested load", Expectation::memory_fault(rules::C9, EHWPOISON, window_gpa(offset)), g.run());
}

/*
 * N14: a hole punched in the guest_memfd behind the window (G3). The
 * nested context stored to the page through the guest hypervisor's
 * stage-2, userspace punches it: KVM must drop that nested mapping too,
 * so the nested load reads the new, zeroed page and the neighbours keep
 * their data; no exit.
 */
KVM_FIXTURE(n14_nested_punched_hole);

TEST_F(n14_nested_punched_hole, load_after_punch)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	const uint64_t page = page_size();
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 3 * page, gmem_flags);
	ExitWhenDone exit_when_done(_metadata);

	const uint64_t hole = page + 0x18, after = 2 * page;
	g.order({nested_store(window_ipa(hole), pattern), nested_store(window_ipa(after), ~pattern), sync_point(),
		 nested_load(window_ipa(hole)), nested_load(window_ipa(after))});
	ASSERT_OUTCOME("nested stores", Expectation::guest_sync(arch::rules::N), g.run());
	EXPECT_VALUE(rules::G3, "the nested store, seen through the guest_memfd mapping", pattern,
		     *reinterpret_cast<uint64_t *>(region.view.data() + hole));
	ASSERT_EQ(0, fallocate(region.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page, page))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("nested loads after the punch", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "nested load from the punched page", 0, g.loaded(3));
	EXPECT_VALUE(rules::G3, "nested load from the page after the hole", ~pattern, g.loaded(4));
}

/*
 * N15: the window's output is a poisoned 2 MiB hugetlb page (P2). C8 as
 * for the guest's own access: SIGBUS BUS_MCEERR_AR naming an extent that
 * holds the poisoned page, the same as the native fault's, then -1/EINTR.
 */
KVM_FIXTURE(n15_nested_poisoned_huge_page);

TEST_F(n15_nested_poisoned_huge_page, load)
{
	REQUIRE_DESTRUCTIVE();
	std::string no_huge_pages;
	uint8_t *base = map_huge_pages(2, &no_huge_pages);
	if (!base)
		SKIP(return, "%s", no_huge_pages.c_str());
	GUEST_HYPERVISOR(kvm, g);
	ASSERT_EQ(0, add_huge_pages_memslot(g.vm(), base, 2));
	ExitWhenDone exit_when_done(_metadata);

	const uint64_t offset = huge_page_size + 0x3040;
	g.order({nested_store(window_ipa(0x10), pattern), nested_load(window_ipa(offset))});
	if (const char *why = poison_unavailable(poison(base + huge_page_size + 0x3000)))
		SKIP(return, "%s", why);
	Observation obs = g.run();
	SignalRecord native = native_fault(base + offset);
	ASSERT_OUTCOME("nested load",
		       Expectation::poison_signal(reinterpret_cast<uint64_t>(base) + offset, native)
			       .because("not in api.rst. KVM: user_mem_abort() on the guest hypervisor's stage-2 "
					"output, kvm_send_hwpoison_signal() with the VMA's shift (arch/arm64/kvm/mmu.c); "
					"compared with the native fault on the same memory"),
		       obs);
	EXPECT_VALUE(rules::C8, "steps completed before the fault", 1, g.completed());
}

/*
 * N16-N21: faults of the guest hypervisor's own stage-2, and external
 * aborts, that KVM forwards to the guest hypervisor instead of resolving
 * or reporting them to userspace (include/arm64/layout.h maps where each
 * happens). KVM walks that stage-2 in software (arch/arm64/kvm/nested.c
 * walk_nested_s2_pgd()) and injects what it finds there: the guest
 * hypervisor must see the abort the Arm ARM has a real stage-2 give, every
 * field it reads judged (C14): the vector, ESR_EL2, FAR_EL2, HPFAR_EL2,
 * ELR_EL2 (the nested context's access) and SPSR_EL2.
 */
namespace {

using arch::NestedAccessKind;
using arch::Stage2Fault;

/* The nested IPA of page n of ARCH_NESTED_PAGES_IPA's level-3 table. */
uint64_t table_page_ipa(uint64_t n, uint64_t offset) { return ARCH_NESTED_PAGES_IPA + n * 0x1000 + offset; }
/* The guest's GPA that page is mapped onto (layout.h). */
uint64_t table_page_gpa(uint64_t n, uint64_t offset) { return ARCH_TEST_GPA + n * 0x1000 + offset; }

guest::Step nested_step(NestedAccessKind access, uint64_t ipa)
{
	switch (access) {
	case NestedAccessKind::load:
		return nested_load(ipa);
	case NestedAccessKind::store:
		return nested_store(ipa, ~pattern);
	default:
		return nested_fetch(ipa);
	}
}

/* The level-3 table's target pages as anonymous memory, each 8-byte word
 * preset to the page's number, so a read from the wrong page shows. */
struct TablePages {
	explicit TablePages(Vm &vm) : backing(HostMapping::anonymous(pages() * page_size()))
	{
		for (uint64_t n = 0; n < pages(); n++)
			for (uint64_t o = 0; o < 0x1000; o += 8)
				host(n, o) = 0x7e57000000000000ull | n;
		memslot.emplace(vm, test_slot, ARCH_TEST_GPA, backing);
	}
	static uint64_t pages() { return (ARCH_NESTED_PAGE_INVALID + 1) * 0x1000 / page_size() + 1; }
	uint64_t &host(uint64_t n, uint64_t offset)
	{
		return *reinterpret_cast<uint64_t *>(backing.data() + table_page_gpa(n, offset) - ARCH_TEST_GPA);
	}

	HostMapping backing;
	std::optional<Memslot> memslot;
};

} /* namespace */

/*
 * N16: the guest hypervisor's stage-2 has no valid descriptor for the
 * nested IPA, at level 1 (a hole among its 1 GiB blocks), level 2 (a hole
 * in a table of 2 MiB entries) or level 3 (an invalid page descriptor).
 * Arm ARM: a stage-2 translation fault, DFSC/IFSC 0b0001LL at the level
 * the walk stopped, HPFAR_EL2 the faulting IPA. Nothing reaches
 * userspace: the output address is never looked up. Also an IPA above
 * the guest hypervisor's input size (VTCR_EL2.T0SZ: 39 bits) that its
 * table would map if the walk ignored the high bits: the Arm ARM's walk
 * (AArch64.TranslationTableWalk) finds no base there and reports a
 * translation fault at level 0.
 */
KVM_FIXTURE(n16_nested_stage2_translation_fault);
FIXTURE_VARIANT(n16_nested_stage2_translation_fault) { uint64_t ipa; unsigned level; NestedAccessKind access; };
FIXTURE_VARIANT_ADD(n16_nested_stage2_translation_fault, level1_load) {
	.ipa = ARCH_NESTED_HOLE_IPA + 0x1238, .level = 1, .access = NestedAccessKind::load };
FIXTURE_VARIANT_ADD(n16_nested_stage2_translation_fault, level1_store) {
	.ipa = ARCH_NESTED_HOLE_IPA + 0x23450, .level = 1, .access = NestedAccessKind::store };
FIXTURE_VARIANT_ADD(n16_nested_stage2_translation_fault, level1_fetch) {
	.ipa = ARCH_NESTED_HOLE_IPA + 0x4000, .level = 1, .access = NestedAccessKind::fetch };
FIXTURE_VARIANT_ADD(n16_nested_stage2_translation_fault, beyond_input_size_load) {
	.ipa = (1ull << 39) + ARCH_NESTED_PAGES_IPA + 0x48, .level = 0, .access = NestedAccessKind::load };
FIXTURE_VARIANT_ADD(n16_nested_stage2_translation_fault, level2_load) {
	.ipa = ARCH_NESTED_L2_HOLE_IPA + 0x5670, .level = 2, .access = NestedAccessKind::load };
FIXTURE_VARIANT_ADD(n16_nested_stage2_translation_fault, level3_load) {
	.ipa = ARCH_NESTED_PAGES_IPA + ARCH_NESTED_PAGE_INVALID * 0x1000 + 0x18, .level = 3,
	.access = NestedAccessKind::load };
FIXTURE_VARIANT_ADD(n16_nested_stage2_translation_fault, level3_store) {
	.ipa = ARCH_NESTED_PAGES_IPA + ARCH_NESTED_PAGE_INVALID * 0x1000 + 0x7f8, .level = 3,
	.access = NestedAccessKind::store };

TEST_F(n16_nested_stage2_translation_fault, forwarded)
{
	GUEST_HYPERVISOR(kvm, g);
	TablePages pages(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	g.order({nested_load(table_page_ipa(ARCH_NESTED_PAGE_RW, 0x40)), nested_step(variant->access, variant->ipa)});
	ASSERT_OUTCOME("nested access",
		       arch::forwarded_stage2_fault(Stage2Fault::translation, variant->level, variant->access, variant->ipa),
		       g.run());
	EXPECT_VALUE(arch::rules::N, "nested load through a level-3 page", pages.host(ARCH_NESTED_PAGE_RW, 0x40),
		     g.loaded(0));
}

/*
 * N14 read-only: the guest hypervisor's stage-2 maps a guest_memfd page
 * read-only (S2AP, its table page ARCH_NESTED_PAGE_RO). A nested load
 * there reads what the host wrote through the file's mapping (G1); KVM
 * maps the page for the nested context without write permission
 * (mmu.c gmem_abort(), its prot from the guest hypervisor's stage-2).
 */
TEST_F(n14_nested_punched_hole, load_through_read_only_stage2)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	const uint64_t page = page_size();
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 3 * page, gmem_flags);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = ARCH_NESTED_PAGE_RO * page + 0x28;
	*reinterpret_cast<uint64_t *>(region.view.data() + offset) = pattern;
	g.order({nested_load(table_page_ipa(ARCH_NESTED_PAGE_RO, 0x28))});
	ASSERT_OUTCOME("nested load", Expectation::guest_done(rules::G1), g.run());
	EXPECT_VALUE(rules::G1, "the nested load, from the host's write through the mapping", pattern, g.loaded(0));
}

/*
 * N17: the guest hypervisor's stage-2 maps the page, but not for this
 * access: a store to a page whose S2AP grants read only, a load from one
 * that grants write only. The permitted access goes through first (KVM
 * maps the page for it, with the guest hypervisor's permissions); the
 * other is a stage-2 permission fault, DFSC 0b0011LL at level 3 (nested.c
 * kvm_s2_handle_perm_fault()). HPFAR_EL2 is UNKNOWN for a permission
 * fault (Arm ARM, HPFAR_EL2): not judged. The memory is untouched.
 */
KVM_FIXTURE(n17_nested_stage2_permission_fault);
FIXTURE_VARIANT(n17_nested_stage2_permission_fault) { NestedAccessKind access; };
FIXTURE_VARIANT_ADD(n17_nested_stage2_permission_fault, store_to_read_only) { .access = NestedAccessKind::store };
FIXTURE_VARIANT_ADD(n17_nested_stage2_permission_fault, load_from_write_only) { .access = NestedAccessKind::load };

TEST_F(n17_nested_stage2_permission_fault, forwarded)
{
	GUEST_HYPERVISOR(kvm, g);
	TablePages pages(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	const bool store = variant->access == NestedAccessKind::store;
	const uint64_t page = store ? ARCH_NESTED_PAGE_RO : ARCH_NESTED_PAGE_WO;
	const uint64_t ipa = table_page_ipa(page, 0x28);
	const uint64_t before = pages.host(page, 0x28);
	g.order({store ? nested_load(table_page_ipa(page, 0x20)) : nested_store(table_page_ipa(page, 0x20), pattern),
		 nested_step(variant->access, ipa)});
	ASSERT_OUTCOME("nested access", arch::forwarded_stage2_fault(Stage2Fault::permission, 3, variant->access, ipa),
		       g.run());
	if (store)
		EXPECT_VALUE(arch::rules::N, "nested load from the read-only page", pages.host(page, 0x20), g.loaded(0));
	else
		EXPECT_VALUE(arch::rules::N, "nested store to the write-only page", pattern, pages.host(page, 0x20));
	EXPECT_VALUE(arch::rules::N, "memory behind the refused access", before, pages.host(page, 0x28));
}

/*
 * N18: the guest hypervisor's page descriptor has its access flag clear
 * and its VTCR_EL2.HA is 0 (no hardware update): a stage-2 access flag
 * fault, DFSC 0b0010LL at level 3, HPFAR_EL2 the faulting IPA
 * (nested.c walk_nested_s2_pgd()).
 */
KVM_FIXTURE(n18_nested_stage2_access_flag_fault);
FIXTURE_VARIANT(n18_nested_stage2_access_flag_fault) { NestedAccessKind access; };
FIXTURE_VARIANT_ADD(n18_nested_stage2_access_flag_fault, load) { .access = NestedAccessKind::load };
FIXTURE_VARIANT_ADD(n18_nested_stage2_access_flag_fault, store) { .access = NestedAccessKind::store };

TEST_F(n18_nested_stage2_access_flag_fault, forwarded)
{
	GUEST_HYPERVISOR(kvm, g);
	TablePages pages(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t ipa = table_page_ipa(ARCH_NESTED_PAGE_NO_AF, 0x30);
	g.order({nested_step(variant->access, ipa)});
	ASSERT_OUTCOME("nested access", arch::forwarded_stage2_fault(Stage2Fault::access_flag, 3, variant->access, ipa),
		       g.run());
	EXPECT_VALUE(arch::rules::N, "memory behind the refused access", 0x7e57000000000000ull | ARCH_NESTED_PAGE_NO_AF,
		     pages.host(ARCH_NESTED_PAGE_NO_AF, 0x30));
}

/*
 * N19: a block of the guest hypervisor's stage-2 maps its whole extent:
 * a nested access at an offset deep inside the block (not in its first
 * page) reaches the guest's memory at the block's output address plus
 * that offset (Arm ARM: the output address is the descriptor's address
 * bits above the block size and the input's below). A 1 GiB block at
 * level 1 and a 2 MiB block at level 2, whose output is at another
 * offset of the test region than its input's (layout.h); a store goes
 * one way, a load the other.
 */
KVM_FIXTURE(n19_nested_stage2_block_offset);
FIXTURE_VARIANT(n19_nested_stage2_block_offset) { uint64_t ipa; uint64_t gpa; uint64_t offset; };
FIXTURE_VARIANT_ADD(n19_nested_stage2_block_offset, block_1g) {
	.ipa = ARCH_NESTED_WINDOW_IPA, .gpa = ARCH_TEST_GPA, .offset = 0x23450000 };
FIXTURE_VARIANT_ADD(n19_nested_stage2_block_offset, block_2m) {
	.ipa = ARCH_NESTED_BLOCK_IPA, .gpa = ARCH_NESTED_BLOCK_GPA, .offset = 0x1a0000 };

TEST_F(n19_nested_stage2_block_offset, store_and_load)
{
	GUEST_HYPERVISOR(kvm, g);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	Memslot slot(g.vm(), test_slot, variant->gpa + variant->offset, backing);
	ExitWhenDone exit_when_done(_metadata);
	auto host = [&](uint64_t at) -> uint64_t & { return *reinterpret_cast<uint64_t *>(backing.data() + at); };
	const uint64_t stored = 0x788, loaded = page_size() + 0x10;
	host(loaded) = ~pattern;

	g.order({nested_store(variant->ipa + variant->offset + stored, pattern),
		 nested_load(variant->ipa + variant->offset + loaded)});
	ASSERT_OUTCOME("nested accesses", Expectation::guest_done(arch::rules::N), g.run());
	EXPECT_VALUE(arch::rules::N, "nested store inside the block, seen by the host", pattern, host(stored));
	EXPECT_VALUE(arch::rules::N, "nested load inside the block of the host's value", ~pattern, g.loaded(1));
}

/*
 * N20: a table descriptor of the guest hypervisor's stage-2 names a
 * level-3 table at a GPA no memslot backs. Arm ARM: a synchronous
 * external abort on the translation table walk, DFSC 0b0101LL at the
 * level of the table read (3). KVM_RUN has nothing to report: the abort
 * is the guest hypervisor's. The run after it must show the same abort
 * (the guest reports it for ever), also where the first run failed:
 * then KVM had injected it all the same.
 */
KVM_FIXTURE(n20_nested_stage2_walk_external_abort);
FIXTURE_VARIANT(n20_nested_stage2_walk_external_abort) { NestedAccessKind access; };
FIXTURE_VARIANT_ADD(n20_nested_stage2_walk_external_abort, load) { .access = NestedAccessKind::load };
FIXTURE_VARIANT_ADD(n20_nested_stage2_walk_external_abort, store) { .access = NestedAccessKind::store };

TEST_F(n20_nested_stage2_walk_external_abort, forwarded)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t ipa = ARCH_NESTED_BAD_TABLE_IPA + 0x1c8;
	g.order({nested_step(variant->access, ipa)});
	EXPECT_OUTCOME("nested access", arch::forwarded_stage2_walk_abort(3, variant->access, ipa), g.run());
	ASSERT_OUTCOME("run again", arch::forwarded_stage2_walk_abort(3, variant->access, ipa), g.run());
}

/*
 * N21: the nested context fetches an instruction from an IPA the guest
 * hypervisor's stage-2 maps (executable) onto a GPA no memslot backs. A
 * guest's own fetch there gets an external abort (M3); a nested one,
 * with the guest hypervisor's HCR_EL2.TEA set, brings that abort to the
 * guest hypervisor: EC 0x20 (from a lower EL), FSC 0x10, FAR_EL2 and
 * ELR_EL2 the address fetched.
 */
KVM_FIXTURE(n21_nested_external_abort);

TEST_F(n21_nested_external_abort, fetch_no_memslot)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t ipa = window_ipa(0x3000);
	g.order({nested_fetch(ipa)});
	ASSERT_OUTCOME("nested fetch", arch::nested_external_abort(NestedAccessKind::fetch, ipa), g.run());
}

/*
 * N22: the nested context runs with its MMU on (the guest's own identity
 * map as its stage-1, so its code is where it was), and its load's VA
 * has a level-2 table at an IPA the guest hypervisor's stage-2 maps onto
 * a GPA no memslot backs (layout.h ARCH_NESTED_BAD_S1_VA). Reading that
 * table is a synchronous external abort on the translation table walk
 * (Arm ARM DFSC 0b010110, level 2), which the guest hypervisor, with
 * HCR_EL2.TEA, takes: FAR_EL2 the VA, ELR_EL2 the load.
 */
KVM_FIXTURE(n22_nested_stage1_walk_external_abort);

TEST_F(n22_nested_stage1_walk_external_abort, load)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t va = ARCH_NESTED_BAD_S1_VA + 0x5a8;
	g.order({nested_load_s1(va, ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET)});
	ASSERT_OUTCOME("nested load", arch::nested_stage1_walk_external_abort(2, va), g.run());
}

/*
 * N31: N16-N18 with the nested context's own stage-1 on (its EL1 MMU,
 * the guest's identity map and stage-1 window as its tables, so its code
 * runs where it is) and the access at a window VA whose page its
 * stage-1 maps onto a nested IPA where the guest hypervisor's stage-2
 * faults: a hole at level 1, an invalid page at level 3, a page with the
 * access flag clear, a read-only page stored to. The abort the guest
 * hypervisor takes names both addresses, each in its place (Arm ARM):
 * FAR_EL2 the nested VA, HPFAR_EL2 the nested IPA (FIPA, for the
 * translation and access flag faults), ESR_EL2 as for the MMU off
 * (S1PTW 0: the fault is on the access, not on the stage-1 walk).
 */
namespace {

/* The window page of the nested context's access: 0x4000008000. */
constexpr unsigned nested_window_page = 8;

} /* namespace */

KVM_FIXTURE(n31_nested_stage2_fault_nested_mmu);
FIXTURE_VARIANT(n31_nested_stage2_fault_nested_mmu) {
	uint64_t ipa_page; uint64_t offset; Stage2Fault fault; unsigned level; NestedAccessKind access; };
FIXTURE_VARIANT_ADD(n31_nested_stage2_fault_nested_mmu, level1_load) {
	.ipa_page = ARCH_NESTED_HOLE_IPA + 0x23000, .offset = 0x238, .fault = Stage2Fault::translation, .level = 1,
	.access = NestedAccessKind::load };
FIXTURE_VARIANT_ADD(n31_nested_stage2_fault_nested_mmu, level3_store) {
	.ipa_page = ARCH_NESTED_PAGES_IPA + ARCH_NESTED_PAGE_INVALID * 0x1000, .offset = 0x7f8,
	.fault = Stage2Fault::translation, .level = 3, .access = NestedAccessKind::store };
FIXTURE_VARIANT_ADD(n31_nested_stage2_fault_nested_mmu, access_flag_load) {
	.ipa_page = ARCH_NESTED_PAGES_IPA + ARCH_NESTED_PAGE_NO_AF * 0x1000, .offset = 0x30,
	.fault = Stage2Fault::access_flag, .level = 3, .access = NestedAccessKind::load };
FIXTURE_VARIANT_ADD(n31_nested_stage2_fault_nested_mmu, permission_store) {
	.ipa_page = ARCH_NESTED_PAGES_IPA + ARCH_NESTED_PAGE_RO * 0x1000, .offset = 0x28,
	.fault = Stage2Fault::permission, .level = 3, .access = NestedAccessKind::store };

TEST_F(n31_nested_stage2_fault_nested_mmu, forwarded)
{
	GUEST_HYPERVISOR(kvm, g);
	TablePages pages(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t table = ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET;
	const uint64_t va = arch::map_window_page(g, nested_window_page, {.ipa = variant->ipa_page}) + variant->offset;
	const uint64_t ipa = variant->ipa_page + variant->offset;
	ASSERT_NE(va, ipa);
	g.order({variant->access == NestedAccessKind::store ? nested_store_s1(va, table) : nested_load_s1(va, table)});
	ASSERT_OUTCOME("nested access at a VA",
		       arch::forwarded_stage2_fault_at(variant->fault, variant->level, variant->access, va, ipa), g.run());
}

/*
 * N23-N30: the guest hypervisor's VNCR page at a virtual address that is
 * not its IPA. The guest hypervisor runs with its EL2 stage-1 on (start.S:
 * with HCR_EL2.E2H the entry code's TTBR0_EL1, TCR_EL1, MAIR_EL1 and
 * SCTLR_EL1 are TTBR0_EL2, TCR_EL2, MAIR_EL2 and SCTLR_EL2, the EL2&0
 * regime), its code, data and mailbox identity-mapped, and VNCR_EL2 holds
 * a VA of the stage-1 window (include/arm64/stage1.h) whose page is
 * mapped onto the VNCR page's IPA. KVM translates that VA itself
 * (nested.c kvm_translate_vncr(): at.c __kvm_translate_va() for the
 * EL2&0 regime) and everything it reports must name the IPA where api.rst
 * names a guest physical address (memory_fault.gpa, C2), and the VA where
 * the Arm ARM names the faulting address (FAR_EL2, C14). N23-N29 are
 * N0-N6 so; N30 the faults of the guest hypervisor's own stage-1 on the
 * VNCR access.
 */
namespace {

/* The window page of the VNCR page's VA: 0x4000007000, an address where
 * no memslot is and no IPA of this guest's is mapped. */
constexpr unsigned vncr_window_page = 7;

/* Maps the VNCR VA onto page.ipa (by default the VNCR page) in the guest
 * hypervisor's EL2 stage-1; the VA of HCR_EL2 in that page. */
uint64_t map_vncr_va(GuestVm &g, arch::WindowPage page = {.ipa = ARCH_TEST_GPA + 0x1000})
{
	return arch::map_window_page(g, vncr_window_page, page) + arch::vncr_hcr_offset;
}

guest::Step vncr_va_access(uint64_t va, bool is_write)
{
	return is_write ? vncr_store(va, ~pattern) : vncr_load(va);
}

/* The guest hypervisor's system registers as KVM keeps them. */
const uint64_t reg_sctlr_el2 = ARM64_SYS_REG(3, 4, 1, 0, 0);
const uint64_t reg_vncr_el2 = ARM64_SYS_REG(3, 4, 2, 2, 0);

} /* namespace */

/*
 * N23: the runtime. The guest hypervisor's SCTLR_EL2.M is set (its EL2
 * stage-1 is on), VNCR_EL2 holds the VA, and the nested context's HCR_EL2
 * read and write land in the page at the VA's IPA, + 0x78.
 */
KVM_FIXTURE(n23_vncr_el2_mmu);

TEST_F(n23_vncr_el2_mmu, load_and_store_at_va)
{
	GUEST_HYPERVISOR(kvm, g);
	AnonRegion region(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t va = map_vncr_va(g);
	ASSERT_NE(va - arch::vncr_hcr_offset, vncr_page());
	auto &host = *reinterpret_cast<uint64_t *>(region.backing.data() + vncr_hcr_gpa() - ARCH_TEST_GPA);
	host = pattern;

	g.order({vncr_load(va), vncr_store(va, 0x1234)});
	ASSERT_OUTCOME("VNCR accesses at the VA", Expectation::guest_done(arch::rules::N), g.run());
	EXPECT_VALUE(arch::rules::N, "nested HCR_EL2 read (from the VNCR page's IPA)", pattern, g.loaded(0));
	EXPECT_VALUE(arch::rules::N, "nested HCR_EL2 write (in the VNCR page's IPA)", 0x1234, host);
	auto sctlr = g.vcpu().try_get_one_reg(reg_sctlr_el2);
	ASSERT_TRUE(sctlr.has_value()) TH_LOG("KVM_GET_ONE_REG(SCTLR_EL2) failed");
	EXPECT_VALUE(arch::rules::N, "SCTLR_EL2.M (the guest hypervisor's EL2 stage-1 on)", 1, *sctlr & 1);
	if (auto vncr = g.vcpu().try_get_one_reg(reg_vncr_el2))
		EXPECT_VALUE(arch::rules::N, "VNCR_EL2 (the VA)", va - arch::vncr_hcr_offset, *vncr);
}

/* N24: N1 at the VA: the VA's IPA has no memslot. FAR_EL2 is the VA. */
KVM_FIXTURE(n24_vncr_no_memslot_el2_mmu);
FIXTURE_VARIANT(n24_vncr_no_memslot_el2_mmu) { bool is_write; };
FIXTURE_VARIANT_ADD(n24_vncr_no_memslot_el2_mmu, load) { .is_write = false };
FIXTURE_VARIANT_ADD(n24_vncr_no_memslot_el2_mmu, store) { .is_write = true };

TEST_F(n24_vncr_no_memslot_el2_mmu, access)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t va = map_vncr_va(g);
	g.order({vncr_va_access(va, variant->is_write)});
	ASSERT_OUTCOME("VNCR access", arch::vncr_external_abort(variant->is_write, va), g.run());
}

/* N25: N2 at the VA: the VA's IPA in a read-only memslot; the load reads
 * the slot, the store is refused. */
KVM_FIXTURE(n25_vncr_readonly_slot_el2_mmu);

TEST_F(n25_vncr_readonly_slot_el2_mmu, load_then_store)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	auto *host = reinterpret_cast<uint64_t *>(backing.data() + vncr_hcr_gpa() - ARCH_TEST_GPA);
	*host = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing, KVM_MEM_READONLY);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t va = map_vncr_va(g);

	g.order({vncr_va_access(va, false), vncr_va_access(va, true)});
	ASSERT_OUTCOME("VNCR store", arch::vncr_external_abort(true, va), g.run());
	EXPECT_VALUE(rules::C7, "VNCR load from the read-only slot", pattern, g.loaded(0));
	EXPECT_VALUE(rules::C7, "slot memory after the store", pattern, *host);
}

/* N26: N3 at the VA: the VA's IPA over PROT_NONE memory. *_after_mapped:
 * a VNCR load first goes through (KVM caches the VA's translation and
 * maps the page), then the host makes it PROT_NONE: the MMU notifier
 * must drop that cache by the IPA (nested.c kvm_invalidate_vncr_ipa()),
 * so the next access aborts as if never mapped. */
KVM_FIXTURE(n26_vncr_prot_none_el2_mmu);
FIXTURE_VARIANT(n26_vncr_prot_none_el2_mmu) { bool is_write; bool mapped; };
FIXTURE_VARIANT_ADD(n26_vncr_prot_none_el2_mmu, load) { .is_write = false, .mapped = false };
FIXTURE_VARIANT_ADD(n26_vncr_prot_none_el2_mmu, store) { .is_write = true, .mapped = false };
FIXTURE_VARIANT_ADD(n26_vncr_prot_none_el2_mmu, load_after_mapped) { .is_write = false, .mapped = true };
FIXTURE_VARIANT_ADD(n26_vncr_prot_none_el2_mmu, store_after_mapped) { .is_write = true, .mapped = true };

TEST_F(n26_vncr_prot_none_el2_mmu, access)
{
	GUEST_HYPERVISOR(kvm, g);
	AnonRegion region(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	if (g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1)
		SKIP(return, "KVM_CAP_MEMORY_FAULT_INFO is 1: C4 would want an exit, not the injection asserted here");
	const uint64_t va = map_vncr_va(g);

	if (variant->mapped) {
		g.order({vncr_load(va), sync_point(), vncr_va_access(va, variant->is_write)});
		ASSERT_OUTCOME("VNCR load, page mapped", Expectation::guest_sync(arch::rules::N), g.run());
		region.backing.protect(page_size(), page_size(), PROT_NONE);
		ASSERT_OUTCOME("VNCR access after PROT_NONE", arch::vncr_external_abort(variant->is_write, va), g.run());
		EXPECT_VALUE(rules::C12, "steps completed before the abort", 2, g.completed());
		return;
	}
	region.backing.protect(page_size(), page_size(), PROT_NONE);
	g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), vncr_va_access(va, variant->is_write)});
	ASSERT_OUTCOME("VNCR access", arch::vncr_external_abort(variant->is_write, va), g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the abort", 1, g.completed());
}

/* N27: N4 at the VA: C10, memory_fault covering the IPA, never the VA
 * (judged also where KVM_RUN returns 0, 7.3's known deviation). */
KVM_FIXTURE(n27_vncr_guest_memfd_gone_el2_mmu);
FIXTURE_VARIANT(n27_vncr_guest_memfd_gone_el2_mmu) { bool is_write; };
FIXTURE_VARIANT_ADD(n27_vncr_guest_memfd_gone_el2_mmu, load) { .is_write = false };
FIXTURE_VARIANT_ADD(n27_vncr_guest_memfd_gone_el2_mmu, store) { .is_write = true };

TEST_F(n27_vncr_guest_memfd_gone_el2_mmu, access)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	UnmappedGmemRegion region(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	region.gmem.close();
	const uint64_t va = map_vncr_va(g);

	g.order({vncr_va_access(va, variant->is_write)});
	ASSERT_OUTCOME("VNCR access",
		       Expectation::memory_fault(rules::C10, EFAULT, vncr_hcr_gpa()).because(gmem_basis), g.run());
}

/* N28: N5 at the VA: a poisoned guest_memfd page (C9, the IPA) and a
 * poisoned anonymous page (the injected abort, FAR_EL2 the VA). */
KVM_FIXTURE(n28_vncr_poisoned_guest_memfd_el2_mmu);

TEST_F(n28_vncr_poisoned_guest_memfd_el2_mmu, load)
{
	REQUIRE_DESTRUCTIVE();
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page_size(), gmem_flags, 0x5a);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t va = map_vncr_va(g);

	install_signal_recorder();
	int err = madvise(region.view.data() + page_size(), page_size(), MADV_HWPOISON) ? errno : 0;
	if (err && err != EBUSY) /* guest_memfd may refuse yet poison the page */
		SKIP(return, "MADV_HWPOISON: %s (needs root and CONFIG_MEMORY_FAILURE)", errno_name(err).c_str());
	g.order({vncr_va_access(va, false)});
	ASSERT_OUTCOME("VNCR load",
		       Expectation::memory_fault(rules::C9, EHWPOISON, vncr_hcr_gpa()).because(gmem_basis), g.run());
}

KVM_FIXTURE(n28_vncr_poisoned_anon_page_el2_mmu);

TEST_F(n28_vncr_poisoned_anon_page_el2_mmu, load)
{
	REQUIRE_DESTRUCTIVE();
	GUEST_HYPERVISOR(kvm, g);
	AnonRegion region(g.vm(), 0x5a);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t va = map_vncr_va(g);

	install_signal_recorder();
	if (madvise(region.backing.data() + page_size(), page_size(), MADV_HWPOISON))
		SKIP(return, "MADV_HWPOISON: %s (needs root and CONFIG_MEMORY_FAILURE)", errno_name(errno).c_str());
	g.order({vncr_va_access(va, false)});
	ASSERT_OUTCOME("VNCR load", arch::vncr_external_abort(false, va), g.run());
}

/* N29: N6 at the VA: the guest_memfd page behind the VA's IPA cannot be
 * allocated; a first run primes the nested state through another window
 * page onto an ordinary page. */
KVM_FIXTURE(n29_vncr_guest_memfd_allocation_failure_el2_mmu);

TEST_F(n29_vncr_guest_memfd_allocation_failure_el2_mmu, load)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	AnonRegion setup(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t gmem_gpa = ARCH_TEST_GPA + (1ull << 28);
	const uint64_t last_page = gmem_gpa + alloc_gmem_size - page_size();
	const uint64_t first = map_vncr_va(g);
	const uint64_t last = arch::map_window_page(g, vncr_window_page + 1, {.ipa = last_page}) + arch::vncr_hcr_offset;
	g.order({vncr_load(first), sync_point(), vncr_load(last)});
	ASSERT_OUTCOME("first VNCR load", Expectation::guest_sync(arch::rules::N), g.run());
	run_out_of_memory(_metadata, g, gmem_gpa, "VNCR load with no memory left",
			  Expectation::allocation_failure(last_page + arch::vncr_hcr_offset).because(gmem_basis));
}

/*
 * N30: the guest hypervisor's own EL2 stage-1 has no usable entry for
 * the VNCR VA: an invalid page descriptor (translation fault, level 3),
 * the access flag clear (TCR_EL2.HA 0: access flag fault, level 3), a
 * read-only page stored to after a load that goes through (permission
 * fault, level 3), and a level-3 table at an IPA without memslot or over
 * PROT_NONE memory (synchronous external abort on the walk, level 3).
 * The fault is the guest hypervisor's: ESR_EL2 with VNCR set, the FSC of
 * the walk, FAR_EL2 the VA.
 */
KVM_FIXTURE(n30_vncr_el2_stage1_fault);
FIXTURE_VARIANT(n30_vncr_el2_stage1_fault) {
	arch::Stage1Fault fault; bool is_write; bool mapped; bool accessed; bool read_only; bool table_slot; };
FIXTURE_VARIANT_ADD(n30_vncr_el2_stage1_fault, translation_load) {
	.fault = arch::Stage1Fault::translation, .is_write = false, .mapped = false, .accessed = true,
	.read_only = false, .table_slot = false };
FIXTURE_VARIANT_ADD(n30_vncr_el2_stage1_fault, translation_store) {
	.fault = arch::Stage1Fault::translation, .is_write = true, .mapped = false, .accessed = true,
	.read_only = false, .table_slot = false };
FIXTURE_VARIANT_ADD(n30_vncr_el2_stage1_fault, access_flag_load) {
	.fault = arch::Stage1Fault::access_flag, .is_write = false, .mapped = true, .accessed = false,
	.read_only = false, .table_slot = false };
FIXTURE_VARIANT_ADD(n30_vncr_el2_stage1_fault, permission_store) {
	.fault = arch::Stage1Fault::permission, .is_write = true, .mapped = true, .accessed = true,
	.read_only = true, .table_slot = false };
FIXTURE_VARIANT_ADD(n30_vncr_el2_stage1_fault, walk_no_memslot_load) {
	.fault = arch::Stage1Fault::walk_external_abort, .is_write = false, .mapped = true, .accessed = true,
	.read_only = false, .table_slot = false };
FIXTURE_VARIANT_ADD(n30_vncr_el2_stage1_fault, walk_prot_none_load) {
	.fault = arch::Stage1Fault::walk_external_abort, .is_write = false, .mapped = true, .accessed = true,
	.read_only = false, .table_slot = true };

TEST_F(n30_vncr_el2_stage1_fault, access)
{
	GUEST_HYPERVISOR(kvm, g);
	AnonRegion region(g.vm());
	/* The placed level-3 table's IPA: the third page of the test region
	 * (PROT_NONE memory in a second slot), or one without memslot. */
	const uint64_t table_ipa = ARCH_TEST_GPA + 0x10000;
	HostMapping table_backing = HostMapping::anonymous(page_size());
	std::optional<Memslot> table_slot;
	if (variant->table_slot) {
		table_backing.protect(0, page_size(), PROT_NONE);
		table_slot.emplace(g.vm(), test_slot + 1, table_ipa, table_backing);
	}
	ExitWhenDone exit_when_done(_metadata);
	auto &host = *reinterpret_cast<uint64_t *>(region.backing.data() + vncr_hcr_gpa() - ARCH_TEST_GPA);
	host = pattern;

	const arch::WindowPage page{.ipa = vncr_page(), .accessed = variant->accessed, .read_only = variant->read_only};
	uint64_t va = arch::window_gva(vncr_window_page) + arch::vncr_hcr_offset;
	if (variant->fault == arch::Stage1Fault::walk_external_abort) {
		arch::place_window_table(g, table_ipa);
		va = arch::placed_gva(arch::PlacedTable::level3, vncr_window_page) + arch::vncr_hcr_offset;
	} else if (variant->mapped) {
		va = map_vncr_va(g, page);
	}

	if (variant->fault == arch::Stage1Fault::permission)
		g.order({vncr_load(va), vncr_va_access(va, true)});
	else
		g.order({vncr_va_access(va, variant->is_write)});
	ASSERT_OUTCOME("VNCR access", arch::vncr_stage1_fault(variant->fault, 3, variant->is_write, va), g.run());
	if (variant->fault == arch::Stage1Fault::permission)
		EXPECT_VALUE(arch::rules::N, "VNCR load through the read-only page", pattern, g.loaded(0));
	EXPECT_VALUE(arch::rules::N, "the VNCR page's memory", pattern, host);
}

/*
 * N32: the guest hypervisor's EL2 stage-1 table for the VNCR VA (the
 * placed level-3 table of the window) in each kind of memslot a walk can
 * meet: a read-only slot and a guest_memfd slot (the walk only reads: the
 * VNCR load goes through and reads the page the table names), and a
 * guest_memfd slot whose file is gone, as in G2: a read of that memory
 * by the guest, its table walks included, is C10's -1/EFAULT with a
 * payload covering the descriptor's IPA. There the memslot's
 * userspace_addr side (anonymous memory) holds a valid table, so a walk
 * that reads that instead of the guest_memfd shows.
 */
enum class TableSlot { read_only, guest_memfd, guest_memfd_gone };

KVM_FIXTURE(n32_vncr_el2_table_slot);
FIXTURE_VARIANT(n32_vncr_el2_table_slot) { TableSlot slot; };
FIXTURE_VARIANT_ADD(n32_vncr_el2_table_slot, read_only) { .slot = TableSlot::read_only };
FIXTURE_VARIANT_ADD(n32_vncr_el2_table_slot, guest_memfd) { .slot = TableSlot::guest_memfd };
FIXTURE_VARIANT_ADD(n32_vncr_el2_table_slot, guest_memfd_gone) { .slot = TableSlot::guest_memfd_gone };

TEST_F(n32_vncr_el2_table_slot, load)
{
	GUEST_HYPERVISOR(kvm, g);
	if (variant->slot == TableSlot::read_only)
		REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	else
		REQUIRE_SHARED_GMEM(g.vm());
	/* The table: the test region's first page; the VNCR page: its own
	 * anonymous slot, 64 KiB above. */
	const uint64_t table_ipa = ARCH_TEST_GPA, vncr_ipa = ARCH_TEST_GPA + 0x10000;
	HostMapping vncr_backing = HostMapping::anonymous(page_size());
	*reinterpret_cast<uint64_t *>(vncr_backing.data() + arch::vncr_hcr_offset) = pattern;
	Memslot vncr_slot(g.vm(), test_slot + 1, vncr_ipa, vncr_backing);
	std::optional<HostMapping> ro_backing;
	std::optional<Memslot> ro_slot;
	std::optional<MappedGmemSlot> gmem_slot;
	std::optional<UnmappedGmemRegion> gone;
	uint8_t *table_host = nullptr;
	switch (variant->slot) {
	case TableSlot::read_only:
		ro_backing.emplace(HostMapping::anonymous(2 * page_size()));
		table_host = ro_backing->data();
		break;
	case TableSlot::guest_memfd:
		gmem_slot.emplace(g.vm(), test_slot, table_ipa, 2 * page_size(), gmem_flags);
		table_host = gmem_slot->view.data();
		break;
	case TableSlot::guest_memfd_gone:
		gone.emplace(g.vm());
		table_host = gone->shared.data();
		break;
	}
	const uint64_t n = vncr_window_page;
	reinterpret_cast<uint64_t *>(table_host)[n] = arch::window_descriptor({.ipa = vncr_ipa});
	if (ro_backing)
		ro_slot.emplace(g.vm(), test_slot, table_ipa, *ro_backing, KVM_MEM_READONLY);
	ExitWhenDone exit_when_done(_metadata);
	if (gone)
		gone->gmem.close();
	arch::place_window_table(g, table_ipa);
	const uint64_t va = arch::placed_gva(arch::PlacedTable::level3, n) + arch::vncr_hcr_offset;

	g.order({vncr_load(va)});
	if (variant->slot == TableSlot::guest_memfd_gone) {
		ASSERT_OUTCOME("VNCR load, its table's guest_memfd gone",
			       Expectation::memory_fault(rules::C10, EFAULT, table_ipa + 8 * n)
				       .because("api.rst 4.142: with GUEST_MEMFD_FLAG_MMAP a guest fault is always "
						"consumed from guest_memfd; KVM walks the guest hypervisor's EL2 "
						"stage-1 for VNCR_EL2 in software (nested.c kvm_translate_vncr(), "
						"at.c walk_s1(), kvm_read_s1_desc())"),
			       g.run());
		return;
	}
	ASSERT_OUTCOME("VNCR load", Expectation::guest_done(arch::rules::N), g.run());
	EXPECT_VALUE(arch::rules::N, "nested HCR_EL2 read through the table", pattern, g.loaded(0));
}

/*
 * N33: the guest hypervisor moves its VNCR VA to another page: it writes
 * the new descriptor into its own EL2 stage-1 table (a plain store into
 * the window's level-3 table in its RAM) and invalidates the VA (TLBI
 * VAE2IS). KVM caches the VA's translation (nested.c's VNCR TLB) and must
 * drop it by VA (invalidate_vncr_va()): the nested context's next
 * HCR_EL2 read comes from the new page, as the Arm ARM has it after
 * break-and-invalidate.
 */
KVM_FIXTURE(n33_vncr_el2_remap);
enum class Invalidate { by_va, all, by_va_then_exit, by_va_tge };
FIXTURE_VARIANT(n33_vncr_el2_remap) { Invalidate how; };
FIXTURE_VARIANT_ADD(n33_vncr_el2_remap, tlbi_va) { .how = Invalidate::by_va };
FIXTURE_VARIANT_ADD(n33_vncr_el2_remap, tlbi_va_tge) { .how = Invalidate::by_va_tge };
FIXTURE_VARIANT_ADD(n33_vncr_el2_remap, tlbi_all) { .how = Invalidate::all };
FIXTURE_VARIANT_ADD(n33_vncr_el2_remap, tlbi_va_then_exit) { .how = Invalidate::by_va_then_exit };

TEST_F(n33_vncr_el2_remap, load_after_remap)
{
	GUEST_HYPERVISOR(kvm, g);
	AnonRegion region(g.vm());
	ExitWhenDone exit_when_done(_metadata);
	auto host = [&](uint64_t gpa) -> uint64_t & {
		return *reinterpret_cast<uint64_t *>(region.backing.data() + gpa - ARCH_TEST_GPA);
	};
	const uint64_t old_page = vncr_page(), new_page = ARCH_TEST_GPA;
	host(old_page + arch::vncr_hcr_offset) = pattern;
	host(new_page + arch::vncr_hcr_offset) = ~pattern;
	const uint64_t va = map_vncr_va(g, {.ipa = old_page});
	const uint64_t descriptor_gpa = ARCH_RAM_GPA + ARCH_WINDOW_L3_OFFSET + 8 * vncr_window_page;

	const guest::Step remap = store(descriptor_gpa, 8, arch::window_descriptor({.ipa = new_page}));
	const guest::Step tlbi = variant->how == Invalidate::all ? tlbi_el2_all()
								 : tlbi_el2_va(va & ~0xfffull, variant->how == Invalidate::by_va_tge);
	if (variant->how == Invalidate::by_va_then_exit) {
		g.order({vncr_load(va), remap, tlbi, sync_point(), vncr_load(va)});
		ASSERT_OUTCOME("VNCR load, remap, TLBI", Expectation::guest_sync(arch::rules::N), g.run());
	} else {
		g.order({vncr_load(va), remap, tlbi, vncr_load(va)});
	}
	ASSERT_OUTCOME("VNCR loads around the remap", Expectation::guest_done(arch::rules::N), g.run());
	EXPECT_VALUE(arch::rules::N, "the guest hypervisor's new descriptor, in its table",
		     arch::window_descriptor({.ipa = new_page}),
		     *reinterpret_cast<uint64_t *>(g.ram_at(descriptor_gpa)));
	EXPECT_VALUE(arch::rules::N, "nested HCR_EL2 read before the remap (old page)", pattern, g.loaded(0));
	EXPECT_VALUE(arch::rules::N, "nested HCR_EL2 read after the remap and TLBI (new page)", ~pattern,
		     g.loaded(variant->how == Invalidate::by_va_then_exit ? 4 : 3));
}

/*
 * N34: the guest hypervisor routes IRQs to itself but not FIQs
 * (HCR_EL2.{IMO,FMO} = {1,0}), a configuration the Arm ARM allows, and
 * runs a nested context that makes an MMIO load. Nothing is pending: the
 * load exits (C5), completes, and the guest hypervisor goes on. KVM's
 * virtual GIC does not model the split (vgic-v3-nested.c
 * vgic_state_is_nested()), which may be; the guest must not be able to
 * make the host kernel WARN over it (C13, checked around every test).
 */
KVM_FIXTURE(n34_nested_irq_routing);

TEST_F(n34_nested_irq_routing, imo_without_fmo)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	const uint64_t offset = 0x2040;
	g.order({nested_load(window_ipa(offset), guest::nested_route_irq), level()});
	ASSERT_OUTCOME("nested load", Expectation::mmio(rules::C5, window_gpa(offset), 8, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(pattern));
	EXPECT_VALUE(rules::C5, "value the nested context loaded", pattern, g.loaded(0));
}

/*
 * N35: an interrupt for the guest hypervisor while its nested context
 * waits on an MMIO load. The guest hypervisor enabled an SPI at its GIC
 * and routes IRQs and FIQs to itself (HCR_EL2.{IMO,FMO}); userspace
 * raises the SPI (KVM_IRQ_LINE, api.rst 4.25) and completes the load.
 * The Arm ARM: the load completes, then the IRQ is taken to EL2 from the
 * nested context (the lower-EL AArch64 IRQ vector), ELR_EL2 the
 * instruction after the load, SPSR_EL2 the context's EL1h with DAIF
 * masked (EL1's PSTATE.I does not mask an IRQ routed to EL2).
 */
KVM_FIXTURE(n35_nested_irq_for_guest_hypervisor);

TEST_F(n35_nested_irq_for_guest_hypervisor, during_mmio_load)
{
	GUEST_HYPERVISOR(kvm, g);
	ExitWhenDone exit_when_done(_metadata);
	constexpr uint32_t spi = 40;
	const uint64_t offset = 0x2040;
	g.order({gic_enable_spi(spi), nested_load(window_ipa(offset), guest::nested_route_interrupts), level()});
	Observation exit = g.run();
	ASSERT_OUTCOME("nested load", Expectation::mmio(rules::C5, window_gpa(offset), 8, false), exit);
	ASSERT_TRUE(exit.access.has_value());

	struct kvm_irq_level irq {};
	irq.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | spi;
	irq.level = 1;
	ASSERT_EQ(0, ioctl(g.vm().fd(), KVM_IRQ_LINE, &irq)) TH_LOG("KVM_IRQ_LINE: %s", errno_name(errno).c_str());
	Observation obs = g.complete_load_and_run(pattern);
	GuestException x;
	x.vector = 0x480;
	x.check_address = false;
	x.pstate_mask = 0x3df;
	x.pstate = 0x3c5;
	x.what = "an IRQ from the nested context";
	ASSERT_OUTCOME("after the load",
		       Expectation::guest_exception(arch::rules::N, x)
			       .because("the Arm ARM: with HCR_EL2.IMO an IRQ from EL1 is taken to EL2; KVM: "
					"nested.c check_nested_vcpu_requests(), emulate-nested.c kvm_inject_nested_irq()"),
		       obs);
	ASSERT_TRUE(obs.call.has_value());
	EXPECT_VALUE(arch::rules::N, "ELR_EL2 (the instruction after the completed load)", exit.access->next_pc,
		     obs.call->args[3]);
}

/*
 * U through the guest hypervisor's stage-2 (CONTRACT.md U on
 * arm64-nested): the page behind the window is missing behind a
 * userfaultfd (include/userfault.h). U1: the nested load waits while the
 * page server fills the page and reads what it sent. U3
 * (UFFD_FEATURE_SIGBUS): -1/EFAULT at once, judged by C4 for the
 * guest's own GPA (nothing promised where KVM_CAP_MEMORY_FAULT_INFO is
 * 0), then the fill completes the load (C12).
 */
KVM_FIXTURE(u1_nested_missing_page);

TEST_F(u1_nested_missing_page, load)
{
	GUEST_HYPERVISOR(kvm, g);
	std::string why;
	auto uffd = Userfault::create(2 * page_size(), &why);
	if (!uffd)
		SKIP(return, "%s", why.c_str());
	HostMapping source = HostMapping::anonymous(page_size());
	*reinterpret_cast<uint64_t *>(source.data() + 0x48) = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, uffd->memory());
	ExitWhenDone exit_when_done(_metadata);

	const uint64_t offset = page_size() + 0x48;
	g.order({nested_load(window_ipa(offset))});
	PageServer server(*uffd, {.offset = page_size(), .fill = PageServer::Plan::Fill::copy,
				  .source = source.data()});
	Observation obs = g.run();
	server.join();
	ASSERT_OUTCOME("nested load from the missing page", Expectation::guest_done(rules::U), obs);
	ASSERT_TRUE(server.fault_address().has_value());
	EXPECT_VALUE(rules::U, "page the fault was reported on (host address)", uffd->memory().hva() + page_size(),
		     *server.fault_address() & ~(page_size() - 1));
	EXPECT_VALUE(rules::U, "the fill's result", 0, server.fill_result());
	EXPECT_VALUE(rules::C12, "value the nested context loaded", pattern, g.loaded(0));
}

KVM_FIXTURE(u3_nested_sigbus);

TEST_F(u3_nested_sigbus, load)
{
	GUEST_HYPERVISOR(kvm, g);
	std::string why;
	auto uffd = Userfault::create(2 * page_size(), &why, UFFD_FEATURE_SIGBUS);
	if (!uffd)
		SKIP(return, "%s", why.c_str());
	HostMapping source = HostMapping::anonymous(page_size());
	*reinterpret_cast<uint64_t *>(source.data() + 0x48) = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, uffd->memory());
	ExitWhenDone exit_when_done(_metadata);

	const uint64_t offset = page_size() + 0x48;
	g.order({nested_load(window_ipa(offset))});
	const bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	EXPECT_OUTCOME("nested load from the missing page", Expectation::unresolvable_fault(window_gpa(offset), promised),
		       g.run());
	ASSERT_EQ(0, uffd->copy_raw(page_size(), source.data()));
	ASSERT_OUTCOME("after the fill", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "value the nested context loaded", pattern, g.loaded(0));
}

KVMC_TEST_MAIN

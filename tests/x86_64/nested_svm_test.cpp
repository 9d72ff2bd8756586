// SPDX-License-Identifier: GPL-2.0
/*
 * Nested virtualization on x86 (CONTRACT.md NX, AMD SVM): the guest is a
 * hypervisor (the vCPU's CPUID offers SVM) that runs a nested guest with
 * VMRUN through nested page tables of its own (include/x86_64/layout.h:
 * identity over the low 4 GiB, and a window at ARCH_NESTED_WINDOW_NPA
 * whose page n is the guest's ARCH_TEST_GPA + n * 4 KiB). KVM shadows
 * those tables (arch/x86/kvm/mmu/, the nested TDP paths of paging_tmpl.h)
 * and a fault of the nested guest there is reported to userspace,
 * forwarded to the guest hypervisor as #VMEXIT, or emulated. The guest
 * hypervisor reports every #VMEXIT but its nested guest's VMMCALL
 * through the exception ucall (guest_arch.h arch_nested).
 *
 *  nx0_guest_hypervisor        NX0, the runtime: nested loads and stores
 *                              through the window reach the guest's memory
 *  nx1_nested_no_memslot       NX1, the window's output has no memslot: C5
 *                              MMIO at the guest's GPA, not the nested
 *                              guest's address; C14 on completion (RIP,
 *                              RAX of the nested guest)
 *  nx2_nested_broken_backing   NX2 over M4-M6: C4, C12
 *  nx2_nested_guest_memfd_gone NX2 over G2: C10, memory_fault.gpa the GPA
 *  nx2_nested_punched_hole     NX2 over G3
 *  nx2_nested_allocation_failure  NX2 over G4
 *  nx2_nested_poisoned_*       NX2 over P1, P2 (C8) and P3 (C9)
 *  nx3_guest_hypervisor_structure
 *                              NX3: the VMCB, the nested page tables' root,
 *                              the MSR and I/O permission maps without
 *                              memslot or in a read-only one
 *  nx4_nested_npf              NX4: the guest hypervisor's own nested page
 *                              tables fault: #VMEXIT(NPF) with EXITINFO1,
 *                              EXITINFO2 and the nested RIP as the APM has
 *                              them (final translation and table walk)
 *  nx5_nested_intercepted_pf   NX5: the nested guest's #PF, raised by the
 *                              CPU or by KVM's instruction emulator, to a
 *                              guest hypervisor that intercepts it:
 *                              #VMEXIT(0x4e), EXITINFO1/2 (C14)
 *
 * The *_no_npt variants run the nested guest without nested paging (the
 * guest hypervisor clears NP_ENABLE; KVM shadows the nested guest's own
 * page tables), the others through the guest hypervisor's nested page
 * tables.
 *
 * Every test skips where KVM offers no SVM to its guest (kvm_amd
 * nested=0), and every test that needs the guest hypervisor's nested page
 * tables where KVM offers SVM without nested paging (kvm_amd npt=0:
 * x86_64-shadow), saying which.
 */
#include "test_util.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <sys/mman.h>

#include "arch.h"
#include "backing.h"
#include "cgroup.h"
#include "layout.h"
#include "x86_64/exception.h"
#include "x86_64/nested.h"
#include "x86_64/svm.h"
#include "x86_64/window.h"

using namespace kvmc;

namespace {

constexpr uint64_t pattern = 0x8877665544332211ull;
constexpr uint64_t load_answer = 0xf1e2d3c4b5a69788ull;

/* The nested guest's address of the window's page n at offset, and the
 * guest's GPA it maps. */
constexpr uint64_t window_npa(uint64_t n, uint64_t offset) { return ARCH_NESTED_WINDOW_NPA + n * 0x1000 + offset; }
constexpr uint64_t window_out(uint64_t n, uint64_t offset) { return ARCH_TEST_GPA + n * 0x1000 + offset; }

guest::Step nested_access(uint64_t address, bool is_write)
{
	return is_write ? nested_store(address, ~pattern) : nested_load(address);
}

/* The nested guest starts at address: an instruction fetch there. */
guest::Step nested_fetch_at(uint64_t address) { return {address, 0, guest::op_nested_fetch, 1}; }

/* The window's output as anonymous memory in test_slot, each 8-byte word
 * preset to its page's number, so a read from the wrong page shows. */
struct WindowPages {
	explicit WindowPages(Vm &vm) : backing(HostMapping::anonymous(ARCH_NESTED_WINDOW_PAGES * 0x1000))
	{
		for (uint64_t n = 0; n < ARCH_NESTED_WINDOW_PAGES; n++)
			for (uint64_t o = 0; o < 0x1000; o += 8)
				host(n, o) = 0x7e57000000000000ull | n;
		memslot.emplace(vm, test_slot, ARCH_TEST_GPA, backing);
	}
	uint64_t &host(uint64_t n, uint64_t offset)
	{
		return *reinterpret_cast<uint64_t *>(backing.data() + n * 0x1000 + offset);
	}

	HostMapping backing;
	std::optional<Memslot> memslot;
};

} /* namespace */

/*
 * Every NX test's VM: skip where KVM offers no SVM, and, when the nested
 * guest is to run through nested page tables (npt), where it offers no
 * NPT; make g a GuestVm whose guest is a hypervisor, and without npt tell
 * it to run its nested guest without nested paging (its physical
 * addresses are then the guest's: KVM shadows the nested guest's page
 * tables instead). A macro, as SKIP must return from the test body.
 */
#define GUEST_HYPERVISOR_PAGING(kvm, g, npt)                                       \
	Kvm kvm;                                                                   \
	if (auto why = arch::hypervisor_unavailable(kvm))                          \
		SKIP(return, "%s", why->c_str());                                  \
	if (auto why = (npt) ? x86::nested_paging_unavailable(kvm) : std::nullopt) \
		SKIP(return, "%s", why->c_str());                                  \
	GuestVm g(kvm, GuestVm::hypervisor);                                       \
	if (!(npt))                                                                \
	g.ram(ARCH_RAM_GPA + ARCH_SVM_CONFIG_OFFSET + 8 * guest::svm_nested_paging_off) = 1

#define GUEST_HYPERVISOR(kvm, g) GUEST_HYPERVISOR_PAGING(kvm, g, true)

namespace {

/* The nested guest's address of the window's page n at offset: through
 * the nested page tables, or the guest's own without them. */
constexpr uint64_t nested_address(bool npt, uint64_t n, uint64_t offset)
{
	return npt ? window_npa(n, offset) : window_out(n, offset);
}

} /* namespace */

/*
 * NX0: the runtime itself. The guest becomes a hypervisor (EFER.SVME),
 * and its nested guest's load and store through the window reach the
 * guest's memory at the other address; nothing reaches userspace.
 */
KVM_FIXTURE(nx0_guest_hypervisor);
FIXTURE_VARIANT(nx0_guest_hypervisor) { bool npt; };
FIXTURE_VARIANT_ADD(nx0_guest_hypervisor, npt) { .npt = true };
FIXTURE_VARIANT_ADD(nx0_guest_hypervisor, no_npt) { .npt = false };

TEST_F(nx0_guest_hypervisor, nested_load_and_store)
{
	GUEST_HYPERVISOR_PAGING(kvm, g, variant->npt);
	WindowPages pages(g.vm());
	pages.host(1, 0x40) = ~pattern;
	const bool npt = variant->npt;
	g.order({level(), nested_load(nested_address(npt, 1, 0x40)), nested_store(nested_address(npt, 2, 0x48), pattern),
		 nested_load(nested_address(npt, 2, 0x48)), level()});
	ASSERT_OUTCOME("run", Expectation::guest_done(x86::rules::NX), g.run());
	EXPECT_VALUE(x86::rules::NX, "EFER.SVME before the first nested run", 0, g.loaded(0));
	EXPECT_VALUE(x86::rules::NX, "nested load through the window", ~pattern, g.loaded(1));
	EXPECT_VALUE(x86::rules::NX, "nested store through the window, seen by the host", pattern, pages.host(2, 0x48));
	EXPECT_VALUE(x86::rules::NX, "nested load of what it stored", pattern, g.loaded(3));
	EXPECT_VALUE(x86::rules::NX, "EFER.SVME after", 1, g.loaded(4));
	EXPECT_VALUE(x86::rules::NX, "the guest's page the nested address is not", 0x7e57000000000000ull,
		     pages.host(0, 0x48));
}

/*
 * NX1: the window's output has no memslot. C5: KVM_EXIT_MMIO whose
 * phys_addr is the guest's GPA (the output of the guest hypervisor's
 * nested page tables), not the nested guest's address. A load completes
 * with userspace's data; completed by a KVM_RUN with immediate_exit, the
 * nested guest's RIP is past the access and its RAX holds the data (C14).
 */
KVM_FIXTURE(nx1_nested_no_memslot);
FIXTURE_VARIANT(nx1_nested_no_memslot) { bool is_write; bool npt; };
FIXTURE_VARIANT_ADD(nx1_nested_no_memslot, load) { .is_write = false, .npt = true };
FIXTURE_VARIANT_ADD(nx1_nested_no_memslot, store) { .is_write = true, .npt = true };
FIXTURE_VARIANT_ADD(nx1_nested_no_memslot, load_no_npt) { .is_write = false, .npt = false };
FIXTURE_VARIANT_ADD(nx1_nested_no_memslot, store_no_npt) { .is_write = true, .npt = false };

TEST_F(nx1_nested_no_memslot, access)
{
	GUEST_HYPERVISOR_PAGING(kvm, g, variant->npt);
	const bool npt = variant->npt;
	g.order({nested_access(nested_address(npt, 2, 0x40), variant->is_write),
		 nested_load(nested_address(npt, 3, 0x8))});
	ASSERT_OUTCOME("nested access",
		       Expectation::mmio(rules::C5, window_out(2, 0x40), 8, variant->is_write, ~pattern), g.run());
	ASSERT_OUTCOME("second nested access", Expectation::mmio(rules::C5, window_out(3, 0x8), 8, false),
		       variant->is_write ? g.run() : g.complete_load_and_run(load_answer));
	if (!variant->is_write)
		EXPECT_VALUE(rules::C5, "value the nested guest loaded", load_answer, g.loaded(0));
	/* C14: the KVM_RUN with immediate_exit completes the nested load. */
	g.vcpu().complete_mmio_load(pattern);
	g.vcpu().shared()->immediate_exit = 1;
	Observation completed = g.run();
	g.vcpu().shared()->immediate_exit = 0;
	ASSERT_OUTCOME("KVM_RUN with immediate_exit", Expectation::intr(rules::C11, false).completing(pattern),
		       completed);
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "value the nested guest loaded last", pattern, g.loaded(1));
}

/*
 * NX4: the guest hypervisor's own nested page tables fault, on the final
 * translation (the window's not-present page; a store to its read-only
 * page, after a load from it went through; a fetch from the not-present
 * page, I/D set; a load from a page whose entry has a reserved bit set,
 * P and RSV set) or on the nested guest's own
 * page-table walk (ARCH_NESTED_WALK_GVA: the nested guest's page
 * directory is at a nested-guest physical address those tables leave
 * out). KVM forwards #VMEXIT(NPF): EXITINFO1 the #PF error code bits of
 * the nested fault (P, W, U/S, RSV, I/D: every nested-page-table access
 * is a user access, AMD APM 15.25.5; a walk's accesses to the nested
 * guest's tables are writes, which may set their Accessed bits) with bit
 * 32 or 33, EXITINFO2 the nested-guest physical address (of the table
 * entry, for a walk), the nested guest's RIP still at the access (C14).
 * Nothing reaches userspace.
 */
namespace {

struct NpfCase {
	uint64_t address;	/* the nested guest's (virtual = physical but for the walk) */
	x86::NestedAccessKind access;
	x86::NpfStage stage;
	uint64_t error_code;
	uint64_t nested_gpa;	/* EXITINFO2 */
};

/* The walk's page directory entry: PD index 3 of ARCH_NESTED_WALK_GVA's
 * 1 GiB, in the window's not-present page. */
constexpr uint64_t walk_gva = ARCH_NESTED_WALK_GVA + 3 * 0x200000 + 0x458;
constexpr uint64_t walk_pde = window_npa(ARCH_NESTED_PAGE_NOT_PRESENT, 3 * 8);

} /* namespace */

KVM_FIXTURE(nx4_nested_npf);
FIXTURE_VARIANT(nx4_nested_npf) { NpfCase c; };
FIXTURE_VARIANT_ADD(nx4_nested_npf, not_present_load) {
	.c = {window_npa(ARCH_NESTED_PAGE_NOT_PRESENT, 0x18), x86::NestedAccessKind::load,
	      x86::NpfStage::final_translation, x86::pf_user, window_npa(ARCH_NESTED_PAGE_NOT_PRESENT, 0x18)} };
FIXTURE_VARIANT_ADD(nx4_nested_npf, not_present_store) {
	.c = {window_npa(ARCH_NESTED_PAGE_NOT_PRESENT, 0x7f8), x86::NestedAccessKind::store,
	      x86::NpfStage::final_translation, x86::pf_user | x86::pf_write,
	      window_npa(ARCH_NESTED_PAGE_NOT_PRESENT, 0x7f8)} };
FIXTURE_VARIANT_ADD(nx4_nested_npf, read_only_store) {
	.c = {window_npa(ARCH_NESTED_PAGE_RO, 0x7f8), x86::NestedAccessKind::store, x86::NpfStage::final_translation,
	      x86::pf_present | x86::pf_write | x86::pf_user, window_npa(ARCH_NESTED_PAGE_RO, 0x7f8)} };
FIXTURE_VARIANT_ADD(nx4_nested_npf, not_present_fetch) {
	.c = {window_npa(ARCH_NESTED_PAGE_NOT_PRESENT, 0x100), x86::NestedAccessKind::fetch,
	      x86::NpfStage::final_translation, x86::pf_user | x86::pf_fetch,
	      window_npa(ARCH_NESTED_PAGE_NOT_PRESENT, 0x100)} };
FIXTURE_VARIANT_ADD(nx4_nested_npf, reserved_bit_load) {
	.c = {window_npa(ARCH_NESTED_PAGE_RSVD, 0x28), x86::NestedAccessKind::load, x86::NpfStage::final_translation,
	      x86::pf_present | x86::pf_rsvd | x86::pf_user, window_npa(ARCH_NESTED_PAGE_RSVD, 0x28)} };
FIXTURE_VARIANT_ADD(nx4_nested_npf, table_walk_load) {
	.c = {walk_gva, x86::NestedAccessKind::load, x86::NpfStage::table_walk, x86::pf_user | x86::pf_write,
	      walk_pde} };

TEST_F(nx4_nested_npf, forwarded)
{
	GUEST_HYPERVISOR(kvm, g);
	WindowPages pages(g.vm());
	const NpfCase &c = variant->c;
	const bool store = c.access == x86::NestedAccessKind::store;
	/* A load from the read-only page first: the nested page tables
	 * allow it, so KVM maps the page for the nested guest. */
	g.order({nested_load(window_npa(ARCH_NESTED_PAGE_RO, 0x7f8)),
		 c.access == x86::NestedAccessKind::fetch ? nested_fetch_at(c.address) : nested_access(c.address, store)});
	ASSERT_OUTCOME("nested access", x86::forwarded_npf(c.stage, c.error_code, c.nested_gpa), g.run());
	EXPECT_VALUE(x86::rules::NX, "nested load from the read-only page", 0x7e57000000000000ull | ARCH_NESTED_PAGE_RO,
		     g.loaded(0));
	EXPECT_VALUE(x86::rules::NX, "the read-only page, untouched", 0x7e57000000000000ull | ARCH_NESTED_PAGE_RO,
		     pages.host(ARCH_NESTED_PAGE_RO, 0x7f8));
	EXPECT_VALUE(x86::rules::NX, "steps completed", 1, g.completed());
}

/*
 * NX5: the guest hypervisor intercepts the nested guest's #PF (every
 * exception, guest_arch.h). A #PF the CPU raises (a guest virtual address
 * the nested guest's page tables leave out), and one KVM's instruction
 * emulator raises while it emulates the nested guest's MMIO load that
 * crosses into a page whose guest PTE is not present (window.h
 * window_mmio_d, then window_not_present: the first half is MMIO at a
 * nested address the nested page tables map 1:1 onto no memslot), must
 * both reach the guest hypervisor as #VMEXIT(0x4e): EXITINFO1 the error
 * code, EXITINFO2 the faulting linear address (the first byte needed in
 * the page that faults), the nested RIP at the access. Nothing reaches
 * userspace (the MMIO half is never performed: the fault comes first).
 */
namespace {

struct InterceptedPfCase {
	uint64_t gva;
	x86::NestedAccessKind access;
	uint64_t error_code;
	uint64_t cr2;
};

} /* namespace */

KVM_FIXTURE(nx5_nested_intercepted_pf);
FIXTURE_VARIANT(nx5_nested_intercepted_pf) { InterceptedPfCase c; bool npt; };
#define NX5_CASES(suffix, with_npt)                                                                            \
	FIXTURE_VARIANT_ADD(nx5_nested_intercepted_pf, not_present_load##suffix) {                             \
		.c = {ARCH_UNMAPPED_GVA + 0x48, x86::NestedAccessKind::load, 0, ARCH_UNMAPPED_GVA + 0x48},     \
		.npt = with_npt };                                                                             \
	FIXTURE_VARIANT_ADD(nx5_nested_intercepted_pf, not_present_store##suffix) {                            \
		.c = {ARCH_UNMAPPED_GVA + 0x1f8, x86::NestedAccessKind::store, x86::pf_write,                  \
		      ARCH_UNMAPPED_GVA + 0x1f8},                                                              \
		.npt = with_npt };                                                                             \
	FIXTURE_VARIANT_ADD(nx5_nested_intercepted_pf, emulated_split_load##suffix) {                          \
		.c = {x86::window_gva(x86::window_not_present) - 4, x86::NestedAccessKind::load, 0,            \
		      x86::window_gva(x86::window_not_present)},                                               \
		.npt = with_npt };                                                                             \
	FIXTURE_VARIANT_ADD(nx5_nested_intercepted_pf, emulated_split_store##suffix) {                         \
		.c = {x86::window_gva(x86::window_not_present) - 4, x86::NestedAccessKind::store,              \
		      x86::pf_write, x86::window_gva(x86::window_not_present)},                                \
		.npt = with_npt }
NX5_CASES(, true);
NX5_CASES(_no_npt, false);

TEST_F(nx5_nested_intercepted_pf, forwarded)
{
	GUEST_HYPERVISOR_PAGING(kvm, g, variant->npt);
	const InterceptedPfCase &c = variant->c;
	g.order({nested_access(c.gva, c.access == x86::NestedAccessKind::store)});
	ASSERT_OUTCOME("nested access", x86::intercepted_page_fault(c.error_code, c.cr2), g.run());
	EXPECT_VALUE(x86::rules::NX, "steps completed", 0, g.completed());
}

/*
 * NX2: the window's output is memory KVM cannot fault in, or a
 * guest_memfd page in trouble: judged like the guest's own access (M4-M6,
 * G2, G3, P1, P3), with memory_fault.gpa and the poisoned extent in
 * userspace's own guest physical space (C2): the guest's GPA the nested
 * page tables give, never the nested guest's address. The window's page 1
 * is the second page of the test region (ARCH_TEST_GPA + 4 KiB).
 */
namespace {

constexpr uint64_t gmem_flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

std::optional<std::string> no_shared_gmem(Vm &vm)
{
	if (vm.check_extension(KVM_CAP_GUEST_MEMFD) < 1)
		return "needs KVM_CAP_GUEST_MEMFD (CONFIG_KVM_GUEST_MEMFD)";
	if ((vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS) & gmem_flags) != gmem_flags)
		return "needs guest_memfd flags MMAP|INIT_SHARED for this VM type";
	return std::nullopt;
}

} /* namespace */

#define REQUIRE_SHARED_GMEM(vm)                                                    \
	do {                                                                       \
		if (auto why = no_shared_gmem(vm))                                 \
			SKIP(return, "%s", why->c_str());                          \
	} while (0)

/* M4-M6 under the window: -1/EFAULT with the payload C4 promises where
 * KVM_CAP_MEMORY_FAULT_INFO is 1, then C12 once repaired. */
KVM_FIXTURE(nx2_nested_broken_backing);
FIXTURE_VARIANT(nx2_nested_broken_backing) { Breakage how; bool is_write; bool npt; };
FIXTURE_VARIANT_ADD(nx2_nested_broken_backing, prot_none_load) { .how = Breakage::prot_none, .is_write = false, .npt = true };
FIXTURE_VARIANT_ADD(nx2_nested_broken_backing, prot_none_store) { .how = Breakage::prot_none, .is_write = true, .npt = true };
FIXTURE_VARIANT_ADD(nx2_nested_broken_backing, unmapped_load) { .how = Breakage::unmapped, .is_write = false, .npt = true };
FIXTURE_VARIANT_ADD(nx2_nested_broken_backing, truncated_load) { .how = Breakage::truncated, .is_write = false, .npt = true };
FIXTURE_VARIANT_ADD(nx2_nested_broken_backing, prot_none_load_no_npt) {
	.how = Breakage::prot_none, .is_write = false, .npt = false };
FIXTURE_VARIANT_ADD(nx2_nested_broken_backing, truncated_store_no_npt) {
	.how = Breakage::truncated, .is_write = true, .npt = false };

TEST_F(nx2_nested_broken_backing, fault_then_recover)
{
	GUEST_HYPERVISOR_PAGING(kvm, g, variant->npt);
	BreakableBacking b(g.vm(), variant->how, "kvm-contract-nx2");
	const uint64_t before = 0x10, offset = 0x1000 + 0x20;
	const bool npt = variant->npt;
	g.order({nested_store(nested_address(npt, 0, before), pattern),
		 nested_access(nested_address(npt, 1, 0x20), variant->is_write)});
	b.break_page();
	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	ASSERT_OUTCOME("nested access", Expectation::unresolvable_fault(window_out(1, 0x20), promised), g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the fault", 1, g.completed());

	b.repair();
	if (!variant->is_write)
		b.host(offset) = ~pattern;
	ASSERT_OUTCOME("after the repair", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "the nested guest's earlier store", pattern, b.host(before));
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the retried store", ~pattern, b.host(offset));
	else
		EXPECT_VALUE(rules::C12, "the retried load", ~pattern, g.loaded(1));
}

/* G2 under the window: C10, -1/EFAULT with KVM_EXIT_MEMORY_FAULT covering
 * the guest's GPA. */
KVM_FIXTURE(nx2_nested_guest_memfd_gone);

TEST_F(nx2_nested_guest_memfd_gone, load)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	GuestMemfd gmem(g.vm(), 2 * 0x1000, gmem_flags);
	HostMapping shared = HostMapping::anonymous(2 * 0x1000);
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, 2 * 0x1000, shared);
	gmem.close();
	g.order({nested_load(window_npa(1, 0x48))});
	ASSERT_OUTCOME("nested load", Expectation::memory_fault(rules::C10, EFAULT, window_out(1, 0x48)), g.run());
}

/* G3 under the window: the nested guest stored to a guest_memfd page,
 * userspace punches it; KVM must drop the nested mapping too, so the
 * nested load reads zero and the next page keeps its data; no exit. */
KVM_FIXTURE(nx2_nested_punched_hole);

TEST_F(nx2_nested_punched_hole, load_after_punch)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 3 * 0x1000, gmem_flags);
	g.order({nested_store(window_npa(1, 0x18), pattern), nested_store(window_npa(2, 0), ~pattern), sync_point(),
		 nested_load(window_npa(1, 0x18)), nested_load(window_npa(2, 0))});
	ASSERT_OUTCOME("nested stores", Expectation::guest_sync(x86::rules::NX), g.run());
	EXPECT_VALUE(rules::G3, "the nested store, seen through the guest_memfd mapping", pattern,
		     *reinterpret_cast<uint64_t *>(region.view.data() + 0x1018));
	ASSERT_EQ(0, fallocate(region.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0x1000, 0x1000))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("nested loads after the punch", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "nested load from the punched page", 0, g.loaded(3));
	EXPECT_VALUE(rules::G3, "nested load from the page after the hole", ~pattern, g.loaded(4));
}

/*
 * G4 under the window: the guest_memfd page behind the nested guest's
 * access cannot be allocated. A first nested run, before anything is
 * limited, sets up what the guest hypervisor and KVM's nested MMU need
 * (through an ordinary page at window page 2); then, in a 4 MiB memory
 * cgroup, a 64 MiB guest_memfd whose last page is window page 1's output
 * is filled but for that page, and the nested load must be judged as
 * G4's: C1 with EFAULT/EHWPOISON, C3 for ENOMEM, memory_fault.gpa the
 * guest's GPA.
 */
KVM_FIXTURE(nx2_nested_allocation_failure);

TEST_F(nx2_nested_allocation_failure, load)
{
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	HostMapping ordinary = HostMapping::anonymous(0x1000);
	Memslot ordinary_slot(g.vm(), test_slot, window_out(2, 0), ordinary);
	g.order({nested_store(window_npa(2, 0x10), pattern), sync_point(), nested_load(window_npa(1, 0x40))});
	ASSERT_OUTCOME("nested store to an ordinary page", Expectation::guest_sync(x86::rules::NX), g.run());

	std::string why;
	auto cg = MemoryCgroup::enter(4u << 20, &why);
	if (!cg)
		SKIP(return, "%s", why.c_str());
	constexpr uint64_t size = 64ull << 20;
	MappedGmemSlot region(g.vm(), test_slot + 1, window_out(2, 0) - size, size, gmem_flags);
	int stopped = 0;
	if (auto full = fill_gmem_but_last_page(region.gmem, &stopped))
		SKIP(return, "%s", full->c_str());
	log_line("fallocate() stopped with " + errno_name(stopped) + ": the cgroup is full");
	Observation obs = g.run();
	cg->lift();
	ASSERT_OUTCOME("nested load with no memory left",
		       Expectation::allocation_failure(window_out(1, 0x40))
			       .because("virt/kvm/guest_memfd.c kvm_gmem_get_pfn() for the nested guest's access, "
					"through KVM's shadow of the guest hypervisor's nested page tables "
					"(arch/x86/kvm/mmu/mmu.c kvm_mmu_faultin_pfn_gmem)"),
		       obs);
}

/* P1 under the window: C8, SIGBUS BUS_MCEERR_AR at the host address of
 * the guest's GPA, the extent the native fault reports, then -1/EINTR;
 * C12 with a fresh page. */
KVM_FIXTURE(nx2_nested_poisoned_anon_page);

TEST_F(nx2_nested_poisoned_anon_page, load)
{
	REQUIRE_DESTRUCTIVE();
	GUEST_HYPERVISOR(kvm, g);
	HostMapping backing = HostMapping::anonymous(2 * 0x1000);
	memset(backing.data(), 0x5a, backing.size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	const uint64_t offset = 0x1040;
	g.order({nested_store(window_npa(0, 0x10), pattern), nested_load(window_npa(1, 0x40))});
	uint8_t *page = backing.data() + 0x1000;
	if (const char *why = poison_unavailable(poison(page)))
		SKIP(return, "%s", why);
	Observation obs = g.run();
	SignalRecord native = native_fault(backing.data() + offset);
	ASSERT_OUTCOME("nested load",
		       Expectation::poison_signal(backing.hva() + offset, native)
			       .because("not in api.rst. KVM: the nested guest's fault on the guest hypervisor's "
					"nested page tables' output, kvm_handle_error_pfn() -> kvm_send_hwpoison_signal() "
					"(arch/x86/kvm/mmu/mmu.c); compared with the native fault on the same memory"),
		       obs);
	ASSERT_EQ(page, mmap(page, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	ASSERT_OUTCOME("after a new mapping", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "the nested guest's earlier store", pattern,
		     *reinterpret_cast<uint64_t *>(backing.data() + 0x10));
}

/* P2 under the window: the guest's GPA in a 2 MiB hugetlb page the host
 * poisons; the extent judged against the native fault's, as for P2
 * (the window's 4 KiB nested page inside the guest's huge one). */
KVM_FIXTURE(nx2_nested_poisoned_huge_page);

TEST_F(nx2_nested_poisoned_huge_page, load)
{
	REQUIRE_DESTRUCTIVE();
	GUEST_HYPERVISOR(kvm, g);
	std::string no_huge_pages;
	uint8_t *base = map_huge_pages(2, &no_huge_pages);
	if (!base)
		SKIP(return, "%s", no_huge_pages.c_str());
	ASSERT_EQ(0, add_huge_pages_memslot(g.vm(), base, 2));
	const uint64_t offset = 0x1040;
	g.order({nested_load(window_npa(1, 0x40))});
	if (const char *why = poison_unavailable(poison(base + 0x1000)))
		SKIP(return, "%s", why);
	Observation obs = g.run();
	SignalRecord native = native_fault(base + offset);
	ASSERT_OUTCOME("nested load",
		       Expectation::poison_signal(reinterpret_cast<uint64_t>(base) + offset, native)
			       .because("not in api.rst. KVM: the nested guest's fault on the guest hypervisor's "
					"nested page tables' output, in a hugetlb page, kvm_handle_error_pfn() -> "
					"kvm_send_hwpoison_signal() (arch/x86/kvm/mmu/mmu.c); compared with the native "
					"fault on the same memory"),
		       obs);
}

/* P3 under the window: C9, -1/EHWPOISON with KVM_EXIT_MEMORY_FAULT
 * covering the guest's GPA. */
KVM_FIXTURE(nx2_nested_poisoned_guest_memfd);

TEST_F(nx2_nested_poisoned_guest_memfd, load)
{
	REQUIRE_DESTRUCTIVE();
	GUEST_HYPERVISOR(kvm, g);
	REQUIRE_SHARED_GMEM(g.vm());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * 0x1000, gmem_flags, 0x5a);
	g.order({nested_load(window_npa(1, 0x40))});
	if (const char *why = poison_unavailable(poison(region.view.data() + 0x1000)))
		SKIP(return, "%s", why);
	ASSERT_OUTCOME("nested load", Expectation::memory_fault(rules::C9, EHWPOISON, window_out(1, 0x40)), g.run());
}

/*
 * NX3: the guest hypervisor's own structures where no memslot is, or in a
 * read-only memslot: its nested guest's VMCB (VMRUN's RAX), the root of
 * its nested page tables (N_CR3), its MSR and I/O permission maps. The
 * guest hypervisor first runs its nested guest once with everything in
 * RAM; the host then copies the structure into the read-only slot (the
 * guest hypervisor does not write a VMCB outside RAM) and the guest
 * hypervisor runs its nested guest's load again with that structure
 * moved.
 */
namespace {

/* broken_backing: the second page of a BreakableBacking at ARCH_TEST_GPA,
 * made PROT_NONE (M4) after the host copied the structure there. */
enum class Place { no_memslot, read_only_slot, broken_backing };

struct StructureCase {
	guest::SvmStructure which;
	Place where;
	uint64_t ram_offset;	/* where the structure is in RAM by default */
	uint64_t bytes;
};

/* Where a moved structure goes: the MMIO region (no memslot), the start
 * of a read-only memslot at ARCH_TEST_GPA, or the broken page of a
 * BreakableBacking there (a permission map, two pages, starts a page
 * before it and ends in it). */
uint64_t moved_to(const StructureCase &c)
{
	switch (c.where) {
	case Place::no_memslot:
		return ARCH_MMIO_GPA + 0x10000;
	case Place::read_only_slot:
		return ARCH_TEST_GPA;
	default:
		return ARCH_TEST_GPA + 0x2000 - (c.bytes > 0x1000 ? 0x2000 : 0x1000);
	}
}

/* What 7.3.4 does, and why: each judged against the APM. */
Expectation moved_structure_outcome(const StructureCase &c, bool memory_fault_info)
{
	/* C4: the nested guest's page fault VM-exit needs the guest
	 * hypervisor's nested page table, which KVM cannot read: an exit
	 * as the capability promises, naming the table's GPA, not a fault
	 * made up for the guest hypervisor. */
	if (c.which == guest::svm_ncr3 && c.where == Place::broken_backing)
		return Expectation::unresolvable_fault(moved_to(c), memory_fault_info);
	switch (c.which) {
	case guest::svm_vmcb:
		return Expectation::internal_error(x86::rules::NX, KVM_INTERNAL_ERROR_EMULATION)
			.because("arch/x86/kvm/svm/nested.c nested_svm_vmrun(): nested_svm_copy_vmcb12_to_cache() "
				 "cannot map the VMCB (kvm_vcpu_map_local(), writable, fails for no memslot and for "
				 "a read-only one) and returns -EFAULT; kvm_handle_memory_failure(X86EMUL_IO_NEEDED) "
				 "then exits with KVM_EXIT_INTERNAL_ERROR/KVM_INTERNAL_ERROR_EMULATION (x86.c) and "
				 "VMRUN is not retired. The APM (15.5.1) has no outcome for a VMCB outside memory");
	default:
		/* The APM: VMRUN checks only that MSRPM_BASE_PA, IOPM_BASE_PA
		 * and N_CR3 are legal physical addresses (15.5.1); the maps
		 * are read at the MSR or I/O access they govern (15.10,
		 * 15.11), the nested page tables at the walk (15.25). The
		 * nested guest touches no MSR and no port; a read-only slot
		 * only keeps the walk from setting Accessed bits. */
		/* The nested guest's first access is the walk of its own page
		 * tables for its first fetch: the PML4 entry at its CR3 (the
		 * guest's, index 0), a read the nested walk treats as a user
		 * write (it may set Accessed). */
		if (c.which == guest::svm_ncr3 && c.where == Place::no_memslot)
			return x86::forwarded_npf(x86::NpfStage::table_walk, x86::pf_user | x86::pf_write,
						  ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET)
				.because("where no memory answers a read of the nested page tables the APM "
					 "(15.25.5) has whatever the bus returns; KVM's walk of them "
					 "(arch/x86/kvm/mmu/paging_tmpl.h walk_addr_generic(), 407: no visible "
					 "memslot, goto error) calls it not present and forwards #NPF for the "
					 "nested guest's first page-table read (svm/nested.c "
					 "nested_svm_inject_npf_exit())");
		return Expectation::guest_done(x86::rules::NX)
			.because("AMD APM vol. 2 15.5.1 (VMRUN checks N_CR3, MSRPM_BASE_PA and IOPM_BASE_PA "
				 "only for legal physical addresses), 15.10-15.11 (the permission maps are read "
				 "at the access they govern), 15.25.5 (the nested walk reads the tables)");
	}
}

} /* namespace */

KVM_FIXTURE(nx3_guest_hypervisor_structure);
FIXTURE_VARIANT(nx3_guest_hypervisor_structure) { StructureCase c; };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, vmcb_no_memslot) {
	.c = {guest::svm_vmcb, Place::no_memslot, ARCH_VMCB_OFFSET, 0x1000} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, vmcb_read_only_slot) {
	.c = {guest::svm_vmcb, Place::read_only_slot, ARCH_VMCB_OFFSET, 0x1000} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, npt_root_no_memslot) {
	.c = {guest::svm_ncr3, Place::no_memslot, ARCH_NPT_OFFSET, 0x1000} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, npt_root_read_only_slot) {
	.c = {guest::svm_ncr3, Place::read_only_slot, ARCH_NPT_OFFSET, 0x1000} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, msrpm_no_memslot) {
	.c = {guest::svm_msrpm, Place::no_memslot, ARCH_MSRPM_OFFSET, kvmc::svm::msrpm_bytes} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, msrpm_read_only_slot) {
	.c = {guest::svm_msrpm, Place::read_only_slot, ARCH_MSRPM_OFFSET, kvmc::svm::msrpm_bytes} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, vmcb_prot_none) {
	.c = {guest::svm_vmcb, Place::broken_backing, ARCH_VMCB_OFFSET, 0x1000} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, npt_root_prot_none) {
	.c = {guest::svm_ncr3, Place::broken_backing, ARCH_NPT_OFFSET, 0x1000} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, msrpm_prot_none) {
	.c = {guest::svm_msrpm, Place::broken_backing, ARCH_MSRPM_OFFSET, kvmc::svm::msrpm_bytes} };
FIXTURE_VARIANT_ADD(nx3_guest_hypervisor_structure, iopm_no_memslot) {
	.c = {guest::svm_iopm, Place::no_memslot, ARCH_IOPM_OFFSET, kvmc::svm::iopm_bytes} };

TEST_F(nx3_guest_hypervisor_structure, nested_load)
{
	const StructureCase &c = variant->c;
	/* Only the nested page tables' root needs nested paging; the rest
	 * runs without it where KVM offers none. */
	GUEST_HYPERVISOR_PAGING(kvm, g, c.which == guest::svm_ncr3 || !x86::nested_paging_unavailable(kvm));
	const uint64_t at = moved_to(c);
	HostMapping backing = HostMapping::anonymous(0x4000);
	std::optional<Memslot> slot;
	std::optional<BreakableBacking> breakable;
	if (c.where == Place::read_only_slot)
		slot.emplace(g.vm(), test_slot, ARCH_TEST_GPA, backing, KVM_MEM_READONLY);
	else if (c.where == Place::broken_backing)
		breakable.emplace(g.vm(), Breakage::prot_none, "kvm-contract-nx3");
	const uint64_t ram_word = ARCH_RAM_GPA + 0x9f000;
	g.ram(ram_word) = pattern;
	g.order({nested_load(ram_word), sync_point(), x86::svm_structure_at(c.which, at), nested_load(ram_word)});
	ASSERT_OUTCOME("nested load, everything in RAM", Expectation::guest_sync(x86::rules::NX), g.run());
	EXPECT_VALUE(x86::rules::NX, "nested load", pattern, g.loaded(0));
	const uint8_t *structure = g.ram_at(ARCH_RAM_GPA + c.ram_offset);
	if (c.where == Place::read_only_slot)
		memcpy(backing.data(), structure, c.bytes);
	if (breakable) {
		for (uint64_t o = 0; o < c.bytes; o += 8)
			breakable->host(at - ARCH_TEST_GPA + o) = *reinterpret_cast<const uint64_t *>(structure + o);
		breakable->break_page();
	}
	Observation moved = g.run();
	const bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	ASSERT_OUTCOME("nested load, the structure moved", moved_structure_outcome(c, promised), moved);
	/* C12: repaired, the nested guest's load goes through. */
	if (breakable && c.which == guest::svm_ncr3) {
		breakable->repair();
		ASSERT_OUTCOME("after the repair", Expectation::guest_done(rules::C12), g.run());
		EXPECT_VALUE(rules::C12, "the nested load", pattern, g.loaded(3));
	}
}

KVMC_TEST_MAIN

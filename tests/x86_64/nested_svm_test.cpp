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
 *  nx0_guest_hypervisor       the runtime: nested loads and stores through
 *                             the window reach the guest's memory
 *  nx1_nested_no_memslot      the window's output has no memslot: C5 MMIO
 *                             at the guest's GPA, not the nested guest's
 *                             address; C14 on completion
 *  nx4_nested_npf             the guest hypervisor's own nested page
 *                             tables fault: #VMEXIT(NPF) with EXITINFO1,
 *                             EXITINFO2 and the nested RIP as the APM has
 *                             them (final translation and table walk)
 *
 * Every test skips where KVM offers no SVM to its guest (kvm_amd
 * nested=0) or SVM without nested paging (kvm_amd npt=0: x86_64-shadow),
 * saying which.
 */
#include "test_util.h"

#include <cstring>
#include <optional>

#include "arch.h"
#include "backing.h"
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

#define GUEST_HYPERVISOR(kvm, g)                                                   \
	Kvm kvm;                                                                   \
	if (auto why = arch::hypervisor_unavailable(kvm))                          \
		SKIP(return, "%s", why->c_str());                                  \
	GuestVm g(kvm, GuestVm::hypervisor)

/*
 * NX0: the runtime itself. The guest becomes a hypervisor (EFER.SVME),
 * and its nested guest's load and store through the window reach the
 * guest's memory at the other address; nothing reaches userspace.
 */
KVM_FIXTURE(nx0_guest_hypervisor);

TEST_F(nx0_guest_hypervisor, nested_load_and_store)
{
	GUEST_HYPERVISOR(kvm, g);
	WindowPages pages(g.vm());
	pages.host(1, 0x40) = ~pattern;
	g.order({level(), nested_load(window_npa(1, 0x40)), nested_store(window_npa(2, 0x48), pattern),
		 nested_load(window_npa(2, 0x48)), level()});
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
FIXTURE_VARIANT(nx1_nested_no_memslot) { bool is_write; };
FIXTURE_VARIANT_ADD(nx1_nested_no_memslot, load) { .is_write = false };
FIXTURE_VARIANT_ADD(nx1_nested_no_memslot, store) { .is_write = true };

TEST_F(nx1_nested_no_memslot, access)
{
	GUEST_HYPERVISOR(kvm, g);
	g.order({nested_access(window_npa(2, 0x40), variant->is_write), nested_load(window_npa(3, 0x8))});
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
 * page, after a load from it went through) or on the nested guest's own
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
	g.order({nested_load(window_npa(ARCH_NESTED_PAGE_RO, 0x7f8)), nested_access(c.address, store)});
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
FIXTURE_VARIANT(nx5_nested_intercepted_pf) { InterceptedPfCase c; };
FIXTURE_VARIANT_ADD(nx5_nested_intercepted_pf, not_present_load) {
	.c = {ARCH_UNMAPPED_GVA + 0x48, x86::NestedAccessKind::load, 0, ARCH_UNMAPPED_GVA + 0x48} };
FIXTURE_VARIANT_ADD(nx5_nested_intercepted_pf, not_present_store) {
	.c = {ARCH_UNMAPPED_GVA + 0x1f8, x86::NestedAccessKind::store, x86::pf_write, ARCH_UNMAPPED_GVA + 0x1f8} };
FIXTURE_VARIANT_ADD(nx5_nested_intercepted_pf, emulated_split_load) {
	.c = {x86::window_gva(x86::window_not_present) - 4, x86::NestedAccessKind::load, 0,
	      x86::window_gva(x86::window_not_present)} };
FIXTURE_VARIANT_ADD(nx5_nested_intercepted_pf, emulated_split_store) {
	.c = {x86::window_gva(x86::window_not_present) - 4, x86::NestedAccessKind::store, x86::pf_write,
	      x86::window_gva(x86::window_not_present)} };

TEST_F(nx5_nested_intercepted_pf, forwarded)
{
	GUEST_HYPERVISOR(kvm, g);
	const InterceptedPfCase &c = variant->c;
	g.order({nested_access(c.gva, c.access == x86::NestedAccessKind::store)});
	ASSERT_OUTCOME("nested access", x86::intercepted_page_fault(c.error_code, c.cr2), g.run());
	EXPECT_VALUE(x86::rules::NX, "steps completed", 0, g.completed());
}

KVMC_TEST_MAIN

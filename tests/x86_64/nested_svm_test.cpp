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

KVMC_TEST_MAIN

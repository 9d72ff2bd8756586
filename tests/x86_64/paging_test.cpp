// SPDX-License-Identifier: GPL-2.0
/*
 * x86_64 with the guest's MMU translating to other addresses (CONTRACT.md
 * "Variants": virtual addresses different from physical ones; accesses
 * that straddle a page, RAM and MMIO). The steps' addresses here are
 * guest virtual addresses in the window (include/x86_64/window.h), each
 * mapped onto a GPA that differs from it:
 *
 *  gva_window_*   C5, C7, C4/C12 through GVA != GPA: every exit reports
 *                 the GPA the guest's page tables give, 4 KiB pages and
 *                 4 KiB pieces of a 2 MiB guest page alike.
 *  injected_pf    C14: #PF for a guest PTE that is not present, read-only
 *                 or has a reserved bit set, at CPL 0 and 3, every field
 *                 the handler reads. On x86_64-shadow KVM's own walk of the guest's
 *                 tables finds each; the *_split variants put the access
 *                 across an MMIO page first, so KVM's instruction
 *                 emulator finds it under NPT too. The *_fresh_stack
 *                 variants deliver it onto a stack page the host has not
 *                 mapped yet (a delivery cut short by a #VMEXIT).
 *  injected_ud    C14: the #UD KVM injects for an MMIO access at CPL 3 its
 *                 emulator cannot carry out.
 *  access_at_page_end  C5, C14: an MMIO access that ends at a page's end:
 *                 one exit, whatever the next page's PTE says.
 *  split_access   C5, C14: accesses that cross from RAM into MMIO, MMIO into
 *                 RAM and MMIO into MMIO: every exit's phys_addr, len and
 *                 data, then the register the guest ends with.
 *  split_vector   the same for 16-byte MOVDQU, which the emulator splits
 *                 into fragments of 8 bytes, and XMM0.
 */
#include "test_util.h"

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <sys/ioctl.h>
#include <utility>

#include "backing.h"
#include "layout.h"
#include "x86_64/exception.h"
#include "x86_64/placed_table.h"
#include "x86_64/window.h"

using namespace kvmc;
using namespace kvmc::x86;

namespace {

constexpr uint64_t pattern = 0x8877665544332211ull;
/* Answers to loads: distinct bytes, none zero. */
constexpr uint64_t load_answer = 0xf1e2d3c4b5a69788ull;
constexpr uint64_t second_answer = 0x0f1e2d3c4b5a6978ull;

uint64_t low_bytes(uint64_t v, uint32_t width)
{
	return width >= 8 ? v : v & ((1ull << (8 * width)) - 1);
}

/* Where the page-crossing accesses come from: emulator_read_write()
 * handles an access that crosses a page as one piece per page, each
 * translated on its own; complete_emulated_mmio() hands userspace each
 * MMIO piece in exits of at most 8 bytes (the size of mmio.data). */
constexpr const char *fragments_basis =
	"api.rst 5 KVM_EXIT_MMIO has 8 bytes of data: arch/x86/kvm/x86.c emulator_read_write() "
	"splits an access at the page boundary, complete_emulated_mmio() exits once per "
	"fragment of at most 8 bytes";

/* RAM the 16-byte moves go through (above the stack, below the window's
 * RAM page). */
constexpr uint64_t vector_buffer = ARCH_RAM_GPA + 0xa0000;

} /* namespace */

/*
 * C5 through GVA != GPA: an MMIO load and store at a window page whose
 * GPA is in the MMIO region, and one deep inside a 2 MiB guest page that
 * maps the MMIO region. phys_addr is the GPA, never the GVA.
 */
KVM_FIXTURE(gva_window_mmio);
FIXTURE_VARIANT(gva_window_mmio) { uint64_t gva; uint64_t gpa; };
FIXTURE_VARIANT_ADD(gva_window_mmio, small_page)
{
	.gva = window_gva(window_mmio_a, 0x128), .gpa = window_gpa(window_mmio_a, 0x128)
};
FIXTURE_VARIANT_ADD(gva_window_mmio, large_page)
{
	.gva = ARCH_WINDOW_LARGE_MMIO_GVA + 0x1ff128, .gpa = ARCH_WINDOW_LARGE_MMIO_GPA + 0x1ff128
};

TEST_F(gva_window_mmio, load_then_store)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({load(variant->gva, 8), store(variant->gva + 0x40, 4, pattern)});
	ASSERT_OUTCOME("load", Expectation::mmio(rules::C5, variant->gpa, 8, false), g.run());
	ASSERT_OUTCOME("store", Expectation::mmio(rules::C5, variant->gpa + 0x40, 4, true, pattern),
		       g.complete_load_and_run(load_answer));
	EXPECT_VALUE(rules::C5, "value the guest loaded", load_answer, g.loaded(0));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
}

/* C14 through GVA != GPA: the KVM_RUN with immediate_exit that completes
 * the load leaves RIP past it and RAX holding the answer. */
TEST_F(gva_window_mmio, load_completed_by_immediate_exit)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({load(variant->gva, 2), store(variant->gva + 0x40, 8, pattern)});
	ASSERT_OUTCOME("load", Expectation::mmio(rules::C5, variant->gpa, 2, false), g.run());
	g.vcpu().complete_mmio_load(load_answer);
	g.vcpu().shared()->immediate_exit = 1;
	Observation completed = g.run();
	g.vcpu().shared()->immediate_exit = 0;
	ASSERT_OUTCOME("KVM_RUN with immediate_exit",
		       Expectation::intr(rules::C11, false).completing(low_bytes(load_answer, 2)), completed);
	ASSERT_OUTCOME("resume", Expectation::mmio(rules::C5, variant->gpa + 0x40, 8, true, pattern), g.run());
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
}

/* Guest RAM through a window page: the store lands at the GPA the PTE
 * names, and the load reads it back. */
KVM_FIXTURE(gva_window_ram);

TEST_F(gva_window_ram, store_then_load)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({store(window_gva(window_ram, 0x88), 8, pattern), load(window_gva(window_ram, 0x88), 8)});
	ASSERT_OUTCOME("store and load", Expectation::guest_done(rules::guest), g.run());
	EXPECT_VALUE(rules::guest, "RAM at the GPA, seen by the host", pattern, g.ram(window_gpa(window_ram, 0x88)));
	EXPECT_VALUE(rules::guest, "value the guest loaded", pattern, g.loaded(1));
}

/*
 * A 2 MiB guest page over a memslot of 4 KiB host pages: KVM maps it
 * piece by piece (the shadow MMU with a "direct" table under the guest's
 * large page). Each 4 KiB piece must reach its own GPA: the guest stores a
 * different value in each of four, the host finds each where it belongs,
 * and the guest reads them back.
 */
KVM_FIXTURE(gva_window_large_page);

TEST_F(gva_window_large_page, pieces_reach_their_gpa)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping backing = HostMapping::anonymous(huge_page_size);
	Memslot slot(g.vm(), test_slot, ARCH_WINDOW_LARGE_SLOT_GPA, backing);
	const uint64_t offsets[] = {0x18, 0x1018, 0x100018, 0x1ff018};
	const auto gva = [](uint64_t off) { return ARCH_WINDOW_LARGE_SLOT_GVA + off; };
	const auto value = [](unsigned i) { return pattern + (uint64_t)i * 0x0101010101010101ull; };

	g.order({store(gva(offsets[0]), 8, value(0)), store(gva(offsets[1]), 8, value(1)),
		 store(gva(offsets[2]), 8, value(2)), store(gva(offsets[3]), 8, value(3)),
		 load(gva(offsets[3]), 8), load(gva(offsets[2]), 8), load(gva(offsets[1]), 8),
		 load(gva(offsets[0]), 8)});
	ASSERT_OUTCOME("stores and loads", Expectation::guest_done(rules::guest), g.run());
	for (unsigned i = 0; i < 4; i++) {
		EXPECT_VALUE(rules::guest, "the host's view of the piece's GPA", value(i),
			     *reinterpret_cast<uint64_t *>(backing.data() + offsets[i]));
		EXPECT_VALUE(rules::guest, "value the guest loaded back", value(i), g.loaded(7 - i));
	}
	EXPECT_VALUE(rules::guest, "a piece the guest never stored to", 0,
		     *reinterpret_cast<uint64_t *>(backing.data() + 0x2018));
}

/* C7 through GVA != GPA: a read-only memslot's page, read through the
 * window, then written: KVM_EXIT_MMIO at the GPA, memory unchanged. */
KVM_FIXTURE(gva_window_readonly_slot);

TEST_F(gva_window_readonly_slot, load_then_store)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	auto *host = reinterpret_cast<uint64_t *>(backing.data() + 0x1000 + 0x40);
	*host = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing, KVM_MEM_READONLY);

	const uint64_t gva = window_gva(window_slot, 0x40), gpa = window_gpa(window_slot, 0x40);
	g.order({load(gva, 8), store(gva, 8, ~pattern)});
	ASSERT_OUTCOME("store", Expectation::mmio(rules::C7, gpa, 8, true, ~pattern), g.run());
	EXPECT_VALUE(rules::C7, "value loaded from the read-only slot", pattern, g.loaded(0));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C7), g.run());
	EXPECT_VALUE(rules::C7, "slot memory after the store", pattern, *host);
}

/*
 * C4 and C12 through GVA != GPA: the window page over a memslot page
 * made PROT_NONE. memory_fault.gpa (where the capability promises it) is
 * the GPA; RIP stays at the access; once repaired the guest goes on.
 */
KVM_FIXTURE(gva_window_prot_none);
FIXTURE_VARIANT(gva_window_prot_none) { bool is_write; };
FIXTURE_VARIANT_ADD(gva_window_prot_none, load) { .is_write = false };
FIXTURE_VARIANT_ADD(gva_window_prot_none, store) { .is_write = true };

TEST_F(gva_window_prot_none, fault_then_mprotect)
{
	Kvm kvm;
	GuestVm g(kvm);
	BreakableBacking backing(g.vm(), Breakage::prot_none, "kvm-contract-window");
	const uint64_t gva = window_gva(window_slot, 0x20), gpa = window_gpa(window_slot, 0x20);
	g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), variant->is_write ? store(gva, 8, ~pattern) : load(gva, 8)});
	backing.break_page();

	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	EXPECT_OUTCOME("access", Expectation::unresolvable_fault(gpa, promised), g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the fault", 1, g.completed());

	backing.repair();
	const uint64_t slot_offset = gpa - ARCH_TEST_GPA;
	if (!variant->is_write)
		backing.host(slot_offset) = ~pattern;
	ASSERT_OUTCOME("after the repair", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern, backing.host(0x10));
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the retried store", ~pattern, backing.host(slot_offset));
	else
		EXPECT_VALUE(rules::C12, "the retried load", ~pattern, g.loaded(1));
}

/*
 * C14, the guest's own page tables: the accessed and dirty bits of the
 * PTEs an access went through (AMD APM vol. 2, 5.4.2: A is set when the
 * entry is first used, D when the page is first written, never by a
 * read). KVM sets them itself where it walks the guest's tables: for an
 * emulated MMIO access (walk_addr_generic in arch/x86/kvm/mmu/
 * paging_tmpl.h), and under the shadow MMU for every first use, mapping
 * a page read-only until its first write so that D can be set then.
 * A page only read must keep D clear; A is not judged clear anywhere (a
 * processor may set it speculatively).
 */
namespace {

constexpr uint64_t pte_accessed = 1u << 5, pte_dirty = 1u << 6;

uint64_t window_pte(GuestVm &g, unsigned n)
{
	return g.ram(ARCH_RAM_GPA + ARCH_WINDOW_TABLES_OFFSET + window_page_bytes + 8 * n);
}

/* The PTE of window page n: A set, D set exactly when written. */
bool judge_pte(GuestVm &g, unsigned n, const char *what, bool written)
{
	const uint64_t pte = window_pte(g, n);
	const std::string a = std::string(what) + ": A (accessed) set", d = std::string(what) + ": D (dirty)";
	bool ok = judge_value(rules::C14, a.c_str(), pte_accessed, pte & pte_accessed);
	return judge_value(rules::C14, d.c_str(), written ? pte_dirty : 0, pte & pte_dirty) && ok;
}

} /* namespace */

KVM_FIXTURE(gva_window_accessed_dirty);

TEST_F(gva_window_accessed_dirty, emulated_and_ram)
{
	Kvm kvm;
	GuestVm g(kvm);
	/* A load and a store the emulator does (MMIO), a store that crosses
	 * from one MMIO page into another, then a RAM page read and, after
	 * the sync, written. */
	g.order({load(window_gva(window_mmio_c, 0x10), 8), store(window_gva(window_mmio_d, 0x10), 8, pattern),
		 store(window_gva(window_mmio_a, 0xffc), 8, pattern), load(window_gva(window_ram, 0x10), 8),
		 sync_point(), store(window_gva(window_ram, 0x10), 8, pattern)});
	ASSERT_OUTCOME("MMIO load", Expectation::mmio(rules::C5, window_gpa(window_mmio_c, 0x10), 8, false), g.run());
	ASSERT_OUTCOME("MMIO store", Expectation::mmio(rules::C5, window_gpa(window_mmio_d, 0x10), 8, true, pattern),
		       g.complete_load_and_run(load_answer));
	ASSERT_OUTCOME("MMIO store across two pages, first",
		       Expectation::mmio(rules::C5, window_gpa(window_mmio_a, 0xffc), 4, true, pattern), g.run());
	ASSERT_OUTCOME("MMIO store across two pages, second",
		       Expectation::mmio(rules::C5, window_gpa(window_mmio_b), 4, true, pattern >> 32), g.run());
	ASSERT_OUTCOME("RAM load", Expectation::guest_sync(rules::guest), g.run());
	bool ok = judge_pte(g, window_mmio_c, "the MMIO page loaded from", false);
	ok = judge_pte(g, window_mmio_d, "the MMIO page stored to", true) && ok;
	ok = judge_pte(g, window_mmio_a, "the first MMIO page of the crossing store", true) && ok;
	ok = judge_pte(g, window_mmio_b, "the second MMIO page of the crossing store", true) && ok;
	ok = judge_pte(g, window_ram, "the RAM page, loaded from", false) && ok;
	ASSERT_OUTCOME("RAM store", Expectation::guest_done(rules::guest), g.run());
	ok = judge_pte(g, window_ram, "the RAM page, then stored to", true) && ok;
	const uint64_t pde = g.ram(ARCH_RAM_GPA + ARCH_WINDOW_TABLES_OFFSET);
	ok = judge_value(rules::C14, "the window's PDE: A set", pte_accessed, pde & pte_accessed) && ok;
	EXPECT_TRUE(ok);
}

/*
 * C14, a #PF KVM injects: the guest's PTE forbids the access. Judged:
 * vector 14, the whole error code, CR2 = the faulting GVA (for a split
 * access the first byte in the faulting page), the pushed RIP = the
 * access (a fetch: the target), RFLAGS as the guest had it with RF set.
 */
namespace {

/* user_*: at CPL 3, where every window page is a supervisor page. */
enum class Access { load, store, fetch, user_load, user_store };

struct PageFaultCase {
	unsigned page;		/* the window page whose PTE faults */
	Access access;
	bool split;		/* 8 bytes from 4 bytes before the page: the MMIO page before it first */
	uint64_t error_code;
	const char *what;
	bool fresh_stack = false; /* at CPL 3: RSP0 on a page nothing has touched yet */
};

/* Whether KVM walks the guest's page tables for every access
 * (include/x86_64/placed_table.h); where not, *why says what the test
 * then reaches. */
bool kvm_walks_every_access(std::string *why)
{
	if (x86::kvm_walks_guest_tables(why))
		return true;
	*why += ", and delivers a #PF no emulated access raised (the *_split variants reach KVM's "
		"emulator; --arch x86_64-shadow runs these with KVM's shadow MMU)";
	return false;
}

/* The fresh stack: the second page of a memslot at ARCH_TEST_GPA (the
 * identity map covers it); RSP0 is its end. */
constexpr uint64_t fresh_stack_top = ARCH_TEST_GPA + 0x2000;
constexpr uint64_t tss_rsp0_offset = 4;

} /* namespace */

KVM_FIXTURE(injected_pf);
FIXTURE_VARIANT(injected_pf) { PageFaultCase c; };
FIXTURE_VARIANT_ADD(injected_pf, not_present_load)
{
	.c = {window_not_present, Access::load, false, 0, "#PF, not present, read"}
};
FIXTURE_VARIANT_ADD(injected_pf, not_present_store)
{
	.c = {window_not_present, Access::store, false, pf_write, "#PF, not present, write"}
};
FIXTURE_VARIANT_ADD(injected_pf, not_present_fetch)
{
	.c = {window_not_present, Access::fetch, false, pf_fetch, "#PF, not present, instruction fetch"}
};
FIXTURE_VARIANT_ADD(injected_pf, not_present_load_split)
{
	.c = {window_not_present, Access::load, true, 0, "#PF, not present, read"}
};
FIXTURE_VARIANT_ADD(injected_pf, not_present_store_split)
{
	.c = {window_not_present, Access::store, true, pf_write, "#PF, not present, write"}
};
FIXTURE_VARIANT_ADD(injected_pf, read_only_store)
{
	.c = {window_read_only, Access::store, false, pf_present | pf_write, "#PF, protection, write (CR0.WP)"}
};
FIXTURE_VARIANT_ADD(injected_pf, read_only_store_split)
{
	.c = {window_read_only, Access::store, true, pf_present | pf_write, "#PF, protection, write (CR0.WP)"}
};
FIXTURE_VARIANT_ADD(injected_pf, reserved_bit_load)
{
	.c = {window_reserved_bit, Access::load, false, pf_present | pf_rsvd, "#PF, reserved bit, read"}
};
FIXTURE_VARIANT_ADD(injected_pf, reserved_bit_store)
{
	.c = {window_reserved_bit, Access::store, false, pf_present | pf_write | pf_rsvd, "#PF, reserved bit, write"}
};
FIXTURE_VARIANT_ADD(injected_pf, reserved_bit_fetch)
{
	.c = {window_reserved_bit, Access::fetch, false, pf_present | pf_rsvd | pf_fetch,
	      "#PF, reserved bit, instruction fetch"}
};
FIXTURE_VARIANT_ADD(injected_pf, user_load_supervisor_page)
{
	.c = {window_mmio_d, Access::user_load, false, pf_present | pf_user, "#PF, protection, read at CPL 3"}
};
FIXTURE_VARIANT_ADD(injected_pf, user_store_supervisor_page)
{
	.c = {window_mmio_d, Access::user_store, false, pf_present | pf_write | pf_user, "#PF, protection, write at CPL 3"}
};
FIXTURE_VARIANT_ADD(injected_pf, user_load_not_present)
{
	.c = {window_not_present, Access::user_load, false, pf_user, "#PF, not present, read at CPL 3"}
};
FIXTURE_VARIANT_ADD(injected_pf, user_store_read_only)
{
	.c = {window_read_only, Access::user_store, false, pf_present | pf_write | pf_user,
	      "#PF, protection, write at CPL 3"}
};
FIXTURE_VARIANT_ADD(injected_pf, user_load_reserved_bit)
{
	.c = {window_reserved_bit, Access::user_load, false, pf_present | pf_user | pf_rsvd,
	      "#PF, reserved bit (found before the U/S check), read at CPL 3"}
};
/*
 * The same at CPL 3 with the TSS's RSP0 on a page of a new memslot that
 * nothing has touched: the delivery's first push finds no host mapping
 * (no shadow PTE, no nested page table entry) and is cut short by a
 * #VMEXIT. The APM (vol. 2, 15.7.2) has the processor report the event it
 * was delivering in EXITINTINFO, vector, type and error code; the
 * hypervisor must deliver that event again, whole, once the page is there.
 * Besides what the guest's handler reads, the frame the CPU pushed on the
 * new stack is judged from the host: error code, RIP, CS at RPL 3.
 */
FIXTURE_VARIANT_ADD(injected_pf, user_load_not_present_fresh_stack)
{
	.c = {window_not_present, Access::user_load, false, pf_user, "#PF, not present, read at CPL 3", true}
};
FIXTURE_VARIANT_ADD(injected_pf, user_store_read_only_fresh_stack)
{
	.c = {window_read_only, Access::user_store, false, pf_present | pf_write | pf_user,
	      "#PF, protection, write at CPL 3", true}
};
FIXTURE_VARIANT_ADD(injected_pf, user_load_reserved_bit_fresh_stack)
{
	.c = {window_reserved_bit, Access::user_load, false, pf_present | pf_user | pf_rsvd,
	      "#PF, reserved bit, read at CPL 3", true}
};
FIXTURE_VARIANT_ADD(injected_pf, reserved_bit_load_split)
{
	.c = {window_reserved_bit, Access::load, true, pf_present | pf_rsvd, "#PF, reserved bit, read"}
};
FIXTURE_VARIANT_ADD(injected_pf, reserved_bit_store_split)
{
	.c = {window_reserved_bit, Access::store, true, pf_present | pf_write | pf_rsvd, "#PF, reserved bit, write"}
};

namespace {

/* One run of a case: what the guest reported, the steps it completed
 * and, with a fresh stack, the frame the CPU pushed there (SS, RSP,
 * RFLAGS, CS, RIP, error code from the top down; APM vol. 2, 8.9.3). */
struct Delivery {
	Observation obs;
	uint64_t completed = 0;
	uint64_t frame[6] = {};
};

Delivery deliver(const Kvm &kvm, const PageFaultCase &c, bool fresh_stack)
{
	GuestVm g(kvm);
	const uint64_t page = window_gva(c.page);
	const uint64_t gva = c.split ? page - 4 : page + 0x48;
	g.order({c.access == Access::load	  ? load(gva, 8)
		 : c.access == Access::store	  ? store(gva, 8, pattern)
		 : c.access == Access::user_load  ? user_load(gva)
		 : c.access == Access::user_store ? user_store(gva, pattern)
						  : fetch(gva)});
	std::optional<HostMapping> stack;
	std::optional<Memslot> stack_slot;
	if (fresh_stack) {
		stack.emplace(HostMapping::anonymous(2 * page_size()));
		stack_slot.emplace(g.vm(), test_slot, ARCH_TEST_GPA, *stack);
		const uint64_t rsp0 = fresh_stack_top;
		memcpy(g.ram_at(ARCH_RAM_GPA + ARCH_TSS_OFFSET + tss_rsp0_offset), &rsp0, sizeof(rsp0));
	}
	Delivery d;
	d.obs = g.run();
	d.completed = g.completed();
	if (stack)
		memcpy(d.frame, stack->data() + 2 * page_size() - sizeof(d.frame), sizeof(d.frame));
	return d;
}

/* The frame on the fresh stack against what the guest's handler was
 * told: error code, RIP, and CS and SS at RPL 3. */
bool judge_pushed_frame(const Delivery &d, uint64_t error_code, uint64_t rip)
{
	bool ok = judge_value(rules::C14, "error code the CPU pushed on the fresh stack", error_code,
			      d.frame[0] & pf_error_code_mask);
	ok = judge_value(rules::C14, "RIP the CPU pushed on the fresh stack", rip, d.frame[1]) && ok;
	ok = judge_value(rules::C14, "CS the CPU pushed on the fresh stack", ARCH_SEL_USER_CODE | 3, d.frame[2]) && ok;
	return judge_value(rules::C14, "SS the CPU pushed on the fresh stack", ARCH_SEL_USER_DATA | 3, d.frame[5]) && ok;
}

/*
 * A delivery the host cut short must reach the guest as the same event
 * an undisturbed one does (APM vol. 2, 15.7.2: EXITINTINFO holds the
 * event being delivered, vector, type and error code, for the
 * hypervisor to inject again): every field the guest reads compared,
 * whoever made the event (the CPU under NPT, KVM under the shadow MMU).
 */
bool judge_same_delivery(const Delivery &plain, const Delivery &cut)
{
	if (!plain.obs.call || !cut.obs.call)
		return judge_value(rules::C14, "an exception reported with and without a fresh stack", 1,
				   plain.obs.call && cut.obs.call ? 1 : 0);
	static const char *const field[] = {"vector", "error code", "CR2", "pushed RIP", "pushed RFLAGS"};
	bool ok = true;
	for (unsigned i = 0; i < 5; i++) {
		const std::string what = std::string(field[i]) +
					 " after a delivery cut short by a #VMEXIT (wanted: as delivered undisturbed)";
		ok = judge_value(rules::C14, what.c_str(), plain.obs.call->args[i], cut.obs.call->args[i]) && ok;
	}
	return judge_pushed_frame(cut, plain.obs.call->args[1], plain.obs.call->args[3]) && ok;
}

} /* namespace */

TEST_F(injected_pf, access)
{
	Kvm kvm;
	const PageFaultCase &c = variant->c;
	std::string why;
	const bool kvm_walks = kvm_walks_every_access(&why);
	/* Under NPT a fresh stack still matters: the CPU's delivery is cut
	 * short by a nested page fault and KVM injects the event again. */
	if (!c.split && !c.fresh_stack && !kvm_walks)
		SKIP(return, "%s", why.c_str());
	const uint64_t page = window_gva(c.page);
	/* CR2: the first byte the access needs in the page that faults. */
	const uint64_t cr2 = c.split ? page : page + 0x48;
	if (c.split || kvm_walks) {
		const Delivery d = deliver(kvm, c, c.fresh_stack);
		ASSERT_OUTCOME("access", Expectation::guest_exception(rules::C14, page_fault(cr2, c.error_code, c.what)),
			       d.obs);
		EXPECT_VALUE(rules::C14, "steps completed", 0, d.completed);
		if (c.fresh_stack)
			EXPECT_TRUE(judge_pushed_frame(d, c.error_code, d.obs.call->args[3]));
	}
	if (c.fresh_stack) {
		const Delivery plain = deliver(kvm, c, false), cut = deliver(kvm, c, true);
		EXPECT_TRUE(judge_same_delivery(plain, cut));
		EXPECT_VALUE(rules::C14, "steps completed after the cut-short delivery", 0, cut.completed);
	}
}

/*
 * C14, a #UD KVM injects: at CPL 3 an instruction its emulator has no
 * entry for (x87 FILD) loads from MMIO. handle_emulation_failure()
 * queues #UD; at CPL 0 it would also exit with KVM_INTERNAL_ERROR_EMULATION
 * (M3), at CPL 3 the guest takes it: the vector, no error code, the
 * pushed RIP at the FILD, RFLAGS with RF (#UD is a fault). The
 * instruction is valid, so the #UD is KVM's design, not the APM's: the
 * verdict names the code.
 */
KVM_FIXTURE(injected_ud);

TEST_F(injected_ud, user_x87_load_from_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({user_load_x87(window_gva(window_user_mmio, 0x30))});
	ASSERT_OUTCOME("FILD from MMIO at CPL 3",
		       Expectation::guest_exception(rules::C14, invalid_opcode("#UD for an instruction KVM cannot emulate"))
			       .because("arch/x86/kvm/x86.c handle_emulation_failure(): kvm_queue_exception(UD_VECTOR), "
					"an exit to userspace only at CPL 0; arch/x86/kvm/emulate.c has no opcode 0xdf"),
		       g.run());
	EXPECT_VALUE(rules::C14, "steps completed", 0, g.completed());
}

/*
 * Page-crossing and 16-byte accesses to MMIO (fragments_basis). Each
 * lists the exits it must make, in order; loads are answered with
 * load_answer, then second_answer.
 */
namespace {

struct Fragment {
	uint64_t gpa;
	uint32_t len;
	uint64_t data;		/* a store's bytes in this exit */
};

/*
 * Run through the fragments of one access: each exit judged, each load
 * answered, each following KVM_RUN with immediate_exit set (api.rst 5,
 * the note after KVM_EXIT_MMIO: re-entering with it completes pending
 * operations without running further instructions). While fragments
 * remain the operation is still pending: KVM_RUN returns 0 with the next
 * fragment's exit. After the last, it returns -1/EINTR with the access
 * retired: C14, RIP past it and a load's RAX holding dest.
 */
bool run_fragments(GuestVm &g, bool is_write, std::initializer_list<Fragment> fragments, std::optional<uint64_t> dest)
{
	const uint64_t answers[] = {load_answer, second_answer, ~load_answer};
	unsigned i = 0;
	Observation obs = g.run();
	for (const Fragment &f : fragments) {
		std::string name = "fragment " + std::to_string(i);
		if (!judge_outcome(name.c_str(),
				   Expectation::mmio(rules::C5, f.gpa, f.len, is_write, f.data).because(fragments_basis),
				   obs))
			return false;
		if (!is_write)
			g.vcpu().complete_mmio_load(answers[i]);
		g.vcpu().shared()->immediate_exit = 1;
		obs = g.run();
		g.vcpu().shared()->immediate_exit = 0;
		i++;
	}
	return judge_outcome("KVM_RUN with immediate_exit after the last fragment",
			     Expectation::intr(rules::C11, false).completing(dest), obs);
}

} /* namespace */

/*
 * An MMIO access that ends at the last byte of its page: not split, one
 * exit of 8 bytes, and the page after it is none of the access's
 * business. Whatever that page's guest PTE says (present, not present,
 * read-only, a reserved bit set) must not matter: no #PF, nothing else.
 */
KVM_FIXTURE(access_at_page_end);
FIXTURE_VARIANT(access_at_page_end) { unsigned page; };
FIXTURE_VARIANT_ADD(access_at_page_end, next_present) { .page = window_mmio_c };
FIXTURE_VARIANT_ADD(access_at_page_end, next_not_present) { .page = window_mmio_d };
FIXTURE_VARIANT_ADD(access_at_page_end, next_read_only) { .page = window_mmio_e };
FIXTURE_VARIANT_ADD(access_at_page_end, next_reserved_bit) { .page = window_mmio_f };

TEST_F(access_at_page_end, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({load(window_gva(variant->page, 0xff8), 8)});
	ASSERT_TRUE(run_fragments(g, false, {{window_gpa(variant->page, 0xff8), 8, 0}}, load_answer));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "value the guest loaded", load_answer, g.loaded(0));
}

TEST_F(access_at_page_end, store)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({store(window_gva(variant->page, 0xff8), 8, pattern)});
	ASSERT_TRUE(run_fragments(g, true, {{window_gpa(variant->page, 0xff8), 8, pattern}}, std::nullopt));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
}

KVM_FIXTURE(split_access);

/* RAM into MMIO: the RAM half from memory, one exit for the MMIO half. */
TEST_F(split_access, load_ram_into_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.ram(window_gpa(window_ram, 0xff8)) = pattern;
	g.order({load(window_gva(window_ram, 0xffc), 8)});
	const uint64_t want = (pattern >> 32) | low_bytes(load_answer, 4) << 32;
	ASSERT_TRUE(run_fragments(g, false, {{window_gpa(window_mmio_c), 4, 0}}, want));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "value the guest loaded", want, g.loaded(0));
}

TEST_F(split_access, store_ram_into_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({store(window_gva(window_ram, 0xffc), 8, pattern)});
	ASSERT_TRUE(run_fragments(g, true, {{window_gpa(window_mmio_c), 4, pattern >> 32}}, std::nullopt));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "RAM half of the store", low_bytes(pattern, 4) << 32,
		     g.ram(window_gpa(window_ram, 0xff8)));
}

/* MMIO into RAM: one exit for the 6 MMIO bytes, the rest from RAM. */
TEST_F(split_access, load_mmio_into_ram)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.ram(window_gpa(window_ram)) = pattern;
	g.order({load(window_gva(window_mmio_b, 0xffa), 8)});
	const uint64_t want = low_bytes(load_answer, 6) | low_bytes(pattern, 2) << 48;
	ASSERT_TRUE(run_fragments(g, false, {{window_gpa(window_mmio_b, 0xffa), 6, 0}}, want));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "value the guest loaded", want, g.loaded(0));
}

TEST_F(split_access, store_mmio_into_ram)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({store(window_gva(window_mmio_b, 0xffa), 8, pattern)});
	ASSERT_TRUE(run_fragments(g, true, {{window_gpa(window_mmio_b, 0xffa), 6, pattern}}, std::nullopt));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "RAM part of the store", pattern >> 48, g.ram(window_gpa(window_ram)));
}

/* MMIO into MMIO whose GPA is not the next page: two exits, the second
 * at the second page's own GPA. */
TEST_F(split_access, load_mmio_into_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({load(window_gva(window_mmio_a, 0xffd), 8)});
	const uint64_t want = low_bytes(load_answer, 3) | low_bytes(second_answer, 5) << 24;
	ASSERT_TRUE(run_fragments(g, false,
				  {{window_gpa(window_mmio_a, 0xffd), 3, 0}, {window_gpa(window_mmio_b), 5, 0}}, want));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "value the guest loaded", want, g.loaded(0));
}

TEST_F(split_access, store_mmio_into_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({store(window_gva(window_mmio_a, 0xffd), 8, pattern)});
	ASSERT_TRUE(run_fragments(g, true,
				  {{window_gpa(window_mmio_a, 0xffd), 3, pattern}, {window_gpa(window_mmio_b), 5, pattern >> 24}},
				  std::nullopt));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
}

/*
 * MOVDQU, 16 bytes: two exits of 8 in one page; across two MMIO pages
 * from 12 bytes before the end, three (8 and 4 from the first page's
 * fragment, 4 from the second's). The guest's XMM0 is judged right after
 * the completing KVM_RUN (KVM_GET_FPU) and again through the buffer the
 * guest stores it to.
 */
namespace {

struct VectorCase {
	uint64_t gva;
	Fragment f[3];
	unsigned fragments;
};

std::pair<uint64_t, uint64_t> xmm0(GuestVm &g)
{
	struct kvm_fpu fpu {};
	if (ioctl(g.vcpu().fd(), KVM_GET_FPU, &fpu))
		die("KVM_GET_FPU: %s", errno_name(errno).c_str());
	uint64_t lo, hi;
	memcpy(&lo, fpu.xmm[0], 8);
	memcpy(&hi, fpu.xmm[0] + 8, 8);
	return {lo, hi};
}

} /* namespace */

KVM_FIXTURE(split_vector);
FIXTURE_VARIANT(split_vector) { VectorCase v; };
FIXTURE_VARIANT_ADD(split_vector, in_page)
{
	.v = {window_gva(window_mmio_c, 0x40),
	      {{window_gpa(window_mmio_c, 0x40), 8, 0}, {window_gpa(window_mmio_c, 0x48), 8, 0}}, 2}
};
FIXTURE_VARIANT_ADD(split_vector, across_mmio_pages)
{
	.v = {window_gva(window_mmio_a, 0xff4),
	      {{window_gpa(window_mmio_a, 0xff4), 8, 0}, {window_gpa(window_mmio_a, 0xffc), 4, 0},
	       {window_gpa(window_mmio_b), 4, 0}},
	      3}
};

TEST_F(split_vector, store)
{
	Kvm kvm;
	GuestVm g(kvm);
	const VectorCase &v = variant->v;
	g.ram(vector_buffer) = pattern;
	g.ram(vector_buffer + 8) = ~pattern;
	g.order({move_vector(v.gva, vector_buffer, true)});
	/* The 16 stored bytes, each exit's share of them. */
	uint8_t bytes[16];
	memcpy(bytes, &pattern, 8);
	const uint64_t inverse = ~pattern;
	memcpy(bytes + 8, &inverse, 8);
	Fragment f[3];
	for (unsigned i = 0, at = 0; i < v.fragments; at += v.f[i].len, i++) {
		f[i] = v.f[i];
		memcpy(&f[i].data, bytes + at, f[i].len);
	}
	bool ok = v.fragments == 2 ? run_fragments(g, true, {f[0], f[1]}, std::nullopt)
				   : run_fragments(g, true, {f[0], f[1], f[2]}, std::nullopt);
	ASSERT_TRUE(ok);
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
}

TEST_F(split_vector, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	const VectorCase &v = variant->v;
	g.order({move_vector(v.gva, vector_buffer, false)});
	/* The answers (run_fragments: load_answer, second_answer, then
	 * ~load_answer), each exit's len bytes of them, in order. */
	const uint64_t answers[] = {load_answer, second_answer, ~load_answer};
	uint8_t bytes[16] = {};
	for (unsigned i = 0, at = 0; i < v.fragments; at += v.f[i].len, i++)
		memcpy(bytes + at, &answers[i], v.f[i].len);
	uint64_t lo, hi;
	memcpy(&lo, bytes, 8);
	memcpy(&hi, bytes + 8, 8);
	bool ok = v.fragments == 2 ? run_fragments(g, false, {v.f[0], v.f[1]}, std::nullopt)
				   : run_fragments(g, false, {v.f[0], v.f[1], v.f[2]}, std::nullopt);
	ASSERT_TRUE(ok);
	const auto [xmm_lo, xmm_hi] = xmm0(g);
	EXPECT_VALUE(rules::C14, "XMM0[63:0] after the completing KVM_RUN", lo, xmm_lo);
	EXPECT_VALUE(rules::C14, "XMM0[127:64] after the completing KVM_RUN", hi, xmm_hi);
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "the guest's XMM0[63:0], stored to RAM", lo, g.ram(vector_buffer));
	EXPECT_VALUE(rules::C5, "the guest's XMM0[127:64], stored to RAM", hi, g.ram(vector_buffer + 8));
}

KVMC_TEST_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * The contract with the guest's MMU on and virtual addresses that are not
 * the IPAs they reach (CONTRACT.md, "Variants": "with the guest's MMU on
 * and virtual addresses different from physical ones, and with its page
 * tables in each kind of memslot"). Every access goes through the
 * stage-1 window (include/arm64/stage1.h): a VA whose IPA is elsewhere.
 * Where api.rst names an address it is the IPA (KVM_EXIT_MMIO phys_addr,
 * memory_fault.gpa, arm_nisv.fault_ipa); what the guest reads in FAR_EL1
 * is the virtual address (the Arm ARM: FAR holds the faulting VA).
 */
#include "test_util.h"

#include <cerrno>
#include <sys/mman.h>

#include "arch.h"
#include "backing.h"
#include "arm64/abort.h"
#include "arm64/stage1.h"
#include "layout.h"

using namespace kvmc;
using arch::WindowPage;

namespace {

constexpr uint64_t pattern = 0x8877665544332211ull;
constexpr uint64_t load_answer = 0xf1e2d3c4b5a69788ull;

/* IPAs of the window pages, far from their VAs and from each other. */
constexpr uint64_t mmio_ipa = ARCH_MMIO_GPA + 0x5000;
constexpr uint32_t table_slot = test_slot + 1;

/* The table walk and the accesses through it: what the guest reads and
 * writes through the table is what the data page's memslot holds. */
constexpr Rule walk{"stage-1", "Arm ARM: a stage-1 walk only reads its tables; api.rst 4.35 "
			       "KVM_SET_USER_MEMORY_REGION (KVM_MEM_READONLY: reads of the slot)"};

const char *const far_is_va =
	"Arm ARM: FAR_EL1 holds the virtual address of the faulting access; with the guest's MMU on "
	"that is the VA, not the IPA";

} /* namespace */

/*
 * C5 through the window: the exit's phys_addr is the IPA, and the load or
 * store completes (here by the KVM_RUN with immediate_exit, C14: the PC
 * past the access, the load's register filled) however the guest named
 * the address. at_page_end: the access ends at the last byte of its page
 * (the next window page is unmapped): still one exit for all 8 bytes.
 */
KVM_FIXTURE(gva_window_mmio);
FIXTURE_VARIANT(gva_window_mmio) { bool is_write; uint64_t offset; bool el0; };
FIXTURE_VARIANT_ADD(gva_window_mmio, load) { .is_write = false, .offset = 0x48, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_mmio, store) { .is_write = true, .offset = 0x48, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_mmio, load_at_page_end) { .is_write = false, .offset = 0xff8, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_mmio, store_at_page_end) { .is_write = true, .offset = 0xff8, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_mmio, el0_load) { .is_write = false, .offset = 0x48, .el0 = true };
FIXTURE_VARIANT_ADD(gva_window_mmio, el0_store) { .is_write = true, .offset = 0x48, .el0 = true };

TEST_F(gva_window_mmio, completed_by_immediate_exit)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gva =
		arch::map_window_page(g, 4, {.ipa = mmio_ipa, .device = true, .el0 = variant->el0}) + variant->offset;
	const uint64_t ipa = mmio_ipa + variant->offset;
	guest::Step access = variant->el0 ? (variant->is_write ? el0_store(gva, pattern) : el0_load(gva))
					  : (variant->is_write ? store(gva, 8, pattern) : load(gva, 8));

	g.order({access, store(ARCH_MMIO_GPA + 0x40, 8, ~pattern)});
	ASSERT_OUTCOME("access", Expectation::mmio(rules::C5, ipa, 8, variant->is_write, pattern), g.run());
	if (!variant->is_write)
		g.vcpu().complete_mmio_load(load_answer);
	g.vcpu().shared()->immediate_exit = 1;
	Observation completed = g.run();
	g.vcpu().shared()->immediate_exit = 0;
	const Expectation done = Expectation::intr(rules::C11, false);
	ASSERT_OUTCOME("KVM_RUN with immediate_exit",
		       variant->is_write ? Expectation(done).completing() : Expectation(done).completing(load_answer),
		       completed);
	ASSERT_OUTCOME("resume", Expectation::mmio(rules::C5, ARCH_MMIO_GPA + 0x40, 8, true, ~pattern), g.run());
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	if (!variant->is_write)
		EXPECT_VALUE(rules::C5, "value the guest loaded", load_answer, g.loaded(0));
}

/*
 * M4 through the window: the data page's host memory is PROT_NONE. C4
 * (where KVM_CAP_MEMORY_FAULT_INFO promises it): memory_fault covers the
 * IPA, not the VA; C12 after mprotect, with the guest's earlier store
 * (through another window page onto the same slot) intact. *_after_mapped:
 * the guest first stores to the page through the window (KVM maps it at
 * stage 2), syncs, and only then the host makes it PROT_NONE (KVM's
 * invalidation path).
 */
KVM_FIXTURE(gva_window_prot_none);
FIXTURE_VARIANT(gva_window_prot_none) { bool is_write; bool mapped; };
FIXTURE_VARIANT_ADD(gva_window_prot_none, load) { .is_write = false, .mapped = false };
FIXTURE_VARIANT_ADD(gva_window_prot_none, store) { .is_write = true, .mapped = false };
FIXTURE_VARIANT_ADD(gva_window_prot_none, load_after_mapped) { .is_write = false, .mapped = true };
FIXTURE_VARIANT_ADD(gva_window_prot_none, store_after_mapped) { .is_write = true, .mapped = true };

TEST_F(gva_window_prot_none, fault_then_mprotect)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = page_size();
	HostMapping backing = HostMapping::anonymous(2 * page);
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	/* Window page 7 is the slot's first page, page 6 its second. */
	const uint64_t before = arch::map_window_page(g, 7, {.ipa = ARCH_TEST_GPA}) + 0x10;
	const uint64_t gva = arch::map_window_page(g, 6, {.ipa = ARCH_TEST_GPA + page}) + 0x20;
	const uint64_t ipa = ARCH_TEST_GPA + page + 0x20;
	const guest::Step access = variant->is_write ? store(gva, 8, ~pattern) : load(gva, 8);
	uint32_t access_step = 1;
	if (variant->mapped) {
		g.order({store(before, 8, pattern), store(gva, 8, pattern), sync_point(), access});
		access_step = 3;
		ASSERT_OUTCOME("guest maps the page", Expectation::guest_sync(rules::guest), g.run());
	} else {
		g.order({store(before, 8, pattern), access});
	}
	backing.protect(page, page, PROT_NONE);

	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	EXPECT_OUTCOME("access", Expectation::unresolvable_fault(ipa, promised), g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the fault", access_step, g.completed());

	backing.protect(page, page, PROT_READ | PROT_WRITE);
	auto *host = reinterpret_cast<uint64_t *>(backing.data());
	if (!variant->is_write)
		host[(page + 0x20) / 8] = ~pattern;
	ASSERT_OUTCOME("after the repair", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern, host[0x10 / 8]);
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the retried store", ~pattern, host[(page + 0x20) / 8]);
	else
		EXPECT_VALUE(rules::C12, "the retried load", ~pattern, g.loaded(access_step));
}

/*
 * G2 through the window: a guest_memfd slot whose file is gone (its only
 * fd closed, never mapped). C10: -1/EFAULT with KVM_EXIT_MEMORY_FAULT at
 * the IPA. arm64 fills the payload here (gmem_abort()) although
 * KVM_CAP_MEMORY_FAULT_INFO is 0, so unlike M4 this shows which address
 * KVM puts in memory_fault.gpa when the guest's VA is not its IPA.
 */
KVM_FIXTURE(gva_window_guest_memfd_gone);

TEST_F(gva_window_guest_memfd_gone, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_GUEST_MEMFD, 1);
	const uint64_t offered = g.vm().check_extension(KVM_CAP_GUEST_MEMFD_FLAGS);
	if (!(offered & GUEST_MEMFD_FLAG_MMAP))
		SKIP(return, "needs guest_memfd flag GUEST_MEMFD_FLAG_MMAP (arm64 binds no other), "
			     "KVM_CAP_GUEST_MEMFD_FLAGS is %#llx", (unsigned long long)offered);
	/* Two pages; the second is the one the window maps. */
	const uint64_t page = page_size();
	GuestMemfd gmem(g.vm(), 2 * page, GUEST_MEMFD_FLAG_MMAP | (offered & GUEST_MEMFD_FLAG_INIT_SHARED));
	HostMapping shared = HostMapping::anonymous(2 * page);
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, 2 * page, shared);
	gmem.close();

	const uint64_t gva = arch::map_window_page(g, 40, {.ipa = ARCH_TEST_GPA + page}) + 0x48;
	g.order({load(gva, 8)});
	ASSERT_OUTCOME("load", Expectation::memory_fault(rules::C10, EFAULT, ARCH_TEST_GPA + page + 0x48)
				       .with_memory_fault_info(g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1),
		       g.run());
}

/* M7 through the window: C7, the store's MMIO exit at the IPA; the load
 * reads the slot. */
KVM_FIXTURE(gva_window_readonly_slot);

TEST_F(gva_window_readonly_slot, load_then_store)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	HostMapping backing = HostMapping::anonymous(page_size());
	auto *host = reinterpret_cast<uint64_t *>(backing.data() + 0x40);
	*host = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing, KVM_MEM_READONLY);
	const uint64_t gva = arch::map_window_page(g, 9, {.ipa = ARCH_TEST_GPA}) + 0x40;

	g.order({load(gva, 8), store(gva, 4, ~pattern)});
	ASSERT_OUTCOME("store", Expectation::mmio(rules::C7, ARCH_TEST_GPA + 0x40, 4, true, ~pattern), g.run());
	EXPECT_VALUE(rules::C7, "value loaded from the read-only slot", pattern, g.loaded(0));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C7), g.run());
	EXPECT_VALUE(rules::C7, "slot memory after the store", pattern, *host);
}

/*
 * An MMIO exit userspace answers with an external abort (api.rst 4.32
 * KVM_SET_VCPU_EVENTS, ext_dabt_pending, "using the address from the
 * exiting fault"): the guest takes it with FAR = the VA it accessed. From
 * EL0 (el0_*): EC 0x24 (data abort from a lower EL), the lower-EL AArch64
 * synchronous vector (0x400) and SPSR EL0t.
 */
KVM_FIXTURE(gva_window_mmio_answered_with_abort);
FIXTURE_VARIANT(gva_window_mmio_answered_with_abort) { bool is_write; bool el0; };
FIXTURE_VARIANT_ADD(gva_window_mmio_answered_with_abort, load) { .is_write = false, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_mmio_answered_with_abort, store) { .is_write = true, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_mmio_answered_with_abort, el0_load) { .is_write = false, .el0 = true };
FIXTURE_VARIANT_ADD(gva_window_mmio_answered_with_abort, el0_store) { .is_write = true, .el0 = true };

TEST_F(gva_window_mmio_answered_with_abort, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_ARM_INJECT_EXT_DABT, 1);
	const uint64_t gva =
		arch::map_window_page(g, 12, {.ipa = mmio_ipa, .device = true, .el0 = variant->el0}) + 0x3c0;
	guest::Step access = variant->el0 ? (variant->is_write ? el0_store(gva, pattern) : el0_load(gva))
					  : (variant->is_write ? store(gva, 8, pattern) : load(gva, 8));

	g.order({access});
	ASSERT_OUTCOME("access", Expectation::mmio(rules::C5, mmio_ipa + 0x3c0, 8, variant->is_write, pattern),
		       g.run());
	int r = arch::inject_ext_dabt(g.vcpu());
	ASSERT_EQ(0, r) TH_LOG("KVM_SET_VCPU_EVENTS(ext_dabt_pending): %s", errno_name(-r).c_str());
	ASSERT_OUTCOME("after the injected abort",
		       arch::external_data_abort(rules::C14, gva,
						 "api.rst 4.32 KVM_SET_VCPU_EVENTS (arm64): ext_dabt_pending; "
						 "guest.c __kvm_arm_vcpu_set_events() injects it at FAR_EL2 "
						 "(kvm_vcpu_get_hfar), the VA",
						 {.el0 = variant->el0}),
		       g.run());
	EXPECT_VALUE(rules::C14, "steps completed", 0, g.completed());
}

/*
 * M9 through the window: a window page maps the first IPA beyond the VM's
 * physical address size. KVM injects an external abort
 * (kvm_handle_guest_abort()); what the guest reads in FAR_EL1 must be the
 * VA it accessed, from EL1 and from EL0, and for a fetch (an instruction
 * abort that returns to the VA it fetched from).
 */
KVM_FIXTURE(gva_window_beyond_address_space);
FIXTURE_VARIANT(gva_window_beyond_address_space) { bool el0; bool fetch; };
FIXTURE_VARIANT_ADD(gva_window_beyond_address_space, el1) { .el0 = false, .fetch = false };
FIXTURE_VARIANT_ADD(gva_window_beyond_address_space, el0) { .el0 = true, .fetch = false };
FIXTURE_VARIANT_ADD(gva_window_beyond_address_space, fetch) { .el0 = false, .fetch = true };

TEST_F(gva_window_beyond_address_space, access)
{
	Kvm kvm;
	std::string why;
	auto small = arch::small_address_space(kvm, &why);
	if (!small)
		SKIP(return, "%s", why.c_str());
	GuestVm g(kvm, small->vm_type, small->phys_bits);
	const uint64_t gva = arch::map_window_page(g, 14, {.ipa = small->beyond, .device = !variant->fetch,
							 .el0 = variant->el0, .exec = variant->fetch}) +
			     0x18;
	if (variant->fetch) {
		g.order({fetch(gva)});
		ASSERT_OUTCOME("fetch", arch::external_instruction_abort(rules::M9, gva, far_is_va), g.run());
		return;
	}
	g.order({variant->el0 ? el0_load(gva) : load(gva, 8)});
	ASSERT_OUTCOME("load", arch::external_data_abort(rules::M9, gva, far_is_va, {.el0 = variant->el0}), g.run());
}

/*
 * M3 through the window: a fetch from a VA whose IPA no memslot holds.
 * KVM injects an instruction abort (kvm_inject_sea_iabt() with FAR_EL2):
 * FAR_EL1 and the return address are the VA.
 */
KVM_FIXTURE(gva_window_fetch_no_memslot);

TEST_F(gva_window_fetch_no_memslot, fetch)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gva = arch::map_window_page(g, 16, {.ipa = ARCH_TEST_GPA + 0x10000, .exec = true}) + 0x40;
	g.order({fetch(gva)});
	ASSERT_OUTCOME("fetch",
		       arch::external_instruction_abort(
			       rules::M3, gva,
			       "arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): an instruction abort outside every "
			       "memslot -> kvm_inject_sea_iabt(kvm_vcpu_get_hfar()), the VA; api.rst 4.10's "
			       "ENOEXEC is stale (M3)"),
		       g.run());
}

/*
 * A table of the window's walk (the level-3 table of pages 512-1023, or
 * the level-2 table of the window's second GiB) in each kind of memory.
 * Through it the guest reaches a data page of ordinary RAM (test_slot), an
 * MMIO page and a page of a read-only slot, whose store must exit as C7
 * at that page's IPA whatever memory the table is in. The hardware walk
 * only reads the table.
 *  ram         control: the table in guest RAM.
 *  readonly    a KVM_MEM_READONLY slot: the walk reads it like any
 *              memory (kvm_is_write_fault(): a stage-1 walk is a write
 *              only on a permission fault, so a read-only slot serves
 *              it); the data page's store lands as its own slot says.
 *  prot_none   a slot whose host page is PROT_NONE: KVM cannot fault the
 *              table in, as M4 at the table's IPA (C4, C12: after
 *              mprotect the walk and the accesses go on).
 *  guest_memfd a guest_memfd slot (shared, the host writes the table
 *              through its mapping): as ram.
 *  guest_memfd_gone  its file gone: C10 at the table's IPA, as G2.
 *  no_memslot  no slot at the table's IPA: KVM cannot emulate a walk
 *              (no syndrome) and injects a synchronous external abort on
 *              the translation table walk at the table's level, FAR = the
 *              VA; from EL0 (no_memslot_el0) as an abort from a lower EL.
 */
namespace {

/* Where a placed window table is. slot: an ordinary memslot (a test may
 * break its host page later); guest_memfd: a guest_memfd slot the host
 * writes the table through (mmap()able, shared); guest_memfd_gone: one
 * whose file is gone, as G2. */
enum class TableIn { ram, slot, readonly, prot_none, no_memslot, guest_memfd, guest_memfd_gone };

constexpr uint64_t shared_gmem_flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

/* Why this VM cannot have a table in where, or nothing. */
std::optional<std::string> table_unavailable(Vm &vm, TableIn where)
{
	if (where != TableIn::guest_memfd && where != TableIn::guest_memfd_gone)
		return std::nullopt;
	if (vm.check_extension(KVM_CAP_GUEST_MEMFD) < 1)
		return std::string("needs KVM_CAP_GUEST_MEMFD (CONFIG_KVM_GUEST_MEMFD)");
	const uint64_t offered = vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS);
	if ((offered & shared_gmem_flags) != shared_gmem_flags)
		return "needs guest_memfd flags " + hex(shared_gmem_flags) + ", KVM_CAP_GUEST_MEMFD_FLAGS is " +
		       hex(offered);
	return std::nullopt;
}
constexpr arch::PlacedTable level3 = arch::PlacedTable::level3, level2 = arch::PlacedTable::level2;

constexpr uint64_t readonly_data_gpa = ARCH_TEST_GPA + 0x400000;
constexpr uint32_t readonly_data_slot = table_slot + 1;

/*
 * A table of the window's walk (arch::place_window_table) in memory of
 * the kind where says, translating pages[n] at gva(n): a level-3 table
 * holds their descriptors, a level-2 table points to the level-3 table in
 * RAM, which then holds them. prot_none: the table's host page is made
 * PROT_NONE once written.
 */
class WindowTable {
public:
	WindowTable(GuestVm &g, TableIn where, arch::PlacedTable which, std::initializer_list<WindowPage> pages)
		: which_(which), backing_(HostMapping::anonymous(page_size()))
	{
		ipa_ = where == TableIn::ram ? ARCH_RAM_GPA + 0x1e000 :
		       where == TableIn::no_memslot ? ARCH_TEST_GPA + 0x200000 : ARCH_TEST_GPA + 0x100000;
		if (where == TableIn::guest_memfd) {
			gmem_view_.emplace(g.vm(), table_slot, ipa_, page_size(), shared_gmem_flags);
			entries_ = reinterpret_cast<volatile uint64_t *>(gmem_view_->view.data());
		} else if (where == TableIn::guest_memfd_gone) {
			GuestMemfd gmem(g.vm(), page_size(), shared_gmem_flags);
			memslot_.emplace(g.vm(), table_slot, ipa_, gmem, 0, page_size(), backing_);
			/* gmem's fd closes here: the file is gone. */
		} else if (where == TableIn::ram) {
			entries_ = reinterpret_cast<volatile uint64_t *>(g.ram_at(ipa_));
		} else if (where != TableIn::no_memslot) {
			entries_ = reinterpret_cast<volatile uint64_t *>(backing_.data());
		}
		unsigned n = 0;
		for (const WindowPage &page : pages) {
			if (which == level2)
				arch::map_window_page(g, n, page);
			else if (entries_)
				entries_[n] = arch::window_descriptor(page);
			n++;
		}
		if (entries_ && which == level2)
			entries_[0] = arch::window_level3_in_ram();
		if (where == TableIn::slot || where == TableIn::readonly || where == TableIn::prot_none)
			memslot_.emplace(g.vm(), table_slot, ipa_, backing_,
					 where == TableIn::readonly ? KVM_MEM_READONLY : 0);
		if (where == TableIn::prot_none)
			protect(PROT_NONE);
		arch::place_window_table(g, ipa_, which);
	}

	uint64_t ipa() const { return ipa_; }
	uint64_t gva(unsigned n) const { return arch::placed_gva(which_, n); }
	/* The host's view of the table's entries (none without a memslot). */
	volatile uint64_t *entries() const { return entries_; }
	/* mprotect() the table's host page (a table in a memslot). */
	void protect(int prot) { backing_.protect(0, page_size(), prot); }

private:
	arch::PlacedTable which_;
	HostMapping backing_;
	std::optional<Memslot> memslot_;
	std::optional<MappedGmemSlot> gmem_view_;
	uint64_t ipa_ = 0;
	volatile uint64_t *entries_ = nullptr;
};

} /* namespace */

KVM_FIXTURE(gva_window_table_in);
FIXTURE_VARIANT(gva_window_table_in) { TableIn in; arch::PlacedTable table; bool el0; };
FIXTURE_VARIANT_ADD(gva_window_table_in, ram) { .in = TableIn::ram, .table = level3, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, readonly) { .in = TableIn::readonly, .table = level3, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, prot_none) { .in = TableIn::prot_none, .table = level3, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, no_memslot) { .in = TableIn::no_memslot, .table = level3, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, no_memslot_el0) { .in = TableIn::no_memslot, .table = level3, .el0 = true };
FIXTURE_VARIANT_ADD(gva_window_table_in, level2_ram) { .in = TableIn::ram, .table = level2, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, level2_readonly) { .in = TableIn::readonly, .table = level2, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, level2_prot_none) { .in = TableIn::prot_none, .table = level2, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, level2_no_memslot) { .in = TableIn::no_memslot, .table = level2, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, guest_memfd) { .in = TableIn::guest_memfd, .table = level3, .el0 = false };
FIXTURE_VARIANT_ADD(gva_window_table_in, guest_memfd_gone) { .in = TableIn::guest_memfd_gone, .table = level3, .el0 = false };

TEST_F(gva_window_table_in, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	if (auto why = table_unavailable(g.vm(), variant->in))
		SKIP(return, "%s", why->c_str());
	HostMapping data = HostMapping::anonymous(page_size());
	Memslot data_slot(g.vm(), test_slot, ARCH_TEST_GPA, data);
	auto *host = reinterpret_cast<uint64_t *>(data.data());
	host[0x30 / 8] = pattern;
	HostMapping readonly_data = HostMapping::anonymous(page_size());
	Memslot readonly_data_memslot(g.vm(), readonly_data_slot, readonly_data_gpa, readonly_data, KVM_MEM_READONLY);
	WindowTable table(g, variant->in, variant->table,
			  {{.ipa = ARCH_TEST_GPA, .el0 = true},
			   {.ipa = mmio_ipa, .device = true, .el0 = true},
			   {.ipa = readonly_data_gpa, .el0 = true}});

	const uint64_t data_gva = table.gva(0) + 0x30;
	g.order({variant->el0 ? el0_load(data_gva) : load(data_gva, 8), store(data_gva + 8, 8, ~pattern),
		 load(table.gva(1) + 0x50, 8), store(table.gva(2) + 0x60, 8, pattern)});
	if (variant->in == TableIn::no_memslot) {
		ASSERT_OUTCOME("load through a table outside every memslot",
			       arch::external_data_abort(
				       rules::C14, data_gva,
				       "arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): S1PTW outside every "
				       "memslot -> kvm_inject_sea_dabt(FAR_EL2); inject_fault.c inject_abt64() "
				       "finds the walk's level (FSC = ESR_ELx_FSC_SEA_TTW(level)), as the Arm "
				       "ARM reports an external abort on a translation table walk",
				       {.el0 = variant->el0, .walk_level = variant->table == level3 ? 3 : 2}),
			       g.run());
		return;
	}
	if (variant->in == TableIn::guest_memfd_gone) {
		ASSERT_OUTCOME("load through a table in a gone guest_memfd",
			       Expectation::memory_fault(rules::C10, EFAULT, table.ipa())
				       .with_memory_fault_info(g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1),
			       g.run());
		return;
	}
	if (variant->in == TableIn::prot_none) {
		bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
		Expectation fault = Expectation::unresolvable_fault(table.ipa(), promised)
					    .because("arch/arm64/kvm/mmu.c: the walk's stage-2 fault is at the "
						     "table's IPA (HPFAR_EL2), user_mem_abort() cannot fault it "
						     "in: -EFAULT as M4");
		EXPECT_OUTCOME("load through a PROT_NONE table", fault, g.run());
		EXPECT_OUTCOME("KVM_RUN again, nothing repaired", fault, g.run());
		EXPECT_VALUE(rules::C12, "steps completed before the fault", 0, g.completed());
		table.protect(PROT_READ);
	}
	ASSERT_OUTCOME("MMIO load through the table", Expectation::mmio(rules::C5, mmio_ipa + 0x50, 8, false),
		       g.run());
	EXPECT_VALUE(walk, "value loaded through the table", pattern, g.loaded(0));
	EXPECT_VALUE(walk, "the store through the table (data page read/write)", ~pattern, host[0x38 / 8]);
	ASSERT_OUTCOME("store to a read-only slot through the table",
		       Expectation::mmio(rules::C7, readonly_data_gpa + 0x60, 8, true, pattern),
		       g.complete_load_and_run(load_answer));
	EXPECT_VALUE(rules::C5, "value of the MMIO load", load_answer, g.loaded(2));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C7), g.run());
}

/*
 * The placed level-3 table's host page made PROT_NONE after the guest
 * walked it (KVM mapped it at stage 2): the next walk through it (a
 * page the guest's TLB cannot hold yet) must fault as M4 at the table's
 * IPA, and go on once the host makes the page readable again (C12).
 */
KVM_FIXTURE(gva_window_table_broken_after_mapped);

TEST_F(gva_window_table_broken_after_mapped, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping data = HostMapping::anonymous(page_size());
	Memslot data_slot(g.vm(), test_slot, ARCH_TEST_GPA, data);
	reinterpret_cast<uint64_t *>(data.data())[0x30 / 8] = pattern;
	WindowTable table(g, TableIn::slot, level3, {{.ipa = ARCH_TEST_GPA}, {.ipa = mmio_ipa, .device = true}});

	g.order({load(table.gva(0) + 0x30, 8), sync_point(), load(table.gva(1) + 0x50, 8)});
	ASSERT_OUTCOME("load through the table", Expectation::guest_sync(rules::guest), g.run());
	EXPECT_VALUE(walk, "value loaded through the table", pattern, g.loaded(0));
	table.protect(PROT_NONE);

	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	EXPECT_OUTCOME("load through the table after PROT_NONE",
		       Expectation::unresolvable_fault(table.ipa(), promised)
			       .because("api.rst 4.35: changes in the backing are reflected into the guest; "
					"mmu.c user_mem_abort() cannot fault the table in: -EFAULT as M4"),
		       g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the fault", 2, g.completed());
	table.protect(PROT_READ);
	ASSERT_OUTCOME("after the repair", Expectation::mmio(rules::C12, mmio_ipa + 0x50, 8, false), g.run());
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C12), g.complete_load_and_run(load_answer));
	EXPECT_VALUE(rules::C12, "value of the MMIO load", load_answer, g.loaded(2));
}

/* M8 through the window: the slot behind a window page deleted after
 * the guest used it; the same access now exits as MMIO at the IPA (C5). */
KVM_FIXTURE(gva_window_deleted_slot);

TEST_F(gva_window_deleted_slot, load_after_delete)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping backing = HostMapping::anonymous(page_size());
	std::optional<Memslot> slot;
	slot.emplace(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	const uint64_t gva = arch::map_window_page(g, 30, {.ipa = ARCH_TEST_GPA}) + 0x80;

	g.order({store(gva, 8, pattern), sync_point(), load(gva, 4)});
	ASSERT_OUTCOME("store into the slot", Expectation::guest_sync(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "the store landed in the slot", pattern,
		     *reinterpret_cast<uint64_t *>(backing.data() + 0x80));
	slot.reset();
	ASSERT_OUTCOME("load after the delete", Expectation::mmio(rules::C5, ARCH_TEST_GPA + 0x80, 4, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0x55667788));
	EXPECT_VALUE(rules::C5, "value the guest loaded", 0x55667788, g.loaded(2));
}

/*
 * A walk that writes its table: with hardware Access flag updates
 * (TCR_EL1.HA, FEAT_HAFDBS), the first access through a descriptor
 * without AF makes the walk itself store AF into the level-3 table.
 *  ram       control: the load works and the host sees AF set.
 *  readonly  the table in a KVM_MEM_READONLY slot: the walk's store
 *            cannot be made, and having no syndrome it cannot be an MMIO
 *            exit either (C7 is about the guest's own stores). The
 *            kernel injects a synchronous external abort on the walk at
 *            level 3, FAR = the VA; the table stays as it was.
 */
KVM_FIXTURE(gva_window_hw_access_flag);
FIXTURE_VARIANT(gva_window_hw_access_flag) { TableIn where; };
FIXTURE_VARIANT_ADD(gva_window_hw_access_flag, ram) { .where = TableIn::ram };
FIXTURE_VARIANT_ADD(gva_window_hw_access_flag, readonly) { .where = TableIn::readonly };

TEST_F(gva_window_hw_access_flag, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	HostMapping data = HostMapping::anonymous(page_size());
	Memslot data_slot(g.vm(), test_slot, ARCH_TEST_GPA, data);
	reinterpret_cast<uint64_t *>(data.data())[0x30 / 8] = pattern;
	const WindowPage page{.ipa = ARCH_TEST_GPA, .accessed = false};
	WindowTable table(g, variant->where, level3, {page});
	const uint64_t descriptor = arch::window_descriptor(page);

	const uint64_t gva = table.gva(0) + 0x30;
	g.order({hw_access_flag(), sync_point(), load(gva, 8)});
	ASSERT_OUTCOME("hardware Access flag updates on", Expectation::guest_sync(rules::guest), g.run());
	if (g.loaded(0) == 0)
		SKIP(return, "the vCPU has no FEAT_HAFDBS (ID_AA64MMFR1_EL1.HAFDBS is 0): its walk cannot set "
			     "the Access flag (under QEMU: -cpu max)");
	if (variant->where == TableIn::ram) {
		ASSERT_OUTCOME("load", Expectation::guest_done(walk), g.run());
		EXPECT_VALUE(walk, "value loaded", pattern, g.loaded(2));
		EXPECT_VALUE(walk, "descriptor after the walk (AF set)", descriptor | arch::window_descriptor_af,
			     table.entries()[0]);
		return;
	}
	ASSERT_OUTCOME("load through a table the walk cannot write",
		       arch::external_data_abort(
			       rules::C14, gva,
			       "arch/arm64/include/asm/kvm_emulate.h kvm_is_write_fault(): the walk's stage-2 "
			       "permission fault is a write; mmu.c kvm_handle_guest_abort(): a write to a "
			       "read-only slot on S1PTW -> kvm_inject_sea_dabt(FAR_EL2), level from the walk",
			       {.walk_level = 3}),
		       g.run());
	EXPECT_VALUE(walk, "descriptor in the read-only slot (AF still clear)", descriptor, table.entries()[0]);
}

/*
 * LDP/STP across a page boundary (C6): the first window page is in a
 * memslot, the next (an IPA far from the first) in none, or the other way
 * round. The half in no memslot faults at stage 2 without a valid
 * syndrome: with KVM_CAP_ARM_NISV_TO_USER, KVM_EXIT_ARM_NISV whose
 * fault_ipa is the IPA of the first byte of that half (the next page's
 * start, or the pair's start), PC not advanced; without it -1/ENOSYS.
 * Userspace then answers with an external abort (api.rst 4.32,
 * ext_dabt_pending after KVM_EXIT_ARM_NISV, "using the address from the
 * exiting fault"): the guest takes it at the pair with FAR = the VA of
 * that first byte.
 */
KVM_FIXTURE(gva_window_pair_across_pages);
FIXTURE_VARIANT(gva_window_pair_across_pages) { bool write; bool first_backed; bool nisv; };
FIXTURE_VARIANT_ADD(gva_window_pair_across_pages, load_second_unbacked) { .write = false, .first_backed = true, .nisv = true };
FIXTURE_VARIANT_ADD(gva_window_pair_across_pages, store_second_unbacked) { .write = true, .first_backed = true, .nisv = true };
FIXTURE_VARIANT_ADD(gva_window_pair_across_pages, load_first_unbacked) { .write = false, .first_backed = false, .nisv = true };
FIXTURE_VARIANT_ADD(gva_window_pair_across_pages, store_first_unbacked) { .write = true, .first_backed = false, .nisv = true };
FIXTURE_VARIANT_ADD(gva_window_pair_across_pages, load_nisv_off) { .write = false, .first_backed = true, .nisv = false };

TEST_F(gva_window_pair_across_pages, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	if (variant->nisv) {
		REQUIRE_CAP(g.vm(), KVM_CAP_ARM_NISV_TO_USER, 1);
		int r = g.vm().enable_cap(KVM_CAP_ARM_NISV_TO_USER);
		ASSERT_EQ(0, r) TH_LOG("KVM_ENABLE_CAP(KVM_CAP_ARM_NISV_TO_USER): %s", errno_name(-r).c_str());
	}
	HostMapping backing = HostMapping::anonymous(page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	const uint64_t unbacked_ipa = ARCH_TEST_GPA + 0x300000;
	const uint64_t first_ipa = variant->first_backed ? ARCH_TEST_GPA : unbacked_ipa;
	const uint64_t second_ipa = variant->first_backed ? unbacked_ipa : ARCH_TEST_GPA;
	const uint64_t gva = arch::map_window_page(g, 20, {.ipa = first_ipa}) + 0xff8;
	arch::map_window_page(g, 21, {.ipa = second_ipa});

	g.order({variant->write ? store_pair(gva, pattern) : load_pair(gva)});
	if (!variant->nisv) {
		ASSERT_OUTCOME("pair", Expectation::error(rules::C6, ENOSYS), g.run());
		return;
	}
	const uint64_t fault_ipa = variant->first_backed ? second_ipa : first_ipa + 0xff8;
	const uint64_t fault_gva = variant->first_backed ? arch::window_gva(21) : gva;
	const Expectation nisv = Expectation::nisv(fault_ipa, variant->write);
	ASSERT_OUTCOME("pair", nisv, g.run());
	ASSERT_OUTCOME("pair again (not advanced)", nisv, g.run());
	EXPECT_VALUE(rules::C6, "steps completed", 0, g.completed());

	if (g.vm().check_extension(KVM_CAP_ARM_INJECT_EXT_DABT) < 1)
		return;
	int r = arch::inject_ext_dabt(g.vcpu());
	ASSERT_EQ(0, r) TH_LOG("KVM_SET_VCPU_EVENTS(ext_dabt_pending): %s", errno_name(-r).c_str());
	ASSERT_OUTCOME("after the injected abort",
		       arch::external_data_abort(rules::C14, fault_gva,
						 "api.rst 4.32 KVM_SET_VCPU_EVENTS (arm64): ext_dabt_pending after "
						 "KVM_EXIT_ARM_NISV; guest.c injects it at FAR_EL2, the faulting VA",
						 {}),
		       g.run());
}

KVMC_TEST_MAIN

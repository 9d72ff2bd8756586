// SPDX-License-Identifier: GPL-2.0
/*
 * x86_64, the guest's own page tables in each kind of memslot (CONTRACT.md
 * "Variants": "with the guest's MMU on ... and with its page tables in
 * each kind of memslot"; issue 23). A table of the window's walk (a PT,
 * or a PD: include/x86_64/placed_table.h) is placed at a GPA the test
 * chooses; through it the guest reaches a RAM page, an MMIO page and a
 * page of a read-only memslot.
 *
 * Who walks the table differs by MMU, and each is judged on its own
 * basis: with NPT (--arch x86_64) the CPU walks it, and a table GPA KVM
 * has not mapped is a #NPF with EXITINFO1 bit 33 (AMD APM vol. 2,
 * 15.25.6: the fault happened during the guest's page-table walk) that
 * KVM handles like any other fault at that GPA (arch/x86/kvm/mmu/mmu.c
 * kvm_mmu_page_fault), emulating where there is no memslot; with the
 * shadow MMU (--arch x86_64-shadow) KVM walks it itself on every fault
 * (arch/x86/kvm/mmu/paging_tmpl.h FNAME(walk_addr_generic)).
 *
 *  gva_window_table_in.<kind>_<access>  one load or store through the
 *      placed table to its RAM page, then an MMIO load (C5 at the MMIO
 *      page's GPA) and a store to the read-only slot's page (C7 at its
 *      GPA). Kinds:
 *        ram, slot         control: guest RAM, an ordinary memslot.
 *        readonly          a KVM_MEM_READONLY memslot, entries written
 *                          with A and D set: nothing for the walk to write.
 *        readonly_clear_ad the same with A and D clear: the walk must set
 *                          them and cannot (the entry in the slot stays
 *                          as it was).
 *        prot_none         M4: the table's host page PROT_NONE: C4 at the
 *                          table's GPA, the same again without a repair,
 *                          C12 after mprotect.
 *        no_memslot        no memslot at the table's GPA: the guest takes
 *                          #PF (KVM's choice, see no_table_basis).
 *        guest_memfd       a shared guest_memfd memslot the host writes
 *                          the table through: as ram.
 *        guest_memfd_gone  G2: its file gone: C10 at the table's GPA.
 *        guest_memfd_punched  G3: the table's page punched out of the
 *                          file: it reads zero, so the guest takes the
 *                          #PF of a not-present entry (the APM's).
 *        poisoned          P1: the table's host page poisoned: C8 at the
 *                          table's host page, C12 after a fresh page.
 *      pd_*: the placed table is the PD (its entry 0 the window's PT).
 *  gva_window_table_broken_after_mapped  the table's host page made
 *      PROT_NONE after the guest walked it: the next walk through it is
 *      M4 at the table's GPA (C4), then C12 after mprotect.
 *
 * And the data page itself behind a window page (window_slot: GVA !=
 * GPA), judged as the originals in tests/guest_memfd_test.cpp and
 * tests/poison_test.cpp are, every address the GPA or the host's:
 *  gva_window_guest_memfd_gone.<access>  G2: C10, memory_fault at the GPA.
 *  gva_window_guest_memfd_punched.load   G3: no exit, the page reads zero.
 *  gva_window_poisoned.<access>          P1: C8 at the page's host address,
 *      compared with the native fault; C12 after a fresh page.
 */
#include "test_util.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/falloc.h>
#include <optional>
#include <string>
#include <sys/mman.h>

#include "backing.h"
#include "layout.h"
#include "x86_64/exception.h"
#include "x86_64/placed_table.h"
#include "x86_64/window.h"

using namespace kvmc;
using namespace kvmc::x86;

namespace {

constexpr uint64_t pattern = 0x8877665544332211ull;
constexpr uint64_t load_answer = 0xf1e2d3c4b5a69788ull;

constexpr uint64_t mmio_gpa = ARCH_MMIO_GPA + 0x5000;
constexpr uint64_t readonly_data_gpa = ARCH_TEST_GPA + 0x400000;
constexpr uint32_t table_slot = test_slot + 1;
constexpr uint32_t readonly_data_slot = test_slot + 2;

/* The walk and the accesses through it: what the guest reads and writes
 * through the table is what the data page's memslot holds. */
constexpr Rule walk{"walk", "AMD APM vol. 2, 5.3: a page walk only reads its tables (and writes A and D, 5.4.2); "
			    "api.rst 4.35 KVM_SET_USER_MEMORY_REGION (KVM_MEM_READONLY: reads of the slot)"};

/*
 * A table in no memory: the APM defines no outcome for a walk that reads
 * a physical address with nothing behind it (on real hardware the
 * platform answers, typically with all ones). KVM's choice, on both MMUs:
 * FNAME(walk_addr_generic) (paging_tmpl.h 405-407: the table's GFN has no
 * visible memslot -> goto error) reports a not-present fault, the error
 * code only the access's W/U bits (line 489), and KVM injects it as #PF
 * with CR2 = the GVA. With NPT it gets there by emulation: the CPU's walk
 * takes a #NPF at the table's GPA (EXITINFO1 bit 33), mmu.c
 * kvm_handle_noslot_fault() -> RET_PF_EMULATE, and the emulator's own
 * walk of the same tables fails; the shadow MMU's FNAME(page_fault) walks
 * them first and injects the same fault.
 */
constexpr const char *no_table_basis =
	"arch/x86/kvm/mmu/paging_tmpl.h FNAME(walk_addr_generic) lines 405-407 (no visible memslot for the "
	"table -> error) and 489 (error code = the access's W/U bits, P clear); NPT: the #NPF at the table's "
	"GPA is emulated (mmu.c kvm_handle_noslot_fault) and the emulator's walk fails the same way; the "
	"APM defines no outcome for a walk into non-memory";

/*
 * A walk that must set A (and D) in a table in a read-only slot: the
 * slot's memory must not change (api.rst 4.35), and KVM neither writes
 * it nor exits for it: update_accessed_dirty_bits() skips an entry whose
 * slot is not writable (paging_tmpl.h 247-260, "page tables in
 * read-as-ROM/write-as-MMIO slots are only supported if the accessed and
 * dirty bits are already set"), and the access goes on. Under NPT the
 * CPU's write of A faults at the table's GPA (a read-only NPT entry) and
 * KVM emulates the access with that same walk. KVM's choice: the APM
 * says A is set (5.4.2), not what a write to ROM does.
 */
constexpr Rule readonly_walk{"C7", "api.rst 4.35 KVM_MEM_READONLY (the slot is not written); "
				   "arch/x86/kvm/mmu/paging_tmpl.h update_accessed_dirty_bits() 247-260"};

/* P1 for a table: C8 at the table's host page. */
constexpr const char *poisoned_table_npt_basis =
	"not in api.rst (C8). NPT: the CPU's walk takes a #NPF at the table's GPA; mmu.c "
	"kvm_handle_error_pfn() (KVM_PFN_ERR_HWPOISON) -> kvm_send_hwpoison_signal() at the table's hva";
constexpr const char *poisoned_table_shadow_basis =
	"not in api.rst (C8). Shadow MMU: FNAME(walk_addr_generic) reads the table with get_user() "
	"(paging_tmpl.h line 416), whose fault on a poisoned page sends no signal (arch/x86/mm/fault.c "
	"do_sigbus line 920, kernel mode); C8 asks for the SIGBUS KVM sends for the same page when it "
	"maps it (mmu.c kvm_send_hwpoison_signal), as with NPT";

/* Where a placed table is. */
enum class TableIn {
	ram, slot, readonly, readonly_clear_ad, prot_none, no_memslot, guest_memfd, guest_memfd_gone,
	guest_memfd_punched, poisoned
};

constexpr uint64_t shared_gmem_flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

/* Why this VM cannot have a table where says, or nothing. */
std::optional<std::string> table_unavailable(Vm &vm, TableIn where)
{
	if (where != TableIn::guest_memfd && where != TableIn::guest_memfd_gone &&
	    where != TableIn::guest_memfd_punched)
		return std::nullopt;
	if (vm.check_extension(KVM_CAP_GUEST_MEMFD) < 1)
		return std::string("needs KVM_CAP_GUEST_MEMFD (CONFIG_KVM_GUEST_MEMFD)");
	const uint64_t offered = vm.check_extension(KVM_CAP_GUEST_MEMFD_FLAGS);
	if ((offered & shared_gmem_flags) != shared_gmem_flags)
		return "needs guest_memfd flags " + hex(shared_gmem_flags) + ", KVM_CAP_GUEST_MEMFD_FLAGS is " +
		       hex(offered);
	return std::nullopt;
}

/*
 * A table of the window's walk in memory of the kind where says,
 * translating pages[n] at gva(n): a placed PT holds their PTEs; a placed
 * PD points to the window's PT in RAM, which then holds them. The
 * entries in the placed table carry A (and D) as ad says.
 */
class WindowTable {
public:
	WindowTable(GuestVm &g, TableIn where, PlacedTable which, std::initializer_list<PlacedPage> pages)
		: which_(which), backing_(HostMapping::anonymous(page_size()))
	{
		gpa_ = where == TableIn::ram	    ? ARCH_RAM_GPA + 0x1e000
		       : where == TableIn::no_memslot ? ARCH_TEST_GPA + 0x300000
						      : ARCH_TEST_GPA + 0x100000;
		const bool ad = where != TableIn::readonly_clear_ad;
		if (where == TableIn::guest_memfd || where == TableIn::guest_memfd_punched) {
			gmem_view_.emplace(g.vm(), table_slot, gpa_, page_size(), shared_gmem_flags);
			entries_ = reinterpret_cast<volatile uint64_t *>(gmem_view_->view.data());
		} else if (where == TableIn::guest_memfd_gone) {
			GuestMemfd gmem(g.vm(), page_size(), shared_gmem_flags);
			memslot_.emplace(g.vm(), table_slot, gpa_, gmem, 0, page_size(), backing_);
			/* gmem's fd closes here: the file is gone. */
		} else if (where == TableIn::ram) {
			entries_ = reinterpret_cast<volatile uint64_t *>(g.ram_at(gpa_));
		} else if (where != TableIn::no_memslot) {
			entries_ = reinterpret_cast<volatile uint64_t *>(backing_.data());
		}
		unsigned n = 0;
		for (PlacedPage page : pages) {
			page.accessed = page.dirty = ad;
			if (which == PlacedTable::pd)
				map_placed_pd_page(g, n, page);
			else
				written_[n] = placed_pte(page);
			n++;
		}
		if (which == PlacedTable::pd)
			written_[0] = placed_pd_entry(ad);
		rewrite();
		if (where == TableIn::slot || where == TableIn::readonly || where == TableIn::readonly_clear_ad ||
		    where == TableIn::prot_none || where == TableIn::poisoned)
			memslot_.emplace(g.vm(), table_slot, gpa_, backing_,
					 where == TableIn::readonly || where == TableIn::readonly_clear_ad ? KVM_MEM_READONLY
													   : 0);
		if (where == TableIn::prot_none)
			protect(PROT_NONE);
		place_window_table(g, gpa_, which);
	}

	uint64_t gpa() const { return gpa_; }
	uint64_t gva(unsigned n) const { return placed_gva(which_, n); }
	/* The host's view of the table's entries (none without a memslot). */
	volatile uint64_t *entries() const { return entries_; }
	/* Entry 0 as the host wrote it. */
	uint64_t first_entry() const { return written_[0]; }
	void protect(int prot) { backing_.protect(0, page_size(), prot); }
	/* Write the entries (again) through the host's view. */
	void rewrite()
	{
		for (unsigned n = 0; entries_ && n < 3; n++)
			entries_[n] = written_[n];
	}
	/* The table's page in the host: a slot's anonymous page, or the
	 * guest_memfd's mapping. */
	uint8_t *host_page() const { return gmem_view_ ? gmem_view_->view.data() : backing_.data(); }
	/* guest_memfd_punched: punch the table's page out of the file. */
	int punch() const
	{
		return fallocate(gmem_view_->gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, page_size())
			       ? -errno : 0;
	}
	/* poisoned: a fresh page in place of the poisoned one (C12). */
	void replace_page()
	{
		if (mmap(backing_.data(), page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) != backing_.data())
			die("mmap(MAP_FIXED) over the poisoned table page: %s", errno_name(errno).c_str());
	}

private:
	PlacedTable which_;
	HostMapping backing_;
	std::optional<Memslot> memslot_;
	std::optional<MappedGmemSlot> gmem_view_;
	uint64_t gpa_ = 0;
	volatile uint64_t *entries_ = nullptr;
	uint64_t written_[3] = {};
};

} /* namespace */

KVM_FIXTURE(gva_window_table_in);
FIXTURE_VARIANT(gva_window_table_in) { TableIn in; PlacedTable table; bool store; };
#define TABLE_VARIANTS(name, kind, which)                                                              \
	FIXTURE_VARIANT_ADD(gva_window_table_in, name##_load) { .in = kind, .table = which, .store = false }; \
	FIXTURE_VARIANT_ADD(gva_window_table_in, name##_store) { .in = kind, .table = which, .store = true }
TABLE_VARIANTS(ram, TableIn::ram, PlacedTable::pt);
TABLE_VARIANTS(slot, TableIn::slot, PlacedTable::pt);
TABLE_VARIANTS(readonly, TableIn::readonly, PlacedTable::pt);
TABLE_VARIANTS(readonly_clear_ad, TableIn::readonly_clear_ad, PlacedTable::pt);
TABLE_VARIANTS(prot_none, TableIn::prot_none, PlacedTable::pt);
TABLE_VARIANTS(no_memslot, TableIn::no_memslot, PlacedTable::pt);
TABLE_VARIANTS(guest_memfd, TableIn::guest_memfd, PlacedTable::pt);
TABLE_VARIANTS(guest_memfd_gone, TableIn::guest_memfd_gone, PlacedTable::pt);
TABLE_VARIANTS(guest_memfd_punched, TableIn::guest_memfd_punched, PlacedTable::pt);
TABLE_VARIANTS(poisoned, TableIn::poisoned, PlacedTable::pt);
TABLE_VARIANTS(pd_readonly, TableIn::readonly, PlacedTable::pd);
TABLE_VARIANTS(pd_prot_none, TableIn::prot_none, PlacedTable::pd);
TABLE_VARIANTS(pd_no_memslot, TableIn::no_memslot, PlacedTable::pd);

TEST_F(gva_window_table_in, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	if (auto why = table_unavailable(g.vm(), variant->in))
		SKIP(return, "%s", why->c_str());
	std::string mmu;
	const bool shadow = kvm_walks_guest_tables(&mmu);
	TH_LOG("%s", mmu.c_str());
	HostMapping data = HostMapping::anonymous(page_size());
	Memslot data_slot(g.vm(), test_slot, ARCH_TEST_GPA, data);
	auto *host = reinterpret_cast<uint64_t *>(data.data());
	host[0x30 / 8] = pattern;
	HostMapping readonly_data = HostMapping::anonymous(page_size());
	Memslot readonly_data_memslot(g.vm(), readonly_data_slot, readonly_data_gpa, readonly_data, KVM_MEM_READONLY);
	WindowTable table(g, variant->in, variant->table,
			  {{.gpa = ARCH_TEST_GPA}, {.gpa = mmio_gpa, .mmio = true}, {.gpa = readonly_data_gpa}});

	const uint64_t data_gva = table.gva(0) + 0x30;
	g.order({variant->store ? store(data_gva, 8, ~pattern) : load(data_gva, 8), load(table.gva(1) + 0x50, 8),
		 store(table.gva(2) + 0x60, 8, pattern)});
	if (variant->in == TableIn::guest_memfd_punched) {
		const int r = table.punch();
		ASSERT_EQ(0, r) TH_LOG("fallocate(PUNCH_HOLE) of the table's page: %s", errno_name(-r).c_str());
		GuestException pf = page_fault(data_gva, variant->store ? pf_write : 0,
					       "#PF, not present: the punched table reads zero");
		/* Under NPT the walk that finds the zero entry is the CPU's,
		 * and so is the delivery (KVM only maps the new zero page at
		 * the #NPF). Every other field is judged. */
		if (!shadow)
			pf = rf_not_judged(pf);
		ASSERT_OUTCOME("access through a table punched out of its guest_memfd",
			       Expectation::guest_exception(rules::G3, pf)
				       .because("api.rst 4.142: a punched guest_memfd page reads zero; AMD APM "
						"vol. 2, 5.4.1 and 8.4.2: a PTE with P clear is a #PF with P clear "
						"in the error code, CR2 = the linear address"),
			       g.run());
		EXPECT_VALUE(rules::G3, "steps completed", 0, g.completed());
		return;
	}
	if (variant->in == TableIn::poisoned) {
		REQUIRE_DESTRUCTIVE();
		if (const char *why = poison_unavailable(poison(table.host_page())))
			SKIP(return, "%s", why);
		Observation obs = g.run();
		SignalRecord native = native_fault(table.host_page());
		ASSERT_OUTCOME("access through a poisoned table",
			       Expectation::poison_signal(reinterpret_cast<uint64_t>(table.host_page()), native)
				       .because(shadow ? poisoned_table_shadow_basis : poisoned_table_npt_basis),
			       obs);
		table.replace_page();
		table.rewrite();
	}
	if (variant->in == TableIn::no_memslot) {
		ASSERT_OUTCOME("access through a table outside every memslot",
			       Expectation::guest_exception(
				       rules::C14, page_fault(data_gva, variant->store ? pf_write : 0,
							      "#PF, not present: the table is in no memslot"))
				       .because(no_table_basis),
			       g.run());
		EXPECT_VALUE(rules::C14, "steps completed", 0, g.completed());
		return;
	}
	if (variant->in == TableIn::guest_memfd_gone) {
		ASSERT_OUTCOME("access through a table in a gone guest_memfd",
			       Expectation::memory_fault(rules::C10, EFAULT, table.gpa())
				       .with_memory_fault_info(g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1),
			       g.run());
		return;
	}
	if (variant->in == TableIn::prot_none) {
		bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
		Expectation fault =
			Expectation::unresolvable_fault(table.gpa(), promised)
				.because(shadow ? "shadow MMU: FNAME(page_fault) walks the guest's tables itself "
						  "(paging_tmpl.h walk_addr_generic); the table's GPA is in a "
						  "valid memslot whose host page cannot be read: M4 at the table's GPA"
						: "NPT: the CPU's walk takes a #NPF at the table's GPA (EXITINFO1 bit 33); "
						  "mmu.c kvm_mmu_faultin_pfn() cannot fault the host page in: M4 at "
						  "the table's GPA");
		EXPECT_OUTCOME("access through a PROT_NONE table", fault, g.run());
		EXPECT_OUTCOME("KVM_RUN again, nothing repaired", fault, g.run());
		EXPECT_VALUE(rules::C12, "steps completed before the fault", 0, g.completed());
		table.protect(PROT_READ | PROT_WRITE);
	}
	ASSERT_OUTCOME("MMIO load through the table", Expectation::mmio(rules::C5, mmio_gpa + 0x50, 8, false), g.run());
	if (variant->store)
		EXPECT_VALUE(walk, "the store through the table (RAM page)", ~pattern, host[0x30 / 8]);
	else
		EXPECT_VALUE(walk, "value loaded through the table", pattern, g.loaded(0));
	ASSERT_OUTCOME("store to a read-only slot through the table",
		       Expectation::mmio(rules::C7, readonly_data_gpa + 0x60, 8, true, pattern),
		       g.complete_load_and_run(load_answer));
	EXPECT_VALUE(rules::C5, "value of the MMIO load", load_answer, g.loaded(1));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C7), g.run());
	if (table.entries())
		TH_LOG("entry 0 of the table: written %#llx, now %#llx", (unsigned long long)table.first_entry(),
		       (unsigned long long)table.entries()[0]);
	if (variant->in == TableIn::readonly_clear_ad)
		EXPECT_VALUE(readonly_walk, "entry 0 in the read-only slot after the walks (A, D still clear)",
			     table.first_entry(), table.entries()[0]);
}

/*
 * The placed PT's host page made PROT_NONE after the guest walked it:
 * the next walk through it (a page the guest's TLB cannot hold yet) must
 * fault as M4 at the table's GPA, and go on once the host makes the page
 * usable again (C12).
 */
KVM_FIXTURE(gva_window_table_broken_after_mapped);

TEST_F(gva_window_table_broken_after_mapped, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping data = HostMapping::anonymous(page_size());
	Memslot data_slot(g.vm(), test_slot, ARCH_TEST_GPA, data);
	reinterpret_cast<uint64_t *>(data.data())[0x30 / 8] = pattern;
	WindowTable table(g, TableIn::slot, PlacedTable::pt, {{.gpa = ARCH_TEST_GPA}, {.gpa = mmio_gpa, .mmio = true}});

	g.order({load(table.gva(0) + 0x30, 8), sync_point(), load(table.gva(1) + 0x50, 8)});
	ASSERT_OUTCOME("load through the table", Expectation::guest_sync(rules::guest), g.run());
	EXPECT_VALUE(walk, "value loaded through the table", pattern, g.loaded(0));
	table.protect(PROT_NONE);

	bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	EXPECT_OUTCOME("load through the table after PROT_NONE",
		       Expectation::unresolvable_fault(table.gpa(), promised)
			       .because("api.rst 4.35: changes in the backing are reflected into the guest; "
					"the walk's fault at the table's GPA cannot be resolved: M4"),
		       g.run());
	EXPECT_VALUE(rules::C12, "steps completed before the fault", 2, g.completed());
	table.protect(PROT_READ | PROT_WRITE);
	ASSERT_OUTCOME("after the repair", Expectation::mmio(rules::C12, mmio_gpa + 0x50, 8, false), g.run());
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C12), g.complete_load_and_run(load_answer));
	EXPECT_VALUE(rules::C12, "value of the MMIO load", load_answer, g.loaded(2));
}

/*
 * The data page behind window page window_slot (GPA ARCH_TEST_GPA + 4 KiB,
 * the second page of a two-page memslot at ARCH_TEST_GPA), reached at a
 * GVA that is not its GPA.
 */
namespace {

constexpr uint64_t data_offset = 0x48;
constexpr uint64_t data_gva = window_gva(window_slot, data_offset);
constexpr uint64_t data_gpa = window_gpa(window_slot, data_offset);
static_assert(window_gpa(window_slot) == ARCH_TEST_GPA + 0x1000, "window_slot is the slot's second page");

guest::Step access(bool is_write)
{
	return is_write ? store(data_gva, 8, ~pattern) : load(data_gva, 8);
}

} /* namespace */

/* G2 through the window: C10 at the GPA, on either MMU (with tables in
 * RAM both reach kvm_mmu_faultin_pfn_gmem(), mmu.c 4636-4640). */
KVM_FIXTURE(gva_window_guest_memfd_gone);
FIXTURE_VARIANT(gva_window_guest_memfd_gone) { bool is_write; };
FIXTURE_VARIANT_ADD(gva_window_guest_memfd_gone, load) { .is_write = false };
FIXTURE_VARIANT_ADD(gva_window_guest_memfd_gone, store) { .is_write = true };

TEST_F(gva_window_guest_memfd_gone, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	if (auto why = table_unavailable(g.vm(), TableIn::guest_memfd_gone))
		SKIP(return, "%s", why->c_str());
	HostMapping shared = HostMapping::anonymous(2 * page_size());
	std::optional<Memslot> slot;
	{
		GuestMemfd gmem(g.vm(), 2 * page_size(), shared_gmem_flags);
		slot.emplace(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, 2 * page_size(), shared);
		/* gmem's only fd closes here: the file is gone. */
	}
	g.order({access(variant->is_write)});
	ASSERT_OUTCOME("access", Expectation::memory_fault(rules::C10, EFAULT, data_gpa)
					 .with_memory_fault_info(g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1),
		       g.run());
	EXPECT_VALUE(rules::C10, "steps completed", 0, g.completed());
}

/* G3 through the window: the page punched after the guest stored to it
 * reads zero, no exit. */
KVM_FIXTURE(gva_window_guest_memfd_punched);

TEST_F(gva_window_guest_memfd_punched, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	if (auto why = table_unavailable(g.vm(), TableIn::guest_memfd_punched))
		SKIP(return, "%s", why->c_str());
	MappedGmemSlot region(g.vm(), test_slot, ARCH_TEST_GPA, 2 * page_size(), shared_gmem_flags);
	g.order({store(data_gva, 8, pattern), sync_point(), load(data_gva, 8)});
	ASSERT_OUTCOME("store", Expectation::guest_sync(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "the store, seen through the guest_memfd mapping", pattern,
		     *reinterpret_cast<uint64_t *>(region.view.data() + page_size() + data_offset));
	ASSERT_EQ(0, fallocate(region.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page_size(),
			       page_size()))
		TH_LOG("fallocate(PUNCH_HOLE): %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("load after the punch", Expectation::guest_done(rules::G3), g.run());
	EXPECT_VALUE(rules::G3, "value loaded from the punched page", 0, g.loaded(2));
}

/* P1 through the window: C8, the SIGBUS naming the page's host address
 * (the same extent the native fault reports), then C12. */
KVM_FIXTURE(gva_window_poisoned);
FIXTURE_VARIANT(gva_window_poisoned) { bool is_write; };
FIXTURE_VARIANT_ADD(gva_window_poisoned, load) { .is_write = false };
FIXTURE_VARIANT_ADD(gva_window_poisoned, store) { .is_write = true };

TEST_F(gva_window_poisoned, access)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	memset(backing.data(), 0x5a, backing.size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), access(variant->is_write)});
	uint8_t *page = backing.data() + page_size();
	if (const char *why = poison_unavailable(poison(page)))
		SKIP(return, "%s", why);
	Observation obs = g.run();
	SignalRecord native = native_fault(page + data_offset);
	ASSERT_OUTCOME("access",
		       Expectation::poison_signal(backing.hva() + page_size() + data_offset, native)
			       .because("not in api.rst (C8): mmu.c kvm_handle_error_pfn() -> "
					"kvm_send_hwpoison_signal(), the page's hva with PAGE_SHIFT, whichever "
					"MMU translated the GVA"),
		       obs);
	EXPECT_VALUE(rules::C12, "steps completed before the fault", 1, g.completed());
	ASSERT_EQ(page, mmap(page, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			     -1, 0));
	ASSERT_OUTCOME("after a new mapping", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern, *reinterpret_cast<uint64_t *>(backing.data() + 0x10));
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the retried store", ~pattern,
			     *reinterpret_cast<uint64_t *>(page + data_offset));
	else
		EXPECT_VALUE(rules::C12, "the retried load (a fresh page reads zero)", 0, g.loaded(1));
}

KVMC_TEST_MAIN

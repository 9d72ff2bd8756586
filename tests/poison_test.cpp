// SPDX-License-Identifier: GPL-2.0
/*
 * Poisoned pages (CONTRACT.md P1-P3). MADV_HWPOISON marks a page as if the
 * hardware had found it corrupt; the guest then touches it.
 *
 * P1, P2 (ordinary memory, C8) rest on the kernel, not on api.rst: the
 * vCPU thread gets SIGBUS BUS_MCEERR_AR naming the lost extent
 * (kvm_send_hwpoison_signal() in arch/arm64/kvm/mmu.c and
 * arch/x86/kvm/mmu/mmu.c) and KVM_RUN returns -1/EINTR. Being
 * undocumented, the extent is compared with the one the kernel's native
 * fault path reports when this process touches the same memory without
 * KVM. P3 (guest_memfd, C9) is api.rst's -1/EHWPOISON with
 * KVM_EXIT_MEMORY_FAULT.
 *
 * These poison a physical page of the machine for good: they run in the
 * test VM, or natively only with --allow-destructive.
 */
#include "test_util.h"

#include <cerrno>
#include <fcntl.h>
#include <linux/falloc.h>
#include <optional>
#include <sys/mman.h>
#include <unistd.h>

#include "backing.h"
#include "layout.h"

using namespace kvmc;

namespace {

constexpr uint64_t pattern = 0x0123456789abcdefull;
const char *const c8_basis =
	"not in api.rst. KVM: kvm_send_hwpoison_signal() (arch/arm64/kvm/mmu.c: the page's hva with "
	"the VMA's page shift; arch/x86/kvm/mmu/mmu.c kvm_handle_error_pfn: the page's hva with "
	"PAGE_SHIFT), then the pending signal ends KVM_RUN with -1/EINTR. The kernel's convention, "
	"compared with: the native fault (arch/arm64/mm/fault.c do_page_fault, arch/x86/mm/fault.c "
	"do_sigbus: the faulting address, PAGE_SHIFT or the huge page's shift) and "
	"mm/memory-failure.c __add_to_kill (the folio's shift)";

} /* namespace */

KVM_FIXTURE(p1_poisoned_anon_page);
FIXTURE_VARIANT(p1_poisoned_anon_page) { bool is_write; };
FIXTURE_VARIANT_ADD(p1_poisoned_anon_page, load) { .is_write = false };
FIXTURE_VARIANT_ADD(p1_poisoned_anon_page, store) { .is_write = true };

TEST_F(p1_poisoned_anon_page, access)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	memset(backing.data(), 0x5a, backing.size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	const uint64_t fault_gpa = ARCH_TEST_GPA + page_size() + 0x40;
	if (variant->is_write)
		g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), store(fault_gpa, 8, ~pattern)});
	else
		g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), load(fault_gpa, 8)});

	uint8_t *page = backing.data() + page_size();
	if (const char *why = poison_unavailable(poison(page)))
		SKIP(return, "%s", why);
	Observation obs = g.run();
	SignalRecord native = native_fault(page + 0x40);
	ASSERT_OUTCOME("access", Expectation::poison_signal(backing.hva() + page_size() + 0x40, native).because(c8_basis),
		       obs);

	/* C12: a fresh page at the same address; the guest goes on. */
	ASSERT_EQ(page, mmap(page, page_size(), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	ASSERT_OUTCOME("after a new mapping", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern,
		     *reinterpret_cast<uint64_t *>(backing.data() + 0x10));
}

/* P2: a 2 MiB hugetlb page. The whole huge page is lost: KVM may name it
 * (si_addr_lsb 21) or only the 4 KiB page touched (12); the native fault
 * names the huge page, so an lsb of 12 is a note, disjoint extents fail. */
KVM_FIXTURE(p2_poisoned_huge_page);

TEST_F(p2_poisoned_huge_page, load)
{
	REQUIRE_DESTRUCTIVE();
	std::string no_huge_pages;
	uint8_t *base = map_huge_pages(2, &no_huge_pages);
	if (!base)
		SKIP(return, "%s", no_huge_pages.c_str());
	Kvm kvm;
	GuestVm g(kvm);
	ASSERT_EQ(0, add_huge_pages_memslot(g.vm(), base, 2));

	const uint64_t offset = huge_page_size + 0x3040;
	g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), load(ARCH_TEST_GPA + offset, 8)});
	if (const char *why = poison_unavailable(poison(base + huge_page_size + 0x3000)))
		SKIP(return, "%s", why);
	Observation obs = g.run();
	SignalRecord native = native_fault(base + offset);
	ASSERT_OUTCOME("access",
		       Expectation::poison_signal(reinterpret_cast<uint64_t>(base) + offset, native).because(c8_basis), obs);
	EXPECT_VALUE(rules::C8, "steps completed before the fault", 1, g.completed());
}

/* P2 over a 1 GiB hugetlb page (where one is reserved: backing.h),
 * mapped whole by a memslot of its size, so KVM can map it at its size
 * (an arm64 level-1 block, an x86 1 GiB entry): the lost extent is the
 * 1 GiB page (si_addr_lsb 30) or the 4 KiB page; C8 as for 2 MiB. */
TEST_F(p2_poisoned_huge_page, load_1g)
{
	REQUIRE_DESTRUCTIVE();
	std::string why;
	uint8_t *base = map_gigantic_page(&why);
	if (!base)
		SKIP(return, "%s", why.c_str());
	Kvm kvm;
	GuestVm g(kvm);
	ASSERT_EQ(0, add_huge_pages_memslot(g.vm(), base, 1, gigantic_page_size));

	/* One page only: the whole of it is lost, so the load is the
	 * program's first access. */
	const uint64_t offset = (gigantic_page_size >> 1) + 0x3040;
	g.order({load(ARCH_TEST_GPA + offset, 8)});
	if (const char *no = poison_unavailable(poison(base + offset - 0x40)))
		SKIP(return, "%s", no);
	Observation obs = g.run();
	SignalRecord native = native_fault(base + offset);
	ASSERT_OUTCOME("access",
		       Expectation::poison_signal(reinterpret_cast<uint64_t>(base) + offset, native).because(c8_basis), obs);
	EXPECT_VALUE(rules::C8, "steps completed before the fault", 0, g.completed());
}

/*
 * P1 over a transparent huge page: 4 MiB of MADV_HUGEPAGE anonymous memory
 * the kernel backed with THP, one 4 KiB page of the second huge page
 * poisoned, before the guest touched it (access) or after the guest mapped
 * the whole huge page through a block or huge mapping (after_mapped).
 * memory_failure() splits the huge page if it can (then only the 4 KiB page
 * is lost) or loses all of it; C8 holds either way: the extent KVM names
 * must contain the address and agree with the native fault at the same
 * address. Then a fresh page at the poisoned one, and the guest goes on
 * (C12) with its earlier store intact.
 */
KVM_FIXTURE(p1_poisoned_thp);
FIXTURE_VARIANT(p1_poisoned_thp) { bool mapped_first; };
FIXTURE_VARIANT_ADD(p1_poisoned_thp, access) { .mapped_first = false };
FIXTURE_VARIANT_ADD(p1_poisoned_thp, after_mapped) { .mapped_first = true };

TEST_F(p1_poisoned_thp, load)
{
	REQUIRE_DESTRUCTIVE();
	HostMapping backing = HostMapping::anonymous_thp(2 * huge_page_size, huge_page_size);
	if (!backing.thp_backed())
		SKIP(return, "the kernel gave no transparent huge pages for MADV_HUGEPAGE memory");
	memset(backing.data(), 0x5a, backing.size());
	Kvm kvm;
	GuestVm g(kvm);
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	const uint64_t offset = huge_page_size + 0x3040;
	if (variant->mapped_first) {
		g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), load(ARCH_TEST_GPA + huge_page_size + 0x8, 8),
			 load(ARCH_TEST_GPA + huge_page_size + 0x1ff000, 8), sync_point(), load(ARCH_TEST_GPA + offset, 8)});
		ASSERT_OUTCOME("the guest maps both huge pages", Expectation::guest_sync(rules::guest), g.run());
	} else {
		g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), load(ARCH_TEST_GPA + offset, 8)});
	}
	uint8_t *page = backing.data() + huge_page_size + 0x3000;
	if (const char *why = poison_unavailable(poison(page)))
		SKIP(return, "%s", why);
	Observation obs = g.run();
	SignalRecord native = native_fault(backing.data() + offset);
	ASSERT_OUTCOME("load from the poisoned page",
		       Expectation::poison_signal(backing.hva() + offset, native).because(c8_basis), obs);

	/* C12: a fresh page where the poisoned one was (its huge page split,
	 * or all of it gone: map the whole huge page again then). */
	uint8_t *where = native.addr_lsb > 12 ? backing.data() + huge_page_size : page;
	const size_t len = native.addr_lsb > 12 ? huge_page_size : page_size();
	ASSERT_EQ(where, mmap(where, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	ASSERT_OUTCOME("after a new mapping", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern,
		     *reinterpret_cast<uint64_t *>(backing.data() + 0x10));
}

/* P3: a poisoned guest_memfd page: -1/EHWPOISON with KVM_EXIT_MEMORY_FAULT
 * covering it (C9). */
KVM_FIXTURE(p3_poisoned_guest_memfd);

TEST_F(p3_poisoned_guest_memfd, load)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_GUEST_MEMFD, 1);
	const uint64_t flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	if ((g.vm().check_extension(KVM_CAP_GUEST_MEMFD_FLAGS) & flags) != flags)
		SKIP(return, "needs guest_memfd flags MMAP|INIT_SHARED to poison a page from the host");
	GuestMemfd gmem(g.vm(), 2 * page_size(), flags);
	HostMapping view = gmem.map();
	memset(view.data(), 0x5a, view.size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, 2 * page_size(), view);

	const uint64_t fault_gpa = ARCH_TEST_GPA + page_size() + 0x40;
	g.order({store(ARCH_TEST_GPA + 0x10, 8, pattern), load(fault_gpa, 8)});
	if (const char *why = poison_unavailable(poison(view.data() + page_size())))
		SKIP(return, "%s", why);
	const bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	ASSERT_OUTCOME("access",
		       Expectation::memory_fault(rules::C9, EHWPOISON, fault_gpa).with_memory_fault_info(promised),
		       g.run());
	EXPECT_VALUE(rules::C9, "steps completed before the fault", 1, g.completed());
}

/*
 * P1 and P3 variants (issue 11 items 6, 9, 10): the page poisoned after
 * the guest mapped it, KVM_RUN again without a repair, the fault after an
 * exit of another kind, and what the retried access sees once the host
 * replaced the page.
 */
namespace {

/* As in P1 and P3: the guest stores to the first page, then touches the
 * second, the poisoned one. */
constexpr uint64_t first_gpa = ARCH_TEST_GPA + 0x10;
uint64_t poisoned_gpa() { return ARCH_TEST_GPA + page_size() + 0x40; }

/* P1's guest memory: two anonymous pages in a memslot. */
struct AnonSlot {
	HostMapping backing = HostMapping::anonymous(2 * page_size());
	std::optional<Memslot> slot;

	explicit AnonSlot(GuestVm &g)
	{
		memset(backing.data(), 0x5a, backing.size());
		slot.emplace(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	}
	uint8_t *page() const { return backing.data() + page_size(); }
	uint64_t hva(uint64_t gpa) const { return backing.hva() + gpa - ARCH_TEST_GPA; }
	uint64_t &host(uint64_t gpa) const { return *reinterpret_cast<uint64_t *>(hva(gpa)); }
	/* C12's repair: a fresh page at the same address. */
	bool replace_page() const
	{
		return mmap(page(), page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			    0) == page();
	}
};

Expectation p1_signal(const AnonSlot &m)
{
	/* The differential check against the native fault is P1 access's. */
	return Expectation::poison_signal(m.hva(poisoned_gpa())).because(c8_basis);
}

} /* namespace */

/* P1, poisoned after the guest mapped the page: memory_failure() unmaps
 * it from the host, KVM's mapping must go with it (api.rst 4.35), and
 * the guest's next access is reported as when the page was poisoned
 * before (C8). */
TEST_F(p1_poisoned_anon_page, after_mapped)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	AnonSlot m(g);
	const guest::Step access = variant->is_write ? store(poisoned_gpa(), 8, ~pattern) : load(poisoned_gpa(), 8);
	g.order({store(first_gpa, 8, pattern), store(poisoned_gpa(), 8, pattern), sync_point(), access});
	ASSERT_OUTCOME("guest maps the page", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_VALUE(rules::guest, "guest's store to the page before the poison", pattern, m.host(poisoned_gpa()));

	if (const char *why = poison_unavailable(poison(m.page())))
		SKIP(return, "%s", why);
	ASSERT_OUTCOME("access after the poison", p1_signal(m), g.run());
	EXPECT_VALUE(rules::C8, "steps completed before the fault", 3, g.completed());
}

/* P1, KVM_RUN again without a repair: the same SIGBUS and -1/EINTR
 * (api.rst 8.44's retry note: the fault is not consumed by reporting
 * it); then the host replaces the page and the retried access works on
 * the new page (C12): a load sees what the host put there, a store lands
 * there. */
TEST_F(p1_poisoned_anon_page, rerun_then_recover)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	AnonSlot m(g);
	const uint64_t value = 0x2468ace013579bdfull;
	const guest::Step access = variant->is_write ? store(poisoned_gpa(), 8, value) : load(poisoned_gpa(), 8);
	g.order({store(first_gpa, 8, pattern), access});

	if (const char *why = poison_unavailable(poison(m.page())))
		SKIP(return, "%s", why);
	ASSERT_OUTCOME("access", p1_signal(m), g.run());
	ASSERT_OUTCOME("KVM_RUN again, nothing repaired", p1_signal(m), g.run());

	ASSERT_TRUE(m.replace_page()) TH_LOG("mmap(MAP_FIXED): %s", errno_name(errno).c_str());
	if (!variant->is_write)
		m.host(poisoned_gpa()) = value;
	ASSERT_OUTCOME("after a new mapping", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern, m.host(first_gpa));
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the retried store, in the new page", value, m.host(poisoned_gpa()));
	else
		EXPECT_VALUE(rules::C12, "the retried load, from the new page", value, g.loaded(1));
}

namespace {

/* P3's guest memory: a two-page guest_memfd the host maps (it must, to
 * poison a page with madvise). */
struct GmemSlot {
	GuestMemfd gmem;
	HostMapping view;
	std::optional<Memslot> slot;

	explicit GmemSlot(GuestVm &g)
		: gmem(g.vm(), 2 * page_size(), GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED),
		  view(gmem.map())
	{
		memset(view.data(), 0x5a, view.size());
		slot.emplace(g.vm(), test_slot, ARCH_TEST_GPA, gmem, 0, 2 * page_size(), view);
	}
	uint8_t *page() const { return view.data() + page_size(); }
};

} /* namespace */

#define REQUIRE_P3(vm)                                                             \
	do {                                                                       \
		REQUIRE_CAP(vm, KVM_CAP_GUEST_MEMFD, 1);                           \
		const uint64_t __f = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED; \
		if (((vm).check_extension(KVM_CAP_GUEST_MEMFD_FLAGS) & __f) != __f) \
			SKIP(return, "needs guest_memfd flags MMAP|INIT_SHARED to poison a page from the host"); \
	} while (0)

/* P3 after an MMIO exit of the same vCPU: the memory_fault payload must
 * be written whole (C2), not left from the MMIO exit's bytes. */
TEST_F(p3_poisoned_guest_memfd, load_after_mmio)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_P3(g.vm());
	GmemSlot m(g);
	g.order({store(first_gpa, 8, pattern), stale_mmio_load(), load(poisoned_gpa(), 8)});
	if (const char *why = poison_unavailable(poison(m.page())))
		SKIP(return, "%s", why);
	ASSERT_OUTCOME("MMIO load", Expectation::mmio(rules::C5, stale_mmio_gpa, 1, false), g.run());
	ASSERT_OUTCOME("access", Expectation::memory_fault(rules::C9, EHWPOISON, poisoned_gpa()),
		       g.complete_load_and_run(stale_mmio_value));
}

/* P3, poisoned after the guest mapped the page: guest_memfd's
 * error_remove_folio hook (kvm_gmem_error_folio() in virt/kvm/
 * guest_memfd.c) zaps KVM's mapping, so the next access must be
 * reported as C9. */
TEST_F(p3_poisoned_guest_memfd, load_after_mapped)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_P3(g.vm());
	GmemSlot m(g);
	g.order({store(first_gpa, 8, pattern), load(poisoned_gpa(), 8), sync_point(), load(poisoned_gpa(), 8)});
	ASSERT_OUTCOME("guest maps the page", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_VALUE(rules::guest, "value the guest loaded before the poison", 0x5a5a5a5a5a5a5a5aull, g.loaded(1));
	if (const char *why = poison_unavailable(poison(m.page())))
		SKIP(return, "%s", why);
	ASSERT_OUTCOME("access after the poison", Expectation::memory_fault(rules::C9, EHWPOISON, poisoned_gpa()),
		       g.run());
}

/* P3, KVM_RUN again without a repair: the same C9 fault (api.rst 8.44);
 * then the poisoned page is punched out of the guest_memfd, the retried
 * load reads the new zeroed page (C12, G3), and the guest's next exit, an
 * MMIO store, carries its own payload, not the memory fault's bytes. */
TEST_F(p3_poisoned_guest_memfd, rerun_then_punch)
{
	REQUIRE_DESTRUCTIVE();
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_P3(g.vm());
	GmemSlot m(g);
	const uint64_t mmio_data = 0x0706050403020100ull;
	g.order({store(first_gpa, 8, pattern), load(poisoned_gpa(), 8), store(ARCH_MMIO_GPA + 0x30, 8, mmio_data)});
	if (const char *why = poison_unavailable(poison(m.page())))
		SKIP(return, "%s", why);
	const Expectation fault = Expectation::memory_fault(rules::C9, EHWPOISON, poisoned_gpa());
	ASSERT_OUTCOME("access", fault, g.run());
	ASSERT_OUTCOME("KVM_RUN again, nothing repaired", fault, g.run());

	ASSERT_EQ(0, fallocate(m.gmem.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page_size(), page_size()))
		TH_LOG("fallocate(PUNCH_HOLE) of the poisoned page: %s", errno_name(errno).c_str());
	ASSERT_OUTCOME("MMIO store after the punch",
		       Expectation::mmio(rules::C5, ARCH_MMIO_GPA + 0x30, 8, true, mmio_data), g.run());
	EXPECT_VALUE(rules::C12, "the retried load, from the punched page", 0, g.loaded(1));
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern, *reinterpret_cast<uint64_t *>(m.view.data() + 0x10));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C12), g.run());
}

KVMC_TEST_MAIN

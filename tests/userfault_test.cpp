// SPDX-License-Identifier: GPL-2.0
/*
 * userfaultfd behind a memslot (CONTRACT.md U): the post-copy flow of
 * live migration. The memslot's host memory is registered with a
 * userfaultfd in MISSING mode and nothing is in it yet; the guest's
 * access makes KVM's fault-in wait while the page server (a thread of
 * this process, include/userfault.h) fills the page. api.rst 4.10
 * KVM_RUN for what a signal does meanwhile; 8.44 names this flow as the
 * one KVM_CAP_MEMORY_FAULT_INFO serves.
 */
#include "test_util.h"

#include <csignal>
#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <linux/userfaultfd.h>

#include "backing.h"
#include "layout.h"
#include "userfault.h"

using namespace kvmc;
using Fill = PageServer::Plan::Fill;

namespace {

/* What the migration source sends for the page: distinct bytes. */
constexpr uint64_t sent = 0x0f1e2d3c4b5a6978ull;
constexpr uint64_t stored = 0x8877665544332211ull;
/* Offsets in the missing page: the word the guest loads or stores, and
 * one next to it only the page server writes. */
constexpr uint64_t word = 0x10;
constexpr uint64_t neighbour = 0x18;
/* A word of guest RAM the guest writes before its access (C12: intact). */
constexpr uint64_t scratch_gpa = ARCH_RAM_GPA + ARCH_MAILBOX_OFFSET + 0x800;
constexpr uint64_t earlier = 0x1234567890abcdefull;

/* Two pages of userfaultfd memory in test_slot at ARCH_TEST_GPA, both
 * missing, and the page the server copies into the second. */
struct PostCopySlot {
	std::unique_ptr<Userfault> uffd;
	HostMapping source;
	std::optional<Memslot> slot;

	uint64_t missing_gpa() const { return ARCH_TEST_GPA + page_size(); }
	uint64_t host_word(uint64_t offset) const
	{
		return *reinterpret_cast<const uint64_t *>(uffd->memory().data() + page_size() + offset);
	}
};

/* Empty uffd where userfaultfd cannot serve KVM's faults here (*why). */
PostCopySlot post_copy_slot(Vm &vm, std::string *why, uint64_t features = 0)
{
	PostCopySlot s;
	s.uffd = Userfault::create(2 * page_size(), why, features);
	if (!s.uffd)
		return s;
	s.source = HostMapping::anonymous(page_size());
	*reinterpret_cast<uint64_t *>(s.source.data() + word) = sent;
	*reinterpret_cast<uint64_t *>(s.source.data() + neighbour) = ~sent;
	s.slot.emplace(vm, test_slot, ARCH_TEST_GPA, s.uffd->memory());
	return s;
}

} /* namespace */

#define REQUIRE_POST_COPY_SLOT(s, vm, ...)                                         \
	std::string __why;                                                         \
	PostCopySlot s = post_copy_slot(vm, &__why, ##__VA_ARGS__);                \
	if (!s.uffd)                                                               \
		SKIP(return, "%s", __why.c_str())

/*
 * U1: the guest touches the missing page; KVM_RUN waits, the page server
 * fills it (UFFDIO_COPY with the source page, or UFFDIO_ZEROPAGE), and
 * the same KVM_RUN goes on: the guest finishes with exactly the filled
 * data (C12), its own earlier store intact. The server saw the fault on
 * the page the guest touched.
 */
KVM_FIXTURE(u1_missing_page);
FIXTURE_VARIANT(u1_missing_page) { bool zero; };
FIXTURE_VARIANT_ADD(u1_missing_page, copy) { .zero = false };
FIXTURE_VARIANT_ADD(u1_missing_page, zeropage) { .zero = true };

TEST_F(u1_missing_page, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_POST_COPY_SLOT(s, g.vm());
	g.order({store(scratch_gpa, 8, earlier), load(s.missing_gpa() + word, 8), load(scratch_gpa, 8)});

	PageServer server(*s.uffd, {.offset = page_size(), .fill = variant->zero ? Fill::zero : Fill::copy,
				    .source = s.source.data()});
	Observation obs = g.run();
	server.join();
	ASSERT_OUTCOME("load from the missing page", Expectation::guest_done(rules::U), obs);
	ASSERT_TRUE(server.fault_address().has_value());
	EXPECT_VALUE(rules::U, "page the fault was reported on (host address)", s.uffd->memory().hva() + page_size(),
		     *server.fault_address() & ~(page_size() - 1));
	EXPECT_VALUE(rules::U, "the fill's result", 0, server.fill_result());
	EXPECT_VALUE(rules::C12, "value the guest loaded", variant->zero ? 0 : sent, g.loaded(1));
	EXPECT_VALUE(rules::C12, "the guest's earlier store", earlier, g.loaded(2));
}

TEST_F(u1_missing_page, store)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_POST_COPY_SLOT(s, g.vm());
	g.order({store(scratch_gpa, 8, earlier), store(s.missing_gpa() + word, 8, stored), load(scratch_gpa, 8)});

	PageServer server(*s.uffd, {.offset = page_size(), .fill = variant->zero ? Fill::zero : Fill::copy,
				    .source = s.source.data()});
	Observation obs = g.run();
	server.join();
	ASSERT_OUTCOME("store to the missing page", Expectation::guest_done(rules::U), obs);
	ASSERT_TRUE(server.fault_address().has_value());
	EXPECT_VALUE(rules::U, "page the fault was reported on (host address)", s.uffd->memory().hva() + page_size(),
		     *server.fault_address() & ~(page_size() - 1));
	EXPECT_VALUE(rules::U, "the fill's result", 0, server.fill_result());
	EXPECT_VALUE(rules::C12, "the guest's store, in the host page", stored, s.host_word(word));
	EXPECT_VALUE(rules::C12, "the filled word next to it", variant->zero ? 0 : ~sent, s.host_word(neighbour));
	EXPECT_VALUE(rules::C12, "the guest's earlier store", earlier, g.loaded(2));
}

/*
 * U1 over hugetlb memory: the missing page is a 2 MiB huge page, filled
 * whole by one UFFDIO_COPY while KVM_RUN waits; the guest reads two
 * words far apart in it, both as sent.
 */
KVM_FIXTURE(u1_missing_huge_page);

TEST_F(u1_missing_huge_page, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	std::string why;
	auto uffd = Userfault::create_huge(huge_page_size, huge_page_size, &why);
	if (!uffd)
		SKIP(return, "%s", why.c_str());
	HostMapping source = HostMapping::anonymous(huge_page_size);
	const uint64_t near = 100 * page_size() + word, far = huge_page_size - 8;
	*reinterpret_cast<uint64_t *>(source.data() + near) = sent;
	*reinterpret_cast<uint64_t *>(source.data() + far) = ~sent;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, uffd->memory());
	g.order({load(ARCH_TEST_GPA + near, 8), load(ARCH_TEST_GPA + far, 8)});

	PageServer server(*uffd, {.offset = 0, .fill = Fill::copy, .source = source.data()});
	Observation obs = g.run();
	server.join();
	ASSERT_OUTCOME("loads from the missing huge page", Expectation::guest_done(rules::U), obs);
	ASSERT_TRUE(server.fault_address().has_value());
	EXPECT_VALUE(rules::U, "huge page the fault was reported on (host address)", uffd->memory().hva(),
		     *server.fault_address() & ~(huge_page_size - 1));
	EXPECT_VALUE(rules::U, "the fill's result", 0, server.fill_result());
	EXPECT_VALUE(rules::C12, "the near word", sent, g.loaded(0));
	EXPECT_VALUE(rules::C12, "the far word", ~sent, g.loaded(1));
}

/*
 * U1 over shared memory (minor faults; UFFDIO_REGISTER_MODE_MINOR): the
 * page is in the memfd already (the host wrote it through a second
 * view), but the memslot's view has not mapped it yet. KVM's fault-in
 * waits; the page server maps the page as it is (UFFDIO_CONTINUE); the
 * guest reads exactly what the host wrote, and its store shows through
 * the other view.
 */
KVM_FIXTURE(u1_minor_fault);

TEST_F(u1_minor_fault, load_then_store)
{
	Kvm kvm;
	GuestVm g(kvm);
	std::string why;
	auto uffd = Userfault::create_minor(2 * page_size(), &why);
	if (!uffd)
		SKIP(return, "%s", why.c_str());
	const uint64_t offset = page_size() + word;
	*reinterpret_cast<uint64_t *>(uffd->contents().data() + offset) = sent;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, uffd->memory());
	const uint64_t gpa = ARCH_TEST_GPA + offset;
	g.order({load(gpa, 8), store(gpa + 8, 8, stored)});

	PageServer server(*uffd, {.offset = page_size(), .fill = Fill::minor_continue});
	Observation obs = g.run();
	server.join();
	ASSERT_OUTCOME("load, then store, on the unmapped shmem page", Expectation::guest_done(rules::U), obs);
	ASSERT_TRUE(server.fault_address().has_value()) TH_LOG("the access never waited");
	EXPECT_VALUE(rules::U, "page the fault was reported on (host address)", uffd->memory().hva() + page_size(),
		     *server.fault_address() & ~(page_size() - 1));
	EXPECT_VALUE(rules::U, "a minor fault (UFFD_PAGEFAULT_FLAG_MINOR)", UFFD_PAGEFAULT_FLAG_MINOR,
		     server.fault_flags() & UFFD_PAGEFAULT_FLAG_MINOR);
	EXPECT_VALUE(rules::U, "UFFDIO_CONTINUE", 0, server.fill_result());
	EXPECT_VALUE(rules::C12, "value the guest loaded", sent, g.loaded(0));
	EXPECT_VALUE(rules::C12, "the guest's store, through the other view", stored,
		     *reinterpret_cast<const uint64_t *>(uffd->contents().data() + offset + 8));
}

/*
 * U2: a signal reaches the vCPU thread while KVM waits on the missing
 * page (the server sends SIGUSR1 as soon as it sees the fault, then
 * fills the page once KVM_RUN returned, or after a second). C11: -1/EINTR
 * with KVM_EXIT_INTR; C14: the access is still to be done (PC at it, a
 * load's destination untouched); the next KVM_RUN, the page filled,
 * completes it (C12).
 *
 * Whether KVM_RUN returns while the page is still missing is not in
 * api.rst and differs: x86 waits interruptibly (FOLL_INTERRUPTIBLE in
 * __kvm_mmu_faultin_pfn()), arm64 7.3 does not ask for it
 * (user_mem_abort()), so it returns only after the fill, before
 * re-entering the guest. The log says which happened.
 */
KVM_FIXTURE(u2_signal_while_waiting);
FIXTURE_VARIANT(u2_signal_while_waiting) { bool is_write; };
FIXTURE_VARIANT_ADD(u2_signal_while_waiting, load) { .is_write = false };
FIXTURE_VARIANT_ADD(u2_signal_while_waiting, store) { .is_write = true };

TEST_F(u2_signal_while_waiting, eintr_then_completes)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_POST_COPY_SLOT(s, g.vm());
	const uint64_t gpa = s.missing_gpa() + word;
	g.order({store(scratch_gpa, 8, earlier), variant->is_write ? store(gpa, 8, stored) : load(gpa, 8),
		 load(scratch_gpa, 8)});
	install_signal_recorder();

	PageServer server(*s.uffd,
			  {.offset = page_size(), .source = s.source.data(), .signal = SIGUSR1, .hold_ms = 1000});
	Observation obs = g.run();
	const bool filled_first = server.filling();
	server.join();
	log_line(std::string("KVM_RUN returned ") + (filled_first ? "after" : "before") +
		 " the page server began filling the page");
	ASSERT_TRUE(server.fault_address().has_value());
	EXPECT_VALUE(rules::U, "the fill's result", 0, server.fill_result());
	ASSERT_OUTCOME("signal while KVM waits on the page", Expectation::intr(rules::C11, true), obs);
	EXPECT_VALUE(rules::C12, "steps completed before the signal", 1, g.completed());

	ASSERT_OUTCOME("after the fill", Expectation::guest_done(rules::C12), g.run());
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the guest's store, in the host page", stored, s.host_word(word));
	else
		EXPECT_VALUE(rules::C12, "value the guest loaded", sent, g.loaded(1));
	EXPECT_VALUE(rules::C12, "the filled word next to it", ~sent, s.host_word(neighbour));
	EXPECT_VALUE(rules::C12, "the guest's earlier store", earlier, g.loaded(2));
}

/*
 * U3: UFFD_FEATURE_SIGBUS, post-copy without waiting: the missing page
 * fails KVM's fault-in at once. C4: -1/EFAULT, with a C1/C2 memory-fault
 * exit for the page where KVM_CAP_MEMORY_FAULT_INFO is 1 (8.44's own
 * example: a valid memslot without a usable host mapping); C14: the
 * access still to be done. Run again unfilled, the same fault (8.44:
 * the fault is not consumed by reporting it). Once the page is filled
 * the next KVM_RUN completes the access (C12).
 *
 * Variants: after_mmio comes right after an MMIO exit, whose union
 * bytes a forgotten payload field would leave (stale_mmio_load());
 * after_mapped has the page filled and used by the guest first (KVM maps
 * it), then dropped by the host (MADV_DONTNEED: missing again, KVM's
 * mapping invalidated) before the access under test.
 */
namespace {
enum class Before { nothing, mmio, mapped };
}

KVM_FIXTURE(u3_sigbus);
FIXTURE_VARIANT(u3_sigbus) { bool is_write; Before before; };
FIXTURE_VARIANT_ADD(u3_sigbus, load) { .is_write = false, .before = Before::nothing };
FIXTURE_VARIANT_ADD(u3_sigbus, store) { .is_write = true, .before = Before::nothing };
FIXTURE_VARIANT_ADD(u3_sigbus, load_after_mmio) { .is_write = false, .before = Before::mmio };
FIXTURE_VARIANT_ADD(u3_sigbus, load_after_mapped) { .is_write = false, .before = Before::mapped };
FIXTURE_VARIANT_ADD(u3_sigbus, store_after_mapped) { .is_write = true, .before = Before::mapped };

TEST_F(u3_sigbus, fault_then_fill)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_POST_COPY_SLOT(s, g.vm(), UFFD_FEATURE_SIGBUS);
	const uint64_t gpa = s.missing_gpa() + word;
	const guest::Step access = variant->is_write ? store(gpa, 8, stored) : load(gpa, 8);
	const guest::Step first = store(scratch_gpa, 8, earlier), last = load(scratch_gpa, 8);
	uint32_t access_step = 1;
	switch (variant->before) {
	case Before::nothing:
		g.order({first, access, last});
		break;
	case Before::mmio:
		g.order({first, stale_mmio_load(), access, last});
		access_step = 2;
		break;
	case Before::mapped:
		g.order({first, access, sync_point(), access, last});
		access_step = 3;
		break;
	}
	const bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
	const Expectation fault = Expectation::unresolvable_fault(gpa, promised);

	Observation obs;
	if (variant->before == Before::mmio) {
		ASSERT_OUTCOME("earlier MMIO load", Expectation::mmio(rules::C5, stale_mmio_gpa, 1, false), g.run());
		obs = g.complete_load_and_run(stale_mmio_value);
	} else if (variant->before == Before::mapped) {
		ASSERT_EQ(0, s.uffd->copy_raw(page_size(), s.source.data()));
		ASSERT_OUTCOME("the access with the page there", Expectation::guest_sync(rules::U), g.run());
		ASSERT_EQ(0, madvise(s.uffd->memory().data() + page_size(), page_size(), MADV_DONTNEED))
			TH_LOG("madvise(MADV_DONTNEED): %s", errno_name(errno).c_str());
		obs = g.run();
	} else {
		obs = g.run();
	}
	/* EXPECT: the recovery is judged even where the report is wrong. */
	EXPECT_OUTCOME("access to the missing page", fault, obs);
	EXPECT_VALUE(rules::C12, "steps completed before the fault", access_step, g.completed());
	EXPECT_OUTCOME("again, still missing", fault, g.run());

	ASSERT_EQ(0, s.uffd->copy_raw(page_size(), s.source.data()));
	ASSERT_OUTCOME("after the fill", Expectation::guest_done(rules::C12), g.run());
	if (variant->is_write)
		EXPECT_VALUE(rules::C12, "the guest's store, in the host page", stored, s.host_word(word));
	else
		EXPECT_VALUE(rules::C12, "value the guest loaded", sent, g.loaded(access_step));
	EXPECT_VALUE(rules::C12, "the filled word next to it", ~sent, s.host_word(neighbour));
	EXPECT_VALUE(rules::C12, "the guest's earlier store", earlier, g.loaded(access_step + 1));
}

/*
 * U4: write-protect mode (UFFDIO_REGISTER_MODE_WP; live snapshots and
 * dirty tracking use it): the page is there but write-protected. A load
 * goes through; a store makes KVM wait until the page server lifts the
 * protection (the fault it sees is a write-protect fault), then lands.
 * With UFFD_FEATURE_SIGBUS the store fails at once as in U3 (C4) while
 * the load still goes through; lifted, the store completes (C12).
 */
namespace {

/* What the write-protected memory holds: its own offset, marked. */
uint64_t wp_content(size_t offset) { return 0x7770000000000000ull | offset; }

std::unique_ptr<Userfault> write_protected(std::string *why, uint64_t features = 0)
{
	return Userfault::create_write_protected(2 * page_size(), why, features, wp_content);
}

} /* namespace */

KVM_FIXTURE(u4_write_protect);

TEST_F(u4_write_protect, store_waits)
{
	Kvm kvm;
	GuestVm g(kvm);
	std::string why;
	auto uffd = write_protected(&why);
	if (!uffd)
		SKIP(return, "%s", why.c_str());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, uffd->memory());
	const uint64_t offset = page_size() + word;
	const uint64_t gpa = ARCH_TEST_GPA + offset;
	g.order({load(gpa, 8), store(gpa, 8, stored), load(gpa + 8, 8)});

	PageServer server(*uffd, {.offset = page_size(), .fill = Fill::unprotect});
	Observation obs = g.run();
	server.join();
	ASSERT_OUTCOME("load, then store to the write-protected page", Expectation::guest_done(rules::U), obs);
	ASSERT_TRUE(server.fault_address().has_value()) TH_LOG("the store never waited on the protection");
	EXPECT_VALUE(rules::U, "page the fault was reported on (host address)", uffd->memory().hva() + page_size(),
		     *server.fault_address() & ~(page_size() - 1));
	EXPECT_VALUE(rules::U, "a write-protect fault (UFFD_PAGEFAULT_FLAG_WP)", UFFD_PAGEFAULT_FLAG_WP,
		     server.fault_flags() & UFFD_PAGEFAULT_FLAG_WP);
	EXPECT_VALUE(rules::U, "lifting the protection", 0, server.fill_result());
	EXPECT_VALUE(rules::U, "the load before the store", wp_content(offset), g.loaded(0));
	EXPECT_VALUE(rules::C12, "the guest's store, in the host page", stored,
		     *reinterpret_cast<const uint64_t *>(uffd->memory().data() + offset));
	EXPECT_VALUE(rules::C12, "the word after it", wp_content(offset + 8), g.loaded(2));
}

TEST_F(u4_write_protect, store_fails_with_sigbus)
{
	Kvm kvm;
	GuestVm g(kvm);
	std::string why;
	auto uffd = write_protected(&why, UFFD_FEATURE_SIGBUS);
	if (!uffd)
		SKIP(return, "%s", why.c_str());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, uffd->memory());
	const uint64_t offset = page_size() + word;
	const uint64_t gpa = ARCH_TEST_GPA + offset;
	g.order({load(gpa, 8), store(gpa, 8, stored), load(gpa + 8, 8)});
	const bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;

	EXPECT_OUTCOME("store to the write-protected page", Expectation::unresolvable_fault(gpa, promised), g.run());
	EXPECT_VALUE(rules::U, "steps completed (the load went through)", 1, g.completed());
	EXPECT_VALUE(rules::U, "the load before the store", wp_content(offset), g.loaded(0));
	EXPECT_VALUE(rules::U, "the host page, still unwritten", wp_content(offset),
		     *reinterpret_cast<const uint64_t *>(uffd->memory().data() + offset));

	ASSERT_EQ(0, uffd->unprotect_raw(page_size()));
	ASSERT_OUTCOME("after lifting the protection", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "the guest's store, in the host page", stored,
		     *reinterpret_cast<const uint64_t *>(uffd->memory().data() + offset));
	EXPECT_VALUE(rules::C12, "the word after it", wp_content(offset + 8), g.loaded(2));
}

KVMC_TEST_MAIN

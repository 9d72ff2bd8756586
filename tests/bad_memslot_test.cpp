// SPDX-License-Identifier: GPL-2.0
/*
 * Bad memslots (CONTRACT.md M1-M9): the guest touches guest physical
 * memory that no memslot backs, that a memslot backs with host memory that
 * is gone or inaccessible, that a read-only memslot backs, or that lies
 * beyond the VM's physical address space.
 */
#include "test_util.h"

#include <cerrno>
#include <cstring>
#include <optional>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
#include "backing.h"
#include "layout.h"

using namespace kvmc;

namespace {

/* Distinct bytes, so a wrong width or byte order shows in the value. */
constexpr uint64_t pattern = 0x8877665544332211ull;
/* What userspace answers a load with: distinct bytes again, and the top
 * bit of every 1, 2 and 4-byte prefix set, so a zero-extending load that
 * sign-extends (or a sign-extending one that does not) shows. */
constexpr uint64_t load_answer = 0xf1e2d3c4b5a69788ull;

uint64_t low_bytes(uint64_t v, uint32_t width)
{
	return width == 8 ? v : v & ((1ull << (8 * width)) - 1);
}

/* The register a sign-extending load of width bytes of v leaves, its
 * destination reg_bytes wide (4: bits [63:32] zero). */
uint64_t sign_extended(uint64_t v, uint32_t width, uint32_t reg_bytes)
{
	const unsigned shift = 64 - 8 * width;
	const uint64_t full = static_cast<uint64_t>(static_cast<int64_t>(v << shift) >> shift);
	return reg_bytes == 8 ? full : full & 0xffffffffull;
}

} /* namespace */

/* M1: no memslot, each width. C5: KVM_EXIT_MMIO; a load completes with the
 * bytes userspace puts in mmio.data. */
KVM_FIXTURE(m1_no_memslot);
FIXTURE_VARIANT(m1_no_memslot) { uint32_t width; };
FIXTURE_VARIANT_ADD(m1_no_memslot, w1) { .width = 1 };
FIXTURE_VARIANT_ADD(m1_no_memslot, w2) { .width = 2 };
FIXTURE_VARIANT_ADD(m1_no_memslot, w4) { .width = 4 };
FIXTURE_VARIANT_ADD(m1_no_memslot, w8) { .width = 8 };

TEST_F(m1_no_memslot, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x100;
	const uint32_t width = variant->width;

	g.order({load(gpa, width)});
	ASSERT_OUTCOME("load", Expectation::mmio(rules::C5, gpa, width, false), g.run());

	Observation done = g.complete_load_and_run(load_answer);
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), done);
	EXPECT_VALUE(rules::C5, "value the guest loaded (zero-extended)", low_bytes(load_answer, width),
		     g.loaded(0));
}

/*
 * C5, the load exit's data: api.rst gives KVM_EXIT_MMIO's data the stored
 * bytes of a write; for a read KVM has nothing to put there, it is
 * userspace's to fill. So on a load exit data holds what userspace left
 * in it (or zeros): any other bytes are kernel memory handed to userspace.
 */
TEST_F(m1_no_memslot, load_exit_leaves_data_alone)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x1c0;
	const uint8_t canary = 0x5a;

	g.order({load(gpa, variant->width)});
	memset(g.vcpu().shared()->mmio.data, canary, sizeof(g.vcpu().shared()->mmio.data));
	Observation exit = g.run();
	ASSERT_OUTCOME("load", Expectation::mmio(rules::C5, gpa, variant->width, false), exit);
	bool untouched = true, zero = true;
	for (uint8_t b : exit.run.mmio.data) {
		untouched = untouched && b == canary;
		zero = zero && b == 0;
	}
	EXPECT_VALUE(rules::C5, "load exit's data is userspace's own bytes (0x5a...) or zeros (1 = yes)", 1,
		     untouched || zero);
}

/*
 * C5 and C11: userspace answers the load, then completes it with
 * immediate_exit set (api.rst 5, "immediate_exit" and the note after
 * KVM_EXIT_MMIO: re-entering with immediate_exit completes pending
 * operations "without allowing any further instructions to be executed").
 * That KVM_RUN is -1/EINTR with the load done; the next one goes on after
 * it exactly once: the loaded value is recorded, the store that follows
 * is the next exit.
 */
TEST_F(m1_no_memslot, load_completed_by_immediate_exit)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x140;
	const uint32_t width = variant->width;

	g.order({load(gpa, width), store(gpa + 0x40, 8, pattern)});
	ASSERT_OUTCOME("load", Expectation::mmio(rules::C5, gpa, width, false), g.run());
	g.vcpu().complete_mmio_load(load_answer);
	g.vcpu().shared()->immediate_exit = 1;
	Observation completed = g.run();
	g.vcpu().shared()->immediate_exit = 0;
	ASSERT_OUTCOME("KVM_RUN with immediate_exit",
		       Expectation::intr(rules::C11, false).completing(low_bytes(load_answer, width)), completed);
	ASSERT_OUTCOME("resume", Expectation::mmio(rules::C5, gpa + 0x40, 8, true, pattern), g.run());
	EXPECT_VALUE(rules::C5, "value the guest loaded", low_bytes(load_answer, width), g.loaded(0));
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "steps completed", 2, g.completed());
}

/*
 * M1 at the edges of a memslot: the guest first uses a one-page slot
 * (KVM then remembers it as the last slot used), then touches the page
 * just past it or just before it. No memslot holds either: C5, an MMIO
 * exit at that GPA, however the slot lookup is cached.
 */
KVM_FIXTURE(m1_next_to_memslot);
FIXTURE_VARIANT(m1_next_to_memslot) { bool after; bool is_write; };
FIXTURE_VARIANT_ADD(m1_next_to_memslot, load_after) { .after = true, .is_write = false };
FIXTURE_VARIANT_ADD(m1_next_to_memslot, store_after) { .after = true, .is_write = true };
FIXTURE_VARIANT_ADD(m1_next_to_memslot, load_before) { .after = false, .is_write = false };

TEST_F(m1_next_to_memslot, access)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t page = page_size();
	/* Two pages of host memory, one in the slot: a lookup that wrongly
	 * takes the next page would find host memory there, not a fault. */
	HostMapping backing = HostMapping::anonymous(2 * page);
	const uint64_t slot_gpa = ARCH_TEST_GPA + 2 * page;
	struct kvm_userspace_memory_region2 region {};
	region.slot = test_slot;
	region.guest_phys_addr = slot_gpa;
	region.memory_size = page;
	region.userspace_addr = backing.hva();
	ASSERT_EQ(0, g.vm().set_memory_region_raw(region));

	const uint64_t gpa = variant->after ? slot_gpa + page + 0x10 : slot_gpa - page + 0x10;
	g.order({store(slot_gpa + 0x10, 8, pattern), load(slot_gpa + 0x10, 8),
		 variant->is_write ? store(gpa, 8, ~pattern) : load(gpa, 8)});
	ASSERT_OUTCOME("access next to the slot", Expectation::mmio(rules::C5, gpa, 8, variant->is_write, ~pattern),
		       g.run());
	EXPECT_VALUE(rules::C5, "steps completed in the slot", 2, g.completed());
}

/*
 * M1 with sign-extending loads (arm64 LDRSB/LDRSH/LDRSW, x86 MOVSX and
 * MOVSXD): C5's "the bytes userspace put in data", as the instruction
 * reads them: sign-extended to the destination register, and no further
 * (a 32-bit destination keeps bits [63:32] zero).
 */
KVM_FIXTURE(m1_sign_extending_load);
FIXTURE_VARIANT(m1_sign_extending_load) { uint32_t width; uint32_t reg_bytes; };
FIXTURE_VARIANT_ADD(m1_sign_extending_load, w1_to_32) { .width = 1, .reg_bytes = 4 };
FIXTURE_VARIANT_ADD(m1_sign_extending_load, w1_to_64) { .width = 1, .reg_bytes = 8 };
FIXTURE_VARIANT_ADD(m1_sign_extending_load, w2_to_32) { .width = 2, .reg_bytes = 4 };
FIXTURE_VARIANT_ADD(m1_sign_extending_load, w2_to_64) { .width = 2, .reg_bytes = 8 };
FIXTURE_VARIANT_ADD(m1_sign_extending_load, w4_to_64) { .width = 4, .reg_bytes = 8 };

TEST_F(m1_sign_extending_load, load)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x180;
	const uint32_t width = variant->width;

	/* Negative, then positive: the extension must follow the data. */
	const uint64_t positive = load_answer & ~(1ull << (8 * width - 1));
	g.order({load_signed(gpa, width, variant->reg_bytes), load_signed(gpa, width, variant->reg_bytes)});
	ASSERT_OUTCOME("negative load", Expectation::mmio(rules::C5, gpa, width, false), g.run());
	ASSERT_OUTCOME("positive load", Expectation::mmio(rules::C5, gpa, width, false),
		       g.complete_load_and_run(load_answer));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(positive));
	EXPECT_VALUE(rules::C5, "register after the negative load",
		     sign_extended(load_answer, width, variant->reg_bytes), g.loaded(0));
	EXPECT_VALUE(rules::C5, "register after the positive load",
		     sign_extended(positive, width, variant->reg_bytes), g.loaded(1));
}

/* C14: the whole destination register right after the KVM_RUN that
 * completes the load (immediate_exit): extended as the instruction says,
 * before any other guest instruction could touch it. */
TEST_F(m1_sign_extending_load, completed_by_immediate_exit)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x1a0;
	const uint32_t width = variant->width;

	g.order({load_signed(gpa, width, variant->reg_bytes)});
	ASSERT_OUTCOME("load", Expectation::mmio(rules::C5, gpa, width, false), g.run());
	g.vcpu().complete_mmio_load(load_answer);
	g.vcpu().shared()->immediate_exit = 1;
	Observation completed = g.run();
	ASSERT_OUTCOME("KVM_RUN with immediate_exit",
		       Expectation::intr(rules::C11, false)
			       .completing(sign_extended(load_answer, width, variant->reg_bytes)),
		       completed);
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
}

/* C14 for a store: the KVM_RUN with immediate_exit retires it (the PC
 * moves past it) and the guest does not store twice. */
TEST_F(m1_no_memslot, store_completed_by_immediate_exit)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x240;
	const uint32_t width = variant->width;

	g.order({store(gpa, width, pattern), load(gpa + 0x40, 8)});
	ASSERT_OUTCOME("store", Expectation::mmio(rules::C5, gpa, width, true, pattern), g.run());
	g.vcpu().shared()->immediate_exit = 1;
	Observation completed = g.run();
	ASSERT_OUTCOME("KVM_RUN with immediate_exit", Expectation::intr(rules::C11, false).completing(), completed);
	ASSERT_OUTCOME("resume", Expectation::mmio(rules::C5, gpa + 0x40, 8, false), g.run());
	ASSERT_OUTCOME("finish", Expectation::guest_done(rules::C5), g.complete_load_and_run(load_answer));
	EXPECT_VALUE(rules::C5, "steps completed", 2, g.completed());
}

TEST_F(m1_no_memslot, store)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x200;
	const uint32_t width = variant->width;

	g.order({store(gpa, width, pattern)});
	ASSERT_OUTCOME("store", Expectation::mmio(rules::C5, gpa, width, true, pattern), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
}

/*
 * M4, M5, M6: a memslot whose host memory stops being usable after it was
 * registered: made PROT_NONE (M4), munmap()ed (M5), or, for a memfd,
 * truncated below the page (M6). The slot has two pages; the guest first
 * stores to the first, then touches the second, the broken one.
 *
 * fault: KVM cannot fault the page in: -1/EFAULT, with the memory_fault
 * payload where KVM_CAP_MEMORY_FAULT_INFO promises it (C4, C1, C2).
 * recover: once userspace repairs the page, the next KVM_RUN resumes at
 * the faulting access, the guest finishes and its earlier store is intact
 * (C12).
 * rerun: KVM_RUN again with nothing repaired reports the same fault again
 * (api.rst 8.44: "Userspaces which attempt to resolve memory faults so
 * that they can retry KVM_RUN are encouraged to guard against repeatedly
 * receiving the same error/annotated fault": the fault is not consumed by
 * reporting it), then the repair works (C12).
 *
 * Variants (fixture.variant.test):
 *  load, store        the page is broken before the guest's first run.
 *  after_mmio         the fault follows an MMIO exit of the same vCPU,
 *                     whose union bytes would make a nonsense
 *                     memory_fault (stale_mmio_load() in test_util.h):
 *                     a payload KVM forgot to write shows.
 *  after_pio          the same after a port I/O exit (x86; the guest's
 *                     sync call is one): flags = direction, size, port and
 *                     count, gpa = data_offset, size never written (0).
 *  load_after_mapped, store_after_mapped
 *                     the guest first touches the page (KVM maps it in
 *                     stage-2 / NPT), syncs, and only then userspace
 *                     breaks it: api.rst 4.35 "Changes in the backing of
 *                     the memory region are automatically reflected into
 *                     the guest", so KVM must drop its mapping and report
 *                     the fault as in the load/store cases.
 */
namespace {

/* What the vCPU did before the access under test. */
enum class Prelude { none, mmio, pio, mapped };

class BrokenBacking {
public:
	BrokenBacking(GuestVm &g, Breakage how, bool is_write, Prelude prelude = Prelude::none, Page page = Page::small)
		: prelude_(prelude), backing_(g.vm(), how, "kvm-contract-m6", page)
	{
		if (!backing_.unavailable().empty())
			return;
		const guest::Step access = is_write ? store(fault_gpa(), 8, ~pattern) : load(fault_gpa(), 8);
		const guest::Step first = store(before_gpa(), 8, pattern);
		switch (prelude) {
		case Prelude::none:
			g.order({first, access});
			break;
		case Prelude::mmio:
			g.order({first, stale_mmio_load(), access});
			break;
		case Prelude::pio:
			g.order({first, sync_point(), access});
			break;
		case Prelude::mapped:
			g.order({first, store(fault_gpa(), 8, pattern), sync_point(), access});
			break;
		}
	}

	/* Steps the guest completes before the access under test. */
	uint32_t access_step() const
	{
		switch (prelude_) {
		case Prelude::none: return 1;
		case Prelude::mmio: return 2;
		case Prelude::pio: return 2;
		case Prelude::mapped: return 3;
		}
		return 0;
	}

	/* Run the vCPU up to the access under test, judging each earlier
	 * exit, then break the page. False when the test cannot go on (it
	 * is then marked failed or skipped). */
	bool run_prelude(struct __test_metadata *_metadata, GuestVm &g)
	{
		completion_ = std::nullopt;
		bool ok = true;
		switch (prelude_) {
		case Prelude::none:
			break;
		case Prelude::mmio:
			ok = judge_outcome("MMIO load before the fault",
					   Expectation::mmio(rules::C5, stale_mmio_gpa, 1, false), g.run());
			completion_ = stale_mmio_value;
			break;
		case Prelude::pio: {
			Observation sync = g.run();
			ok = judge_outcome("sync call before the fault", Expectation::guest_sync(rules::guest), sync);
			if (ok && sync.exit_reason() != KVM_EXIT_IO)
				SKIP(return false, "the guest's sync call is %s here, not port I/O: after_mmio covers it",
				     exit_reason_name(sync.exit_reason()).c_str());
			break;
		}
		case Prelude::mapped:
			ok = judge_outcome("guest maps the page", Expectation::guest_sync(rules::guest), g.run()) &&
			     judge_value(rules::guest, "guest's store to the page before it broke", pattern,
					 host(fault_gpa()));
			break;
		}
		if (!ok) {
			_metadata->exit_code = KSFT_FAIL;
			return false;
		}
		backing_.break_page();
		return true;
	}

	/* The run that reaches the access under test: it completes the
	 * prelude's MMIO load, if any. */
	Observation run_to_access(GuestVm &g)
	{
		if (!completion_)
			return g.run();
		uint64_t value = *completion_;
		completion_ = std::nullopt;
		return g.complete_load_and_run(value);
	}

	/* Make the page usable again (and zero, unless M4). */
	void repair() { backing_.repair(); }

	/* Why there is no backing (huge pages), empty when there is. */
	const std::string &unavailable() const { return backing_.unavailable(); }

	static uint64_t before_gpa() { return ARCH_TEST_GPA + 0x10; }
	/* In the second page; for a huge one, past its middle, so that an
	 * address rounded to the huge page shows. */
	uint64_t fault_gpa() const
	{
		const uint64_t unit = backing_.unit();
		return ARCH_TEST_GPA + unit + (unit > page_size() ? unit / 2 + page_size() : 0) + 0x20;
	}
	uint64_t &host(uint64_t gpa) { return backing_.host(gpa - ARCH_TEST_GPA); }

private:
	Prelude prelude_;
	std::optional<uint64_t> completion_;
	BreakableBacking backing_;
};

struct BrokenBackingVariant {
	bool is_write;
	Prelude prelude;
	Page page = Page::small;
};

/* What an M4-M6 test checks once the guest reached the broken page. */
enum class Check {
	fault,		/* the access: -1/EFAULT and the payload C4 promises */
	recover,	/* the access fails with EFAULT; repaired, the guest goes on (C12) */
	rerun,		/* fault, the same fault on KVM_RUN again, then recover's repair */
};

void broken_backing(struct __test_metadata *_metadata, Breakage how, const BrokenBackingVariant &v, Check check)
{
	Kvm kvm;
	GuestVm g(kvm);
	BrokenBacking b(g, how, v.is_write, v.prelude, v.page);
	if (!b.unavailable().empty())
		SKIP(return, "%s", b.unavailable().c_str());
	if (!b.run_prelude(_metadata, g))
		return;
	if (check == Check::recover) {
		ASSERT_OUTCOME("access", Expectation::error(rules::C12, EFAULT), b.run_to_access(g));
	} else {
		bool promised = g.vm().check_extension(KVM_CAP_MEMORY_FAULT_INFO) == 1;
		const Expectation fault = Expectation::unresolvable_fault(b.fault_gpa(), promised);
		EXPECT_OUTCOME("access", fault, b.run_to_access(g));
		if (check == Check::rerun)
			EXPECT_OUTCOME("KVM_RUN again, nothing repaired", fault, g.run());
		EXPECT_VALUE(rules::C12, "steps completed before the fault", b.access_step(), g.completed());
		if (check == Check::fault)
			return;
	}

	/* Repair, run, and check that nothing the guest did was lost (C12). */
	b.repair();
	if (!v.is_write)
		b.host(b.fault_gpa()) = ~pattern;
	ASSERT_OUTCOME("after the repair", Expectation::guest_done(rules::C12), g.run());
	EXPECT_VALUE(rules::C12, "guest's earlier store", pattern, b.host(b.before_gpa()));
	if (v.is_write)
		EXPECT_VALUE(rules::C12, "the retried store", ~pattern, b.host(b.fault_gpa()));
	else
		EXPECT_VALUE(rules::C12, "the retried load", ~pattern, g.loaded(b.access_step()));
}

} /* namespace */

#define BROKEN_BACKING_SCENARIO(fixture, how)                                      \
	KVM_FIXTURE(fixture);                                                      \
	FIXTURE_VARIANT(fixture) { BrokenBackingVariant v; };                      \
	FIXTURE_VARIANT_ADD(fixture, load) { .v = {false, Prelude::none} };        \
	FIXTURE_VARIANT_ADD(fixture, store) { .v = {true, Prelude::none} };        \
	FIXTURE_VARIANT_ADD(fixture, after_mmio) { .v = {false, Prelude::mmio} };  \
	FIXTURE_VARIANT_ADD(fixture, after_pio) { .v = {false, Prelude::pio} };    \
	FIXTURE_VARIANT_ADD(fixture, load_after_mapped) { .v = {false, Prelude::mapped} }; \
	FIXTURE_VARIANT_ADD(fixture, store_after_mapped) { .v = {true, Prelude::mapped} }; \
	TEST_F(fixture, fault) { broken_backing(_metadata, how, variant->v, Check::fault); } \
	TEST_F(fixture, recover) { broken_backing(_metadata, how, variant->v, Check::recover); } \
	TEST_F(fixture, rerun) { broken_backing(_metadata, how, variant->v, Check::rerun); }

BROKEN_BACKING_SCENARIO(m4_prot_none, Breakage::prot_none)
BROKEN_BACKING_SCENARIO(m5_unmapped, Breakage::unmapped)
BROKEN_BACKING_SCENARIO(m6_truncated_memfd, Breakage::truncated)

/*
 * M4-M6 over 2 MiB hugetlb pages (CONTRACT.md "Variants": huge pages):
 * the second huge page breaks whole, and the access is past its middle.
 * KVM may have mapped it as one block (stage-2) or large page (NPT),
 * which it must drop whole when the host's mapping changes; the fault is
 * still reported for the 4 KiB page the guest touched (memory_fault.gpa
 * and size as for small pages: kvm_prepare_memory_fault_exit() is given
 * the faulting gfn and PAGE_SIZE).
 */
#define HUGE_BROKEN_BACKING_SCENARIO(fixture, how)                                 \
	KVM_FIXTURE(fixture);                                                      \
	FIXTURE_VARIANT(fixture) { BrokenBackingVariant v; };                      \
	FIXTURE_VARIANT_ADD(fixture, load) { .v = {false, Prelude::none, Page::huge} }; \
	FIXTURE_VARIANT_ADD(fixture, store) { .v = {true, Prelude::none, Page::huge} }; \
	FIXTURE_VARIANT_ADD(fixture, load_after_mapped) { .v = {false, Prelude::mapped, Page::huge} }; \
	FIXTURE_VARIANT_ADD(fixture, store_after_mapped) { .v = {true, Prelude::mapped, Page::huge} }; \
	TEST_F(fixture, fault) { broken_backing(_metadata, how, variant->v, Check::fault); } \
	TEST_F(fixture, recover) { broken_backing(_metadata, how, variant->v, Check::recover); }

#define THP_BROKEN_BACKING_SCENARIO(fixture, how)                                  \
	KVM_FIXTURE(fixture);                                                      \
	FIXTURE_VARIANT(fixture) { BrokenBackingVariant v; };                      \
	FIXTURE_VARIANT_ADD(fixture, load) { .v = {false, Prelude::none, Page::thp} }; \
	FIXTURE_VARIANT_ADD(fixture, load_after_mapped) { .v = {false, Prelude::mapped, Page::thp} }; \
	FIXTURE_VARIANT_ADD(fixture, store_after_mapped) { .v = {true, Prelude::mapped, Page::thp} }; \
	TEST_F(fixture, fault) { broken_backing(_metadata, how, variant->v, Check::fault); } \
	TEST_F(fixture, recover) { broken_backing(_metadata, how, variant->v, Check::recover); }

HUGE_BROKEN_BACKING_SCENARIO(m4_prot_none_huge, Breakage::prot_none)
HUGE_BROKEN_BACKING_SCENARIO(m5_unmapped_huge, Breakage::unmapped)
HUGE_BROKEN_BACKING_SCENARIO(m6_truncated_memfd_huge, Breakage::truncated)
/* The same over transparent huge pages (anonymous memory: M4, M5). */
THP_BROKEN_BACKING_SCENARIO(m4_prot_none_thp, Breakage::prot_none)
THP_BROKEN_BACKING_SCENARIO(m5_unmapped_thp, Breakage::unmapped)

/*
 * Pages the host drops under a memslot after the guest mapped them
 * (madvise(MADV_DONTNEED)): nothing faults, but api.rst 4.35 says
 * "Changes in the backing of the memory region are automatically
 * reflected into the guest ... Another example is madvise(MADV_DROP)":
 * the guest's next load must see what the host now sees, not the page
 * KVM had mapped before.
 *  anon            the page is gone: it reads zero.
 *  private_memfd   a MAP_PRIVATE view of a memfd: the guest's store made a
 *                  private copy; dropping it shows the file's bytes again.
 *  shared_memfd    a MAP_SHARED view: the page stays in the file, the
 *                  guest's store survives.
 */
namespace {

constexpr Rule reflected{"backing", "api.rst 4.35 KVM_SET_USER_MEMORY_REGION (changes in the backing "
				    "of the memory region are automatically reflected into the guest)"};

enum class Dropped { anon, private_memfd, shared_memfd };

} /* namespace */

KVM_FIXTURE(dropped_backing);
FIXTURE_VARIANT(dropped_backing) { Dropped kind; };
FIXTURE_VARIANT_ADD(dropped_backing, anon) { .kind = Dropped::anon };
FIXTURE_VARIANT_ADD(dropped_backing, private_memfd) { .kind = Dropped::private_memfd };
FIXTURE_VARIANT_ADD(dropped_backing, shared_memfd) { .kind = Dropped::shared_memfd };

TEST_F(dropped_backing, load_after_mapped)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t file_value = 0x0f1e2d3c4b5a6978ull, guest_value = ~pattern;
	UniqueFd memfd;
	HostMapping backing;
	if (variant->kind == Dropped::anon) {
		backing = HostMapping::anonymous(page_size());
	} else {
		memfd.reset(memfd_create("kvm-contract-dropped", MFD_CLOEXEC));
		ASSERT_LE(0, memfd.get()) TH_LOG("memfd_create: %s", errno_name(errno).c_str());
		ASSERT_EQ(0, ftruncate(memfd.get(), page_size()));
		ASSERT_EQ((ssize_t)sizeof(file_value), pwrite(memfd.get(), &file_value, sizeof(file_value), 0x40));
		backing = variant->kind == Dropped::private_memfd ? HostMapping::private_file(memfd.get(), page_size())
								 : HostMapping::shared_file(memfd.get(), page_size());
	}
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	auto *host = reinterpret_cast<volatile uint64_t *>(backing.data() + 0x40);

	const uint64_t gpa = ARCH_TEST_GPA + 0x40;
	g.order({store(gpa, 8, guest_value), load(gpa, 8), sync_point(), load(gpa, 8)});
	ASSERT_OUTCOME("store and load", Expectation::guest_sync(reflected), g.run());
	EXPECT_VALUE(reflected, "the guest's store, seen by the host", guest_value, *host);
	ASSERT_EQ(0, madvise(backing.data(), page_size(), MADV_DONTNEED))
		TH_LOG("madvise(MADV_DONTNEED): %s", errno_name(errno).c_str());

	const uint64_t now = *host;
	const uint64_t wanted = variant->kind == Dropped::anon ? 0 :
				variant->kind == Dropped::private_memfd ? file_value : guest_value;
	EXPECT_VALUE(reflected, "the host's view after MADV_DONTNEED", wanted, now);
	ASSERT_OUTCOME("load after MADV_DONTNEED", Expectation::guest_done(reflected), g.run());
	EXPECT_VALUE(reflected, "value the guest loads after MADV_DONTNEED", wanted, g.loaded(3));
}

/*
 * M7: a KVM_MEM_READONLY memslot. C7: loads read the slot's contents;
 * a store exits as KVM_EXIT_MMIO with is_write and leaves memory alone.
 */
KVM_FIXTURE(m7_readonly_slot);

TEST_F(m7_readonly_slot, load_then_store)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_READONLY_MEM, 1);
	HostMapping backing = HostMapping::anonymous(page_size());
	auto *host = reinterpret_cast<uint64_t *>(backing.data() + 0x40);
	*host = pattern;
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing, KVM_MEM_READONLY);

	const uint64_t gpa = ARCH_TEST_GPA + 0x40;
	g.order({load(gpa, 8), store(gpa, 4, ~pattern)});
	ASSERT_OUTCOME("store", Expectation::mmio(rules::C7, gpa, 4, true, ~pattern), g.run());
	EXPECT_VALUE(rules::C7, "value loaded from the read-only slot", pattern, g.loaded(0));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C7), g.run());
	EXPECT_VALUE(rules::C7, "slot memory after the store", pattern, *host);
}

/* M8: a memslot the guest used is deleted; the same access now exits as
 * MMIO (C5). */
KVM_FIXTURE(m8_deleted_slot);

TEST_F(m8_deleted_slot, load_after_delete)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping backing = HostMapping::anonymous(page_size());
	std::optional<Memslot> slot;
	slot.emplace(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	const uint64_t gpa = ARCH_TEST_GPA + 0x80;

	g.order({store(gpa, 8, pattern), sync_point(), load(gpa, 4)});
	ASSERT_OUTCOME("store into the slot", Expectation::guest_sync(rules::C5), g.run());
	EXPECT_VALUE(rules::C5, "the store landed in the slot", pattern,
		     *reinterpret_cast<uint64_t *>(backing.data() + 0x80));
	slot.reset();
	ASSERT_OUTCOME("load after the delete", Expectation::mmio(rules::C5, gpa, 4, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0x55667788));
	EXPECT_VALUE(rules::C5, "value the guest loaded", 0x55667788, g.loaded(2));
}

/* M3: an instruction fetch where no memslot is. Not what api.rst 4.10
 * says for arm64 (ENOEXEC): lib/<arch>/ names the kernel code instead. */
KVM_FIXTURE(m3_fetch_no_memslot);

TEST_F(m3_fetch_no_memslot, fetch)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_TEST_GPA + 0x10000;
	g.order({fetch(gpa)});
	ASSERT_OUTCOME("fetch", arch::no_memslot_fetch(gpa), g.run());
}

/* M9: an access just beyond the VM's guest physical address space. */
KVM_FIXTURE(m9_beyond_address_space);

TEST_F(m9_beyond_address_space, load)
{
	Kvm kvm;
	std::string why;
	auto small = arch::small_address_space(kvm, &why);
	if (!small)
		SKIP(return, "%s", why.c_str());
	GuestVm g(kvm, small->vm_type, small->phys_bits);
	g.order({load(small->beyond, 8)});
	ASSERT_OUTCOME("load", arch::beyond_address_space(small->beyond), g.run());
}

KVMC_TEST_MAIN

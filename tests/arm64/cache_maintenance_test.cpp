// SPDX-License-Identifier: GPL-2.0
/*
 * Cache maintenance by VA (arm64 DC CIVAC) where no memslot is: the data
 * abort has no valid syndrome, yet it is neither C6's ENOSYS nor a NISV
 * exit. KVM cannot tell a device from a careless guest, but it knows the
 * range cannot be cached, so it skips the instruction: the guest goes on
 * and userspace hears nothing (arch/arm64/kvm/mmu.c
 * kvm_handle_guest_abort(), since 57c841f131ef "arm/arm64: KVM: Handle
 * out-of-RAM cache maintenance as a NOP"; not in api.rst). The same on a
 * memslot whose host memory is gone is an ordinary fault (M4).
 * Skipped where the CPU does not translate cache maintenance at all.
 */
#include "test_util.h"

#include <sys/mman.h>

#include "layout.h"

using namespace kvmc;

namespace {
const char *const cmo_basis =
	"arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): cache maintenance outside every memslot is skipped "
	"(57c841f131ef), not C6 (undocumented in api.rst)";
} /* namespace */

namespace {

/* Whether the CPU translates DC CIVAC's address at all: on a memslot page
 * whose host memory is PROT_NONE it must fault into KVM (and KVM_RUN then
 * fails). QEMU's TCG executes it as a no-op, so nothing reaches KVM and a
 * test of KVM's handling could not fail: the caller skips. */
bool cache_maintenance_traps(const Kvm &kvm)
{
	GuestVm g(kvm);
	HostMapping backing = HostMapping::anonymous(page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, backing);
	if (mprotect(backing.data(), page_size(), PROT_NONE))
		die("mprotect(PROT_NONE): %s", errno_name(errno).c_str());
	g.order({clean_cache(ARCH_TEST_GPA + 0x40)});
	Observation probe = g.run();
	log_line("probe: DC CIVAC on a PROT_NONE memslot page: " + describe(probe));
	return !(probe.ret == 0 && probe.call && probe.call->kind == GuestCallKind::done);
}

} /* namespace */

KVM_FIXTURE(m1_cache_maintenance);

TEST_F(m1_cache_maintenance, no_memslot)
{
	Kvm kvm;
	if (!cache_maintenance_traps(kvm))
		SKIP(return, "this CPU does not translate DC CIVAC (QEMU TCG executes it as a no-op): "
			     "cache maintenance never reaches KVM here; needs arm64 hardware");
	GuestVm g(kvm);
	const uint64_t value = 0x2468ace013579bdfull;
	g.order({clean_cache(ARCH_MMIO_GPA + 0x400), store(ARCH_MMIO_GPA + 0x440, 8, value)});
	ASSERT_OUTCOME("DC CIVAC, then a store",
		       Expectation::mmio(rules::C6, ARCH_MMIO_GPA + 0x440, 8, true, value).because(cmo_basis), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C6), g.run());
	EXPECT_VALUE(rules::C6, "steps completed", 2, g.completed());
}

KVMC_TEST_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * M1 when KVM handles the access itself (api.rst 4.59 KVM_IOEVENTFD): "A
 * guest write in the registered address will signal the provided event
 * instead of triggering an exit." The other accesses at that address (a
 * load, a write of another length, a write of another value under
 * datamatch, any write after the ioeventfd is deassigned) are ordinary
 * MMIO: the exit C5 describes, with its own address, width and data.
 * arm64 reaches it through io_mem_abort()'s kvm_io_bus_write(), x86
 * through the emulator's MMIO write (vcpu_mmio_write()), on NPT and on
 * the shadow MMU alike.
 */
#include "test_util.h"

#include <cerrno>
#include <cstring>
#include <optional>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "layout.h"

using namespace kvmc;

namespace {

constexpr Rule ioeventfd_rule{"ioeventfd", "api.rst 4.59 KVM_IOEVENTFD (a guest write in the registered address "
					   "signals the event instead of triggering an exit)"};

constexpr uint64_t pattern = 0x1122334455667788ull;

/* An eventfd and its registration at one MMIO address of a VM. */
class Ioeventfd {
public:
	Ioeventfd(Vm &vm, uint64_t gpa, uint32_t len, std::optional<uint64_t> datamatch = std::nullopt)
		: vm_(vm), event_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
	{
		if (event_.get() < 0)
			ksft_exit_fail_msg("eventfd: %s\n", strerror(errno));
		args_.addr = gpa;
		args_.len = len;
		args_.fd = event_.get();
		if (datamatch) {
			args_.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
			args_.datamatch = *datamatch;
		}
		assigned_ = ioctl(vm_.fd(), KVM_IOEVENTFD, &args_) == 0 ? 0 : -errno;
	}
	~Ioeventfd()
	{
		if (assigned_ == 0)
			deassign();
	}
	Ioeventfd(const Ioeventfd &) = delete;
	Ioeventfd &operator=(const Ioeventfd &) = delete;

	/* 0, or -errno of KVM_IOEVENTFD. */
	int assigned() const { return assigned_; }

	int deassign()
	{
		struct kvm_ioeventfd args = args_;
		args.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
		int ret = ioctl(vm_.fd(), KVM_IOEVENTFD, &args) == 0 ? 0 : -errno;
		if (ret == 0)
			assigned_ = -ENOENT;
		return ret;
	}

	/* How many times the event was signalled since the last call. */
	uint64_t signals()
	{
		uint64_t count = 0;
		if (read(event_.get(), &count, sizeof(count)) != sizeof(count))
			return 0; /* EAGAIN: not signalled */
		return count;
	}

private:
	Vm &vm_;
	UniqueFd event_;
	struct kvm_ioeventfd args_ {};
	int assigned_ = -ENOENT;
};

#define ASSERT_ASSIGNED(ev) ASSERT_ERRNO(ioeventfd_rule, "KVM_IOEVENTFD", 0, (ev).assigned())

/* The bits a store of w bytes writes. */
constexpr uint64_t width_mask(uint32_t w) { return w >= 8 ? ~0ull : (1ull << (8 * w)) - 1; }

} /* namespace */

KVM_FIXTURE(m1_ioeventfd);

FIXTURE_VARIANT(m1_ioeventfd) { uint32_t width; };
FIXTURE_VARIANT_ADD(m1_ioeventfd, w1) { .width = 1 };
FIXTURE_VARIANT_ADD(m1_ioeventfd, w2) { .width = 2 };
FIXTURE_VARIANT_ADD(m1_ioeventfd, w4) { .width = 4 };
FIXTURE_VARIANT_ADD(m1_ioeventfd, w8) { .width = 8 };

/*
 * A write of the registered width signals the event and the guest goes
 * on without an exit, twice; a load at the same address exits as MMIO
 * (an ioeventfd takes writes only), and the value the VMM answers reaches
 * the guest's register.
 */
TEST_F(m1_ioeventfd, write_signals_without_exit)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint32_t w = variant->width;
	const uint64_t gpa = ARCH_TEST_GPA + 0x40, value = pattern & width_mask(w);
	Ioeventfd ev(g.vm(), gpa, w);
	ASSERT_ASSIGNED(ev);
	g.order({store(gpa, w, value), store(gpa, w, ~value & width_mask(w)), sync_point(), load(gpa, w)});
	ASSERT_OUTCOME("two writes to the ioeventfd, then sync", Expectation::guest_sync(ioeventfd_rule), g.run());
	EXPECT_VALUE(ioeventfd_rule, "signals after two writes", 2, ev.signals());
	ASSERT_OUTCOME("load at the ioeventfd's address", Expectation::mmio(rules::C5, gpa, w, false), g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(value));
	EXPECT_VALUE(rules::C5, "value the guest loaded", value, g.loaded(3));
	EXPECT_VALUE(ioeventfd_rule, "signals after the load", 0, ev.signals());
}

/*
 * A write of another width is not the registered one: it exits as MMIO
 * with its own width and data, and the event stays quiet. A zero-length
 * ioeventfd (KVM_CAP_IOEVENTFD_ANY_LENGTH) takes every width.
 */
TEST_F(m1_ioeventfd, other_width_exits)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint32_t w = variant->width, other = w == 8 ? 4 : w * 2;
	const uint64_t gpa = ARCH_TEST_GPA + 0x80, value = pattern & width_mask(other);
	Ioeventfd ev(g.vm(), gpa, w);
	ASSERT_ASSIGNED(ev);
	g.order({store(gpa, other, value), sync_point(), store(gpa + page_size(), w, 1), store(gpa + page_size(), 8, 2)});
	ASSERT_OUTCOME("write of another width", Expectation::mmio(rules::C5, gpa, other, true, value), g.run());
	ASSERT_OUTCOME("sync", Expectation::guest_sync(rules::guest), g.run());
	EXPECT_VALUE(ioeventfd_rule, "signals after a write of another width", 0, ev.signals());

	if (!g.vm().check_extension(KVM_CAP_IOEVENTFD_ANY_LENGTH)) {
		ksft_print_msg("KVM_CAP_IOEVENTFD_ANY_LENGTH absent: zero-length ioeventfd not checked\n");
		ASSERT_OUTCOME("write, no ioeventfd", Expectation::mmio(rules::C5, gpa + page_size(), w, true, 1), g.run());
		return;
	}
	Ioeventfd any(g.vm(), gpa + page_size(), 0);
	ASSERT_ASSIGNED(any);
	ASSERT_OUTCOME("two writes of two widths to a zero-length ioeventfd", Expectation::guest_done(ioeventfd_rule),
		       g.run());
	EXPECT_VALUE(ioeventfd_rule, "signals of the zero-length ioeventfd", 2, any.signals());
}

/*
 * Datamatch: only the registered value signals; another value exits as
 * MMIO with the value written. Deassigned, the same write exits again.
 */
TEST_F(m1_ioeventfd, datamatch_then_deassign)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint32_t w = variant->width;
	const uint64_t gpa = ARCH_TEST_GPA + 0xc0, match = 0x5a & width_mask(w), other = 0xa5 & width_mask(w);
	Ioeventfd ev(g.vm(), gpa, w, match);
	ASSERT_ASSIGNED(ev);
	g.order({store(gpa, w, match), store(gpa, w, other), sync_point(), store(gpa, w, match)});
	ASSERT_OUTCOME("write of another value", Expectation::mmio(rules::C5, gpa, w, true, other), g.run());
	EXPECT_VALUE(ioeventfd_rule, "signals: the matching write before it", 1, ev.signals());
	ASSERT_OUTCOME("sync", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_ERRNO(ioeventfd_rule, "KVM_IOEVENTFD deassign", 0, ev.deassign());
	ASSERT_OUTCOME("the matching write after the deassign", Expectation::mmio(rules::C5, gpa, w, true, match),
		       g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
	EXPECT_VALUE(ioeventfd_rule, "signals after the deassign", 0, ev.signals());
}


KVMC_TEST_MAIN

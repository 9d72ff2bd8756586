/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What one KVM_RUN did, captured once, right after the ioctl returned.
 *
 * The whole triple is kept (return value, errno, exit_reason) together with
 * a copy of kvm_run, so a verdict never depends on the live mapping and a
 * stale exit_reason after an error is still visible to the oracle.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <linux/kvm.h>

#ifndef KVM_EXIT_MEMORY_FAULT
#error "kvm-contract needs UAPI headers from Linux 6.8 or newer (KVM_EXIT_MEMORY_FAULT)"
#endif

namespace kvmc {

/* A signal that reached the vCPU thread while KVM_RUN was in progress. */
struct SignalRecord {
	int signo = 0;
	int code = 0;		/* si_code */
	uint64_t addr = 0;	/* si_addr */
	int addr_lsb = 0;	/* si_addr_lsb, SIGBUS only */
};

/* A call the guest made to the host through the ucall channel. */
enum class GuestCallKind : uint32_t {
	none = 0,
	done = 1,	/* the fault program finished every step */
	exception = 2,	/* an exception the guest did not expect */
	failed = 3,	/* a guest-side check failed */
	sync = 4,	/* the guest reached a sync step and waits to be resumed */
};

struct GuestCall {
	GuestCallKind kind = GuestCallKind::none;
	/* exception: vector, syndrome, fault address, the PC it returns to,
	 * the saved PSTATE (arm64 SPSR, x86 RFLAGS), arm64 HPFAR_EL2 of an
	 * exception from a nested context (0 otherwise) */
	uint64_t args[6] = {};
};

/* The access the guest's current step began (guest.h Access), as the
 * guest recorded it before executing it. */
struct AccessRecord {
	uint64_t pc = 0;	/* the access instruction */
	uint64_t next_pc = 0;	/* the one after it */
	bool load = false;	/* a load into the destination register */
};

struct Observation {
	int ret = 0;
	int err = 0;			/* errno when ret == -1, else 0 */
	struct kvm_run run {};		/* copy of the shared kvm_run page header */
	uint8_t io_data[8] = {};	/* KVM_EXIT_IO: the bytes at io.data_offset */
	std::optional<SignalRecord> signal;
	bool timed_out = false;		/* the run hit its time limit */
	unsigned limit_ms = 0;
	std::optional<uint64_t> pc;	/* guest PC read after the run */
	/* C14: the load destination register (arm64 x9, x86 RAX) read
	 * after the run, and the access the guest recorded last (unset for
	 * a step without one). */
	std::optional<uint64_t> dest;
	std::optional<AccessRecord> access;
	std::optional<GuestCall> call;	/* set when the exit was a ucall */

	uint32_t exit_reason() const { return run.exit_reason; }
};

} /* namespace kvmc */

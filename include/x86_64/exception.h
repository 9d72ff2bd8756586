/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Exceptions the guest takes, as the AMD APM (vol. 2, 8.2 and 8.4.2)
 * defines every field its handler reads: C14's expectations for the
 * page faults KVM injects (its shadow MMU's walk of the guest's tables,
 * its instruction emulator) and for M9, and for the #UD KVM injects when
 * its emulator cannot carry out an instruction at CPL 3.
 */
#pragma once

#include <cstdint>

#include "oracle.h"

namespace kvmc::x86 {

constexpr uint64_t ud_vector = 6, pf_vector = 14;

/* The error code (APM 8.4.2). Bits 0-6 and 31 are all it defines; the
 * others are reserved, zero, so the whole 32 bits are judged. */
constexpr uint64_t pf_present = 1u << 0;	/* P: a protection violation, not a missing page */
constexpr uint64_t pf_write = 1u << 1;		/* R/W: a write */
constexpr uint64_t pf_user = 1u << 2;		/* U/S: at CPL 3 */
constexpr uint64_t pf_rsvd = 1u << 3;		/* RSV: a reserved bit set in a table entry */
constexpr uint64_t pf_fetch = 1u << 4;		/* I/D: an instruction fetch (EFER.NXE is set) */
constexpr uint64_t pf_error_code_mask = 0xffffffffull;

/* RFLAGS bits the fault program never changes (bit 1, always set; TF,
 * IF, DF, IOPL, NT, VM, AC, VIF, VIP and ID, all clear) and RF, which the
 * processor sets in the image a fault-class exception pushes (APM 8.2
 * and 3.1.6; KVM does the same for the exceptions it injects:
 * arch/x86/kvm/x86.c kvm_check_and_inject_events). The arithmetic flags
 * are whatever the guest's code left. */
constexpr uint64_t rflags_fixed = 1u << 1, rflags_rf = 1u << 16;
constexpr uint64_t rflags_judged = rflags_fixed | 0x3f7700;

/* A #PF at gva with this error code, the access not done: the pushed RIP
 * is the access instruction (or, for a fetch, gva itself). */
inline GuestException page_fault(uint64_t gva, uint64_t error_code, const char *what)
{
	GuestException x;
	x.vector = pf_vector;
	x.syndrome_mask = pf_error_code_mask;
	x.syndrome = error_code;
	x.address = gva;
	x.returns = error_code & pf_fetch ? GuestException::Returns::to_address
					  : GuestException::Returns::to_access;
	x.pstate_mask = rflags_judged;
	x.pstate = rflags_fixed | rflags_rf;
	x.what = what;
	return x;
}

/* x without RF judged in the pushed RFLAGS: for a #PF the CPU may walk
 * the guest's tables for and deliver itself (NPT), where RF is the CPU
 * model's business, not KVM's (QEMU's TCG pushes it clear). */
inline GuestException rf_not_judged(GuestException x)
{
	x.pstate_mask &= ~rflags_rf;
	x.pstate &= ~rflags_rf;
	return x;
}

/* #UD for the instruction at the access the guest recorded: no error
 * code (the guest's stub pushes 0), CR2 not involved, a fault (RF set). */
inline GuestException invalid_opcode(const char *what)
{
	GuestException x;
	x.vector = ud_vector;
	x.syndrome_mask = pf_error_code_mask;
	x.syndrome = 0;
	x.check_address = false;
	x.returns = GuestException::Returns::to_access;
	x.pstate_mask = rflags_judged;
	x.pstate = rflags_fixed | rflags_rf;
	x.what = what;
	return x;
}

} /* namespace kvmc::x86 */

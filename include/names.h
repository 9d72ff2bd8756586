/* SPDX-License-Identifier: GPL-2.0 */
/* Names for the numbers a KVM_RUN outcome is made of. */
#pragma once

#include <cstdint>
#include <string>

#include "observation.h"

namespace kvmc {

/* "KVM_EXIT_MMIO(6)"; unknown values as "KVM_EXIT_?(N)". */
std::string exit_reason_name(uint32_t reason);
/* "EFAULT(14)"; 0 as "0". */
std::string errno_name(int err);
/* "SIGBUS(7)". */
std::string signal_name(int signo);

/* The triple: "ret=-1 errno=EFAULT(14) exit_reason=KVM_EXIT_MMIO(6)". */
std::string describe_triple(const Observation &obs);
/* The payload behind exit_reason, e.g. "mmio{phys_addr=0x... len=4 ...}". */
std::string describe_payload(const Observation &obs);
/* Triple, payload, signal, timeout and guest call on one line. */
/* What else the run left: a signal, the PC, the access the guest
 * recorded and its destination register, the guest's call (C14). */
std::string describe_state(const Observation &obs);
/* A signal as "SIGBUS(7){si_code=4 si_addr=0x... si_addr_lsb=12}". For a
 * signal another thread or process sent (si_code <= 0: SI_USER, SI_TKILL,
 * SI_QUEUE ...) si_addr is not filled, the union holds the sender's pid
 * and uid: only the code is shown. */
std::string describe_signal(const SignalRecord &sig);
std::string describe(const Observation &obs);

std::string hex(uint64_t value);

} /* namespace kvmc */

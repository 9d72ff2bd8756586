// SPDX-License-Identifier: GPL-2.0
#include "names.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace kvmc {

namespace {

struct Named {
	uint32_t value;
	const char *name;
};

#define NAMED(x) { x, #x }
/* Every exit reason of the UAPI this suite is built against (7.x). */
constexpr Named exit_reasons[] = {
	NAMED(KVM_EXIT_UNKNOWN), NAMED(KVM_EXIT_EXCEPTION), NAMED(KVM_EXIT_IO),
	NAMED(KVM_EXIT_HYPERCALL), NAMED(KVM_EXIT_DEBUG), NAMED(KVM_EXIT_HLT),
	NAMED(KVM_EXIT_MMIO), NAMED(KVM_EXIT_IRQ_WINDOW_OPEN), NAMED(KVM_EXIT_SHUTDOWN),
	NAMED(KVM_EXIT_FAIL_ENTRY), NAMED(KVM_EXIT_INTR), NAMED(KVM_EXIT_SET_TPR),
	NAMED(KVM_EXIT_TPR_ACCESS), NAMED(KVM_EXIT_S390_SIEIC), NAMED(KVM_EXIT_S390_RESET),
	NAMED(KVM_EXIT_DCR), NAMED(KVM_EXIT_NMI), NAMED(KVM_EXIT_INTERNAL_ERROR),
	NAMED(KVM_EXIT_OSI), NAMED(KVM_EXIT_PAPR_HCALL), NAMED(KVM_EXIT_S390_UCONTROL),
	NAMED(KVM_EXIT_WATCHDOG), NAMED(KVM_EXIT_S390_TSCH), NAMED(KVM_EXIT_EPR),
	NAMED(KVM_EXIT_SYSTEM_EVENT), NAMED(KVM_EXIT_S390_STSI), NAMED(KVM_EXIT_IOAPIC_EOI),
	NAMED(KVM_EXIT_HYPERV), NAMED(KVM_EXIT_ARM_NISV), NAMED(KVM_EXIT_X86_RDMSR),
	NAMED(KVM_EXIT_X86_WRMSR), NAMED(KVM_EXIT_DIRTY_RING_FULL), NAMED(KVM_EXIT_AP_RESET_HOLD),
	NAMED(KVM_EXIT_X86_BUS_LOCK), NAMED(KVM_EXIT_XEN), NAMED(KVM_EXIT_RISCV_SBI),
	NAMED(KVM_EXIT_RISCV_CSR), NAMED(KVM_EXIT_NOTIFY), NAMED(KVM_EXIT_LOONGARCH_IOCSR),
	NAMED(KVM_EXIT_MEMORY_FAULT),
#ifdef KVM_EXIT_TDX
	NAMED(KVM_EXIT_TDX),
#endif
#ifdef KVM_EXIT_ARM_SEA
	NAMED(KVM_EXIT_ARM_SEA),
#endif
#ifdef KVM_EXIT_ARM_LDST64B
	NAMED(KVM_EXIT_ARM_LDST64B),
#endif
#ifdef KVM_EXIT_SNP_REQ_CERTS
	NAMED(KVM_EXIT_SNP_REQ_CERTS),
#endif
};
#undef NAMED

std::string numbered(const char *name, long value)
{
	return std::string(name) + "(" + std::to_string(value) + ")";
}

} /* namespace */

std::string hex(uint64_t value)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)value);
	return buf;
}

std::string exit_reason_name(uint32_t reason)
{
	for (const auto &e : exit_reasons)
		if (e.value == reason)
			return numbered(e.name, reason);
	return numbered("KVM_EXIT_?", reason);
}

std::string errno_name(int err)
{
	if (err == 0)
		return "0";
	/* glibc's table; EHWPOISON and friends included. */
	const char *name = strerrorname_np(err);
	return numbered(name ? name : "E?", err);
}

std::string signal_name(int signo)
{
	const char *abbrev = sigabbrev_np(signo);
	return numbered(abbrev ? (std::string("SIG") + abbrev).c_str() : "SIG?", signo);
}

std::string describe_triple(const Observation &obs)
{
	std::string s = "ret=" + std::to_string(obs.ret);
	if (obs.ret == -1)
		s += " errno=" + errno_name(obs.err);
	return s + " exit_reason=" + exit_reason_name(obs.exit_reason());
}

std::string describe_payload(const Observation &obs)
{
	const struct kvm_run &r = obs.run;
	char buf[160];

	switch (r.exit_reason) {
	case KVM_EXIT_MMIO: {
		std::string data;
		for (unsigned i = 0; i < r.mmio.len && i < sizeof(r.mmio.data); i++) {
			snprintf(buf, sizeof(buf), "%s%02x", i ? " " : "", r.mmio.data[i]);
			data += buf;
		}
		snprintf(buf, sizeof(buf), "mmio{phys_addr=0x%llx len=%u is_write=%u data=[",
			 (unsigned long long)r.mmio.phys_addr, r.mmio.len, r.mmio.is_write);
		return buf + data + "]}";
	}
	case KVM_EXIT_MEMORY_FAULT:
		snprintf(buf, sizeof(buf), "memory_fault{flags=0x%llx gpa=0x%llx size=0x%llx}",
			 (unsigned long long)r.memory_fault.flags,
			 (unsigned long long)r.memory_fault.gpa,
			 (unsigned long long)r.memory_fault.size);
		return buf;
	case KVM_EXIT_ARM_NISV:
		snprintf(buf, sizeof(buf), "arm_nisv{esr_iss=0x%llx fault_ipa=0x%llx}",
			 (unsigned long long)r.arm_nisv.esr_iss,
			 (unsigned long long)r.arm_nisv.fault_ipa);
		return buf;
#ifdef KVM_EXIT_ARM_SEA
	case KVM_EXIT_ARM_SEA:
		snprintf(buf, sizeof(buf), "arm_sea{flags=0x%llx esr=0x%llx gva=0x%llx gpa=0x%llx}",
			 (unsigned long long)r.arm_sea.flags, (unsigned long long)r.arm_sea.esr,
			 (unsigned long long)r.arm_sea.gva, (unsigned long long)r.arm_sea.gpa);
		return buf;
#endif
	case KVM_EXIT_IO: {
		std::string data;
		for (unsigned i = 0; i < (unsigned)r.io.size * r.io.count && i < sizeof(obs.io_data); i++) {
			snprintf(buf, sizeof(buf), "%s%02x", i ? " " : "", obs.io_data[i]);
			data += buf;
		}
		snprintf(buf, sizeof(buf), "io{direction=%s size=%u port=0x%x count=%u data=[",
			 r.io.direction == KVM_EXIT_IO_OUT ? "out" : "in", r.io.size, r.io.port, r.io.count);
		return buf + data + "]}";
	}
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(buf, sizeof(buf), "internal{suberror=%u ndata=%u}",
			 r.internal.suberror, r.internal.ndata);
		return buf;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(buf, sizeof(buf), "fail_entry{reason=0x%llx}",
			 (unsigned long long)r.fail_entry.hardware_entry_failure_reason);
		return buf;
	default:
		return "";
	}
}

std::string describe_signal(const SignalRecord &sig)
{
	if (!sig.signo)
		return "no signal";
	if (sig.code <= 0)
		return signal_name(sig.signo) + "{si_code=" + std::to_string(sig.code) + "}";
	return signal_name(sig.signo) + "{si_code=" + std::to_string(sig.code) + " si_addr=" + hex(sig.addr) +
	       " si_addr_lsb=" + std::to_string(sig.addr_lsb) + "}";
}

std::string describe_state(const Observation &obs)
{
	std::string s;
	if (obs.signal)
		s += " signal=" + describe_signal(*obs.signal);
	if (obs.timed_out)
		s += " TIMED-OUT(" + std::to_string(obs.limit_ms) + "ms)";
	if (obs.pc)
		s += " pc=" + hex(*obs.pc);
	if (obs.access)
		s += " access={pc=" + hex(obs.access->pc) + " next=" + hex(obs.access->next_pc) +
		     (obs.access->load && obs.dest ? " dest=" + hex(*obs.dest) : std::string()) + "}";
	if (obs.call) {
		static const char *const kinds[] = {"none", "done", "exception", "failed", "sync"};
		auto k = static_cast<uint32_t>(obs.call->kind);
		s += std::string(" guest_call=") + (k < 5 ? kinds[k] : "?");
		/* The exception the guest took: enough to tell what broke. */
		if (obs.call->kind == GuestCallKind::exception)
			s += "{vector=" + hex(obs.call->args[0]) + " syndrome=" + hex(obs.call->args[1]) +
			     " address=" + hex(obs.call->args[2]) + " pc=" + hex(obs.call->args[3]) +
			     " pstate=" + hex(obs.call->args[4]) +
			     (obs.call->args[5] ? " hpfar=" + hex(obs.call->args[5]) : std::string()) + "}";
	}
	return s.empty() ? s : s.substr(1);
}

std::string describe(const Observation &obs)
{
	std::string s = describe_triple(obs);
	std::string payload = describe_payload(obs);
	if (!payload.empty())
		s += " " + payload;
	std::string state = describe_state(obs);
	if (!state.empty())
		s += " " + state;
	return s;
}

} /* namespace kvmc */

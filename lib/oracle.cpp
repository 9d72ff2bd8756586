// SPDX-License-Identifier: GPL-2.0
#include "oracle.h"

#include <cerrno>
#include <csignal>
#include <cstring>

#include "names.h"

namespace kvmc {

Expectation Expectation::mmio(Rule rule, uint64_t gpa, uint32_t len, bool is_write, uint64_t data)
{
	Expectation e;
	e.kind = Kind::mmio;
	e.rule = rule;
	e.gpa = gpa;
	e.len = len;
	e.is_write = is_write;
	e.data = data;
	return e;
}

Expectation Expectation::unresolvable_fault(uint64_t gpa, bool memory_fault_info, bool private_access)
{
	Expectation e;
	e.kind = Kind::unresolvable_fault;
	e.rule = rules::C4;
	e.gpa = gpa;
	e.err = EFAULT;
	e.memory_fault_info = memory_fault_info;
	e.private_access = private_access;
	return e;
}

Expectation Expectation::memory_fault(Rule rule, int err, uint64_t gpa, bool private_access)
{
	Expectation e;
	e.kind = Kind::memory_fault;
	e.rule = rule;
	e.err = err;
	e.gpa = gpa;
	e.private_access = private_access;
	return e;
}

Expectation Expectation::intr(Rule rule, bool exit_intr)
{
	Expectation e;
	e.kind = Kind::intr;
	e.rule = rule;
	e.err = EINTR;
	e.exit_intr = exit_intr;
	return e;
}

Expectation Expectation::poison_signal(uint64_t hva, uint64_t allowed_lsb)
{
	Expectation e;
	e.kind = Kind::poison_signal;
	e.rule = rules::C8;
	e.err = EINTR;
	e.hva = hva;
	e.allowed_lsb = allowed_lsb;
	return e;
}

Expectation Expectation::nisv(uint64_t gpa)
{
	Expectation e;
	e.kind = Kind::nisv;
	e.rule = rules::C6;
	e.gpa = gpa;
	return e;
}

Expectation Expectation::guest_exception(Rule rule, const GuestException &exception)
{
	Expectation e;
	e.kind = Kind::guest_exception;
	e.rule = rule;
	e.exception = exception;
	return e;
}

Expectation Expectation::internal_error(Rule rule, uint32_t suberror)
{
	Expectation e;
	e.kind = Kind::internal_error;
	e.rule = rule;
	e.suberror = suberror;
	return e;
}

Expectation Expectation::guest_sync(Rule rule)
{
	Expectation e;
	e.kind = Kind::guest_sync;
	e.rule = rule;
	return e;
}

Expectation Expectation::allocation_failure(uint64_t gpa)
{
	Expectation e;
	e.kind = Kind::allocation_failure;
	e.rule = rules::G4;
	e.gpa = gpa;
	return e;
}

Expectation Expectation::error(Rule rule, int err)
{
	Expectation e;
	e.kind = Kind::error;
	e.rule = rule;
	e.err = err;
	return e;
}

Expectation Expectation::guest_done(Rule rule)
{
	Expectation e;
	e.kind = Kind::guest_done;
	e.rule = rule;
	return e;
}

std::string Expectation::describe() const
{
	switch (kind) {
	case Kind::mmio: {
		std::string s = "ret=0 exit_reason=" + exit_reason_name(KVM_EXIT_MMIO) +
				 " mmio{phys_addr=" + hex(gpa) + " len=" + std::to_string(len) +
				 " is_write=" + std::to_string(is_write);
		if (is_write)
			s += " data=" + hex(data) + " (little-endian)";
		return s + "}";
	}
	case Kind::unresolvable_fault:
		if (memory_fault_info)
			return "ret=-1 errno=" + errno_name(EFAULT) + " exit_reason=" +
			       exit_reason_name(KVM_EXIT_MEMORY_FAULT) + " memory_fault{gpa+size covers " +
			       hex(gpa) + (private_access ? " flags=PRIVATE}" : " flags=0}");
		return "ret=-1 errno=" + errno_name(EFAULT) +
		       " (KVM_CAP_MEMORY_FAULT_INFO=0: exit_reason not promised)";
	case Kind::memory_fault:
		return "ret=-1 errno=" + errno_name(err) + " exit_reason=" +
		       exit_reason_name(KVM_EXIT_MEMORY_FAULT) + " memory_fault{gpa+size covers " + hex(gpa) +
		       (private_access ? " flags=PRIVATE}" : " flags=0}");
	case Kind::error:
		return "ret=-1 errno=" + errno_name(err) + " (exit_reason not defined)";
	case Kind::intr:
		return "ret=-1 errno=" + errno_name(EINTR) +
		       (exit_intr ? " exit_reason=" + exit_reason_name(KVM_EXIT_INTR) : std::string());
	case Kind::poison_signal: {
		std::string lsbs;
		for (int b = 0; b < 64; b++)
			if (allowed_lsb & (1ull << b))
				lsbs += (lsbs.empty() ? "" : "|") + std::to_string(b);
		return "signal=SIGBUS{si_code=BUS_MCEERR_AR si_addr=" + hex(hva) + " rounded down to 1<<lsb, lsb " +
		       lsbs + "} then ret=-1 errno=" + errno_name(EINTR) + " exit_reason=" +
		       exit_reason_name(KVM_EXIT_INTR);
	}
	case Kind::nisv:
		return "ret=0 exit_reason=" + exit_reason_name(KVM_EXIT_ARM_NISV) + " arm_nisv{fault_ipa=" +
		       hex(gpa) + "}";
	case Kind::guest_exception:
		return std::string("the guest takes ") + exception.what + ": vector " + hex(exception.vector) +
		       ", syndrome & " + hex(exception.syndrome_mask) + " == " + hex(exception.syndrome) +
		       (exception.check_address ? ", address " + hex(exception.address) : std::string());
	case Kind::internal_error:
		return "ret=0 exit_reason=" + exit_reason_name(KVM_EXIT_INTERNAL_ERROR) + " internal{suberror=" +
		       std::to_string(suberror) + "}";
	case Kind::guest_done:
		return "ret=0, guest reports done through the ucall channel";
	case Kind::guest_sync:
		return "ret=0, guest reports sync through the ucall channel";
	case Kind::allocation_failure:
		return "ret=-1: errno EFAULT/EHWPOISON with " + exit_reason_name(KVM_EXIT_MEMORY_FAULT) +
		       " covering " + hex(gpa) + " (C1/C2), or another errno (C3)";
	}
	return "?";
}

namespace {

class Judge {
public:
	Judge(const Expectation &e, const Observation &o, Mode m) : exp(e), obs(o), mode(m) {}

	Verdict run();

private:
	void fail(Rule rule, std::string text)
	{
		verdict.findings.push_back({Finding::Severity::failure, rule, std::move(text)});
	}
	void note(Rule rule, std::string text)
	{
		verdict.findings.push_back({Finding::Severity::note, rule, std::move(text)});
	}
	template <typename T>
	void want(Rule rule, const std::string &what, T wanted, T got, std::string (*show)(T))
	{
		if (wanted != got)
			fail(rule, what + ": wanted " + show(wanted) + ", got " + show(got));
	}

	bool memory_fault_errno() const
	{
		return obs.ret == -1 && (obs.err == EFAULT || obs.err == EHWPOISON);
	}

	void check_memory_fault_shape();
	void check_memory_fault_payload(bool know_gpa);
	bool check_no_guest_trouble();
	void judge_mmio();
	void judge_unresolvable_fault();
	void judge_error();
	void judge_memory_fault();
	void judge_intr();
	void judge_poison_signal();
	void judge_nisv();
	void judge_guest_exception();
	void judge_internal_error();
	void judge_guest_call(GuestCallKind kind, const char *name);
	void judge_allocation_failure();

	const Expectation &exp;
	const Observation &obs;
	Mode mode;
	Verdict verdict;
};

std::string show_int(long v) { return std::to_string(v); }
std::string show_hex(uint64_t v) { return hex(v); }
std::string show_errno(int v) { return errno_name(v); }
std::string show_exit(uint32_t v) { return exit_reason_name(v); }
std::string show_signal(int v) { return signal_name(v); }

/* C1 and C3: whatever the scenario, KVM_EXIT_MEMORY_FAULT is only
 * meaningful with -1/EFAULT or -1/EHWPOISON. */
void Judge::check_memory_fault_shape()
{
	if (obs.exit_reason() != KVM_EXIT_MEMORY_FAULT)
		return;
	if (obs.ret == 0) {
		fail(rules::C1, "KVM_RUN returned 0 with exit_reason " +
				exit_reason_name(KVM_EXIT_MEMORY_FAULT) +
				"; it must accompany -1/EFAULT or -1/EHWPOISON");
		return;
	}
	if (obs.ret == -1 && !memory_fault_errno()) {
		std::string text = "errno " + errno_name(obs.err) + " with stale exit_reason " +
				   exit_reason_name(KVM_EXIT_MEMORY_FAULT) + " " + describe_payload(obs);
		if (mode.strict)
			fail(rules::C3, text + " (strict mode: only EFAULT/EHWPOISON may carry it)");
		else
			note(rules::C3, text + " (allowed: exit_reason is undefined for this errno)");
	}
}

/* C2: the payload of a meaningful KVM_EXIT_MEMORY_FAULT. */
void Judge::check_memory_fault_payload(bool know_gpa)
{
	if (obs.exit_reason() != KVM_EXIT_MEMORY_FAULT || !memory_fault_errno())
		return;
	const auto &mf = obs.run.memory_fault;
	if (mf.size == 0)
		fail(rules::C2, "memory_fault.size is 0");
	if (mf.flags & ~(uint64_t)KVM_MEMORY_EXIT_FLAG_PRIVATE)
		fail(rules::C2, "memory_fault.flags " + hex(mf.flags) + " has undefined bits " +
				hex(mf.flags & ~(uint64_t)KVM_MEMORY_EXIT_FLAG_PRIVATE));
	if (!know_gpa)
		return;
	if (exp.gpa < mf.gpa || exp.gpa - mf.gpa >= mf.size)
		fail(rules::C2, "[memory_fault.gpa, gpa + size) = [" + hex(mf.gpa) + ", " +
				hex(mf.gpa + mf.size) + ") does not contain the faulting GPA " + hex(exp.gpa));
	bool is_private = mf.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE;
	if (is_private != exp.private_access)
		fail(rules::C2, std::string("KVM_MEMORY_EXIT_FLAG_PRIVATE is ") +
				(is_private ? "set" : "clear") + " but the access was " +
				(exp.private_access ? "private" : "shared"));
}

/* Outcomes that are wrong whatever was expected: a run that hit its time
 * limit, or a guest that reported an exception it did not ask for. Returns
 * false when judging the triple any further would only add noise. */
bool Judge::check_no_guest_trouble()
{
	if (obs.timed_out) {
		fail(rules::time_limit, "KVM_RUN did not return within " + std::to_string(obs.limit_ms) +
					" ms (the guest neither faulted nor exited)" +
					(obs.pc ? "; guest pc " + hex(*obs.pc) : std::string()));
		return false;
	}
	if (obs.call && obs.call->kind == GuestCallKind::exception &&
	    exp.kind != Expectation::Kind::guest_exception) {
		const auto *a = obs.call->args;
		fail(rules::guest, "guest took an unexpected exception: vector " + hex(a[0]) +
				   " syndrome " + hex(a[1]) + " fault address " + hex(a[2]) +
				   " pc " + hex(a[3]));
		return false;
	}
	if (obs.call && obs.call->kind == GuestCallKind::failed) {
		fail(rules::guest, "guest-side check failed: code " + hex(obs.call->args[0]) +
				   " values " + hex(obs.call->args[1]) + ", " + hex(obs.call->args[2]));
		return false;
	}
	return true;
}

void Judge::judge_mmio()
{
	if (obs.call && obs.call->kind == GuestCallKind::done) {
		fail(exp.rule, "the guest finished without the access exiting to userspace");
		return;
	}
	want<long>(exp.rule, "KVM_RUN return", 0, obs.ret, show_int);
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_MMIO, obs.exit_reason(), show_exit);
	if (obs.exit_reason() != KVM_EXIT_MMIO)
		return;
	const auto &m = obs.run.mmio;
	want<uint64_t>(exp.rule, "mmio.phys_addr", exp.gpa, m.phys_addr, show_hex);
	want<long>(exp.rule, "mmio.len", exp.len, m.len, show_int);
	want<long>(exp.rule, "mmio.is_write", exp.is_write, m.is_write, show_int);
	if (exp.is_write && m.len == exp.len && exp.len <= sizeof(m.data)) {
		/* data[] holds the bytes as a direct store would lay them out:
		 * little-endian on both architectures the suite runs on. */
		uint64_t got = 0;
		for (unsigned i = 0; i < exp.len; i++)
			got |= (uint64_t)m.data[i] << (8 * i);
		uint64_t mask = exp.len == 8 ? ~0ull : (1ull << (8 * exp.len)) - 1;
		want<uint64_t>(exp.rule, "mmio.data (stored value)", exp.data & mask, got, show_hex);
	}
}

void Judge::judge_unresolvable_fault()
{
	want<long>(exp.rule, "KVM_RUN return", -1, obs.ret, show_int);
	if (obs.ret != -1)
		return;
	want<int>(exp.rule, "errno", EFAULT, obs.err, show_errno);
	if (obs.err != EFAULT)
		return;
	if (exp.memory_fault_info) {
		want<uint32_t>(rules::C4, "exit_reason (KVM_CAP_MEMORY_FAULT_INFO=1)",
			       KVM_EXIT_MEMORY_FAULT, obs.exit_reason(), show_exit);
	} else if (obs.exit_reason() == KVM_EXIT_MEMORY_FAULT) {
		note(rules::C4, "KVM_EXIT_MEMORY_FAULT filled although KVM_CAP_MEMORY_FAULT_INFO=0 "
				"(nothing promised, nothing broken)");
	}
	check_memory_fault_payload(true);
}

void Judge::judge_error()
{
	want<long>(exp.rule, "KVM_RUN return", -1, obs.ret, show_int);
	if (obs.ret == -1)
		want<int>(exp.rule, "errno", exp.err, obs.err, show_errno);
}

void Judge::judge_memory_fault()
{
	want<long>(exp.rule, "KVM_RUN return", -1, obs.ret, show_int);
	if (obs.ret != -1)
		return;
	want<int>(exp.rule, "errno", exp.err, obs.err, show_errno);
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_MEMORY_FAULT, obs.exit_reason(), show_exit);
	check_memory_fault_payload(true);
}

void Judge::judge_intr()
{
	want<long>(exp.rule, "KVM_RUN return", -1, obs.ret, show_int);
	if (obs.ret != -1)
		return;
	want<int>(exp.rule, "errno", EINTR, obs.err, show_errno);
	if (exp.exit_intr)
		want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_INTR, obs.exit_reason(), show_exit);
}

void Judge::judge_poison_signal()
{
	if (!obs.signal) {
		fail(exp.rule, "no signal reached the vCPU thread during KVM_RUN (wanted SIGBUS)");
	} else {
		const SignalRecord &sig = *obs.signal;
		want<int>(exp.rule, "signal", SIGBUS, sig.signo, show_signal);
		want<long>(exp.rule, "si_code (BUS_MCEERR_AR=" + std::to_string(BUS_MCEERR_AR) + ")", BUS_MCEERR_AR,
			   sig.code, show_int);
		if (sig.addr_lsb < 0 || sig.addr_lsb >= 64 || !(exp.allowed_lsb & (1ull << sig.addr_lsb)))
			fail(exp.rule, "si_addr_lsb " + std::to_string(sig.addr_lsb) + " is not one of the sizes allowed");
		else
			want<uint64_t>(exp.rule, "si_addr (poisoned address rounded down to 1 << si_addr_lsb)",
				       exp.hva & ~((1ull << sig.addr_lsb) - 1), sig.addr, show_hex);
	}
	want<long>(exp.rule, "KVM_RUN return", -1, obs.ret, show_int);
	if (obs.ret != -1)
		return;
	want<int>(exp.rule, "errno", EINTR, obs.err, show_errno);
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_INTR, obs.exit_reason(), show_exit);
}

void Judge::judge_nisv()
{
	want<long>(exp.rule, "KVM_RUN return", 0, obs.ret, show_int);
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_ARM_NISV, obs.exit_reason(), show_exit);
	if (obs.exit_reason() == KVM_EXIT_ARM_NISV)
		want<uint64_t>(exp.rule, "arm_nisv.fault_ipa", exp.gpa, obs.run.arm_nisv.fault_ipa, show_hex);
}

void Judge::judge_guest_exception()
{
	want<long>(exp.rule, "KVM_RUN return", 0, obs.ret, show_int);
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	if (!obs.call || obs.call->kind != GuestCallKind::exception) {
		fail(exp.rule, std::string("wanted the guest to take ") + exp.exception.what + ", got exit " +
				       exit_reason_name(obs.exit_reason()) + " " + describe_payload(obs));
		return;
	}
	const GuestException &x = exp.exception;
	want<uint64_t>(exp.rule, "exception vector", x.vector, obs.call->args[0], show_hex);
	want<uint64_t>(exp.rule, "exception syndrome (masked)", x.syndrome,
		       obs.call->args[1] & x.syndrome_mask, show_hex);
	if (x.check_address)
		want<uint64_t>(exp.rule, "exception fault address", x.address, obs.call->args[2], show_hex);
}

void Judge::judge_internal_error()
{
	want<long>(exp.rule, "KVM_RUN return", 0, obs.ret, show_int);
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_INTERNAL_ERROR, obs.exit_reason(), show_exit);
	if (obs.exit_reason() == KVM_EXIT_INTERNAL_ERROR)
		want<long>(exp.rule, "internal.suberror", exp.suberror, obs.run.internal.suberror, show_int);
}

void Judge::judge_guest_call(GuestCallKind kind, const char *name)
{
	want<long>(exp.rule, "KVM_RUN return", 0, obs.ret, show_int);
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	if (!obs.call || obs.call->kind != kind)
		fail(exp.rule, std::string("wanted the guest to report ") + name + ", got exit " +
				       exit_reason_name(obs.exit_reason()) + " " + describe_payload(obs));
}

/* G4: the guest_memfd allocation must have failed (or the scenario did not
 * reach its point); the errno decides which rule applies. */
void Judge::judge_allocation_failure()
{
	if (obs.ret != -1) {
		fail(exp.rule, "KVM_RUN returned " + std::to_string(obs.ret) +
				       ": the allocation did not fail, the scenario did not reach its point");
		return;
	}
	if (memory_fault_errno()) {
		want<uint32_t>(rules::C1, "exit_reason with errno " + errno_name(obs.err), KVM_EXIT_MEMORY_FAULT,
			       obs.exit_reason(), show_exit);
		check_memory_fault_payload(true);
	}
	/* Other errnos: check_memory_fault_shape() has judged C3 already. */
}

Verdict Judge::run()
{
	if (!check_no_guest_trouble())
		return verdict;
	check_memory_fault_shape();
	switch (exp.kind) {
	case Expectation::Kind::mmio:
		judge_mmio();
		break;
	case Expectation::Kind::unresolvable_fault:
		judge_unresolvable_fault();
		break;
	case Expectation::Kind::error:
		judge_error();
		check_memory_fault_payload(false);
		break;
	case Expectation::Kind::memory_fault:
		judge_memory_fault();
		break;
	case Expectation::Kind::intr:
		judge_intr();
		break;
	case Expectation::Kind::poison_signal:
		judge_poison_signal();
		break;
	case Expectation::Kind::nisv:
		judge_nisv();
		break;
	case Expectation::Kind::guest_exception:
		judge_guest_exception();
		break;
	case Expectation::Kind::internal_error:
		judge_internal_error();
		break;
	case Expectation::Kind::guest_done:
		judge_guest_call(GuestCallKind::done, "done");
		break;
	case Expectation::Kind::guest_sync:
		judge_guest_call(GuestCallKind::sync, "sync");
		break;
	case Expectation::Kind::allocation_failure:
		judge_allocation_failure();
		break;
	}
	return verdict;
}

} /* namespace */

bool Verdict::passed() const
{
	for (const auto &f : findings)
		if (f.severity == Finding::Severity::failure)
			return false;
	return true;
}

std::string Verdict::report(const Expectation &expected, const Observation &observed) const
{
	std::string s;
	for (const auto &f : findings) {
		s += f.severity == Finding::Severity::failure ? "FAIL " : "NOTE ";
		s += std::string(f.rule.id) + " (" + f.rule.section + "): " + f.text + "\n";
	}
	s += std::string("expected (") + expected.rule.id + "): " + expected.describe() + "\n";
	if (expected.basis)
		s += std::string("basis: ") + expected.basis + "\n";
	s += "observed: " + kvmc::describe(observed) + "\n";
	return s;
}

Verdict judge(const Expectation &expected, const Observation &observed, Mode mode)
{
	return Judge(expected, observed, mode).run();
}

} /* namespace kvmc */

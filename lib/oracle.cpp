// SPDX-License-Identifier: GPL-2.0
#include "oracle.h"

#include <cerrno>
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
	case Kind::error:
		return "ret=-1 errno=" + errno_name(err) + " (exit_reason not defined)";
	case Kind::guest_done:
		return "ret=0, guest reports done through the ucall channel";
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
	void want(Rule rule, const char *what, T wanted, T got, std::string (*show)(T))
	{
		if (wanted != got)
			fail(rule, std::string(what) + ": wanted " + show(wanted) + ", got " + show(got));
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
	void judge_guest_done();

	const Expectation &exp;
	const Observation &obs;
	Mode mode;
	Verdict verdict;
};

std::string show_int(long v) { return std::to_string(v); }
std::string show_hex(uint64_t v) { return hex(v); }
std::string show_errno(int v) { return errno_name(v); }
std::string show_exit(uint32_t v) { return exit_reason_name(v); }

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
	if (obs.call && obs.call->kind == GuestCallKind::exception) {
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

void Judge::judge_guest_done()
{
	want<long>(exp.rule, "KVM_RUN return", 0, obs.ret, show_int);
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	if (!obs.call || obs.call->kind != GuestCallKind::done)
		fail(exp.rule, "wanted the guest to report done, got exit " +
			       exit_reason_name(obs.exit_reason()) + " " + describe_payload(obs));
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
	case Expectation::Kind::guest_done:
		judge_guest_done();
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
	s += "observed: " + kvmc::describe(observed) + "\n";
	return s;
}

Verdict judge(const Expectation &expected, const Observation &observed, Mode mode)
{
	return Judge(expected, observed, mode).run();
}

} /* namespace kvmc */

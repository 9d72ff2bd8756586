// SPDX-License-Identifier: GPL-2.0
#include "guest_vm.h"
#include "health.h"
#include "names.h"
#include "oracle.h"
#include "record.h"

#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <optional>
#include <sys/mman.h>
#include <sys/utsname.h>

namespace kvmc {

/*
 * A judgement without a KVM_RUN behind it: recorded, and when it failed,
 * printed as a FAIL line ending in the finding's key.
 */
static void judge_plain(const char *step, Rule rule, bool passed, std::string expected, std::string observed,
			Finding finding)
{
	Record r;
	r.step = step;
	r.rule = rule;
	r.verdict = passed ? "pass" : "fail";
	r.expected = std::move(expected);
	r.observed = std::move(observed);
	if (!passed) {
		log_line(std::string("FAIL ") + rule.id + " (" + rule.section + "): " + finding.text + " [key: " +
			 finding.key() + "]");
		r.findings.push_back(std::move(finding));
	}
	record(r);
}

bool destructive_allowed()
{
	const char *s = getenv("KVMC_ALLOW_DESTRUCTIVE");
	return s && strcmp(s, "1") == 0;
}

bool doc_fix(const char *name)
{
	const char *list = getenv("KVMC_DOC_FIXES");
	const std::string_view wanted(name);
	for (std::string_view rest(list ? list : ""); !rest.empty();) {
		const size_t comma = rest.find(',');
		if (rest.substr(0, comma) == wanted) {
			log_line(std::string("judged as if the documentation fix ") + name +
				 " were in api.rst (--doc-fix)");
			return true;
		}
		rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
	}
	return false;
}

std::optional<std::string> known_crash(const std::string &test)
{
	const char *list = getenv("KVMC_KNOWN_CRASHES");
	if (!list || !*list)
		return std::nullopt;
	struct utsname u {};
	if (uname(&u))
		return std::nullopt;
	return known_crash(list, u.release, test);
}

bool report_kernel_health(const KernelHealth &before)
{
	auto problems = health_problems(before);
	for (const auto &p : problems)
		judge_plain("kernel health", rules::C13, false, "no WARN, BUG, oops or new taint", p,
			    {Finding::Severity::failure, rules::C13, "kernel-health", health_kind(p), p});
	return !problems.empty();
}

bool judge_errno(Rule rule, const char *what, int wanted, int got)
{
	int err = got < 0 ? -got : 0;
	const std::string observed = got == 0 ? std::string("success") : errno_name(err);
	judge_plain(what, rule, err == wanted, errno_name(wanted), observed,
		    {Finding::Severity::failure, rule, what, observed,
		     std::string(what) + ": wanted " + errno_name(wanted) + ", got " + observed});
	if (err == wanted)
		log_line(std::string(what) + ": " + rule.id + " ok: " + errno_name(err));
	return err == wanted;
}

bool judge_outcome(const char *step, const Expectation &expected, const Observation &observed)
{
	Verdict v = judge(expected, observed, mode_from_env());
	Record r;
	r.step = step;
	r.rule = expected.rule;
	r.verdict = !v.passed() ? "fail" : v.findings.empty() ? "pass" : "note";
	r.expected = expected.describe();
	r.observed = describe_triple(observed);
	r.payload = describe_payload(observed);
	r.state = describe_state(observed);
	r.ret = observed.ret;
	r.err = observed.err;
	r.exit_reason = (int)observed.exit_reason();
	r.findings = v.findings;
	r.basis = expected.basis;
	record(r);
	if (v.passed() && v.findings.empty()) {
		log_line(std::string(step) + ": " + expected.rule.id + " ok: " + describe(observed));
		if (expected.basis)
			log_line(std::string("  basis (not api.rst): ") + expected.basis);
		return true;
	}
	log_line(std::string(step) + ":");
	log_line(v.report(expected, observed));
	return v.passed();
}

bool judge_value(Rule rule, const char *what, uint64_t wanted, uint64_t got)
{
	judge_plain(what, rule, wanted == got, hex(wanted), hex(got),
		    {Finding::Severity::failure, rule, what, hex(got),
		     std::string(what) + ": wanted " + hex(wanted) + ", got " + hex(got)});
	if (wanted == got)
		log_line(std::string(what) + ": " + rule.id + " ok: " + hex(got));
	return wanted == got;
}

PreFaultCall pre_fault(Vcpu &vcpu, PreFaultRange in, uint64_t flags)
{
	PreFaultCall call;
	call.in = in;
	call.flags = flags;
	call.out.gpa = in.gpa;
	call.out.size = in.size;
	call.out.flags = flags;
	call.result = vcpu.pre_fault_memory_raw(call.out);
	return call;
}

bool judge_pre_fault(const char *step, const PreFaultCall &call, int wanted_err, PreFaultRange left)
{
	const struct kvm_pre_fault_memory &range = call.out;
	const int r = call.result;
	char line[256];
	snprintf(line, sizeof(line),
		 "%s: KVM_PRE_FAULT_MEMORY{gpa=%#llx size=%#llx flags=%#llx} -> %s, range now {gpa=%#llx size=%#llx}",
		 step, (unsigned long long)call.in.gpa, (unsigned long long)call.in.size,
		 (unsigned long long)call.flags, r ? errno_name(-r).c_str() : "0", (unsigned long long)range.gpa,
		 (unsigned long long)range.size);
	log_line(line);
	uint64_t padding = 0;
	for (uint64_t p : range.padding)
		padding |= p;
	bool ok = judge_errno(rules::F, "errno", wanted_err, r);
	ok = judge_value(rules::F, "range.gpa", left.gpa, range.gpa) && ok;
	ok = judge_value(rules::F, "range.size", left.size, range.size) && ok;
	ok = judge_value(rules::F, "range.flags", call.flags, range.flags) && ok;
	ok = judge_value(rules::F, "range.padding", 0, padding) && ok;
	return ok;
}

bool judge_pre_fault(Vcpu &vcpu, const char *step, PreFaultRange in, int wanted_err, PreFaultRange left,
		     uint64_t flags)
{
	return judge_pre_fault(step, pre_fault(vcpu, in, flags), wanted_err, left);
}

/*
 * The kernel's own report of poisoned memory (C8's differential check):
 * this process loads from addr, no KVM involved. The handler jumps back
 * out (the load would only fault again) and the recorder the KVM runs
 * use is put back.
 */
namespace {

sigjmp_buf native_probe_jump;
SignalRecord native_probe_signal;

void on_native_probe_signal(int signo, siginfo_t *si, void *)
{
	native_probe_signal = {signo, si->si_code, reinterpret_cast<uint64_t>(si->si_addr),
			       signo == SIGBUS ? si->si_addr_lsb : 0};
	siglongjmp(native_probe_jump, 1);
}

} /* namespace */

int poison(void *addr)
{
	install_signal_recorder();
	return madvise(addr, page_size(), MADV_HWPOISON) ? errno : 0;
}

const char *poison_unavailable(int err)
{
	switch (err) {
	case 0:
	case EBUSY: /* guest_memfd may refuse, yet poison the page */
		return nullptr;
	case EPERM:
		return "MADV_HWPOISON needs CAP_SYS_ADMIN: run as root";
	case EINVAL:
		return "MADV_HWPOISON refused (EINVAL): needs CONFIG_MEMORY_FAILURE";
	default:
		return "MADV_HWPOISON failed";
	}
}

SignalRecord native_fault(const void *addr)
{
	native_probe_signal = {};
	struct sigaction probe {}, old {};
	probe.sa_sigaction = on_native_probe_signal;
	probe.sa_flags = SA_SIGINFO;
	sigemptyset(&probe.sa_mask);
	sigaction(SIGBUS, &probe, &old);
	if (sigsetjmp(native_probe_jump, 1) == 0)
		(void)*static_cast<const volatile uint64_t *>(addr);
	sigaction(SIGBUS, &old, nullptr);
	const SignalRecord &n = native_probe_signal;
	log_line("native fault on the same memory (this process, no KVM): " + describe_signal(n));
	return native_probe_signal;
}

} /* namespace kvmc */

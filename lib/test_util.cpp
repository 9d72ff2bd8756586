// SPDX-License-Identifier: GPL-2.0
#include "guest_vm.h"
#include "health.h"
#include "names.h"
#include "oracle.h"
#include "record.h"

#include <cstdlib>
#include <cstring>

namespace kvmc {

/* A record of a judgement without a KVM_RUN behind it. */
static void record_plain(const char *step, Rule rule, bool passed, std::string expected, std::string observed)
{
	Record r;
	r.step = step;
	r.rule = rule;
	r.verdict = passed ? "pass" : "fail";
	r.expected = std::move(expected);
	r.observed = std::move(observed);
	record(r);
}

bool destructive_allowed()
{
	const char *s = getenv("KVMC_ALLOW_DESTRUCTIVE");
	return s && strcmp(s, "1") == 0;
}

bool report_kernel_health(const KernelHealth &before)
{
	auto problems = health_problems(before);
	for (const auto &p : problems) {
		log_line(std::string("FAIL ") + rules::C13.id + " (" + rules::C13.section + "): " + p);
		record_plain("kernel health", rules::C13, false, "no WARN, BUG, oops or new taint", p);
	}
	return !problems.empty();
}

bool judge_errno(Rule rule, const char *what, int wanted, int got)
{
	int err = got < 0 ? -got : 0;
	record_plain(what, rule, err == wanted, errno_name(wanted), got == 0 ? "success" : errno_name(err));
	if (err == wanted) {
		log_line(std::string(what) + ": " + rule.id + " ok: " + errno_name(err));
		return true;
	}
	log_line(std::string("FAIL ") + rule.id + " (" + rule.section + "): " + what + ": wanted " +
		 errno_name(wanted) + ", got " + (got == 0 ? std::string("success") : errno_name(err)));
	return false;
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
	record_plain(what, rule, wanted == got, hex(wanted), hex(got));
	if (wanted == got) {
		log_line(std::string(what) + ": " + rule.id + " ok: " + hex(got));
		return true;
	}
	log_line(std::string("FAIL ") + rule.id + " (" + rule.section + "): " + what + ": wanted " +
		 hex(wanted) + ", got " + hex(got));
	return false;
}

} /* namespace kvmc */

// SPDX-License-Identifier: GPL-2.0
#include "guest_vm.h"
#include "health.h"
#include "names.h"
#include "oracle.h"

#include <cstdlib>
#include <cstring>

namespace kvmc {

bool destructive_allowed()
{
	const char *s = getenv("KVMC_ALLOW_DESTRUCTIVE");
	return s && strcmp(s, "1") == 0;
}

bool report_kernel_health(const KernelHealth &before)
{
	auto problems = health_problems(before);
	for (const auto &p : problems)
		log_line(std::string("FAIL ") + rules::C13.id + " (" + rules::C13.section + "): " + p);
	return !problems.empty();
}

bool judge_errno(Rule rule, const char *what, int wanted, int got)
{
	int err = got < 0 ? -got : 0;
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
	if (wanted == got) {
		log_line(std::string(what) + ": " + rule.id + " ok: " + hex(got));
		return true;
	}
	log_line(std::string("FAIL ") + rule.id + " (" + rule.section + "): " + what + ": wanted " +
		 hex(wanted) + ", got " + hex(got));
	return false;
}

} /* namespace kvmc */

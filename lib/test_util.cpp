// SPDX-License-Identifier: GPL-2.0
#include "guest_vm.h"
#include "names.h"
#include "oracle.h"

namespace kvmc {

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

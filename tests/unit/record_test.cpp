// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the machine-readable records: every finding carries the
 * key a baseline entry names ("<rule> <field>=<observed>").
 */
#include "harness.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "oracle.h"
#include "record.h"

using namespace kvmc;

namespace {

/* Records written while fn runs, as the file holds them. */
template <typename Fn>
std::string recorded(Fn fn)
{
	char path[] = "/tmp/kvmc-record-test.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return "";
	close(fd);
	setenv("KVMC_OBSERVATIONS", path, 1);
	fn();
	unsetenv("KVMC_OBSERVATIONS");
	std::ifstream in(path);
	std::stringstream text;
	text << in.rdbuf();
	unlink(path);
	return text.str();
}

bool contains(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

} /* namespace */

TEST(findings_carry_their_key)
{
	Observation o;
	o.ret = -1;
	o.err = EFAULT;
	Expectation e = Expectation::unresolvable_fault(0x80001020, true);
	Verdict v = judge(e, o);
	const std::string line = recorded([&] {
		set_current_test("m4_prot_none.load.fault");
		Record r;
		r.step = "access";
		r.rule = e.rule;
		r.verdict = "fail";
		r.findings = v.findings;
		record(r);
	});
	EXPECT_TRUE(contains(line, "\"test\":\"m4_prot_none.load.fault\""));
	EXPECT_TRUE(contains(line, "\"findings\":[{\"rule\":\"C4\",\"severity\":\"failure\",\"text\":"));
	EXPECT_TRUE(contains(line, "\"key\":\"C4 exit_reason=KVM_EXIT_UNKNOWN(0)\"}]"));
}

TEST(json_strings_are_escaped)
{
	const std::string s = json_string("a \"b\"\\\n");
	EXPECT_STREQ("\"a \\\"b\\\"\\\\\\n\"", s.c_str());
}

KVMC_TEST_MAIN

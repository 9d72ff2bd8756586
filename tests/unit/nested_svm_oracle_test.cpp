// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the NX expectations (include/x86_64/nested.h) against
 * hand-made observations: the #VMEXIT a guest hypervisor reports through
 * the exception ucall (exit code, EXITINFO1, EXITINFO2, the nested RIP,
 * its RFLAGS). Each judged field fails on a wrong value.
 */
#include "harness.h"

#include <string>

#include "oracle.h"
#include "x86_64/exception.h"
#include "x86_64/nested.h"
#include "x86_64/svm.h"

using namespace kvmc;

namespace {

constexpr uint64_t access_pc = 0x40000240, nested_gpa = 0xa0004018;

/* The guest hypervisor's report of a #VMEXIT, with the nested guest's
 * access recorded at access_pc. */
Observation vmexit(uint64_t code, uint64_t info1, uint64_t info2, uint64_t rip = access_pc, uint64_t rflags = 0x2)
{
	Observation o;
	o.run.exit_reason = KVM_EXIT_IO;
	o.call = GuestCall{GuestCallKind::exception, {code, info1, info2, rip, rflags, 0}};
	o.access = AccessRecord{access_pc, access_pc + 3, true};
	return o;
}

bool fails_with(const Verdict &v, const std::string &key)
{
	for (const Finding &f : v.findings)
		if (f.severity == Finding::Severity::failure && f.key() == key)
			return true;
	return false;
}

} /* namespace */

TEST(npf_final_translation_as_the_apm_has_it)
{
	Expectation e = x86::forwarded_npf(x86::NpfStage::final_translation, x86::pf_user | x86::pf_write, nested_gpa);
	EXPECT_TRUE(judge(e, vmexit(0x400, 0x100000006, nested_gpa)).passed());
	/* Each judged field, wrong. */
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x4e, 0x100000006, nested_gpa)), "NX exception.vector=0x4e"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x200000006, nested_gpa)),
			       "NX exception.syndrome=0x200000006"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x300000006, nested_gpa)),
			       "NX exception.syndrome=0x300000006"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x000000006, nested_gpa)), "NX exception.syndrome=0x6"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x100000002, nested_gpa)),
			       "NX exception.syndrome=0x100000002")); /* U/S clear */
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x100000007, nested_gpa)),
			       "NX exception.syndrome=0x100000007")); /* P set */
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x10000000e, nested_gpa)),
			       "NX exception.syndrome=0x10000000e")); /* RSV set */
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x100000016, nested_gpa)),
			       "NX exception.syndrome=0x100000016")); /* I/D set */
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x100000006, nested_gpa & ~0xfffull)),
			       "NX exception.address=0xa0004000"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x100000006, 0x80004018)), "NX exception.address=0x80004018"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x100000006, nested_gpa, access_pc + 3)),
			       "C14 exception.return_pc=0x40000243"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x100000006, nested_gpa, access_pc, 0x202)),
			       "C14 exception.pstate=0x202"));
}

TEST(npf_on_a_fetch_returns_to_the_address_fetched)
{
	const uint64_t target = 0xa0004100;
	Expectation e = x86::forwarded_npf(x86::NpfStage::final_translation, x86::pf_user | x86::pf_fetch, target);
	Observation o = vmexit(0x400, 0x100000014, target, target);
	o.access.reset(); /* a fetch records no access */
	EXPECT_TRUE(judge(e, o).passed());
	o.call->args[1] = 0x100000004; /* I/D clear */
	EXPECT_TRUE(fails_with(judge(e, o), "NX exception.syndrome=0x100000004"));
	o.call->args[1] = 0x100000014;
	o.call->args[3] = target + 1;
	EXPECT_TRUE(fails_with(judge(e, o), "C14 exception.return_pc=0xa0004101"));
}

TEST(npf_table_walk_sets_bit_33)
{
	Expectation e = x86::forwarded_npf(x86::NpfStage::table_walk, x86::pf_user | x86::pf_write, nested_gpa);
	EXPECT_TRUE(judge(e, vmexit(0x400, 0x200000006, nested_gpa)).passed());
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x100000006, nested_gpa)),
			       "NX exception.syndrome=0x100000006"));
}

TEST(intercepted_pf_wants_the_linear_address_not_a_stale_cr2)
{
	const uint64_t gva = 0x140006000;
	Expectation e = x86::intercepted_page_fault(x86::pf_write, gva);
	EXPECT_TRUE(judge(e, vmexit(0x4e, 0x2, gva)).passed());
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x4e, 0x2, 0)), "NX exception.address=0x0"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x4e, 0x2, gva - 4)), "NX exception.address=0x140005ffc"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x4e, 0x0, gva)), "NX exception.syndrome=0x0"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x4e, 0x100000002, gva)), "NX exception.syndrome=0x100000002"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0x2, gva)), "NX exception.vector=0x400"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x4e, 0x2, gva, access_pc + 3)), "C14 exception.return_pc=0x40000243"));
}

TEST(vmrun_failure_is_exit_code_minus_one_with_zero_exit_info)
{
	Expectation e = x86::vmrun_failed("test");
	EXPECT_TRUE(judge(e, vmexit(~0ull, 0, 0, 0x1234)).passed());
	EXPECT_TRUE(fails_with(judge(e, vmexit(0x400, 0, 0)), "NX exception.vector=0x400"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(~0ull, 1, 0)), "NX exception.syndrome=0x1"));
	EXPECT_TRUE(fails_with(judge(e, vmexit(~0ull, 0, 0x1000)), "NX exception.address=0x1000"));
	/* No #VMEXIT at all: KVM_RUN reported something else. */
	Observation none;
	none.run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	EXPECT_FALSE(judge(e, none).passed());
}

KVMC_TEST_MAIN

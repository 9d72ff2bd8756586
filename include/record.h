/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Machine-readable verdicts: with KVMC_OBSERVATIONS=FILE, every judgement
 * a test makes is appended to FILE as one JSON object per line (test name,
 * step, rule, verdict, expected, observed triple and payload, findings).
 * run_tests.sh gathers them into --json, --junit and --report output.
 */
#pragma once

#include <string>
#include <vector>

#include "observation.h"
#include "oracle.h"

namespace kvmc {

/* The fixture.variant.test name the following records belong to. */
void set_current_test(std::string name);

struct Record {
	const char *step = "";
	Rule rule = rules::guest;
	const char *verdict = "pass";	/* pass, note or fail */
	std::string expected;
	std::string observed;		/* the triple, with names and numbers */
	std::string payload;
	std::string state;		/* describe_state(): PC, registers, guest call */
	int ret = 0;
	int err = 0;
	int exit_reason = -1;		/* -1: no KVM_RUN behind this record */
	/* Each with its key; a failing record without a KVM_RUN behind it
	 * (judge_value, judge_errno, kernel health) carries exactly one. */
	std::vector<Finding> findings;
	const char *basis = nullptr;
};

/* Append one record; does nothing without KVMC_OBSERVATIONS. */
void record(const Record &r);

/* JSON string literal for text, quotes included. */
std::string json_string(const std::string &text);

} /* namespace kvmc */

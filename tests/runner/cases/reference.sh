# SPDX-License-Identifier: GPL-2.0
# Sourced by tests/runner/runner_test.sh: --reference DIR and
# --fail-on-change (issue 22 item 2), a behavioural diff against an
# earlier run.

# A recorded reference with one value altered: that change, and only it,
# is reported (KTAP, summary, JSON, JUnit, HTML); it fails the run under
# --fail-on-change (exit 1, for git bisect run), never without.
case_reference_reports_the_altered_value() {
	fake_baseline
	local key='FAKE_KEY=C4 exit_reason=KVM_EXIT_UNKNOWN(0)'
	fake FAKE=finding "$key" -- --arch arm64 --baseline "$WORK/baseline.txt"
	expect_rc 0
	rm -rf "$WORK/ref"
	cp -r "$WORK/results" "$WORK/ref"
	# The same run against itself: nothing changed.
	fake FAKE=finding "$key" -- --arch arm64 --baseline "$WORK/baseline.txt" --reference "$WORK/ref" \
		--fail-on-change
	expect_rc 0
	expect_out "^0 changed, 0 new, 0 gone against the reference $WORK/ref$"
	sed -i 's/"rule":"C4","verdict"/"rule":"C3","verdict"/' "$WORK/ref/arm64/observations.jsonl"
	grep -q '"rule":"C3"' "$WORK/ref/arm64/observations.jsonl" || complain "the reference was not altered"
	fake FAKE=finding "$key" -- --arch arm64 --baseline "$WORK/baseline.txt" --reference "$WORK/ref" \
		--json "$WORK/r.json" --junit "$WORK/r.xml" --report "$WORK/r.html"
	expect_rc 0
	expect_out "^        # CHANGED: rule: C3 -> C4$"
	expect_out "^  m4_prot_none.load.fault: CHANGED: rule: C3 -> C4$"
	expect_out "^run_tests.sh: arm64: 1 changed in 1 test, 0 new, 0 gone against $WORK/ref/arm64"
	expect_last_line "2 passed, 0 failed, 0 skipped"
	[ "$(tail -n 2 "$LOG" | head -n 1)" = "1 changed, 0 new, 0 gone against the reference $WORK/ref" ] ||
		complain "the line above the counts is not the changed count"
	grep -q '"changed": 1' "$WORK/r.json" || complain "JSON lacks the changed count"
	grep -q '"field": "rule"' "$WORK/r.json" || complain "JSON lacks the change"
	grep -q 'name="changed" value="1"' "$WORK/r.xml" || complain "JUnit lacks the changed property"
	grep -q 'CHANGED: rule: C3 -&gt; C4' "$WORK/r.html" || complain "HTML lacks the change in its tooltip"
	grep -q '&#916;</td>' "$WORK/r.html" || complain "HTML lacks the changed mark"
	# git bisect run: the change fails the run.
	fake FAKE=finding "$key" -- --arch arm64 --baseline "$WORK/baseline.txt" --reference "$WORK/ref" \
		--fail-on-change --json "$WORK/r.json"
	expect_rc 1
	expect_out "^run_tests.sh: 1 changed against the reference: --fail-on-change fails the run$"
	expect_last_line "2 passed, 0 failed, 0 skipped"
	grep -q '"exit_code": 1' "$WORK/r.json" || complain "JSON's exit_code is not 1"
	# One results/<arch> directory is a reference too.
	fake FAKE=finding "$key" -- --arch arm64 --baseline "$WORK/baseline.txt" \
		--reference "$WORK/ref/arm64" --fail-on-change
	expect_rc 1; expect_out "^1 changed, 0 new, 0 gone against the reference $WORK/ref/arm64$"
}

# A test the reference lacks is new, one it has and this run lacks is
# gone: listed, neither a change nor a failure.
case_reference_new_and_gone_tests() {
	fake -- --arch arm64
	expect_rc 0
	rm -rf "$WORK/ref"
	cp -r "$WORK/results" "$WORK/ref"
	sed -i 's/m1_no_memslot.w1.store/m1_no_memslot.w1.old/' "$WORK/ref/arm64/results.ktap"
	fake -- --arch arm64 --reference "$WORK/ref" --fail-on-change --json "$WORK/r.json"
	expect_rc 0
	expect_out "^0 changed, 1 new, 1 gone against the reference $WORK/ref$"
	expect_out "^  new: m1_no_memslot.w1.store$"
	expect_out "^  gone: m1_no_memslot.w1.old$"
	expect_out "# reference: new test \(not in the reference\)"
	grep -q '"gone_tests": \[' "$WORK/r.json" || complain "JSON lacks the gone tests"
}

case_reference_usage() {
	fake -- --arch arm64 --fail-on-change
	expect_rc 2; expect_out "--fail-on-change goes with --reference"
	fake -- --arch arm64 --reference "$WORK/no-such-dir"
	expect_rc 2; expect_out "--reference $WORK/no-such-dir: no such directory"
	mkdir -p "$WORK/empty"
	fake -- --arch arm64 --reference "$WORK/empty"
	expect_rc 2; expect_out "no results there"
}

# Two runs of one kernel differ in nothing but what reference.VARIES
# normalises: five runs of the real arm64 suite on the cached Debian
# kernel, the first the reference of the four others, show 0 changes.
# The tests: every M, G, K, P and U scenario numbered 1 to 4 (MMIO and its
# completion, sign extension, NISV, guest_memfd, immediate_exit, pending
# signals, poisoned pages with their host addresses, userfaultfd pages and
# the signal that interrupts the wait), about 80 tests.
case_reference_same_kernel_five_runs_no_change() {
	local pattern='[gkmpu][1-4]_*' i first
	run -- --arch arm64 --vm -t "$pattern"
	first=$RC
	case $first in 0|1) ;; *) complain "run 1: exit status $first"; return ;; esac
	rm -rf "$WORK/ref"
	cp -r "$WORK/results" "$WORK/ref"
	for i in 2 3 4 5; do
		run -- --arch arm64 --vm -t "$pattern" --reference "$WORK/ref" --fail-on-change
		[ "$RC" = "$first" ] || complain "run $i: exit status $RC, run 1's was $first"
		grep -qE "^0 changed, 0 new, 0 gone against the reference $WORK/ref$" "$LOG" ||
			{ complain "run $i changed against run 1:"; grep -E "^  |changed" "$LOG" >> "$WORK/why"; return; }
	done
}

# SPDX-License-Identifier: GPL-2.0
# Sourced by tests/runner/runner_test.sh: what a run says at its end
# about its failures (issue 27 item 15) and which KVM it judged (item 18).

# A file QEMU's stand-in takes for an x86 kernel (a bzImage's setup
# header): no Debian kernel or modules to fetch.
fake_bzimage() {
	{ head -c 514 /dev/zero; printf HdrS; head -c 4096 /dev/zero; } > "$WORK/bzImage"
}

expect_last_line() {
	[ "$(tail -n 1 "$LOG")" = "$1" ] || complain "the last line is '$(tail -n 1 "$LOG")', not '$1'"
}

# A newcomer's first run: the failures are one finding that
# baselines/debian.txt knows, and the summary says so (without
# --baseline); the exit status stays 1 and the counts stay the last line.
case_summary_names_the_known_finding() {
	fake_bzimage
	fake FAKE=finding 'FAKE_KEY=C4 exit_reason=KVM_EXIT_UNKNOWN(0)' -- --arch x86_64 \
		--kernel "$WORK/bzImage" --json "$WORK/r.json"
	expect_rc 1
	expect_out "^run_tests.sh: 1 failed: 1 finding: C4 exit_reason=KVM_EXIT_UNKNOWN\(0\) x 1 \(known on x86_64 7\.\*: baselines/debian\.txt, x86 kvm_handle_error_pfn\(\)"
	expect_out "^run_tests.sh: with --baseline baselines/debian.txt the known ones count as known deviations"
	expect_last_line "1 passed, 1 failed, 0 skipped"
	# The VM's KVM: the vendor module the x86 configuration loads.
	expect_out "^# x86_64: kernel 7.3.0-fake, KVM kvm_amd$"
	grep -q '"kvm": "kvm_amd"' "$WORK/r.json" || complain "JSON does not name kvm_amd"
}

case_summary_unknown_finding_and_no_key() {
	fake_bzimage
	fake FAKE=finding 'FAKE_KEY=C2 memory_fault.size=0x0' -- --arch x86_64 --kernel "$WORK/bzImage"
	expect_rc 1
	expect_out "^run_tests.sh: 1 failed: 1 finding: C2 memory_fault.size=0x0 x 1 \(in no baseline\)$"
	grep -q "with --baseline" "$LOG" && complain "a baseline offered for what none knows"
	expect_last_line "1 passed, 1 failed, 0 skipped"
	fake FAKE=finding FAKE_KEY=none -- --arch x86_64 --kernel "$WORK/bzImage"
	expect_rc 1
	expect_out "^run_tests.sh: 1 failed: 1 without a finding key \(no baseline excuses it\)$"
	expect_last_line "1 passed, 1 failed, 0 skipped"
	# Excused by --baseline: nothing failed, nothing to sum up.
	fake FAKE=finding 'FAKE_KEY=C4 exit_reason=KVM_EXIT_UNKNOWN(0)' -- --arch x86_64 \
		--kernel "$WORK/bzImage" --baseline "$TOP/baselines/debian.txt"
	expect_rc 0
	grep -q "finding" "$LOG" && complain "a summary of failures without a failure"
	expect_last_line "2 passed, 0 failed, 0 skipped"
}

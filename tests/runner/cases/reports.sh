# SPDX-License-Identifier: GPL-2.0
# Cases of tests/runner/runner_test.sh (sourced there): what the reports
# and the baselines take from outside.

# Issue 27 item 13: a baseline that is no text file is refused at once,
# exit 2, saying what it is (/dev/zero filled the memory until a
# MemoryError, a FIFO hung the run). Bounded in time and memory, so that
# the old behaviour fails the case instead of the machine.
case_baseline_not_a_file() {
	mkfifo "$WORK/fifo"
	local what path
	for what in "/dev/zero:a character device" "$WORK/fifo:a FIFO" "$WORK:a directory"; do
		path=${what%%:*}
		rm -rf "$WORK/results"
		(ulimit -v 2000000; exec timeout 60 "$TOP/run_tests.sh" -o "$WORK/results" --arch arm64 \
			--baseline "$path") > "$LOG" 2>&1 < /dev/null
		RC=$?
		expect_rc 2; expect_out "baseline $path: is ${what#*:}"
		grep -q booting "$LOG" && complain "booted with the baseline $path"
	done
	rm -f "$WORK/fifo"
}

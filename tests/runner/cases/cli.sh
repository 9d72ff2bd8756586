# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# run_tests.sh's options (issue 27 items 3, 8, 10, 11, 12): every user
# mistake is usage (exit 2) and refused before anything boots; a results
# directory that fills up during the run ends with 125, said, with the
# closing line, and a JSON report that says the same exit status.
# Sourced by tests/runner/runner_test.sh (its helpers: run, fake, ...).

# Nothing booted: the log has no "booting".
expect_not_booted() { grep -q "booting" "$LOG" && complain "booted before refusing"; }

# A tmpfs at $1 with options $2 (root only), unmounted when the case ends.
cli_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "$2" kvmc-runner-test "$1" || { complain "cannot mount a tmpfs at $1 (root?)"; return 1; }
}

case_cli_help_lists_every_option() {
	run -- -h
	expect_rc 0
	local flag
	for flag in --arch -t -l -v --strict --allow-destructive --unit --serial --vm --native --kernel \
		    --modules --debian --matrix --kernels --kselftest --build --kconfig --kconfig-add \
		    --timeout --run-timeout --boot-timeout -o --json --junit --report --baseline \
		    --write-baseline --force --coverage --coverage-selftests --coverage-diff KVMC_VM_TIMEOUT; do
		grep -qE -- "(^| )$flag( |,|$)" "$LOG" || complain "-h does not list $flag"
	done
	# And through python3 -m kvmc run.
	(cd "$TOP/scripts" && python3 -m kvmc run --bogus) > "$LOG" 2>&1
	RC=$?
	expect_rc 2; expect_out "^run_tests.sh: unknown option '--bogus'"; expect_out "^usage: ./run_tests.sh"
}

# Item 11: a limit at or above 2^32 (or just too big) is usage, naming
# the variable; never wrapped into 0 (the watchdog off).
case_cli_limits_are_bounded() {
	run -- --timeout 99999999999999999999
	expect_rc 2; expect_out "^run_tests.sh: --timeout / KVMC_BIN_TIMEOUT: 99999999999999999999 s is more than"
	fake KVMC_RUN_TIMEOUT_MS=4294967296 -- --arch arm64
	expect_rc 2; expect_out "KVMC_RUN_TIMEOUT_MS: 4294967296 ms is more than the most allowed"
	fake -- --arch arm64 --run-timeout 0
	expect_rc 2; expect_out "positive whole number, not '0'"
	expect_not_booted
}

# Item 12: the built Image is not Debian's kernels.
case_cli_build_with_matrix_refused() {
	run -- --arch arm64 --build "$WORK" --matrix
	expect_rc 2; expect_out "--matrix boots Debian's kernels"
	run -- --arch arm64 --build "$WORK" --matrix --kernels "bookworm sid"
	expect_rc 2; expect_out "--matrix boots Debian's kernels"
}

# Item 3: the baseline being read is never the one written, however
# named; an existing baseline is not cut short without --force.
case_cli_same_baseline_refused() {
	fake_baseline
	cp "$WORK/baseline.txt" "$WORK/baseline.orig"
	ln -sf baseline.txt "$WORK/baseline-link.txt"
	fake -- --arch arm64 --baseline "$WORK/baseline.txt" --write-baseline "$WORK/baseline-link.txt"
	expect_rc 2; expect_out "is the --baseline being read"
	(cd "$WORK" && fake -- --arch arm64 --baseline "$WORK/baseline.txt" --write-baseline ./baseline.txt)
	expect_rc 2; expect_not_booted
	cmp -s "$WORK/baseline.txt" "$WORK/baseline.orig" || complain "the baseline was changed"
}

case_cli_baseline_not_cut_short() {
	printf '# curated\narm64 7.* m4_* C4 exit_reason=KVM_EXIT_UNKNOWN(0)  a curated reason\narm64 6.* m1_* C1 x=1  another\n' \
		> "$WORK/curated.txt"
	cp "$WORK/curated.txt" "$WORK/curated.orig"
	fake FAKE=finding 'FAKE_KEY=C4 exit_reason=KVM_EXIT_UNKNOWN(0)' -- --arch arm64 \
		--write-baseline "$WORK/curated.txt" --json "$WORK/r.json"
	expect_rc 2
	expect_out "--write-baseline .*curated.txt: not written: this run's baseline would drop 2 of its lines"
	expect_out "^  arm64 6.\* m1_\* C1 x=1  another"
	expect_out "pass --force to replace it"
	expect_out "^1 passed, 1 failed, 0 skipped"
	cmp -s "$WORK/curated.txt" "$WORK/curated.orig" || complain "the curated baseline was overwritten"
	grep -q '"exit_code": 2' "$WORK/r.json" || complain "JSON exit_code is not 2"
	fake FAKE=finding 'FAKE_KEY=C4 exit_reason=KVM_EXIT_UNKNOWN(0)' -- --arch arm64 \
		--write-baseline "$WORK/curated.txt" --force
	expect_rc 1
	grep -q '^arm64 7.3.0-fake m4_prot_none.load.fault C4' "$WORK/curated.txt" || complain "--force did not write"
}

# Item 8: a results directory that cannot be written is refused before
# booting, named; one that fills up during the run ends with 125, said,
# the closing line printed, no temporary file left, and the JSON report
# says the exit status the run ends with.
case_cli_results_dir_unwritable() {
	: > "$WORK/a-file"
	fake -- --arch arm64 -o "$WORK/a-file"
	expect_rc 2; expect_out "^run_tests.sh: -o $WORK/a-file: not a directory"
	[ -s "$WORK/a-file" ] && complain "the regular file was written to"
	cli_tmpfs "$WORK/ro" ro || return
	fake -- --arch arm64 -o "$WORK/ro/results"
	umount "$WORK/ro"
	expect_rc 2; expect_out "^run_tests.sh: -o $WORK/ro/results: cannot make the results directory: Read-only file system"
	cli_tmpfs "$WORK/full" size=64k || return
	head -c 1000000 /dev/zero > "$WORK/full/fill" 2>/dev/null
	fake -- --arch arm64 -o "$WORK/full"
	umount "$WORK/full"
	expect_rc 2; expect_out "^run_tests.sh: -o $WORK/full: cannot write the results there: No space left on device"
	expect_not_booted
}

case_cli_results_dir_fills_up_during_the_run() {
	fake_qemu
	# A QEMU that fills the results' filesystem before it boots.
	mkdir -p "$WORK/filling"
	cat > "$WORK/filling/qemu-system-aarch64" <<-EOF
	#!/bin/sh
	head -c 1000000 /dev/zero > "$WORK/full/fill" 2>/dev/null
	exec "$WORK/fake/qemu-system-aarch64" "\$@"
	EOF
	chmod +x "$WORK/filling/qemu-system-aarch64"
	cli_tmpfs "$WORK/full" size=256k || return
	env PATH="$WORK/filling:$WORK/fake:$PATH" "$TOP/run_tests.sh" -o "$WORK/full" --arch arm64 \
		--json "$WORK/r.json" > "$LOG" 2>&1 < /dev/null
	RC=$?
	find "$WORK/full" -name '*.tmp*' | sed 's/^/left behind: /' >> "$WORK/why"
	umount "$WORK/full"
	expect_rc 125
	expect_out "No space left on device"
	expect_out "^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped"
	grep -q Traceback "$LOG" && complain "a traceback"
	python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["exit_code"] != 125)' "$WORK/r.json" ||
		complain "JSON exit_code is not 125"
	# A report that cannot be written at the end: 125, and the JSON agrees.
	cli_tmpfs "$WORK/full" size=64k || return
	env PATH="$WORK/filling:$WORK/fake:$PATH" "$TOP/run_tests.sh" -o "$WORK/results" --arch arm64 \
		--junit "$WORK/full/r.xml" --json "$WORK/r.json" > "$LOG" 2>&1 < /dev/null
	RC=$?
	find "$WORK/full" -name '*.tmp*' | sed 's/^/left behind: /' >> "$WORK/why"
	umount "$WORK/full"
	expect_rc 125; expect_out "junit: could not write .*No space left on device"
	expect_out "^2 passed, 0 failed, 0 skipped"
	python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["exit_code"] != 125)' "$WORK/r.json" ||
		complain "JSON exit_code is not 125"
}

# Item 10: a user's mistake is 2, not 125.
case_cli_build_tree_mistakes_are_usage() {
	run -- --arch arm64 --build "$WORK/nonexistent"
	expect_rc 2; expect_out "^run_tests.sh: --build: .*nonexistent: no such directory"
	mkdir -p "$WORK/not-a-tree"
	run -- --arch arm64 --build "$WORK/not-a-tree"
	expect_rc 2; expect_out "is not a kernel source tree"
	local t="$WORK/configured"
	mkdir -p "$t/arch/arm64" "$t/scripts/kconfig"
	: > "$t/Makefile"; : > "$t/Kconfig"; : > "$t/scripts/kconfig/merge_config.sh"; : > "$t/.config"
	run -- --arch arm64 --build "$t"
	expect_rc 2; expect_out "configured in place"
	expect_not_booted
}

case_cli_kernel_that_is_no_file() {
	mkfifo "$WORK/fifo"
	run -- --arch arm64 --kernel "$WORK"
	expect_rc 2; expect_out "^run_tests.sh: --kernel $WORK: a directory, not a kernel image file"
	run -- --arch arm64 --kernel "$WORK/fifo"
	expect_rc 2; expect_out "a FIFO \(named pipe\), not a kernel image file"
	run -- --arch arm64 --kernel /dev/zero
	expect_rc 2; expect_out "--kernel /dev/zero: a character device"
	rm -f "$WORK/fifo"
}

# A gzip of random data is no Image.gz: refused before QEMU starts (as a
# kernel that cannot be tested, like any other file that is no kernel).
case_cli_gzip_of_random_data_refused() {
	head -c 200000 /dev/urandom | gzip > "$WORK/Image.gz"
	fake -- --arch arm64 --kernel "$WORK/Image.gz"
	expect_rc 125; expect_out "Image.gz: not a kernel image for arm64"
	expect_not_booted
}

# A -t that matches no test of the build: 2 before anything boots; and
# --kselftest cannot select tests.
case_cli_no_match_refused_before_booting() {
	fake -- --arch arm64 -t no_such_test
	expect_rc 2; expect_out "arm64: no test matches -t 'no_such_test': not booted"
	expect_out "no test matches -t 'no_such_test' \(list them with -l\)"
	expect_not_booted
	[ -s "$TOP/build/arm64/tests/kvm-contract-names.txt" ] || complain "the build made no list of names"
	grep -qx "m1_no_memslot.w1.load" "$TOP/build/arm64/tests/kvm-contract-names.txt" ||
		complain "the list of names lacks m1_no_memslot.w1.load"
	fake -- --arch arm64 -t m1_no_memslot.w1.load
	expect_rc 0
	run -- --arch arm64 --kselftest -t m1_
	expect_rc 2; expect_out "--kselftest runs whole binaries"
}

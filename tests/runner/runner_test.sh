#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The project's own tests of its runners (run_tests.sh, ktap-runner.sh):
# every kind of bad input and broken environment ends with a clear message
# and the exit code that "git bisect run" and CI expect, and leaves no QEMU,
# FIFO or temporary file behind. Prints KTAP; "run_tests.sh --unit" (make
# check) runs it.
#
#   tests/runner/runner_test.sh [-t SUBSTRING]
#
# The cases that boot a VM use arm64 (the faster emulation) and the Debian
# kernel the suite uses anyway; the runner builds what it needs.
set -u -o pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
only=
[ "${1:-}" = -t ] && only=${2:-}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvmc-runner-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

n=0 failed=0
LOG=$WORK/log
RC=

# run [VAR=VALUE...] -- ARGS...: run_tests.sh with that environment, its
# results in a directory of its own; output in $LOG, exit status in $RC.
run() {
	local env=()
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	rm -rf "$WORK/results"
	env "${env[@]}" "$TOP/run_tests.sh" -o "$WORK/results" "$@" > "$LOG" 2>&1 < /dev/null
	RC=$?
}

# Checks append their complaints to $WORK/why; a case passes without any.
complain() { echo "$*" >> "$WORK/why"; }
expect_rc() { [ "$RC" = "$1" ] || complain "exit status $RC, expected $1"; }
expect_out() { grep -qE -- "$1" "$LOG" || complain "output lacks /$1/"; }
# A case that cannot run here says why; it is reported as skipped.
skip() { echo "$*" > "$WORK/skip"; }

# The runs these cases start carry this token in their environment, and so
# does every QEMU they start (it inherits it, and keeps it when its parent
# is gone): a QEMU of another run from the same checkout (a mutation study,
# a fix demo, make check in a second shell) is none of this runner's
# business, neither to report nor to stop.
export KVMC_RUNNER_TOKEN="runner-$$-${RANDOM}${RANDOM}"

# The PIDs of this runner's QEMUs still running (their command line names
# an initrd of this checkout's build directory).
own_qemus() {
	local p
	for p in $(pgrep -f "$TOP/build/.*/initrd.cpio"); do
		tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null |
			grep -qx "KVMC_RUNNER_TOKEN=$KVMC_RUNNER_TOKEN" && echo "$p"
	done
	return 0
}

# Nothing of a run may outlive it: QEMU, the console FIFO, the ktap-runner's
# scratch files.
expect_clean() {
	local i=0 left
	while [ -n "$(own_qemus)" ] && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	left=$(own_qemus)
	if [ -n "$left" ]; then
		# shellcheck disable=SC2086
		ps -o pid=,args= -p "$(echo $left | tr ' ' ',')" | sed 's/^/left running: /' >> "$WORK/why"
		# Stop what was left, so that the next case starts clean.
		# shellcheck disable=SC2086
		kill $left 2>/dev/null
	fi
	ls "$TOP"/build/*/console.fifo 2>/dev/null | sed 's/^/left behind: /' >> "$WORK/why"
	# A run's private scratch space (build/<arch>/run.<config>.<pid>).
	local d
	for d in "$TOP"/build/*/run.*.*; do
		[ -d "$d" ] && ! kill -0 "${d##*.}" 2>/dev/null && echo "left behind: $d" >> "$WORK/why"
	done
	ls "${TMPDIR:-/tmp}"/kvmc-status.* "${TMPDIR:-/tmp}"/kvmc-ktap.* 2>/dev/null |
		sed 's/^/left behind: /' >> "$WORK/why"
}

# ---- the cases --------------------------------------------------------------
case_unknown_flag() {
	run -- --bogus
	expect_rc 2; expect_out "unknown option '--bogus'"
}

case_bad_time_limit() {
	run -- --timeout 0s
	expect_rc 2; expect_out "positive whole number, not '0s'"
}

case_kernel_needs_one_arch() {
	run -- --kernel /boot/vmlinuz
	expect_rc 2; expect_out "--kernel needs exactly one --arch"
}

case_no_test_matches() {
	run -- --arch arm64 --vm -t no_such_test
	expect_rc 2; expect_out "no test matches -t 'no_such_test'"
}

case_missing_kernel() {
	run -- --arch arm64 --kernel "$WORK/no-such-image"
	expect_rc 125; expect_out "no-such-image: no such file"
}

# Issue 16 item 7: a file that is no kernel for the machine is refused
# before QEMU starts, with the reason (it used to take the boot limit).
case_corrupt_kernel_refused() {
	head -c 2000000 /dev/urandom > "$WORK/garbage"
	run -- --arch x86_64 --kernel "$WORK/garbage"
	expect_rc 125; expect_out "garbage: not a kernel image for x86_64"
}

case_wrong_architecture_kernel_refused() {
	run -- --arch arm64 --kernel "$(KVMC_OFFLINE=1 "$TOP/scripts/debian.sh" kernel x86_64)"
	expect_rc 125; expect_out "an x86 bzImage, not a kernel for arm64"
}

# A kernel that never reaches the init (here: an Image header on garbage).
case_corrupt_kernel_never_boots() {
	{ head -c 56 /dev/zero; printf 'ARM\144'; head -c 2000000 /dev/urandom; } > "$WORK/garbage"
	run -- --arch arm64 --kernel "$WORK/garbage" --boot-timeout 4
	expect_rc 125; expect_out "did not reach its init within the boot limit of 4 s"
}

case_kernel_panics_at_boot() {
	run KVMC_APPEND=rdinit=/no-such-init -- --arch arm64 --vm
	expect_rc 125; expect_out "crashed: kernel panic"; expect_out "Kernel panic - not syncing"
}

case_machine_without_kvm() {
	run KVMC_ARM64_MACHINE=virt,gic-version=3 -- --arch arm64 --vm
	expect_rc 125; expect_out "/dev/kvm missing in the test VM"
}

# A PATH with every command of this machine but one.
path_without() {
	# Made anew: whatever an earlier case left in it must not shadow PATH.
	rm -rf "$WORK/bin"
	mkdir -p "$WORK/bin"
	local d f
	for d in ${PATH//:/ }; do
		for f in "$d"/*; do
			[ -x "$f" ] && [ ! -e "$WORK/bin/${f##*/}" ] && ln -s "$f" "$WORK/bin/${f##*/}"
		done
	done
	rm -f "$WORK/bin/$1"
	echo "$WORK/bin"
}

case_qemu_missing() {
	run PATH="$(path_without qemu-system-aarch64)" -- --arch arm64 --vm
	expect_rc 125; expect_out "qemu-system-aarch64 not found: run 'make deps'"
}

case_compiler_missing() {
	run CROSS_COMPILE=kvmc-missing- -- --arch arm64 --vm
	expect_rc 125; expect_out "kvmc-missing-g\+\+ not found"; expect_out "build failed"
}

case_offline_empty_cache() {
	run KVMC_OFFLINE=1 KVMC_CACHE="$WORK/empty-cache" -- --arch arm64 --vm
	expect_rc 125; expect_out "offline \(KVMC_OFFLINE=1\) and the cache lacks"
}

case_no_network_empty_cache() {
	# A proxy nobody listens on: every download fails at once.
	run http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
	    KVMC_CACHE="$WORK/empty-cache" -- --arch arm64 --vm
	expect_rc 125; expect_out "could not fetch the package lists"
}

case_unprivileged_skips_with_reason() {
	run KVMC_UNPRIVILEGED=1 -- --arch arm64 --vm -t p1_
	expect_rc 0
	expect_out "# SKIP MADV_HWPOISON needs CAP_SYS_ADMIN: run as root"
	expect_out "^0 passed, 0 failed, [1-9][0-9]* skipped"
}

# A fake QEMU that boots, starts a test and dies in it: the runner must
# count that test as failed (a kernel that crashes under a test fails it).
case_vm_dies_during_test() {
	mkdir -p "$WORK/fake"
	cat > "$WORK/fake/qemu-system-aarch64" <<-'FAKE'
	#!/bin/sh
	echo "@@KVMC-BEGIN guest 7.3.0-fake aarch64"
	echo "@@KVMC-BEGIN ktap"
	echo "TAP version 13"
	echo "1..1"
	echo "# kvm-contract: bad_memslot_test"
	echo "    TAP version 13"
	echo "    1..2"
	echo "    #  RUN           m1_no_memslot.w1.load ..."
	echo "    #            OK  m1_no_memslot.w1.load"
	echo "    ok 1 m1_no_memslot.w1.load"
	echo "    #  RUN           m1_no_memslot.w1.store ..."
	echo "[    3.000000] Kernel panic - not syncing: fake"
	FAKE
	chmod +x "$WORK/fake/qemu-system-aarch64"
	run PATH="$WORK/fake:$PATH" -- --arch arm64 --vm
	expect_rc 1
	expect_out "m1_no_memslot.w1.store was running: counted as failed"
	expect_out "^1 passed, 1 failed, 0 skipped"
}

# A test binary that outlives its time limit: ktap-runner kills it, says
# so, and fails the test it was in.
case_binary_time_limit() {
	mkdir -p "$WORK/tests"
	cat > "$WORK/tests/slow_test" <<-'SLOW'
	#!/bin/sh
	[ "${1:-}" = --names ] && { echo slow.one; echo slow.two; exit 0; }
	echo "TAP version 13"; echo "1..2"
	echo "#  RUN           slow.one ..."; echo "ok 1 slow.one"
	echo "#  RUN           slow.two ..."
	exec sleep 30
	SLOW
	chmod +x "$WORK/tests/slow_test"
	echo slow_test > "$WORK/tests/kvm-contract-list.txt"
	KVMC_BIN_TIMEOUT=1 "$TOP/scripts/ktap-runner.sh" "$WORK/tests" > "$LOG" 2>&1
	RC=$?
	expect_rc 1
	expect_out "^    not ok 0 slow.two # killed by the binary's time limit"
	expect_out "^not ok 1 slow_test # timeout"
	expect_out "killed after 1 s"
}

# Ctrl-C while both architectures' VMs run: exit 130, and both QEMUs go
# down with the runner.
case_interrupted() {
	rm -rf "$WORK/results"
	# As from a terminal: a process group of its own, and SIGINT not
	# ignored (bash ignores it in the jobs it starts with &).
	setsid perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "$ARGV[0]: $!\n"' \
		"$TOP/run_tests.sh" -o "$WORK/results" --vm > "$LOG" 2>&1 < /dev/null &
	local pid=$! i=0
	while ! grep -q "side by side" "$LOG" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 1
	kill -INT -- "-$pid" 2>/dev/null
	wait "$pid"
	RC=$?
	expect_rc 130; expect_out "interrupted: stopping"
}

# make install lays out a tree the kernel's run_kselftest.sh runs (inside
# the VM), and its KTAP parses with a standard TAP parser (prove).
case_kselftest_install_tree() {
	make -s -C "$TOP" ARCH=arm64 install INSTALL_PATH="$WORK/ksft" > "$LOG" 2>&1 ||
		complain "make install failed"
	local f
	for f in run_kselftest.sh kselftest/runner.sh kselftest-list.txt kvm-contract/settings \
		 kvm-contract/bad_memslot_test kvm-contract/nisv_test; do
		[ -e "$WORK/ksft/$f" ] || complain "make install: no $f"
	done
	grep -qx "kvm-contract:bad_memslot_test" "$WORK/ksft/kselftest-list.txt" ||
		complain "kselftest-list.txt lacks kvm-contract:bad_memslot_test"
	run -- --arch arm64 --kselftest
	[ "$RC" = 0 ] || [ "$RC" = 1 ] || complain "exit status $RC, expected 0 or 1"
	# stdout nests each architecture's document (issue 16 item 5): the
	# kselftest runner's own lines are in results.ktap as it wrote them.
	grep -q "^ok 1 selftests: kvm-contract: bad_memslot_test" "$WORK/results/arm64/results.ktap" ||
		complain "results.ktap lacks ok 1 selftests: kvm-contract: bad_memslot_test"
	prove -e cat "$WORK/results/arm64/results.ktap" > "$WORK/prove.log" 2>&1
	grep -qE "Tests=$(grep -c . "$WORK/ksft/kselftest-list.txt")," "$WORK/prove.log" ||
		{ complain "prove did not parse every binary's result:"; cat "$WORK/prove.log" >> "$WORK/why"; }
}

# ---- stand-ins for QEMU -----------------------------------------------------
# $WORK/fake holds qemu-system-aarch64 and qemu-system-x86_64 that boot
# nothing: they print what the test VM's init would, as $FAKE says.
#   pass     two passing tests (and a diagnostic with an escape character)
#   slow     the same, taking two seconds
#   crash    the binary dies (exit status 139) after its tests passed
#   finding  m4_prot_none.load.fault fails with the finding key $FAKE_KEY
#            ("none": a finding without a key)
#   conf     pass, and show the run's settings (kvmc.conf) as diagnostics
#   hang     never boots (to be interrupted)
#   refuse   exits at once, as QEMU refusing the kernel
#   insmod   boots, kvm-amd does not load, no /dev/kvm
#   flaky    the first of the runs sharing the directory $FAKE_STATE passes,
#            the others fail m4_prot_none.load.fault (finding without a key)
#   litter   pass, but leave a process (with the initramfs's path in its
#            command line, as a QEMU that escaped) and a kvmc-* file in TMPDIR
# In list mode (-l) they list two names, or none with FAKE_NAMES=none.
fake_qemu() {
	mkdir -p "$WORK/fake"
	cat > "$WORK/fake/qemu-system-aarch64" <<-'FAKE'
	#!/bin/sh
	initrd= kernel= prev=
	for a; do
		[ "$prev" = -initrd ] && initrd=$a
		[ "$prev" = -kernel ] && kernel=$a
		prev=$a
	done
	[ -f "$kernel" ] || { echo "qemu: could not load kernel '$kernel'"; exit 1; }
	case $0 in *aarch64) arch=aarch64 ;; *) arch=x86_64 ;; esac
	case ${FAKE:-pass} in
	hang) exec perl -e 'sleep 60' -- "$@" ;;
	flaky) if mkdir "$FAKE_STATE" 2>/dev/null; then FAKE=pass; else FAKE=finding FAKE_KEY=none; fi ;;
	litter)
		setsid perl -e 'sleep 60' -- "$initrd" < /dev/null > /dev/null 2>&1 &
		(set -C; : > "${TMPDIR:-/tmp}/kvmc-litter.$$") 2>/dev/null ;;
	refuse) echo "qemu: linux kernel too old to load a ram disk"; exit 1 ;;
	insmod)
		echo "@@KVMC-NOTE insmod kvm-amd failed: insmod: can't insert '/lib/modules/kvm-contract/kvm-amd.ko': invalid module format"
		echo "@@KVMC-BEGIN guest 7.3.0-fake $arch"
		echo "@@KVMC-NOKVM /dev/kvm missing in the test VM (kernel without KVM, or no virtualization in the machine)"
		echo "@@KVMC-DONE"
		exit 0 ;;
	esac
	echo "@@KVMC-BEGIN guest 7.3.0-fake $arch"
	echo "@@KVMC-BEGIN ktap"
	if grep -a -q 'KVMC_MODE=list' "$initrd"; then
		[ "${FAKE_NAMES:-}" = none ] || printf 'm1_no_memslot.w1.load\nm1_no_memslot.w1.store\n'
	else
		echo "TAP version 13"; echo "1..1"; echo "# kvm-contract: bad_memslot_test"
		echo "    TAP version 13"; echo "    1..2"
		[ "$FAKE" = conf ] && grep -a -o -E 'KVMC_(STRICT|MODULE_PARAMS_[a-z_]+)=[^ ]*' "$initrd" |
			sed 's/^/    # conf: /'
		printf '    # \033[1mbold\033[0m\n'
		if [ "$FAKE" = finding ]; then
			echo "    #  RUN           m4_prot_none.load.fault ..."
			echo "    # FAIL C4 exit_reason [key: $FAKE_KEY]"
			echo "    not ok 1 m4_prot_none.load.fault"
		else
			echo "    ok 1 m1_no_memslot.w1.load"
		fi
		[ "$FAKE" = slow ] && sleep 2
		echo "    ok 2 m1_no_memslot.w1.store"
		case $FAKE in
		crash) echo "not ok 1 bad_memslot_test # exit status 139" ;;
		finding) echo "not ok 1 bad_memslot_test # exit status 1" ;;
		*) echo "ok 1 bad_memslot_test" ;;
		esac
	fi
	echo "@@KVMC-END ktap"
	if [ "$FAKE" = finding ]; then
		key=",\"key\":\"$FAKE_KEY\""
		[ "$FAKE_KEY" = none ] && key=
		echo "@@KVMC-BEGIN observations"
		echo "{\"test\":\"m4_prot_none.load.fault\",\"rule\":\"C4\",\"verdict\":\"fail\",\"findings\":[{\"rule\":\"C4\",\"severity\":\"failure\",\"text\":\"KVM_RUN returned -EFAULT and left exit_reason at KVM_EXIT_UNKNOWN: the error pfn path never fills kvm_run.memory_fault, which KVM_CAP_MEMORY_FAULT_INFO promises for a valid memslot without a usable host mapping behind it\"$key}]}"
		echo "@@KVMC-END observations"
	fi
	echo "@@KVMC-DONE"
	FAKE
	chmod +x "$WORK/fake/qemu-system-aarch64"
	ln -sf qemu-system-aarch64 "$WORK/fake/qemu-system-x86_64"
}

# fake VAR=VALUE... -- ARGS: run_tests.sh with the stand-ins.
fake() {
	fake_qemu
	local env=()
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	run PATH="$WORK/fake:$PATH" "${env[@]}" -- "$@"
}

# A baseline in the finding-key format for the stand-ins' kernel.
fake_baseline() {
	cat > "$WORK/baseline.txt" <<-'EOF'
	# arch kernel test rule field=value reason
	arm64 7.3.0-fake m4_* C4 exit_reason=KVM_EXIT_UNKNOWN(0)  C4: no memory_fault payload
	EOF
}

# Issue 12: a binary that crashes after all its subtests passed fails the
# run, and JUnit, JSON and KTAP say so too.
case_crash_after_pass_fails_everywhere() {
	fake FAKE=crash -- --arch arm64 --junit "$WORK/r.xml" --json "$WORK/r.json"
	expect_rc 1
	expect_out "^2 passed, 1 failed, 0 skipped"
	expect_out "^    not ok 1 bad_memslot_test # exit status 139"
	grep -q 'failures="1"' "$WORK/r.xml" || complain "JUnit does not count the crash as a failure"
	grep -q '"exit_code": 1' "$WORK/r.json" || complain "JSON exit_code is not 1"
}

# Issue 16 item 1: an unwritable report path is refused before booting.
case_unwritable_report_path() {
	fake -- --arch arm64 --json /nonexistent-dir/r.json
	expect_rc 2; expect_out "--json /nonexistent-dir/r.json: cannot write there"
	grep -q "booting" "$LOG" && complain "booted despite the report path"
	fake -- --arch arm64 --junit "$WORK"
	expect_rc 2; expect_out "--junit $WORK: is a directory"
}

# Issue 16 item 2: a duplicate --arch runs once; two runs in one clone at
# the same time each count only their own tests.
case_duplicate_arch_counts_once() {
	fake -- --arch arm64 --arch arm64
	expect_rc 0; expect_out "^2 passed, 0 failed, 0 skipped"
}

case_two_runs_in_one_clone() {
	fake_qemu
	local i pids=()
	rm -rf "$WORK/results"
	# The same results directory too: the second waits for the first.
	for i in 1 2; do
		env PATH="$WORK/fake:$PATH" FAKE=slow "$TOP/run_tests.sh" -o "$WORK/results" --arch arm64 \
			> "$WORK/log$i" 2>&1 < /dev/null &
		pids+=($!)
		sleep 0.5
	done
	for i in 1 2; do
		wait "${pids[$((i - 1))]}"; RC=$?
		[ "$RC" = 0 ] || complain "run $i: exit status $RC"
		grep -q "^2 passed, 0 failed, 0 skipped" "$WORK/log$i" ||
			{ complain "run $i counted wrong:"; tail -n 3 "$WORK/log$i" >> "$WORK/why"; }
	done
	cat "$WORK/log1" "$WORK/log2" > "$LOG"
}

# Issue 16 item 4 (and issue 11 item 2): a deviation excused by its exact
# finding is TODO/XFAIL in the KTAP (test and binary), JUnit, JSON, HTML
# and the exit code; the same test failing with another finding, or with
# no key, fails the run.
case_baseline_excuses_exact_finding_everywhere() {
	fake_baseline
	fake FAKE=finding 'FAKE_KEY=C4 exit_reason=KVM_EXIT_UNKNOWN(0)' -- --arch arm64 \
		--baseline "$WORK/baseline.txt" --junit "$WORK/r.xml" --json "$WORK/r.json" --report "$WORK/r.html"
	expect_rc 0
	expect_out "^        not ok 1 m4_prot_none.load.fault # TODO known deviation: C4: no memory_fault payload"
	expect_out "^    not ok 1 bad_memslot_test # TODO"
	grep -q 'failures="[1-9]' "$WORK/r.xml" && complain "JUnit counts the known deviation as a failure"
	grep -q '"result": "xfail"' "$WORK/r.json" || complain "JSON lacks the xfail"
	grep -q '>known<' "$WORK/r.html" || complain "HTML lacks the known deviation"
	# A standard TAP consumer agrees with the exit code.
	PATH="$WORK/fake:$PATH" FAKE=finding FAKE_KEY='C4 exit_reason=KVM_EXIT_UNKNOWN(0)' \
		"$TOP/run_tests.sh" -o "$WORK/results" --arch arm64 --baseline "$WORK/baseline.txt" 2>/dev/null \
		> "$WORK/stdout" < /dev/null
	prove -e cat "$WORK/stdout" > "$WORK/prove.log" 2>&1 ||
		{ complain "prove says FAIL:"; cat "$WORK/prove.log" >> "$WORK/why"; }
}

case_baseline_other_finding_fails() {
	fake_baseline
	fake FAKE=finding 'FAKE_KEY=C2 memory_fault.size=0x0' -- --arch arm64 --baseline "$WORK/baseline.txt"
	expect_rc 1; expect_out "not excused: C2 memory_fault.size=0x0"
	fake FAKE=finding FAKE_KEY=none -- --arch arm64 --baseline "$WORK/baseline.txt"
	expect_rc 1
}

# Issue 16 item 5: stdout is one KTAP document (the architectures named
# subtests) that prove accepts; messages go to stderr.
case_stdout_is_one_ktap_document() {
	fake_qemu
	rm -rf "$WORK/results"
	# --vm: the stand-in QEMUs, even on a machine with a /dev/kvm.
	PATH="$WORK/fake:$PATH" "$TOP/run_tests.sh" --vm -o "$WORK/results" > "$WORK/stdout" 2> "$LOG" < /dev/null
	RC=$?
	expect_rc 0
	[ "$(grep -c '^TAP version' "$WORK/stdout")" = 1 ] || complain "more than one document on stdout"
	grep -q '^ok 1 arm64$' "$WORK/stdout" || complain "no subtest named arm64"
	grep -q '^ok 2 x86_64$' "$WORK/stdout" || complain "no subtest named x86_64"
	grep -q 'run_tests.sh:' "$WORK/stdout" && complain "messages on stdout"
	prove -e cat "$WORK/stdout" > "$WORK/prove.log" 2>&1 ||
		{ complain "prove does not accept stdout:"; cat "$WORK/prove.log" >> "$WORK/why"; }
	expect_out "^4 passed, 0 failed, 0 skipped"
}

# Issue 16 item 6: JUnit names an untestable architecture with an <error>
# and its reason, and escapes control characters.
case_junit_untestable_and_control_characters() {
	fake_qemu
	# x86_64 refuses its kernel, arm64 prints an escape character.
	cat > "$WORK/fake/qemu-system-x86_64" <<-'FAKE'
	#!/bin/sh
	echo "qemu: linux kernel too old to load a ram disk"; exit 1
	FAKE
	chmod +x "$WORK/fake/qemu-system-x86_64"
	run PATH="$WORK/fake:$PATH" -- --vm --junit "$WORK/r.xml"
	expect_rc 125
	python3 - "$WORK/r.xml" >> "$WORK/why" 2>&1 <<-'PY' || complain "JUnit check failed"
	import sys, xml.etree.ElementTree as ET
	root = ET.parse(sys.argv[1]).getroot()
	names = [s.get("name") for s in root.iter("testsuite")]
	assert len(names) == len(set(names)) == 2, names
	err = root.find("testsuite[@name='kvm-contract.x86_64']/testcase/error")
	assert err is not None and "stopped before its init ran" in err.get("message"), "no <error> with the reason"
	PY
}

# ... and in a matrix each kernel's suite has a name of its own.
case_matrix_junit_suites_unique() {
	fake KVMC_OFFLINE=1 -- --arch arm64 --matrix --kernels "trixie-backports 7.3.4" --junit "$WORK/m.xml"
	expect_rc 0
	python3 - "$WORK/m.xml" >> "$WORK/why" 2>&1 <<-'PY' || complain "JUnit suite names are not unique"
	import sys, xml.etree.ElementTree as ET
	names = [s.get("name") for s in ET.parse(sys.argv[1]).getroot().iter("testsuite")]
	assert len(names) == len(set(names)) == 2, names
	PY
}

# Issue 16 item 14: a modules_install tree with kvm-amd only is enough.
case_modules_tree_without_kvm_intel() {
	mkdir -p "$WORK/mods/lib/modules/7.3.0/kernel/arch/x86/kvm"
	printf 'name=kvm_amd\0depends=\0' > "$WORK/mods/lib/modules/7.3.0/kernel/arch/x86/kvm/kvm-amd.ko"
	"$TOP/scripts/debian.sh" modules-tree "$WORK/mods" "$WORK/mods-out" > "$LOG" 2>&1
	RC=$?
	expect_rc 0
	[ "$(cat "$WORK/mods-out/load-order" 2>/dev/null)" = kvm-amd ] || complain "load-order is not just kvm-amd"
}

# ---- a stand-in Debian archive ------------------------------------------------
# fake_archive: $WORK/archive holds a few small packages (kernels, modules,
# busybox, linux-libc-dev, linux-source) in the suites trixie and
# trixie-backports, and $WORK/aptbin stand-ins for apt-get and apt-cache
# that answer from it, as the private apt state of a suite would
# (madison, show, pkgnames; download). Downloads are logged in
# $WORK/archive/downloads; FAKE_APT_SLEEP=S makes each take S seconds,
# FAKE_APT_SWAP=NAME delivers another package's file for NAME (a
# mirror serving the wrong file). Nothing touches the network.
fake_archive() {
	[ -f "$WORK/archive/index.json" ] && return 0
	mkdir -p "$WORK/archive" "$WORK/aptbin"
	python3 - "$WORK/archive" <<-'PY' || complain "could not build the stand-in archive"
	import hashlib, json, os, subprocess, sys, tarfile, io
	top = sys.argv[1]
	V = "7.3.4-1~bpo13+1"
	def ko(name, depends):
	    return b"\x7fELF" + f"\0name={name.replace('-', '_')}\0depends={depends}\0".encode() + b"\0" * 4000
	def deb(name, version, arch, files):
	    root = os.path.join(top, "build", f"{name}_{arch}")
	    os.makedirs(os.path.join(root, "DEBIAN"))
	    with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
	        f.write(f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
	                "Maintainer: kvm-contract <nobody@invalid>\nDescription: stand-in\n")
	    for path, data in files.items():
	        p = os.path.join(root, path)
	        os.makedirs(os.path.dirname(p), exist_ok=True)
	        with open(p, "wb") as f:
	            f.write(data)
	        os.chmod(p, 0o755)
	    out = os.path.join(top, f"{name}_{arch}.deb")
	    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", root, out],
	                   check=True, stdout=subprocess.DEVNULL)
	    return out
	src = io.BytesIO()
	with tarfile.open(fileobj=src, mode="w:xz") as t:
	    for path in ("Makefile", "tools/testing/selftests/kselftest_harness.h",
	                 "tools/testing/selftests/kselftest.h", "tools/testing/selftests/run_kselftest.sh",
	                 "tools/testing/selftests/kselftest/runner.sh", "Documentation/virt/kvm/api.rst",
	                 "virt/kvm/kvm_main.c", "arch/arm64/kvm/mmu.c", "arch/x86/kvm/mmu.c",
	                 "include/linux/kvm_host.h", "kernel/fork.c"):
	        data = f"/* {path} */\n".encode()
	        info = tarfile.TarInfo(f"linux-source-7.3/{path}")
	        info.size = len(data)
	        t.addfile(info, io.BytesIO(data))
	packages = [
	    ("trixie", "busybox-static", "1:1.37.0-6", "arm64", {"bin/busybox": b"busybox arm64\n" * 5000}, ""),
	    ("trixie", "busybox-static", "1:1.37.0-6", "amd64", {"bin/busybox": b"busybox amd64\n" * 5000}, ""),
	    ("trixie-backports", "linux-libc-dev", V, "amd64", {"usr/include/linux/kvm.h": b"/* kvm.h */\n"}, ""),
	    ("trixie-backports", "linux-source-7.3", V, "all",
	     {"usr/src/linux-source-7.3.tar.xz": src.getvalue()}, ""),
	]
	for da in ("arm64", "amd64"):
	    abi = f"7.3.4+deb13-{da}"
	    packages.append(("trixie-backports", f"linux-image-{da}", V, da, {},
	                     f"linux-image-{abi} (= {V})"))
	    packages.append(("trixie-backports", f"linux-image-{abi}", V, da,
	                     {f"boot/vmlinuz-{abi}": f"vmlinuz {da}\n".encode() * 20000}, ""))
	mods = "usr/lib/modules/7.3.4+deb13-amd64/kernel/arch/x86/kvm"
	packages.append(("trixie-backports", "linux-modules-7.3.4+deb13-amd64", V, "amd64",
	                 {f"{mods}/kvm.ko": ko("kvm", "irqbypass"), f"{mods}/kvm-amd.ko": ko("kvm-amd", "kvm"),
	                  f"{mods}/kvm-intel.ko": ko("kvm-intel", "kvm"),
	                  "usr/lib/modules/7.3.4+deb13-amd64/kernel/virt/lib/irqbypass.ko": ko("irqbypass", "")},
	                 ""))
	# What FAKE_APT_SWAP delivers: a good package with other contents.
	packages.append(("none", "busybox-static-other", "1:1.37.0-6", "arm64",
	                 {"bin/busybox": b"not the archive's busybox\n"}, ""))
	index = []
	for suite, name, version, arch, files, depends in packages:
	    path = deb(name, version, arch, files)
	    data = open(path, "rb").read()
	    index.append({"suite": suite, "name": name, "version": version, "arch": arch, "file": path,
	                  "depends": depends, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
	json.dump(index, open(os.path.join(top, "index.json"), "w"), indent=1)
	PY
	cat > "$WORK/aptbin/apt-cache" <<-'PY'
	#!/usr/bin/env python3
	import json, os, shutil, sys, time
	top = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0]))), "archive")
	index = json.load(open(os.path.join(top, "index.json")))
	args, suite = [], ""
	it = iter(sys.argv[1:])
	for a in it:
	    if a == "-o":
	        o = next(it)
	        if o.startswith("Dir::State::Lists="):
	            suite = os.path.basename(os.path.dirname(o.split("=", 1)[1].rstrip("/")))
	    elif a != "-q":
	        args.append(a)
	def find(spec):
	    name, _, version = spec.partition("=")
	    name, _, arch = name.partition(":")
	    return [p for p in index if p["suite"] == suite and p["name"] == name
	            and (not arch or p["arch"] in (arch, "all")) and (not version or p["version"] == version)]
	cmd, rest = args[0], args[1:]
	if os.path.basename(sys.argv[0]) == "apt-get":
	    if cmd == "update":
	        print("E: Failed to fetch http://fake.invalid/debian (stand-in archive)")
	        sys.exit(100)
	    if cmd == "download":
	        found = find(rest[0])
	        if not found:
	            print(f"E: Can't find a source to download version of '{rest[0]}'")
	            sys.exit(100)
	        p = found[0]
	        with open(os.path.join(top, "downloads"), "a") as f:
	            f.write(p["name"] + "\n")
	        time.sleep(float(os.environ.get("FAKE_APT_SLEEP", "0")))
	        src = p["file"]
	        if os.environ.get("FAKE_APT_SWAP") == p["name"]:
	            src = next(q["file"] for q in index if q["name"] == p["name"] + "-other")
	        shutil.copy(src, f"{p['name']}_{p['version'].replace(':', '%3a')}_{p['arch']}.deb")
	        sys.exit(0)
	    sys.exit(100)
	if cmd == "madison":
	    for spec in rest:
	        for p in find(spec):
	            print(f"{p['name']:>30} | {p['version']} | http://fake.invalid/debian {suite}/main {p['arch']} Packages")
	elif cmd == "show":
	    for p in find(rest[0]):
	        print(f"Package: {p['name']}\nVersion: {p['version']}\nArchitecture: {p['arch']}")
	        if p["depends"]:
	            print(f"Depends: {p['depends']}")
	        print(f"Size: {p['size']}\nSHA256: {p['sha256']}\nDescription: stand-in\n")
	elif cmd == "pkgnames":
	    for name in sorted({p["name"] for p in index if p["suite"] == suite and p["name"].startswith(rest[0])}):
	        print(name)
	PY
	chmod +x "$WORK/aptbin/apt-cache"
	ln -sf apt-cache "$WORK/aptbin/apt-get"
}

# fake_cache DIR: an empty cache whose package lists of the stand-in
# archive's suites count as fresh (so nothing asks the real archive).
fake_cache() {
	fake_archive
	rm -rf "$1"
	local s
	for s in trixie trixie-backports; do
		mkdir -p "$1/apt/$s/lists"
		touch "$1/apt/$s/updated"
	done
	: > "$WORK/archive/downloads"
}

# The tests' build of ARCH fetches its UAPI headers and harness from the
# real cache (a run with a stand-in cache only builds on it).
real_build_deps() {
	make -s -C "$TOP" ARCH="$1" O="$TOP/build/$1" "$TOP/build/$1/deps.mk" >> "$LOG" 2>&1 ||
		complain "could not fetch the build dependencies of $1"
}

# debian_sh VAR=VALUE... -- ARGS: scripts/debian.sh against the stand-in
# archive; stdout in $OUT, stdout and stderr in $LOG, status in $RC.
debian_sh() {
	local env=()
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	env PATH="$WORK/aptbin:$PATH" KVMC_SUITES="trixie trixie-backports" "${env[@]}" \
		"$TOP/scripts/debian.sh" "$@" > "$WORK/out" 2> "$LOG"
	RC=$?
	OUT=$(cat "$WORK/out")
	cat "$WORK/out" >> "$LOG"
}

# downloads NAME: how often the stand-in archive delivered NAME.
downloads() { grep -cx -- "$1" "$WORK/archive/downloads"; }

expect_no_dl_dirs() {
	ls -d "$1"/dl.* 2>/dev/null | sed 's/^/left behind: /' >> "$WORK/why"
}

# Issue 16 item 3: two runs sharing a cold cache wait for each other: each
# package is downloaded once, linux-source too, and nothing half-made is
# left or seen.
case_cold_cache_shared_downloads_once() {
	fake_cache "$WORK/cache"
	local c=KVMC_CACHE="$WORK/cache" what pids=()
	for what in "linux-source" "linux-source" "busybox arm64" "busybox arm64" \
		    "kernel arm64" "kernel arm64" "modules x86_64" "modules x86_64"; do
		# shellcheck disable=SC2086
		env PATH="$WORK/aptbin:$PATH" KVMC_SUITES="trixie trixie-backports" FAKE_APT_SLEEP=1 "$c" \
			"$TOP/scripts/debian.sh" $what > "$WORK/out.${#pids[@]}" 2>> "$LOG" &
		pids+=($!)
	done
	local i
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || complain "run $i failed (exit $?)"
	done
	RC=0
	for i in 0 2 4 6; do
		cmp -s "$WORK/out.$i" "$WORK/out.$((i + 1))" || complain "two runs printed different paths"
	done
	local p
	for p in linux-libc-dev linux-source-7.3 busybox-static linux-image-7.3.4+deb13-arm64 \
		 linux-image-7.3.4+deb13-amd64 linux-modules-7.3.4+deb13-amd64; do
		[ "$(downloads "$p")" = 1 ] || complain "$p downloaded $(downloads "$p") times, expected once"
	done
	[ -f "$(cat "$WORK/out.0")/Makefile" ] || complain "linux-source has no Makefile"
	expect_no_dl_dirs "$WORK/cache"
}

# Issue 16 item 8: a package that does not match the archive's SHA256 is
# refused before it is unpacked; nothing of it lands in the cache.
case_package_checked_against_archive_sha256() {
	fake_cache "$WORK/cache"
	debian_sh KVMC_CACHE="$WORK/cache" FAKE_APT_SWAP=busybox-static -- busybox arm64
	expect_rc 1; expect_out "busybox-static:arm64=1:1.37.0-6: the downloaded .* does not match the archive's SHA256"
	[ -e "$WORK/cache/busybox/arm64/busybox" ] && complain "the bad package was unpacked into the cache"
	expect_no_dl_dirs "$WORK/cache"
}

# Issue 16 item 8: a truncated kernel, busybox or kvm-amd.ko in the cache
# is fetched again online; offline it is named, never used.
case_truncated_cache_entries() {
	fake_cache "$WORK/cache"
	local c=KVMC_CACHE="$WORK/cache" bb k m
	debian_sh "$c" -- busybox arm64; bb=$OUT
	debian_sh "$c" -- kernel arm64; k=$OUT
	debian_sh "$c" -- modules x86_64; m=$OUT
	[ -s "$bb" ] && [ -s "$k" ] && [ -s "$m/kvm-amd.ko" ] || { complain "could not fill the cache"; return; }
	truncate -s 1000 "$bb" "$k" "$m/kvm-amd.ko"
	debian_sh "$c" KVMC_OFFLINE=1 -- busybox arm64
	expect_rc 1; expect_out "busybox/arm64/busybox: 1000 bytes, the cache's manifest says [0-9]+"
	expect_out "offline \(KVMC_OFFLINE=1\) it cannot be fetched again"
	debian_sh "$c" KVMC_OFFLINE=1 -- modules x86_64
	expect_rc 1; expect_out "modules/kvm-amd.ko: 1000 bytes"
	# The whole run: 125, the kernel's file named.
	real_build_deps arm64
	fake KVMC_CACHE="$WORK/cache" KVMC_OFFLINE=1 -- --arch arm64
	expect_rc 125; expect_out "trixie-backports-arm64/7.3.4\+deb13-arm64/vmlinuz: 1000 bytes"
	# Online: fetched again.
	debian_sh "$c" -- busybox arm64
	expect_rc 0; expect_out "fetching it again"
	[ "$(stat -c %s "$bb")" -gt 1000 ] || complain "busybox still truncated"
	debian_sh "$c" -- kernel arm64
	expect_rc 0
	[ "$(stat -c %s "$k")" -gt 1000 ] || complain "vmlinuz still truncated"
	[ "$(downloads busybox-static)" = 2 ] || complain "busybox-static downloaded $(downloads busybox-static) times"
}

# Issue 16 item 8: an insmod that fails in the VM is said on stderr, and
# the run cannot test (125).
case_insmod_failure_reported() {
	fake_cache "$WORK/cache"
	real_build_deps x86_64
	PATH="$WORK/aptbin:$PATH" fake KVMC_CACHE="$WORK/cache" KVMC_SUITES="trixie trixie-backports" \
		FAKE=insmod -- --arch x86_64 --vm
	expect_rc 125
	expect_out "x86_64: in the VM: insmod kvm-amd failed: insmod: can't insert"
	expect_out "/dev/kvm missing in the test VM .*insmod kvm-amd failed"
	# Only what the VM's CPU needs is loaded (issue 16 item 14).
	local order
	order=$(tr '\n' ' ' < "$TOP/build/x86_64/initramfs/root/lib/modules/kvm-contract/load-order")
	[ "$order" = "irqbypass kvm kvm-amd " ] || complain "the VM loads '$order', not 'irqbypass kvm kvm-amd '"
}

# Issue 16 item 9: a copied cache uses its own entries, not the original's.
case_copied_cache_is_self_contained() {
	fake_cache "$WORK/cache"
	debian_sh KVMC_CACHE="$WORK/cache" -- kernel arm64
	debian_sh KVMC_CACHE="$WORK/cache" -- build-deps
	rm -rf "$WORK/copy"
	cp -a "$WORK/cache" "$WORK/copy"
	# As the issue has it: KVMC_CACHE=copy, relative.
	pushd "$WORK" > /dev/null || return
	debian_sh KVMC_CACHE=copy KVMC_OFFLINE=1 -- kernel arm64
	popd > /dev/null || return
	expect_rc 0
	case $OUT in "$WORK/copy/"*) ;; *) complain "kernel from the original: $OUT" ;; esac
	debian_sh KVMC_CACHE="$WORK/copy" KVMC_OFFLINE=1 -- build-deps
	expect_rc 0
	grep -q "$WORK/cache" "$WORK/out" && complain "build-deps names the original: $OUT"
	grep -rlF --exclude-dir=apt "$WORK/cache" "$WORK/copy" | sed 's/^/holds an absolute path: /' >> "$WORK/why"
	rm -rf "$WORK/copy"
}

# Issue 16 item 10: an interrupted download leaves no dl.* behind; one
# left by a killed run is removed by the next.
case_interrupted_download_cleans_up() {
	fake_cache "$WORK/cache"
	local sig
	for sig in TERM HUP; do
		env PATH="$WORK/aptbin:$PATH" FAKE_APT_SLEEP=30 KVMC_CACHE="$WORK/cache" \
			"$TOP/scripts/debian.sh" busybox arm64 > "$LOG" 2>&1 &
		local pid=$! i=0
		while ! grep -q busybox-static "$WORK/archive/downloads" && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -"$sig" "$pid"; wait "$pid"; RC=$?
		case $sig in TERM) expect_rc 143 ;; HUP) expect_rc 129 ;; esac
		expect_out "interrupted"
		expect_no_dl_dirs "$WORK/cache"
		: > "$WORK/archive/downloads"
	done
	env PATH="$WORK/aptbin:$PATH" FAKE_APT_SLEEP=30 KVMC_CACHE="$WORK/cache" \
		"$TOP/scripts/debian.sh" busybox arm64 > "$LOG" 2>&1 &
	local pid=$! i=0
	while ! grep -q busybox-static "$WORK/archive/downloads" && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	local child
	child=$(pgrep -P "$pid")
	kill -KILL "$pid"; wait "$pid" 2> /dev/null
	[ -z "$child" ] || kill "$child" 2>/dev/null
	ls -d "$WORK/cache"/dl.* > /dev/null 2>&1 || complain "SIGKILL left no dl.* (the case proves nothing)"
	# Seconds later (a directory that new could still be being set up).
	touch -d '1 minute ago' "$WORK/cache"/dl.*
	debian_sh KVMC_CACHE="$WORK/cache" -- busybox arm64
	expect_rc 0
	expect_no_dl_dirs "$WORK/cache"
}

# Issue 16 item 14: only what the VM's CPU needs is taken from a
# modules_install tree (and loaded): kvm-amd and what it depends on.
case_modules_tree_takes_what_the_cpu_needs() {
	local d="$WORK/mods2/lib/modules/7.3.0/kernel/arch/x86/kvm"
	mkdir -p "$d"
	printf 'name=kvm\0depends=\0' > "$d/kvm.ko"
	printf 'name=kvm_amd\0depends=kvm\0' > "$d/kvm-amd.ko"
	printf 'name=kvm_intel\0depends=kvm\0' > "$d/kvm-intel.ko"
	"$TOP/scripts/debian.sh" modules-tree "$WORK/mods2" "$WORK/mods2-out" > "$LOG" 2>&1
	RC=$?
	expect_rc 0
	[ "$(cat "$WORK/mods2-out/load-order" 2>/dev/null | tr '\n' ' ')" = "kvm kvm-amd " ] ||
		complain "load-order is '$(cat "$WORK/mods2-out/load-order" 2>/dev/null | tr '\n' ' ')', not 'kvm kvm-amd '"
	[ -e "$WORK/mods2-out/kvm-intel.ko" ] && complain "kvm-intel.ko taken along"
}

# Issue 16 item 14: KVM is built into the arm64 kernel: --modules is usage.
case_modules_rejected_on_arm64() {
	mkdir -p "$WORK/mods3"
	{ head -c 56 /dev/zero; printf 'ARM\144'; head -c 1000 /dev/zero; } > "$WORK/Image"
	run -- --arch arm64 --kernel "$WORK/Image" --modules "$WORK/mods3"
	expect_rc 2; expect_out "--modules: KVM is built into the arm64 kernel"
}

# Issue 16 item 15: a --kernel path with a space stays one argument.
case_kernel_path_with_space() {
	mkdir -p "$WORK/a kernel"
	{ head -c 56 /dev/zero; printf 'ARM\144'; head -c 1000 /dev/zero; } > "$WORK/a kernel/Image"
	fake -- --arch arm64 --kernel "$WORK/a kernel/Image"
	expect_rc 0; expect_out "^2 passed, 0 failed, 0 skipped"
}

# Issue 16 item 15: a clone whose path has a space builds the tests and
# runs them (make used to split the path into two targets). The clone is
# this one as it stands, without build/ and results/; only arm64 is built.
case_clone_path_with_space() {
	local clone="$WORK/a b/clone"
	mkdir -p "$clone"
	tar -C "$TOP" --exclude=./build --exclude=./results --exclude=./.git -cf - . | tar -C "$clone" -xf -
	"$clone/run_tests.sh" --vm --arch arm64 -t m1_no_memslot.w1.load > "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 0; expect_out "^[1-9][0-9]* passed, 0 failed, 0 skipped"
	[ -s "$clone/results/arm64/results.ktap" ] || complain "no results in $clone/results/arm64"
	pgrep -af "$clone/build/" | sed 's/^/left running: /' >> "$WORK/why"
}

# ... and --build takes a kernel tree whose path has a space or a colon,
# which the kernel's own Makefile refuses (as this stand-in's does): the
# build goes through a link without them.
case_build_tree_path_with_space() {
	local tree="$WORK/a tree: here/linux"
	mkdir -p "$tree/arch/arm64" "$tree/scripts/kconfig" "$WORK/cache/busybox"
	# A cache of its own (the build directory goes there), with the
	# machine's busybox in it.
	local bb
	bb=$(KVMC_OFFLINE=1 "$TOP/scripts/debian.sh" busybox arm64) || complain "no busybox in the cache"
	ln -s "$(dirname "$bb")" "$WORK/cache/busybox/arm64"
	: > "$tree/Kconfig"
	printf '#!/bin/sh\n# -m -O DIR BASE FRAGMENT...\nshift 3\nbase=$1; shift\ncat "$@" >> "$base"\n' \
		> "$tree/scripts/kconfig/merge_config.sh"
	cat > "$tree/Makefile" <<-'MAKEFILE'
	.RECIPEPREFIX = >
	abs_srctree := $(realpath $(dir $(lastword $(MAKEFILE_LIST))))
	ifneq ($(words $(subst :, ,$(abs_srctree))), 1)
	$(error source directory cannot contain spaces or colons)
	endif
	allnoconfig:
	> echo CONFIG_BASE=y > $(O)/.config
	olddefconfig:
	Image:
	> mkdir -p $(O)/arch/arm64/boot $(O)/include/config
	> echo 7.3.0-fake > $(O)/include/config/kernel.release
	> { head -c 56 /dev/zero; printf 'ARM\144'; } > $(O)/arch/arm64/boot/Image
	MAKEFILE
	fake KVMC_CACHE="$WORK/cache" KVMC_OFFLINE=1 -- --arch arm64 --build "$tree"
	expect_rc 0; expect_out "^2 passed, 0 failed, 0 skipped"
}

# Issue 16 items 11 and 12: SIGHUP and SIGTERM stop the run (128+signal)
# with its VMs; a killed runner takes its VMs along; a stale pid file in
# the results is never trusted.
start_bg() {
	fake_qemu
	rm -rf "$WORK/results"
	# As from a terminal: a process group of its own, SIGINT not ignored.
	setsid perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "$ARGV[0]: $!\n"' \
		env PATH="$WORK/fake:$PATH" FAKE=hang "$TOP/run_tests.sh" -o "$WORK/results" "$@" \
		> "$LOG" 2>&1 < /dev/null &
	BG=$!
	local i=0
	while ! grep -q "booting kernel" "$LOG" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 1
}

case_sighup_stops_everything() {
	start_bg --arch arm64
	kill -HUP "$BG"; wait "$BG"; RC=$?
	expect_rc 129; expect_out "interrupted: stopping"
}

case_sigterm_exits_143() {
	start_bg --vm
	kill -TERM "$BG"; wait "$BG"; RC=$?
	expect_rc 143
}

case_killed_runner_takes_its_vms() {
	start_bg --vm
	kill -KILL "$BG"; { wait "$BG"; } 2> /dev/null; RC=$?
	# Nothing can clean up after SIGKILL but the kernel: QEMU must go by
	# its parent-death signal (expect_clean checks); the scratch space is
	# the one thing left, removed here.
	rm -rf "$TOP"/build/*/run.*."$BG"
}

case_stale_pid_file_not_trusted() {
	sleep 300 &
	local victim=$!
	start_bg --arch arm64
	mkdir -p "$WORK/results/stale"
	echo "$victim" > "$WORK/results/stale/qemu.pid"
	kill -INT -- "-$BG"; wait "$BG"; RC=$?
	expect_rc 130
	kill -0 "$victim" 2>/dev/null || complain "an interrupt killed the process of a stale pid file"
	kill "$victim" 2>/dev/null
}

# Issue 16 item 13: KVMC_STRICT=1 reaches the tests.
case_strict_from_environment() {
	fake FAKE=conf KVMC_STRICT=1 -- --arch arm64
	expect_rc 0; expect_out "# conf: KVMC_STRICT=1"
}

# Issue 11 item 11: x86_64-shadow is x86_64 with kvm_amd npt=0.
case_shadow_configuration_sets_npt() {
	fake FAKE=conf -- --arch x86_64-shadow
	expect_rc 0; expect_out "# conf: KVMC_MODULE_PARAMS_kvm_amd=npt=0"
	expect_out "^ok 1 x86_64-shadow"
}

# Issue 16 item 16, the minor ones.
case_list_without_match_is_usage() {
	fake FAKE_NAMES=none -- --arch arm64 -l -t nomatch
	expect_rc 2; expect_out "no test matches -t 'nomatch'"
}

case_list_names_the_architecture() {
	fake -- -l
	expect_rc 0; expect_out "^arm64 m1_no_memslot.w1.load$"; expect_out "^x86_64 m1_no_memslot.w1.load$"
}

case_flag_without_value_is_named() {
	run -- --junit
	expect_rc 2; expect_out "option --junit needs a value"
}

case_bad_values_are_usage() {
	run -- --arch arm64 --debian 'no/such'
	expect_rc 2; expect_out "neither a Debian suite nor a kernel version"
	run -- --arch arm64 --kernel /boot --modules /tmp
	expect_rc 2; expect_out "no modules to load"
}

case_base_initramfs_reused() {
	fake -- --arch arm64
	local before
	before=$(stat -c %Y "$TOP/build/arm64/initramfs/base.cpio")
	sleep 1
	fake -- --arch arm64
	[ "$(stat -c %Y "$TOP/build/arm64/initramfs/base.cpio")" = "$before" ] ||
		complain "the base initramfs was rebuilt though nothing in it changed"
}

case_baseline_junk_line_is_an_error() {
	printf '# fine\narm64 * m4_* this line has no key at all\n' > "$WORK/junk.txt"
	fake -- --arch arm64 --baseline "$WORK/junk.txt"
	expect_rc 2; expect_out "junk.txt:2: "
}

case_written_baseline_names_findings() {
	fake FAKE=finding 'FAKE_KEY=C4 exit_reason=KVM_EXIT_UNKNOWN(0)' -- --arch arm64 \
		--write-baseline "$WORK/written.txt"
	expect_rc 1
	grep -q '^arm64 7.3.0-fake m4_prot_none.load.fault C4 exit_reason=KVM_EXIT_UNKNOWN(0)  KVM_RUN returned' \
		"$WORK/written.txt" || complain "the written baseline does not name the finding"
	# Cut at a word: the last word kept is a whole word of the finding.
	local last
	last=$(tail -n 1 "$WORK/written.txt" | sed -n 's/.* \([^ ]*\) \.\.\.$/\1/p')
	echo " KVM_RUN returned -EFAULT and left exit_reason at KVM_EXIT_UNKNOWN: the error pfn path never fills kvm_run.memory_fault, which KVM_CAP_MEMORY_FAULT_INFO promises for a valid memslot without a usable host mapping behind it " |
		grep -qF " $last " || complain "the reason was cut inside a word: ...$last ..."
	fake FAKE=finding 'FAKE_KEY=C4 exit_reason=KVM_EXIT_UNKNOWN(0)' -- --arch arm64 \
		--baseline "$WORK/written.txt"
	expect_rc 0
}

# Issue 16: the soak in its smallest form, two runs at a time in this
# clone with the stand-ins: same verdicts, nothing left behind, exit 0.
case_soak_two_at_a_time() {
	fake_qemu
	PATH="$WORK/fake:$PATH" FAKE=slow "$TOP/scripts/soak.sh" -n 2 --parallel 2 --out "$WORK/soak" \
		--arch arm64 > "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 0
	expect_out "^soak: 2 runs, 2 at a time in this clone"
	expect_out "^  run 1/2: exit 0, 2 passed, 0 failed, 0 skipped"
	expect_out "^  run 2/2: exit 0, 2 passed, 0 failed, 0 skipped"
	expect_out "^  verdicts: 2 tests \(arm64 2\), 0 changed"
	expect_out "^  left behind: nothing"
	expect_out "^soak: PASS"
	[ -s "$WORK/soak/1/arm64/results.ktap" ] || complain "no results of run 1 in --out"
}

# ... a verdict that changes between runs is named, with its counts.
case_soak_names_a_changed_verdict() {
	fake_qemu
	PATH="$WORK/fake:$PATH" FAKE=flaky FAKE_STATE="$WORK/flaky" "$TOP/scripts/soak.sh" -n 2 \
		--out "$WORK/soak" --arch arm64 > "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 1
	expect_out "^  CHANGED arm64 m4_prot_none.load.fault: fail x1, missing x1"
	expect_out "^  run 2/2: exit 1, 1 passed, 1 failed, 0 skipped"
	expect_out "^soak: FAIL: 2 verdicts changed"
}

# ... and what a run left behind is listed (the process stopped) and fails
# the soak.
case_soak_lists_what_was_left_behind() {
	fake_qemu
	PATH="$WORK/fake:$PATH" FAKE=litter "$TOP/scripts/soak.sh" -n 1 --out "$WORK/soak" \
		--arch arm64 > "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 1
	expect_out "^  left behind: process [0-9]+ perl .*/build/arm64/run\.arm64\.[0-9]+/initrd.cpio \(stopped now\)"
	expect_out "^  left behind: temp file .*/kvmc-litter\.[0-9]+$"
	expect_out "^soak: FAIL: 2 things left behind"
}

# ... and a Ctrl-C stops the soak (130) with its runs and their VMs.
case_soak_interrupted() {
	fake_qemu
	setsid perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "$ARGV[0]: $!\n"' \
		env PATH="$WORK/fake:$PATH" FAKE=hang "$TOP/scripts/soak.sh" -n 2 --parallel 2 \
		--out "$WORK/soak" --arch arm64 > "$LOG" 2>&1 < /dev/null &
	local pid=$! i=0
	while [ "$(cat "$WORK"/soak/*.log 2>/dev/null | grep -c "booting kernel")" -lt 2 ] && [ $i -lt 300 ]; do
		sleep 0.1; i=$((i + 1))
	done
	sleep 1
	kill -INT -- "-$pid" 2>/dev/null
	wait "$pid"
	RC=$?
	expect_rc 130; expect_out "^soak: interrupted: stopping the runs"
	grep -q "interrupted: stopping" "$WORK/soak/1.log" || complain "run 1 was not told to stop"
}

# More cases, one file per subject (tests/runner/cases/*.sh), sourced here
# so that they share the helpers above.
for f in "$TOP"/tests/runner/cases/*.sh; do
	# shellcheck disable=SC1090
	[ -f "$f" ] && . "$f"
done

# ---- the runner -------------------------------------------------------------
cases=$(declare -F | awk '$3 ~ /^case_/ { print $3 }')
[ -n "$only" ] && cases=$(echo "$cases" | grep -F -- "$only")
echo "TAP version 13"
echo "1..$(echo "$cases" | grep -c .)"
for c in $cases; do
	n=$((n + 1))
	name=${c#case_}
	: > "$WORK/why"; : > "$LOG"; rm -f "$WORK/skip"
	start=$SECONDS
	"$c"
	expect_clean
	if [ -s "$WORK/why" ]; then
		sed 's/^/# /' "$WORK/why"
		echo "# output of the run:"
		tail -n 15 "$LOG" | sed 's/^/#   /'
		echo "not ok $n $name"
		failed=$((failed + 1))
	elif [ -s "$WORK/skip" ]; then
		echo "ok $n $name # SKIP $(cat "$WORK/skip")"
	else
		echo "ok $n $name # $((SECONDS - start)) s, exit $RC"
	fi
done
[ "$failed" = 0 ]

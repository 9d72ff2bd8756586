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

# Nothing of a run may outlive it: QEMU, the console FIFO, the ktap-runner's
# scratch files.
expect_clean() {
	local i=0
	while pgrep -f "$TOP/build/.*/initrd.cpio" > /dev/null && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	pgrep -af "$TOP/build/.*/initrd.cpio" | sed 's/^/left running: /' >> "$WORK/why"
	# Stop what was left, so that the next case starts clean.
	pkill -f "$TOP/build/.*/initrd.cpio" 2>/dev/null
	ls "$TOP"/build/*/console.fifo 2>/dev/null | sed 's/^/left behind: /' >> "$WORK/why"
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

case_corrupt_kernel_refused() {
	head -c 2000000 /dev/urandom > "$WORK/garbage"
	run -- --arch x86_64 --kernel "$WORK/garbage"
	expect_rc 125; expect_out "stopped before its init ran"
}

case_corrupt_kernel_never_boots() {
	head -c 2000000 /dev/urandom > "$WORK/garbage"
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
	expect_out "^ok 1 selftests: kvm-contract: bad_memslot_test"
	prove -e cat "$WORK/results/arm64/results.ktap" > "$WORK/prove.log" 2>&1
	grep -qE "Tests=$(grep -c . "$WORK/ksft/kselftest-list.txt")," "$WORK/prove.log" ||
		{ complain "prove did not parse every binary's result:"; cat "$WORK/prove.log" >> "$WORK/why"; }
}

# ---- the runner -------------------------------------------------------------
cases=$(declare -F | awk '$3 ~ /^case_/ { print $3 }')
[ -n "$only" ] && cases=$(echo "$cases" | grep -F -- "$only")
echo "TAP version 13"
echo "1..$(echo "$cases" | grep -c .)"
for c in $cases; do
	n=$((n + 1))
	name=${c#case_}
	: > "$WORK/why"; : > "$LOG"
	start=$SECONDS
	"$c"
	expect_clean
	if [ -s "$WORK/why" ]; then
		sed 's/^/# /' "$WORK/why"
		echo "# output of the run:"
		tail -n 15 "$LOG" | sed 's/^/#   /'
		echo "not ok $n $name"
		failed=$((failed + 1))
	else
		echo "ok $n $name # $((SECONDS - start)) s, exit $RC"
	fi
done
[ "$failed" = 0 ]

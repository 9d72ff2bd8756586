# SPDX-License-Identifier: GPL-2.0
# Cases of run_tests.sh --build (issue 27 items 9 and 16), against a
# stand-in kernel tree: nothing is compiled and nothing boots.

# A directory that passes for a kernel tree of this machine's
# architecture; its Makefile fails like a tree that does not build.
build_fake_tree() {
	local srcarch
	case $(uname -m) in aarch64) srcarch=arm64 ;; *) srcarch=x86 ;; esac
	mkdir -p "$WORK/linux/arch/$srcarch" "$WORK/linux/scripts/kconfig"
	: > "$WORK/linux/Kconfig"
	: > "$WORK/linux/scripts/kconfig/merge_config.sh"
	printf '%%:\n\t@echo "scripts/kconfig/conf.c:1:1: error: this tree does not build"; exit 2\n' \
		> "$WORK/linux/Makefile"
}

build_arch() { uname -m | sed 's/aarch64/arm64/'; }

# Item 9: a tree that cannot be built is an untestable run, in every
# report, with the reason (it used to leave no JSON or JUnit at all).
case_build_failure_is_reported() {
	build_fake_tree
	local arch
	arch=$(build_arch)
	run KVMC_CACHE="$WORK/cache" -- --arch "$arch" --build "$WORK/linux" \
		--json "$WORK/r.json" --junit "$WORK/r.xml"
	expect_rc 125
	expect_out "make allnoconfig failed"
	expect_out "0 passed, 0 failed, 0 skipped"
	grep -q "make allnoconfig failed" "$WORK/results/$arch/untestable" 2>/dev/null ||
		complain "results/$arch/untestable lacks the reason"
	python3 - "$WORK/r.json" "$WORK/r.xml" "$WORK/linux" >> "$WORK/why" 2>&1 <<-'PY' ||
		import json, sys
		import xml.etree.ElementTree as ET
		runs = json.load(open(sys.argv[1]))["runs"]
		assert len(runs) == 1 and runs[0]["untestable"].startswith(f"--build {sys.argv[3]}: make allnoconfig failed"), runs
		errors = ET.parse(sys.argv[2]).getroot().findall(".//testcase/error")
		assert len(errors) == 1 and "make allnoconfig failed" in errors[0].get("message"), errors
	PY
		complain "the JSON or JUnit report lacks the failed build"
}

# Item 16: SIGTERM to run_tests.sh stops --build's make (a stand-in that
# records its pid and sleeps).
case_build_make_stopped_on_sigterm() {
	build_fake_tree
	# A directory of its own: $WORK/bin is path_without's, and a stand-in
	# make left there would be the make of every later case that uses it.
	mkdir -p "$WORK/stand-in-make"
	printf '#!/bin/sh\necho $$ >> "%s"\nexec sleep 60\n' "$WORK/make.pids" > "$WORK/stand-in-make/make"
	chmod +x "$WORK/stand-in-make/make"
	rm -f "$WORK/make.pids"
	PATH="$WORK/stand-in-make:$PATH" KVMC_CACHE="$WORK/cache" "$TOP/run_tests.sh" -o "$WORK/results" \
		--arch "$(build_arch)" --build "$WORK/linux" > "$LOG" 2>&1 < /dev/null &
	local runner=$! i=0 pid
	while [ ! -s "$WORK/make.pids" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
	pid=$(head -n 1 "$WORK/make.pids" 2>/dev/null)
	[ -n "$pid" ] || { complain "make never started"; kill -9 $runner; return; }
	kill -TERM $runner
	wait $runner
	RC=$?
	expect_rc 143
	i=0
	while [ $i -lt 50 ] && ps -o stat= -p "$pid" 2>/dev/null | grep -qv Z; do sleep 0.1; i=$((i + 1)); done
	if ps -o stat= -p "$pid" 2>/dev/null | grep -qv Z; then
		complain "make (pid $pid) still running 5 s after run_tests.sh got SIGTERM"
		kill -9 "$pid"
	fi
}

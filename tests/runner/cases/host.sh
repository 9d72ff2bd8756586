# shellcheck shell=bash
# Issue 27, items 5 and 7: what the suite does to the machine it runs on
# as root. Sourced by tests/runner/runner_test.sh (its helpers: complain,
# expect_rc, expect_out, $WORK, $LOG, $RC).

# A stand-in test directory for ktap-runner.sh: quick_test passes,
# sleepy_test starts its test and sleeps in it (as $WORK/tests/nap, a name
# nothing else on the machine has).
ktap_stand_in() {
	mkdir -p "$WORK/tests"
	cat > "$WORK/tests/quick_test" <<-'QUICK'
	#!/bin/sh
	[ "${1:-}" = --names ] && { echo quick.one; exit 0; }
	echo "TAP version 13"; echo "1..1"
	echo "#  RUN           quick.one ..."; echo "ok 1 quick.one"
	QUICK
	cat > "$WORK/tests/sleepy_test" <<-'SLEEPY'
	#!/bin/sh
	[ "${1:-}" = --names ] && { echo sleepy.one; exit 0; }
	echo "TAP version 13"; echo "1..1"
	echo "#  RUN           sleepy.one ..."
	exec "${0%/*}/nap" 60
	SLEEPY
	cp "$(command -v sleep)" "$WORK/tests/nap"
	chmod +x "$WORK/tests/quick_test" "$WORK/tests/sleepy_test"
	echo quick_test > "$WORK/tests/kvm-contract-list.txt"
}

# complain about, then stop, a stand-in binary still running.
expect_no_nap() {
	local i=0 pids
	while pids=$(pgrep -f "^$WORK/tests/nap ") && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
	[ -z "$pids" ] && return
	complain "the interrupted binary still runs: ${pids//$'\n'/ }"
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null
}

# complain about anything in directory $1 but the names matching $2.
expect_nothing_else_in() {
	local left
	left=$(ls -A "$1" | grep -vxE "${2:-^$}")
	[ -z "$left" ] || complain "left behind in TMPDIR: ${left//$'\n'/ }"
}

# Item 5: a local user who plants links at the names ktap-runner.sh used
# to take in a shared TMPDIR (kvmc-status.PID, kvmc-ktap.PID) must not get
# root to write through them. The shell that plants them for its own pid
# execs the runner, so the runner has that very pid.
case_ktap_runner_ignores_planted_links() {
	ktap_stand_in
	local tmp=$WORK/shared-tmp
	mkdir -p "$tmp" && chmod 1777 "$tmp"
	echo "a user's file" > "$WORK/sentinel"
	TMPDIR=$tmp sh -c 'ln -s "$1" "$TMPDIR/kvmc-status.$$" && ln -s "$2" "$TMPDIR/kvmc-ktap.$$" &&
		exec "$3" "$4"' sh "$WORK/sentinel" "$WORK/made-by-root" \
		"$TOP/scripts/ktap-runner.sh" "$WORK/tests" > "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 0; expect_out "^ok 1 quick_test$"
	[ "$(cat "$WORK/sentinel")" = "a user's file" ] ||
		complain "written through a planted link: the sentinel now holds '$(head -c 60 "$WORK/sentinel")'"
	[ ! -e "$WORK/made-by-root" ] || complain "a file was created through a dangling planted link"
	expect_nothing_else_in "$tmp" 'kvmc-(status|ktap)\.[0-9]+'
}

# -t with several patterns separated by commas selects what any of them
# selects (kvmc.fixdemo's quick re-check runs the tests that killed each
# mutant), each without wildcards as a substring: the binaries with such a
# test run, asked for exactly those.
case_ktap_runner_patterns_separated_by_commas() {
	ktap_stand_in
	cat > "$WORK/tests/many_test" <<-'MANY'
	#!/bin/sh
	[ "${1:-}" = --names ] && { printf 'm.a.load\nm.b.store\nm.c.load_after\n'; exit 0; }
	echo "TAP version 13"; echo "1..0"; echo "# asked for: $*"
	MANY
	chmod +x "$WORK/tests/many_test"
	echo many_test >> "$WORK/tests/kvm-contract-list.txt"
	sh "$TOP/scripts/ktap-runner.sh" -l -t 'm.b.store,*.load,nothing' "$WORK/tests" > "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 0
	[ "$(tr '\n' ' ' < "$LOG")" = "m.a.load m.b.store " ] || complain "-l selected: $(tr '\n' ' ' < "$LOG")"
	sh "$TOP/scripts/ktap-runner.sh" -t 'quick.one,m.c' "$WORK/tests" > "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 0; expect_out "^ok 1 quick_test$"; expect_out "# asked for: -r m.c.load_after$"
}

# ... and a signal in the middle of a binary stops that binary, removes
# the runner's scratch files and ends the runner with 128+N.
case_ktap_runner_signal_leaves_nothing() {
	ktap_stand_in
	echo sleepy_test > "$WORK/tests/kvm-contract-list.txt"
	local sig n pid i tmp
	for sig in TERM:15 INT:2 HUP:1 PIPE:13; do
		n=${sig#*:} sig=${sig%:*}
		tmp=$WORK/tmp-$sig
		mkdir -p "$tmp"
		: > "$LOG"
		# SIGINT not ignored, as from a terminal (bash ignores it in
		# what it starts with &).
		TMPDIR=$tmp perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "$ARGV[0]: $!\n"' \
			"$TOP/scripts/ktap-runner.sh" "$WORK/tests" > "$LOG" 2>&1 < /dev/null &
		pid=$! i=0
		# (Its output reaches $LOG only at the end: sed buffers it.)
		while ! pgrep -f "^$WORK/tests/nap " > /dev/null && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -"$sig" "$pid"
		wait "$pid"
		RC=$?
		expect_rc $((128 + n))
		expect_no_nap
		expect_nothing_else_in "$tmp"
	done
}

# Item 7: natively (here: no VM), the health checker's self-test must not
# write a WARNING into this kernel's log or taint it unless told the
# machine is a throwaway one; --allow-destructive alone does not say so.
# As root the binary runs in a mount namespace of its own where files
# stand in for /dev/kmsg and /proc/sys/kernel/tainted: what it writes is
# seen, and this machine's kernel is never touched, even by old code.
health_self_test() {
	local bin
	bin=$TOP/build/$(uname -m | sed 's/aarch64/arm64/')/tests/suite_self_test
	printf '6,1,0,-;kvm-contract stand-in kernel log\n' > "$WORK/kmsg"
	echo 0 > "$WORK/tainted"
	cp "$WORK/kmsg" "$WORK/kmsg.before"
	if [ "$(id -u)" = 0 ]; then
		env -u KVMC_ALLOW_HOST_TRACES -u KVMC_ALLOW_DESTRUCTIVE "$@" \
			unshare -m --propagation private sh -c \
			'mount --bind "$1" /dev/kmsg && mount --bind "$2" /proc/sys/kernel/tainted && exec "$3" -r "$4"' \
			sh "$WORK/kmsg" "$WORK/tainted" "$bin" kvmc_self_health.check_fires > "$LOG" 2>&1
	else
		# Not root: /dev/kmsg cannot be written anyway.
		env -u KVMC_ALLOW_HOST_TRACES -u KVMC_ALLOW_DESTRUCTIVE "$@" \
			"$bin" -r kvmc_self_health.check_fires > "$LOG" 2>&1
	fi
	RC=$?
}

case_health_self_test_leaves_no_host_trace() {
	make -s -C "$TOP" > "$LOG" 2>&1 || { complain "make failed"; return; }
	local env
	for env in KVMC_NOTHING=1 KVMC_ALLOW_DESTRUCTIVE=1 KVMC_ALLOW_HOST_TRACES=0; do
		health_self_test "$env"
		expect_rc 0
		expect_out "^ok 1 kvmc_self_health.check_fires # SKIP .*on a throwaway machine with KVMC_ALLOW_HOST_TRACES=1"
		cmp -s "$WORK/kmsg" "$WORK/kmsg.before" ||
			complain "with $env: written into the kernel log: $(tail -n 1 "$WORK/kmsg")"
		[ "$(cat "$WORK/tainted")" = 0 ] || complain "with $env: taint set to $(cat "$WORK/tainted")"
	done
	[ "$(id -u)" = 0 ] || return 0
	# The opt-in works. (Whether the test then passes cannot be seen
	# here: a file is no kernel log that numbers what is written to it.)
	health_self_test KVMC_ALLOW_HOST_TRACES=1
	grep -q "^WARNING: .*kvm-contract self-test" "$WORK/kmsg" ||
		complain "KVMC_ALLOW_HOST_TRACES=1: no WARNING written"
}

# Item 5 again: kselftest-install.sh (make install, as root) wrote its
# temporaries at fixed names in INSTALL_PATH (settings.tmp, NAME.tmp...),
# which may be a shared directory. Links planted there stay untouched.
case_kselftest_install_ignores_planted_links() {
	ktap_stand_in
	local h=$WORK/harness dest=$WORK/ksft f
	mkdir -p "$h/kselftest" "$dest/kvm-contract"
	printf '#!/bin/sh\n' > "$h/run_kselftest.sh"
	printf '#!/bin/sh\n' > "$h/kselftest/runner.sh"
	# A strip that copies.
	printf '#!/bin/sh\n[ "$1" = -o ] && cat "$3" > "$2"\n' > "$WORK/strip"
	chmod +x "$WORK/strip"
	echo "a user's file" > "$WORK/sentinel"
	for f in kvm-contract/settings.tmp kselftest-list.txt.tmp kvm-contract/quick_test.tmp; do
		ln -s "$WORK/sentinel" "$dest/$f"
	done
	"$TOP/scripts/kselftest-install.sh" "$WORK/tests" "$dest" "$h" "$WORK/strip" > "$LOG" 2>&1
	RC=$?
	expect_rc 0
	[ "$(cat "$WORK/sentinel")" = "a user's file" ] ||
		complain "written through a planted link: the sentinel now holds '$(head -c 60 "$WORK/sentinel")'"
	grep -qx timeout=300 "$dest/kvm-contract/settings" || complain "no settings"
	grep -qx kvm-contract:quick_test "$dest/kselftest-list.txt" || complain "no kselftest-list.txt"
	cmp -s "$WORK/tests/quick_test" "$dest/kvm-contract/quick_test" || complain "quick_test not installed"
	[ -x "$dest/kvm-contract/quick_test" ] || complain "quick_test installed without x"
	f=$(find "$dest" -name '.*' ! -name . | head -n 3)
	[ -z "$f" ] || complain "temporary files left: $f"
}

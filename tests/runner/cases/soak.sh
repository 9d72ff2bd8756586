# SPDX-License-Identifier: GPL-2.0
# The soak's --out (issue 27 item 1): it removes only what a soak made.
# Sourced by tests/runner/runner_test.sh (its helpers: fake_qemu, expect_*).

# A directory of the user's given as --out is refused (2) and left as it
# was (the soak used to empty it first: --out ~ emptied the home directory).
case_soak_out_refuses_a_users_directory() {
	fake_qemu
	mkdir -p "$WORK/mine/1"
	echo "my thesis" > "$WORK/mine/thesis.tex"
	echo "my notes" > "$WORK/mine/1/notes"
	PATH="$WORK/fake:$PATH" "$TOP/scripts/soak.sh" -n 1 --out "$WORK/mine" --arch arm64 \
		> "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 2
	expect_out "^soak: --out $WORK/mine: a directory the soak did not make"
	grep -qx "my thesis" "$WORK/mine/thesis.tex" 2>/dev/null || complain "the user's file is gone"
	grep -qx "my notes" "$WORK/mine/1/notes" 2>/dev/null || complain "the user's 1/notes is gone"
}

# ... and a directory a soak made is used again: its earlier runs' results
# are replaced, a file the user put there stays.
case_soak_out_reuses_its_own_directory() {
	fake_qemu
	PATH="$WORK/fake:$PATH" "$TOP/scripts/soak.sh" -n 1 --out "$WORK/soak" --arch arm64 \
		> "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 0
	[ -f "$WORK/soak/.kvmc-soak" ] || complain "no .kvmc-soak in the directory the soak made"
	echo "mine" > "$WORK/soak/readme.txt"
	: > "$WORK/soak/9.log"
	PATH="$WORK/fake:$PATH" "$TOP/scripts/soak.sh" -n 1 --out "$WORK/soak" --arch arm64 \
		> "$LOG" 2>&1 < /dev/null
	RC=$?
	expect_rc 0
	expect_out "^  run 1/1: exit 0, 2 passed, 0 failed, 0 skipped"
	expect_out "^soak: PASS"
	[ -s "$WORK/soak/1/arm64/results.ktap" ] || complain "no results of run 1 in --out"
	[ -e "$WORK/soak/9.log" ] && complain "an earlier run's 9.log was left"
	grep -qx mine "$WORK/soak/readme.txt" 2>/dev/null || complain "the user's readme.txt is gone"
}

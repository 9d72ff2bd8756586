#!/bin/sh
# Run the built test binaries of one directory as one KTAP document, each
# binary a subtest (its own KTAP indented by four spaces). POSIX sh: this
# runs on the host and, under busybox, inside the test VM.
#
#   ktap-runner.sh [-l] [-t PATTERN] TESTDIR
#
# TESTDIR/kvm-contract-list.txt names the binaries. -t selects tests whose
# full name (fixture.variant.test) matches the shell PATTERN, or one of
# several separated by commas (no test name has one); a PATTERN without
# wildcards matches as a substring. -l prints the names instead.
# KVMC_BIN_TIMEOUT (seconds, default 600) bounds each binary as a whole;
# the harness bounds each test.
#
# It runs as root on shared machines (run_tests.sh --native and --unit,
# make unit, a kselftest tree): its scratch files live in a directory of
# its own (mktemp -d), never under a name another user could guess and
# plant a link at, and go on every way out. A signal (HUP, INT, PIPE:
# whoever read the output has gone, TERM) stops the running binary and
# ends the runner with 128+N.
set -u

scratch=
binary=
trap '[ -z "$scratch" ] || rm -rf "$scratch"' EXIT
# stop N: on signal N, the binary goes (timeout passes the signal on to
# it), its readers drain what it wrote, and the scratch directory goes
# once nothing writes into it any more.
# shellcheck disable=SC2317 # called from the traps below
stop() {
	trap '' HUP INT PIPE TERM
	exec 4<&- 5>&-
	[ -z "$binary" ] || kill -TERM "$binary" 2>/dev/null
	wait
	exit $((128 + $1))
}
trap 'stop 1' HUP
trap 'stop 2' INT
trap 'stop 13' PIPE
trap 'stop 15' TERM

# A private directory in TMPDIR. Without mktemp, mkdir: it makes a new
# directory or fails, and never follows a link planted at the name.
make_scratch() {
	# Straight into $scratch: a trap runs between commands, and must
	# find the name of whatever has been made.
	scratch=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/kvmc-ktap.XXXXXX" 2>/dev/null) && return
	scratch=
	n=0
	while [ $n -lt 100 ]; do
		d=${TMPDIR:-/tmp}/kvmc-ktap.$$.$n
		(umask 077 && mkdir "$d") 2>/dev/null && scratch=$d && return
		n=$((n + 1))
	done
	echo "ktap-runner.sh: cannot make a directory in ${TMPDIR:-/tmp}: set TMPDIR to a writable one" >&2
	exit 1
}

list_only=0
pattern=
while [ $# -gt 1 ]; do
	case $1 in
	-l) list_only=1; shift ;;
	-t) pattern=$2; shift 2 ;;
	*) break ;;
	esac
done
dir=${1:?usage: ktap-runner.sh [-l] [-t PATTERN] TESTDIR}

matches() {
	[ -z "$pattern" ] && return 0
	# One alternative at a time (the name is the only argument: the
	# loop may reuse the positional parameters). No globbing of files.
	name=$1
	set -f
	old_ifs=$IFS
	IFS=,
	# shellcheck disable=SC2086 # split at the commas, on purpose
	set -- $pattern
	IFS=$old_ifs
	set +f
	for alt in "$@"; do
		case $alt in
		'') continue ;;
		*[*?[]*) ;;
		*) alt="*$alt*" ;;
		esac
		# shellcheck disable=SC2254
		case $name in $alt) return 0 ;; esac
	done
	return 1
}

bins=
while read -r b; do bins="$bins $b"; done < "$dir/kvm-contract-list.txt"

if [ "$list_only" = 1 ]; then
	for b in $bins; do
		"$dir/$b" --names | while read -r name; do
			matches "$name" && echo "$name"
		done
	done
	exit 0
fi

# Which binaries have selected tests, and the -r arguments for each.
# Without a pattern every binary runs: asking each for its names first
# would start every binary twice (under emulation, a third of a second
# before the first KTAP line).
selected=
[ -z "$pattern" ] && selected=$bins
for b in ${pattern:+$bins}; do
	names=$("$dir/$b" --names 2>/dev/null)
	for n in $names; do
		if matches "$n"; then
			selected="$selected $b"
			break
		fi
	done
done

make_scratch
mkfifo "$scratch/out" || exit 1

set -- $selected
echo "TAP version 13"
echo "1..$#"
i=0
rc=0
for b in $selected; do
	i=$((i + 1))
	args=
	if [ -n "$pattern" ]; then
		for n in $("$dir/$b" --names); do
			matches "$n" && args="$args -r $n"
		done
	fi
	echo "# kvm-contract: $b"
	# Stream the subtest indented, keeping a copy. The binary and its
	# readers run in the background, over a FIFO: a signal then
	# interrupts the wait at once (the shell runs a trap only between
	# commands), and the binary's pid is known. This shell opens both
	# ends (fd 4 to read, 5 to write; fd 3 holds both for a moment, so
	# neither open waits) and hands each to its side: the readers hold
	# the read end before the binary can write, and the binary's end is
	# their end of file.
	copy=$scratch/ktap
	exec 3<> "$scratch/out" 4< "$scratch/out" 5> "$scratch/out" 3>&-
	{ tee "$copy" | sed 's/^/    /'; } <&4 4<&- 5>&- &
	# shellcheck disable=SC2086
	timeout "${KVMC_BIN_TIMEOUT:-600}" "$dir/$b" $args >&5 2>&5 4<&- 5>&- &
	binary=$!
	exec 4<&- 5>&-
	wait "$binary"
	status=$?
	binary=
	wait
	# The test the binary was in when it was killed or died, if any: it
	# gets a result line of its own so that it counts as failed.
	unfinished=$(awk '/^#  RUN / { sub(/^#  RUN */, ""); sub(/ \.\.\.$/, ""); run = $0; next }
			  /^(not )?ok / { run = "" }
			  END { print run }' "$copy")
	case $status in
	0) echo "ok $i $b" ;;
	4) echo "ok $i $b # SKIP" ;;
	124|143)
		echo "# $b: killed after ${KVMC_BIN_TIMEOUT:-600} s (KVMC_BIN_TIMEOUT, --timeout)"
		[ -n "$unfinished" ] && echo "    not ok 0 $unfinished # killed by the binary's time limit"
		echo "not ok $i $b # timeout"
		rc=1 ;;
	*)
		[ -n "$unfinished" ] && echo "    not ok 0 $unfinished # the test binary died (exit status $status)"
		echo "not ok $i $b # exit status $status"
		rc=1 ;;
	esac
done
exit $rc

#!/bin/sh
# Run the built test binaries of one directory as one KTAP document, each
# binary a subtest (its own KTAP indented by four spaces). POSIX sh: this
# runs on the host and, under busybox, inside the test VM.
#
#   ktap-runner.sh [-l] [-t PATTERN] TESTDIR
#
# TESTDIR/kvm-contract-list.txt names the binaries. -t selects tests whose
# full name (fixture.variant.test) matches the shell PATTERN; a PATTERN
# without wildcards matches as a substring. -l prints the names instead.
# KVMC_BIN_TIMEOUT (seconds, default 600) bounds each binary as a whole;
# the harness bounds each test.
set -u

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

case $pattern in
*[*?[]*) ;;
?*) pattern="*$pattern*" ;;
esac

matches() {
	[ -z "$pattern" ] && return 0
	# shellcheck disable=SC2254
	case $1 in $pattern) return 0 ;; esac
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
	# Stream the subtest indented; keep the binary's exit status aside.
	status_file=${TMPDIR:-/tmp}/kvmc-status.$$
	copy=${TMPDIR:-/tmp}/kvmc-ktap.$$
	{
		# shellcheck disable=SC2086
		timeout "${KVMC_BIN_TIMEOUT:-600}" "$dir/$b" $args 2>&1
		echo $? > "$status_file"
	} | tee "$copy" | sed 's/^/    /'
	status=$(cat "$status_file")
	# The test the binary was in when it was killed or died, if any: it
	# gets a result line of its own so that it counts as failed.
	unfinished=$(awk '/^#  RUN / { sub(/^#  RUN */, ""); sub(/ \.\.\.$/, ""); run = $0; next }
			  /^(not )?ok / { run = "" }
			  END { print run }' "$copy")
	rm -f "$status_file" "$copy"
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

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Flakiness: run the whole suite N times and report every test whose
# verdict was not the same in all runs.
#
#   scripts/soak.sh [-n N] [RUN_TESTS_ARGS...]     (default N=20)
#
# Each run keeps its results in results/soak/<i>/; the verdict of a test is
# ok, not-ok, skip, xfail or xpass, per architecture. Exit 0 when no
# verdict changed, 1 when one did, 125 when a run could not test a kernel.
set -u -o pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
n=20
if [ "${1:-}" = -n ]; then n=${2:?}; shift 2; fi
out=$TOP/results/soak
rm -rf "$out"
mkdir -p "$out"

start=$SECONDS
untestable=0
for i in $(seq "$n"); do
	t0=$SECONDS
	rc=0
	"$TOP/run_tests.sh" -o "$out/$i" "$@" > "$out/$i.log" 2>&1 || rc=$?
	[ "$rc" -gt 1 ] && untestable=1
	echo "soak: run $i/$n: exit $rc, $(tail -n 1 "$out/$i.log"), $((SECONDS - t0)) s"
	# arch test verdict, one line per test
	for ktap in "$out/$i"/*/results.ktap; do
		[ -f "$ktap" ] || continue
		arch=$(basename "$(dirname "$ktap")")
		awk -v arch="$arch" '
			/^    (not )?ok / {
				v = ($1 == "not") ? "not-ok" : "ok"; name = ($1 == "not") ? $4 : $3
				if ($0 ~ /# SKIP/) v = "skip"
				else if ($0 ~ /# TODO/) v = (v == "ok") ? "xpass" : "xfail"
				print arch, name, v
			}' "$ktap"
	done | sort > "$out/$i.verdicts"
done

# A test's verdicts over all runs; a test missing from a run counts too.
cat "$out"/*.verdicts | awk '{ print $1, $2 }' | sort -u > "$out/tests"
changed=0
while read -r arch name; do
	seen=$(for i in $(seq "$n"); do
		awk -v a="$arch" -v t="$name" '$1 == a && $2 == t { print $3; f = 1 } END { if (!f) print "missing" }' \
			"$out/$i.verdicts"
	done | sort | uniq -c | awk '{ printf "%s%s x%d", sep, $2, $1; sep = ", " }')
	case $seen in
	*", "*) echo "soak: CHANGED $arch $name: $seen"; changed=$((changed + 1)) ;;
	esac
done < "$out/tests"

echo "soak: $n runs of $(wc -l < "$out/tests") tests in $((SECONDS - start)) s: $changed verdicts changed"
[ "$changed" -gt 0 ] && exit 1
[ "$untestable" = 1 ] && exit 125
exit 0

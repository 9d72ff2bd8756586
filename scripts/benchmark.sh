#!/bin/bash
# Time to verdict, measured the way a user meets it:
#   cold: a fresh clone and an empty cache (downloads, builds, boots)
#   warm: ./run_tests.sh --arch ARCH again, N times (median and range)
#
#   scripts/benchmark.sh [--cold] [--runs N] [--arch ARCH]
#
# Packages already installed by scripts/deps.sh are not removed for the cold
# run: it measures the project's own fetching and building, not apt.
set -eu -o pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cold=0 runs=5 arch=arm64
while [ $# -gt 0 ]; do
	case $1 in
	--cold) cold=1; shift ;;
	--runs) runs=$2; shift 2 ;;
	--arch) arch=$2; shift 2 ;;
	*) echo "usage: scripts/benchmark.sh [--cold] [--runs N] [--arch ARCH]" >&2; exit 2 ;;
	esac
done

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB, $(uname -m), no /dev/kvm: $([ -c /dev/kvm ] && echo no || echo yes)"

if [ "$cold" = 1 ]; then
	tmp=$(mktemp -d)
	git clone -q "$TOP" "$tmp/clone"
	t0=$(now)
	KVMC_CACHE=$tmp/cache "$tmp/clone/run_tests.sh" --arch "$arch" > "$tmp/cold.log" 2>&1
	t1=$(now)
	echo "cold ($arch, fresh clone, empty cache): $(elapsed "$t0" "$t1") s; $(tail -n 1 "$tmp/cold.log")"
	rm -rf "$tmp"
fi

"$TOP/run_tests.sh" --arch "$arch" > /dev/null 2>&1 # build and fill the cache
times=()
for _ in $(seq "$runs"); do
	t0=$(now)
	"$TOP/run_tests.sh" --arch "$arch" > /tmp/kvmc-bench.log 2>&1
	t1=$(now)
	times+=("$(elapsed "$t0" "$t1")")
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "warm ($arch, $runs runs): median $median s, min $(echo "$sorted" | head -n 1) s, max $(echo "$sorted" | tail -n 1) s; $(tail -n 1 /tmp/kvmc-bench.log)"

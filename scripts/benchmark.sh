#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Time to verdict, measured the way users meet it, in one run on this
# machine, against the targets of the project:
#
#   cold    a fresh clone with an empty cache: downloads, build, boot, until
#           the first test result and until the end (arm64) [--cold]
#   warm    ./run_tests.sh --serial --arch ARCH, N times per architecture:
#           wall time, QEMU start to the first KTAP line, and the median
#           wall time of one test inside the VM (results/<arch>/durations)
#   both    ./run_tests.sh (both architectures' VMs side by side), N times
#   kernel  the kernel's own KVM selftests that cover the same ground, built
#           from the same linux-source (scripts/kernel-selftests.sh), run in
#           the same VM right after our suite; each of our scenarios (the
#           sum of its tests) against the nearest selftest, as a ratio
#           [skipped with --no-selftests]
#
#   scripts/benchmark.sh [--cold] [--runs N] [--no-selftests]
#   make bench BENCH_ARGS="--cold"
#
# Medians of N runs (default 3); every run's numbers are kept in
# results/bench/.
set -u -o pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cold=0 runs=3 selftests=1
while [ $# -gt 0 ]; do
	case $1 in
	--cold) cold=1; shift ;;
	--runs) runs=$2; shift 2 ;;
	--no-selftests) selftests=0; shift ;;
	*) echo "usage: scripts/benchmark.sh [--cold] [--runs N] [--no-selftests]" >&2; exit 2 ;;
	esac
done
out=$TOP/results/bench
rm -rf "$out"
mkdir -p "$out"

ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
sec() { awk -v m="$1" 'BEGIN { printf "%.1f", m / 1000 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
# verdict MEASURED TARGET (same unit, lower is better)
verdict() { if [ "$1" -le "$2" ]; then echo "met"; else echo "missed by $(sec $(($1 - $2))) s"; fi; }

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GiB, $(uname -m)," \
     "/dev/kvm: $([ -c /dev/kvm ] && echo yes || echo no), $(qemu-system-aarch64 --version | head -n 1)"
echo "method: wall clock of ./run_tests.sh as a user runs it; VM phases from the runner's"
echo "        timestamps of console lines (results/<arch>/timing, durations); medians of $runs runs"
echo

# ---- cold ------------------------------------------------------------------
if [ "$cold" = 1 ]; then
	tmp=$(mktemp -d)
	git clone -q "$TOP" "$tmp/clone"
	t0=$(ms) first=
	while IFS= read -r line; do
		[ -z "$first" ] && [[ $line == "    ok "* || $line == "    not ok "* ]] && first=$(ms)
		echo "$line" >> "$out/cold.log"
	done < <(KVMC_CACHE=$tmp/cache "$tmp/clone/run_tests.sh" --arch arm64 2>&1)
	t1=$(ms)
	echo "cold (arm64, fresh clone, empty cache): first verdict after $(sec $((first - t0))) s," \
	     "all after $(sec $((t1 - t0))) s; $(tail -n 1 "$out/cold.log")"
	rm -rf "$tmp"
fi

# ---- warm, one architecture at a time --------------------------------------
"$TOP/run_tests.sh" > /dev/null 2>&1 # build, fetch, make the initramfs
declare -A wall boot tmed
for arch in arm64 x86_64; do
	: > "$out/$arch.wall"; : > "$out/$arch.boot"; : > "$out/$arch.durations"
	for i in $(seq "$runs"); do
		t0=$(ms)
		"$TOP/run_tests.sh" --serial --arch "$arch" -o "$out/warm-$i" > "$out/warm-$arch-$i.log" 2>&1
		t1=$(ms)
		echo $((t1 - t0)) >> "$out/$arch.wall"
		sed -n 's/^first_ktap_ms=//p' "$out/warm-$i/$arch/timing" >> "$out/$arch.boot"
		awk '{ print $2 }' "$out/warm-$i/$arch/durations" >> "$out/$arch.durations"
	done
	wall[$arch]=$(median < "$out/$arch.wall")
	boot[$arch]=$(median < "$out/$arch.boot")
	tmed[$arch]=$(median < "$out/$arch.durations")
	echo "warm $arch: $(sec "${wall[$arch]}") s (runs: $(sec "$(sort -n "$out/$arch.wall" | head -n 1)")" \
	     "to $(sec "$(sort -n "$out/$arch.wall" | tail -n 1)") s), QEMU start to first KTAP" \
	     "$(sec "${boot[$arch]}") s, per-test median ${tmed[$arch]} ms" \
	     "($(grep -c . "$out/$arch.durations") tests); $(tail -n 1 "$out/warm-$arch-1.log")"
done

# ---- both architectures side by side ---------------------------------------
: > "$out/both.wall"
for i in $(seq "$runs"); do
	t0=$(ms)
	"$TOP/run_tests.sh" -o "$out/both-$i" > "$out/both-$i.log" 2>&1
	echo $(($(ms) - t0)) >> "$out/both.wall"
done
both=$(median < "$out/both.wall")
echo "warm both side by side: $(sec "$both") s; $(tail -n 1 "$out/both-1.log")"

# ---- the kernel's own selftests in the same VM ------------------------------
# The selftest nearest to each of our scenarios, per architecture.
nearest() {
	case $1:$2 in
	*:g*) echo guest_memfd_test ;;
	*:m1|*:m7|*:m8) echo set_memory_region_test ;;
	*:m4|*:m5|*:m6) echo mmu_stress_test ;;
	arm64:p*) echo external_aborts ;;
	arm64:m2|arm64:m3|arm64:m9) echo page_fault_test ;;
	*) echo - ;;
	esac
}
worst_ratio=
if [ "$selftests" = 1 ]; then
	echo
	for arch in arm64 x86_64; do
		kst=$out/kst-$arch
		if ! "$TOP/scripts/kernel-selftests.sh" "$arch" "$kst.bin" > "$out/kst-$arch.build.log" 2>&1; then
			echo "kernel selftests ($arch): build failed, see $out/kst-$arch.build.log"
			continue
		fi
		mkdir -p "$kst"
		cp "$kst.bin"/* "$kst/"
		# The smallest settings each takes, as the kernel's run would be
		# too long for an emulated VM (mmu_stress_test: 1 vCPU, 1 GiB).
		while read -r name; do
			case $name in
			mmu_stress_test) echo "$name -c 1 -s 1 -m 1" ;;
			page_fault_test) echo "$name -m 6" ;;
			set_memory_region_test) [ "$arch" = x86_64 ] && echo "$name 1" || echo "$name" ;;
			*) echo "$name" ;;
			esac
		done < "$kst.bin/list.txt" > "$kst/list.txt"
		KVMC_EXTRA_TESTS=$kst KVMC_VM_MEMORY=2G KVMC_BIN_TIMEOUT=900 \
			"$TOP/run_tests.sh" --serial --arch "$arch" -o "$out/kst-run" > "$out/kst-$arch.log" 2>&1
		dur=$out/kst-run/$arch/durations extra=$out/kst-run/$arch/extra-durations
		echo "kernel selftests in the same $arch VM (ms, exit status):" \
		     "$(awk '{ printf "%s%s %d (%d)", sep, $1, $2, $3; sep = ", " }' "$extra")"
		printf '  %-6s %10s  %-24s %10s %8s\n' scenario "ours (ms)" "nearest selftest" "(ms)" ratio
		for s in $(awk '{ split($1, p, "_"); print p[1] }' "$dur" | sort -u); do
			ours=$(awk -v s="$s" '{ split($1, p, "_") } p[1] == s { t += $2 } END { print t }' "$dur")
			k=$(nearest "$arch" "$s")
			theirs=$(awk -v k="$k" '$1 == k { print $2 }' "$extra")
			if [ "$k" = - ] || [ -z "$theirs" ]; then
				printf '  %-6s %10d  %-24s %10s %8s\n' "${s^^}" "$ours" "(none covers it)" - -
				continue
			fi
			ratio=$(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.0f", a / (b ? b : 1) }')
			printf '  %-6s %10d  %-24s %10d %7sx\n' "${s^^}" "$ours" "$k" "$theirs" "$ratio"
			if [ -z "$worst_ratio" ] || [ "$ratio" -lt "${worst_ratio%% *}" ]; then
				worst_ratio="$ratio ($arch ${s^^} vs $k)"
			fi
		done
	done
fi

# ---- against the targets ----------------------------------------------------
echo
echo "targets:"
echo "  warm arm64 <= 15 s:            $(sec "${wall[arm64]}") s, $(verdict "${wall[arm64]}" 15000)"
echo "  warm x86_64 <= 20 s:           $(sec "${wall[x86_64]}") s, $(verdict "${wall[x86_64]}" 20000)"
echo "  both side by side <= 20 s:     $(sec "$both") s, $(verdict "$both" 20000)"
echo "  arm64 boot to first test <= 3 s: $(sec "${boot[arm64]}") s, $(verdict "${boot[arm64]}" 3000)"
echo "  per-test median <= 100 ms:     arm64 ${tmed[arm64]} ms, x86_64 ${tmed[x86_64]} ms," \
     "$([ "${tmed[arm64]}" -le 100 ] && [ "${tmed[x86_64]}" -le 100 ] && echo met || echo missed)"
if [ -n "$worst_ratio" ]; then
	echo "  each scenario >= 10x faster:   worst ${worst_ratio}x, $([ "${worst_ratio%% *}" -ge 10 ] && echo met || echo missed)"
fi

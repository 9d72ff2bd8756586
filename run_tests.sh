#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the kvm-contract conformance tests against a real KVM.
#
# Where /dev/kvm is usable and the architecture is the host's, the tests run
# right here. Otherwise (a machine without KVM, or another architecture)
# they run inside a VM: QEMU boots the newest Debian kernel of
# trixie-backports with nested virtualization (arm64: virtualization=on;
# x86_64: TCG's AMD SVM, with kvm-amd loaded from the matching modules
# package), the tests run in its initramfs, and their KTAP streams back
# over the console.
#
# Results go to results/<arch>/ (results.ktap, kernel.log, console.log).
# Exit status: 0 no test failed, 1 a test failed, 2 bad usage,
# 125 the kernel could not be tested (no boot, no /dev/kvm, missing tool).
set -u -o pipefail

TOP=$(cd "$(dirname "$0")" && pwd)
SUPPORTED_ARCHES="arm64 x86_64"

usage() {
	cat <<USAGE
usage: ./run_tests.sh [--arch arm64|x86_64] [-t PATTERN] [-l] [-v] [--strict]
                      [--vm | --native] [-o DIR] [--unit] [--baseline FILE]
                      [--kernel IMAGE [--modules DIR]] [--timeout S]
                      [--run-timeout MS] [--boot-timeout S] [--allow-destructive]
                      [--debian SPEC | --matrix [--kernels "SPEC..."]]
                      [--json F] [--junit F] [--report F.html] [--write-baseline F]

  --arch ARCH   architecture to test (default: every one this suite supports:
                $SUPPORTED_ARCHES)
  -t PATTERN    only tests whose name (fixture.variant.test) matches the shell
                pattern; a pattern without wildcards matches as a substring
  -l            list the test names instead of running them
  -v            verbose: show build, boot and console output
  --strict      strict mode (KVMC_STRICT=1): C3 notes become failures
  --allow-destructive
                run the poisoned-page tests (P1-P3) on this host's /dev/kvm:
                they poison physical pages for good (in the VM they always run)
  --kernel IMG  boot this kernel image in the VM instead of Debian's (needs
                one --arch; for git bisect run)
  --modules DIR x86: the kernel's "make modules_install" tree, for the KVM
                modules (INSTALL_MOD_PATH or lib/modules/<version>)
  --timeout S   limit of one test binary (default 600)
  --run-timeout MS
                limit of one KVM_RUN (default 5000)
  --boot-timeout S
                limit from starting QEMU until the test VM's init runs
                (default 120; KVMC_VM_TIMEOUT bounds the whole VM, default 1800)
  --debian SPEC boot a Debian kernel: a suite (bookworm, trixie, sid,
                trixie-backports, experimental) or a version (6.1, 6.12,
                7.3.4, or an ABI like 6.12.57+deb13-arm64), resolved from
                the archive at run time and cached
  --matrix      run every architecture on every kernel of --kernels (default:
                the newest kernel of each Debian suite), results under
                results/matrix/, and write an HTML table (--report, default
                results/matrix/report.html)
  --json F      every test with its observations (triple, payload, rule,
                verdict), kernel and architecture, as JSON
  --junit F     JUnit XML, one testsuite per architecture
  --report F    an HTML table of test x (architecture, kernel)
  --write-baseline F
                write the failures of this run as a baseline (see --baseline)
  --kselftest   in the VM, run the "make install" tree with the kernel's own
                run_kselftest.sh instead of ktap-runner.sh (counts binaries)
  --serial      one architecture after the other, output as it comes (by
                default the architectures' VMs run side by side)
  --vm          run inside a VM even where /dev/kvm is usable
  --native      run on this machine's /dev/kvm (fail if unusable)
  -o DIR        results directory (default: results/)
  --unit        also run the project's own tests on this machine (make check):
                the oracle's unit tests and the runners' tests (tests/runner)
  --baseline F  known kernel deviations (see baselines/debian.txt): a listed
                test that fails is XFAIL (TAP "# TODO"), one that passes is
                reported as fixed; neither fails the run
  -h            this help
USAGE
}

arches=
pattern=
list=0
verbose=0
strict=0
destructive=0
where=auto
kernel_image=
debian_spec=
matrix=0
parallel=1
kselftest=0
matrix_kernels=
json_out= junit_out= report_out= baseline_out=
modules_dir=
unit=0
baseline=
results=$TOP/results
while [ $# -gt 0 ]; do
	case $1 in
	--arch) [ $# -ge 2 ] || { usage >&2; exit 2; }; arches="$arches $2"; shift 2 ;;
	--arch=*) arches="$arches ${1#--arch=}"; shift ;;
	-t) [ $# -ge 2 ] || { usage >&2; exit 2; }; pattern=$2; shift 2 ;;
	-l) list=1; shift ;;
	-v) verbose=1; shift ;;
	--strict) strict=1; shift ;;
	--allow-destructive) destructive=1; shift ;;
	--vm) where=vm; shift ;;
	--native) where=native; shift ;;
	--unit) unit=1; shift ;;
	--kernel) [ $# -ge 2 ] || { usage >&2; exit 2; }; kernel_image=$(realpath -m "$2"); where=vm; shift 2 ;;
	--modules) [ $# -ge 2 ] || { usage >&2; exit 2; }; modules_dir=$(realpath -m "$2"); shift 2 ;;
	--timeout) [ $# -ge 2 ] || { usage >&2; exit 2; }; export KVMC_BIN_TIMEOUT=$2; shift 2 ;;
	--run-timeout) [ $# -ge 2 ] || { usage >&2; exit 2; }; export KVMC_RUN_TIMEOUT_MS=$2; shift 2 ;;
	--boot-timeout) [ $# -ge 2 ] || { usage >&2; exit 2; }; export KVMC_BOOT_TIMEOUT=$2; shift 2 ;;
	--baseline) [ $# -ge 2 ] || { usage >&2; exit 2; }; baseline=$(realpath "$2") || exit 2; shift 2 ;;
	--debian) [ $# -ge 2 ] || { usage >&2; exit 2; }; debian_spec=$2; where=vm; shift 2 ;;
	--matrix) matrix=1; shift ;;
	--serial) parallel=0; shift ;;
	--kselftest) kselftest=1; where=vm; shift ;;
	--kernels) [ $# -ge 2 ] || { usage >&2; exit 2; }; matrix_kernels=$2; shift 2 ;;
	--json) [ $# -ge 2 ] || { usage >&2; exit 2; }; json_out=$(realpath -m "$2"); shift 2 ;;
	--junit) [ $# -ge 2 ] || { usage >&2; exit 2; }; junit_out=$(realpath -m "$2"); shift 2 ;;
	--report) [ $# -ge 2 ] || { usage >&2; exit 2; }; report_out=$(realpath -m "$2"); shift 2 ;;
	--write-baseline) [ $# -ge 2 ] || { usage >&2; exit 2; }; baseline_out=$(realpath -m "$2"); shift 2 ;;
	-o) [ $# -ge 2 ] || { usage >&2; exit 2; }; results=$(realpath -m "$2"); shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run_tests.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
[ -n "$arches" ] || arches=$SUPPORTED_ARCHES
for n in "${KVMC_BIN_TIMEOUT:-600}" "${KVMC_RUN_TIMEOUT_MS:-5000}" "${KVMC_BOOT_TIMEOUT:-120}" "${KVMC_VM_TIMEOUT:-1800}"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run_tests.sh: a time limit must be a positive whole number, not '$n'" >&2; exit 2; }
done
if [ -n "$kernel_image" ]; then
	[ "$(echo $arches | wc -w)" = 1 ] || { echo "run_tests.sh: --kernel needs exactly one --arch" >&2; exit 2; }
fi
if [ -n "$debian_spec" ] && [ -n "$kernel_image" ]; then
	echo "run_tests.sh: --debian and --kernel exclude each other" >&2; exit 2
fi
if [ "$matrix" = 1 ] && [ -n "$debian_spec$kernel_image" ]; then
	echo "run_tests.sh: --matrix picks its kernels with --kernels, not --debian or --kernel" >&2; exit 2
fi
if [ -n "$modules_dir" ] && [ -z "$kernel_image" ]; then
	echo "run_tests.sh: --modules goes with --kernel" >&2; exit 2
fi

# The last thing said is kept: it is why an architecture could not be tested.
say() { last_said=$*; echo "run_tests.sh: $*" >&2; }
quiet() { if [ "$verbose" = 1 ]; then "$@" >&2; else "$@" >/dev/null 2>&1; fi; }

host_arch=$(uname -m | sed 's/aarch64/arm64/')
BOOT_LIMIT=${KVMC_BOOT_TIMEOUT:-120}
VM_LIMIT=${KVMC_VM_TIMEOUT:-1800}

native_kvm_usable() {
	[ "$1" = "$host_arch" ] && [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]
}

# ---- baseline of known deviations -----------------------------------------
b_arch=() b_krel=() b_test=() b_reason=()
load_baseline() {
	[ -n "$baseline" ] || return 0
	[ -r "$baseline" ] || { say "cannot read baseline $baseline"; exit 2; }
	local a k t r
	while read -r a k t r; do
		case $a in ''|'#'*) continue ;; esac
		b_arch+=("$a") b_krel+=("$k") b_test+=("$t") b_reason+=("$r")
	done < "$baseline"
}

# The reason a test is a known deviation on this architecture and kernel.
known_deviation() {
	local arch=$1 krel=$2 name=$3 i
	for i in "${!b_arch[@]}"; do
		# shellcheck disable=SC2053
		if [[ $arch == "${b_arch[$i]}" && $krel == ${b_krel[$i]} && $name == ${b_test[$i]} ]]; then
			echo "${b_reason[$i]}"
			return 0
		fi
	done
	return 1
}

# Show a KTAP line and keep it in results.ktap; a single test's result line
# gets a TODO directive when the baseline lists it.
present() {
	local arch=$1 krel=$2 dir=$3 line=$4 reason
	if [ ${#b_arch[@]} -gt 0 ] && [[ $line =~ ^\ {4}(not\ )?ok\ [0-9]+\ ([^ ]+)(.*)$ ]] &&
	   [[ ${BASH_REMATCH[3]} != *"# SKIP"* ]] &&
	   reason=$(known_deviation "$arch" "$krel" "${BASH_REMATCH[2]}"); then
		line="$line # TODO known deviation: $reason"
	fi
	echo "$line" >> "$dir/results.ktap"
	echo "$line"
}

# ---- counting ------------------------------------------------------------
total_pass=0 total_fail=0 total_skip=0 total_xfail=0 total_xpass=0

# Count the subtests of a KTAP document: "ok"/"not ok" lines indented once
# are single tests; a binary that fails without any failed test of its own,
# listed or not (it died before reporting, or exited non-zero for nothing
# it reported), counts as one failure.
# Known deviations (TODO) count as passed, as kselftest counts XFAIL, and
# are reported apart.
count_ktap() {
	local counts
	if [ "$kselftest" = 1 ]; then
		# run_kselftest.sh: one result line per binary, at the top.
		counts=$(awk '/^ok / { if ($0 ~ /# SKIP/) skip++; else pass++ }
			/^not ok / { fail++ }
			END { printf "%d %d %d 0 0\n", pass, fail, skip }' "$1")
	else
		counts=$(awk '
			/^    ok / && /# TODO/ { xpass++; inner++; next }
			/^    not ok / && /# TODO/ { xfail++; inner_fail++; inner++; next }
			/^    ok / { if ($0 ~ /# SKIP/) skip++; else pass++; inner++; next }
			/^    not ok / { fail++; inner_fail++; inner++; next }
			/^ok / { inner = inner_fail = 0; next }
			/^not ok / { if (inner_fail == 0) fail++; inner = inner_fail = 0; next }
			END { printf "%d %d %d %d %d\n", pass, fail, skip, xfail, xpass }' "$1")
	fi
	set -- $counts
	total_pass=$((total_pass + $1 + $4 + $5)) total_fail=$((total_fail + $2)) total_skip=$((total_skip + $3))
	total_xfail=$((total_xfail + $4)) total_xpass=$((total_xpass + $5))
	last_counts="$(($1 + $4 + $5)) passed, $2 failed, $3 skipped"
	[ $(($4 + $5)) -gt 0 ] && last_counts="$last_counts ($4 known deviations failing as listed, $5 fixed)"
	if [ "$5" -gt 0 ]; then
		say "fixed deviations (now passing; remove them from $baseline):"
		grep '^    ok .*# TODO' "$1" | sed 's/^    ok [0-9]* /  /; s/ # TODO.*//' >&2
	fi
}

# ---- build ---------------------------------------------------------------
build() {
	local arch=$1 out=$TOP/build/$1
	quiet "$TOP/scripts/deps.sh" || { "$TOP/scripts/deps.sh"; return 125; }
	say "building $arch tests"
	local log=$TOP/build/$arch.build.log
	mkdir -p "$TOP/build"
	if ! make -C "$TOP" ARCH="$arch" O="$out" all install INSTALL_PATH="$out/kselftest_install" > "$log" 2>&1; then
		grep -E 'error|\*\*\*|debian.sh:|cannot|failed' "$log" | tail -n 5 | sed 's/^/  /' >&2
		say "$arch: build failed (whole log: ${log#$TOP/})"
		return 125
	fi
	[ "$verbose" = 1 ] && cat "$log" >&2
	rm -f "$log"
}

# ---- native --------------------------------------------------------------
run_native() {
	local arch=$1 dir=$2
	local args=()
	[ -n "$pattern" ] && args=(-t "$pattern")
	if [ "$list" = 1 ]; then
		"$TOP/scripts/ktap-runner.sh" -l "${args[@]}" "$TOP/build/$arch/tests"
		return 0
	fi
	say "$arch: running on this machine's /dev/kvm ($(uname -r))"
	: > "$dir/results.ktap"
	uname -r > "$dir/kernel-version"
	local line krel
	krel=$(uname -r)
	while IFS= read -r line; do
		present "$arch" "$krel" "$dir" "$line"
	done < <(KVMC_STRICT=$strict KVMC_ALLOW_DESTRUCTIVE=$destructive KVMC_OBSERVATIONS=$dir/observations.jsonl \
		"$TOP/scripts/ktap-runner.sh" "${args[@]}" "$TOP/build/$arch/tests")
	return 0
}

# ---- VM ------------------------------------------------------------------
qemu_command() {
	local arch=$1 kernel=$2 initrd=$3
	case $arch in
	arm64)
		# pauth-impdef: QEMU's cheap pointer-auth algorithm; the
		# architected one makes TCG twice as slow (ENVIRONMENT.md).
		# One vCPU and no NIC: the kernel boots 0.7 s sooner and the
		# suite, one test at a time, runs no slower (make bench).
		echo qemu-system-aarch64 -M "${KVMC_ARM64_MACHINE:-virt,virtualization=on,gic-version=3}" \
			-cpu max,pauth-impdef=on -smp "${KVMC_ARM64_SMP:-1}" -nic none \
			-m "${KVMC_VM_MEMORY:-1G}" -nographic -no-reboot \
			-kernel "$kernel" -initrd "$initrd" \
			-append "'console=ttyAMA0 rdinit=/init panic=-1 loglevel=1 ${KVMC_APPEND:-}'"
		;;
	x86_64)
		# TCG emulates AMD's SVM (nested paging included with -cpu
		# max), not Intel's VMX: kvm-amd is the module that loads.
		# One vCPU: with two, the guest kernel's live text patching
		# (int3-based, when kvm flips static keys) sometimes oopses
		# under QEMU 7.2's multi-threaded TCG.
		echo qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "${KVMC_VM_MEMORY:-1G}" -nographic \
			-no-reboot -kernel "$kernel" -initrd "$initrd" \
			-append "'console=ttyS0 rdinit=/init panic=-1 loglevel=1 ${KVMC_APPEND:-}'"
		;;
	esac
}

# The initramfs: a cached base (busybox, /init, runner, tests) rebuilt when
# any of them changes, plus a small per-run archive with the run's settings;
# the kernel unpacks concatenated cpio archives in order.
make_initramfs() {
	local arch=$1 work=$TOP/build/$1/initramfs busybox modules=
	busybox=$("$TOP/scripts/debian.sh" busybox "$arch") || return 125
	if [ -n "$modules_dir" ]; then
		modules=$("$TOP/scripts/debian.sh" modules-tree "$modules_dir" "$work/user-modules") || return 125
	elif [ "$arch" = x86_64 ] && [ -z "$kernel_image" ]; then
		modules=$("$TOP/scripts/debian.sh" modules "$arch" ${debian_spec:+"$debian_spec"}) || return 125
	fi
	mkdir -p "$work"
	local base=$work/base.cpio
	# Rebuilt when anything in it changed, or the kernel (its modules) did.
	if [ ! -f "$base" ] || [ "$(cat "$base.modules" 2>/dev/null)" != "$modules" ] ||
	   [ -n "$(find "$TOP/build/$arch/kselftest_install" "$TOP/scripts/guest-init.sh" \
			"$busybox" $modules -newer "$base" -print -quit)" ]; then
		rm -rf "$work/root"
		mkdir -p "$work/root"/{bin,dev,proc,sys,tmp,etc}
		cp "$busybox" "$work/root/bin/busybox"
		cp "$TOP/scripts/guest-init.sh" "$work/root/init"
		# The kselftest install tree (make install): the stripped tests,
		# ktap-runner.sh, and the kernel's run_kselftest.sh.
		cp -a "$TOP/build/$arch/kselftest_install" "$work/root/kvm-contract"
		if [ -n "$modules" ]; then
			mkdir -p "$work/root/lib/modules/kvm-contract"
			cp "$modules"/* "$work/root/lib/modules/kvm-contract/"
		fi
		(cd "$work/root" && find . | cpio -o -H newc --quiet) > "$base.tmp" && mv "$base.tmp" "$base"
		echo "$modules" > "$base.modules"
	fi
	rm -rf "$work/run"
	mkdir -p "$work/run/etc"
	{
		echo "KVMC_MODE=$([ "$list" = 1 ] && echo list || { [ "$kselftest" = 1 ] && echo kselftest; } || echo run)"
		printf 'KVMC_FILTER=%q\n' "$pattern"
		echo "KVMC_STRICT=$strict"
		echo "KVMC_RUN_TIMEOUT_MS=${KVMC_RUN_TIMEOUT_MS:-5000}"
		echo "KVMC_BIN_TIMEOUT=${KVMC_BIN_TIMEOUT:-600}"
		echo "KVMC_UNPRIVILEGED=${KVMC_UNPRIVILEGED:-0}"
	} > "$work/run/etc/kvmc.conf"
	# KVMC_EXTRA_TESTS=DIR: DIR (binaries and a list.txt of "NAME ARGS")
	# comes along as /extra, run after the suite (scripts/benchmark.sh).
	if [ -n "${KVMC_EXTRA_TESTS:-}" ]; then
		cp -rL "$KVMC_EXTRA_TESTS" "$work/run/extra"
	fi
	(cd "$work/run" && find . | cpio -o -H newc --quiet) > "$work/run.cpio"
	cat "$base" "$work/run.cpio" > "$work/initrd.cpio"
	echo "$work/initrd.cpio"
}

# The last test a KTAP stream started ("#  RUN") without reporting a result.
unfinished_test() {
	awk '/^    #  RUN / { sub(/^ *#  RUN */, ""); sub(/ \.\.\.$/, ""); run = $0; next }
	     /^    (not )?ok / { run = "" }
	     END { print run }' "$1" 2>/dev/null
}

run_vm() {
	local arch=$1 dir=$2 kernel initrd
	for tool in $(qemu_command "$arch" k i | awk '{print $1}') cpio timeout; do
		command -v "$tool" >/dev/null || { say "$tool not found: run 'make deps' as root"; return 125; }
	done
	local kver
	if [ -n "$kernel_image" ]; then
		kernel=$kernel_image
		[ -r "$kernel" ] || { say "--kernel $kernel: no such file"; return 125; }
		kver="$(basename "$kernel") (version known once booted)"
	else
		kernel=$("$TOP/scripts/debian.sh" kernel "$arch" ${debian_spec:+"$debian_spec"}) ||
			{ say "no Debian kernel for $arch${debian_spec:+ matching '$debian_spec'}"; return 125; }
		kver=$(cat "$(dirname "$kernel")/version" 2>/dev/null || basename "$(dirname "$kernel")")
		# Which package and suite, for the results.
		{ cat "$(dirname "$kernel")/package" 2>/dev/null && cat "$(dirname "$kernel")/suite" 2>/dev/null; } |
			paste -sd ' ' > "$dir/kernel-package"
	fi
	initrd=$(make_initramfs "$arch") || return 125
	[ "$list" = 1 ] || say "$arch: booting kernel $kver under QEMU${kernel_image:+ (--kernel)}"
	: > "$dir/results.ktap"; : > "$dir/kernel.log"; : > "$dir/console.log"
	local section=console done=0 nokvm= booted=0 line buf= krel=$kver rc
	local start=$SECONDS fifo=$TOP/build/$arch/console.fifo qemu fd
	# Milliseconds since QEMU started, for results/<arch>/timing.
	local t0=${EPOCHREALTIME/./} t_guest= t_ktap= t_test= test_name=
	: > "$dir/durations"
	rm -f "$dir/extra-durations"
	rm -f "$fifo"; mkfifo "$fifo" || return 125
	# exec: $! is then timeout's own pid, and killing it takes QEMU down.
	eval exec timeout -k 5 "$VM_LIMIT" "$(qemu_command "$arch" "$kernel" "$initrd")" </dev/null >"$fifo" 2>&1 &
	qemu=$!
	echo "$qemu" > "$dir/qemu.pid"
	exec {fd}<"$fifo"
	rm -f "$fifo"
	while :; do
		# One-second reads, so a kernel that never reaches our init is
		# caught at the boot limit; a timed-out read keeps its part line.
		if IFS= read -r -t 1 -u "$fd" line; then
			line=$buf${line%$'\r'} buf=
		else
			rc=$?
			[ "$rc" -gt 128 ] || break
			buf+=$line
			if [ "$booted" = 0 ] && [ $((SECONDS - start)) -ge "$BOOT_LIMIT" ]; then
				kill -- "$qemu" 2>/dev/null
				# QEMU gone, yet the console still open: stop reading.
				[ $((SECONDS - start)) -ge $((BOOT_LIMIT + 10)) ] && break
			fi
			continue
		fi
		case $line in
		"@@KVMC-BEGIN ktap") section=ktap; continue ;;
		"@@KVMC-BEGIN dmesg") section=dmesg; continue ;;
		"@@KVMC-BEGIN observations") section=observations; continue ;;
		"@@KVMC-BEGIN extra") section=console; continue ;;
		"@@KVMC-EXTRA-START "*) t_test=${EPOCHREALTIME/./}; continue ;;
		"@@KVMC-EXTRA-END "*)
			read -r _ test_name rc <<< "$line"
			echo "$test_name $(( (${EPOCHREALTIME/./} - t_test) / 1000 )) $rc" >> "$dir/extra-durations"
			continue
			;;
		"@@KVMC-END "*) section=console; continue ;;
		"@@KVMC-NOKVM"*) nokvm=${line#@@KVMC-NOKVM }; continue ;;
		"@@KVMC-DONE") done=1; continue ;;
		"@@KVMC-BEGIN guest"*)
			booted=1
			t_guest=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
			krel=${line#@@KVMC-BEGIN guest }
			krel=${krel%% *}
			kver=$krel
			[ "$verbose" = 1 ] && say "guest up after $((SECONDS - start)) s: $krel"
			continue
			;;
		esac
		case $section in
		ktap)
			[ -n "$t_ktap" ] || t_ktap=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
			# Each test's wall time, from its RUN line to its result.
			case $line in
			"    #  RUN "*) t_test=${EPOCHREALTIME/./}; read -r _ _ test_name _ <<< "$line" ;;
			"    ok "*|"    not ok "*)
				[ -n "$t_test" ] && echo "$test_name $(( (${EPOCHREALTIME/./} - t_test) / 1000 ))" >> "$dir/durations"
				t_test= ;;
			esac
			present "$arch" "$krel" "$dir" "$line"
			;;
		dmesg) echo "$line" >> "$dir/kernel.log" ;;
		observations) echo "$line" >> "$dir/observations.jsonl" ;;
		*)
			echo "$line" >> "$dir/console.log"
			[ "$verbose" = 1 ] && echo "$line" >&2
			;;
		esac
	done
	[ -n "$buf" ] && echo "$buf" >> "$dir/console.log"
	exec {fd}<&-
	wait "$qemu" 2>/dev/null
	rm -f "$dir/qemu.pid"
	printf 'guest_init_ms=%s\nfirst_ktap_ms=%s\ntotal_ms=%s\n' "${t_guest:-}" "${t_ktap:-}" \
		"$(( (${EPOCHREALTIME/./} - t0) / 1000 ))" > "$dir/timing"
	echo "$kver" > "$dir/kernel-version"
	if [ -n "$nokvm" ]; then
		say "$arch: $nokvm${kernel_image:+ (x86 KVM as modules: pass --modules)}"
		return 125
	fi
	if [ "$done" != 1 ]; then
		local why="stopped early (QEMU exited)"
		if grep -q 'Kernel panic' "$dir/console.log" "$dir/results.ktap" 2>/dev/null; then
			why="crashed: kernel panic"
		elif [ "$booted" = 0 ] && [ $((SECONDS - start)) -ge "$BOOT_LIMIT" ]; then
			why="did not reach its init within the boot limit of ${BOOT_LIMIT} s (--boot-timeout): not a bootable kernel for this machine?"
		elif [ $((SECONDS - start)) -ge "$VM_LIMIT" ]; then
			why="did not finish within ${VM_LIMIT} s (KVMC_VM_TIMEOUT)"
		elif [ "$booted" = 0 ]; then
			why="stopped before its init ran (QEMU refused the kernel, or it did not boot)"
		fi
		say "$arch: the test VM $why; console in ${dir#$TOP/}/console.log"
		grep -hE 'Kernel panic|Oops|BUG:|RIP:|pc :' "$dir/console.log" "$dir/results.ktap" 2>/dev/null |
			head -n 5 | sed 's/^/  /' >&2
		[ -s "$dir/console.log" ] && tail -n 5 "$dir/console.log" | sed 's/^/  | /' >&2
		# A test that was running when the VM died took the kernel down
		# (or hung it): that is the kernel's failure, not an untestable
		# kernel, so it is reported as that test's failure.
		local running
		running=$(unfinished_test "$dir/results.ktap")
		if [ -n "$running" ]; then
			say "$arch: $running was running: counted as failed"
			present "$arch" "$krel" "$dir" "    not ok 0 $running # the test VM $why" >/dev/null
			return 0
		fi
		return 125
	fi
}

# ---- the oracle's unit tests (no KVM) -------------------------------------
run_unit() {
	local out=$TOP/build/$host_arch dir=$results/unit
	quiet "$TOP/scripts/deps.sh" || { "$TOP/scripts/deps.sh"; return 125; }
	say "building the oracle's unit tests"
	quiet make -C "$TOP" O="$out" unit-build || { say "unit test build failed; rerun with -v"; return 125; }
	mkdir -p "$dir"
	"$TOP/scripts/ktap-runner.sh" "$out/unit" | tee "$dir/results.ktap"
	count_ktap "$dir/results.ktap"
	say "unit: $last_counts"
	# The runners' own tests: bad input, broken environments, clean-up.
	say "testing the runners (tests/runner/runner_test.sh)"
	{
		echo "TAP version 13"
		echo "1..1"
		echo "# kvm-contract: runner_test"
		local rc=0
		"$TOP/tests/runner/runner_test.sh" > "$dir/runner.tap" || rc=$?
		sed 's/^/    /' "$dir/runner.tap"
		[ "$rc" = 0 ] && echo "ok 1 runner_test" || echo "not ok 1 runner_test"
	} | tee "$dir/runner.ktap"
	count_ktap "$dir/runner.ktap"
	say "runner: $last_counts"
}

# ---- reports -------------------------------------------------------------
# write_reports TITLE DIR...: --json, --junit, --report, --write-baseline
# from the result directories of a run (one per architecture and kernel).
write_reports() {
	local title=$1 f
	shift
	[ $# -gt 0 ] || return 0
	for f in json:$json_out junit:$junit_out html:$report_out baseline:$baseline_out; do
		[ -n "${f#*:}" ] || continue
		python3 "$TOP/scripts/report.py" "${f%%:*}" --title "$title" -o "${f#*:}" "$@" &&
			say "${f%%:*} written to ${f#*:}"
	done
}

# ---- matrix --------------------------------------------------------------
# Every architecture on every kernel: one run of this script per pair, each
# in results/matrix/<kernel>/<arch>, then one table over all of them.
run_matrix() {
	local a spec specs dir rc any_fail=0 any_untested=0 dirs=() pass=()
	[ -n "$pattern" ] && pass+=(-t "$pattern")
	[ "$strict" = 1 ] && pass+=(--strict)
	[ -n "$baseline" ] && pass+=(--baseline "$baseline")
	[ "$verbose" = 1 ] && pass+=(-v)
	for a in $arches; do
		if [ -n "$matrix_kernels" ]; then
			specs=$matrix_kernels
		else
			# The newest kernel of each suite (backports keep every
			# old ABI: dozens of kernels).
			specs=$("$TOP/scripts/debian.sh" kernels "$a" |
				awk '{ newest[$1] = $3 } END { for (s in newest) print newest[s] }' | sort -uV) ||
				{ say "cannot list the archive's kernels for $a"; exit 125; }
		fi
		for spec in $specs; do
			dir=$results/matrix/$spec
			say "matrix: $a on $spec"
			rc=0
			"$0" --arch "$a" --debian "$spec" -o "$dir" "${pass[@]}" > /dev/null || rc=$?
			case $rc in
			0) ;;
			1) any_fail=1 ;;
			*) any_untested=1 ;;
			esac
			say "matrix: $a on $spec: $(tail -n 1 "$dir/$a/summary" 2>/dev/null || echo "exit $rc")"
			dirs+=("$dir/$a")
		done
	done
	[ -n "$report_out" ] || report_out=$results/matrix/report.html
	write_reports "kvm-contract: architecture x kernel" "${dirs[@]}"
	[ "$any_fail" = 1 ] && exit 1
	[ "$any_untested" = 1 ] && exit 125
	exit 0
}

# ---- main ----------------------------------------------------------------
# Ctrl-C or a kill: take QEMU and the test binaries down with us.
# QEMU runs under timeout(1), in a process group of its own: it goes down
# when its timeout, a child of ours, gets the TERM.
on_signal() {
	trap '' INT TERM
	say "interrupted: stopping"
	# QEMU's timeout may be a grandchild (VMs side by side): by pid file.
	local f
	for f in "$results"/*/qemu.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null && rm -f "$f"
	done
	pkill -P $$ 2>/dev/null
	kill -- -$$ 2>/dev/null
	wait
	exit 130
}
trap on_signal INT TERM
load_baseline
[ "$matrix" = 1 ] && run_matrix
status=0
if [ "$unit" = 1 ] && [ "$list" = 0 ]; then
	run_unit || status=125
fi
for arch in $arches; do
	case " $SUPPORTED_ARCHES " in
	*" $arch "*) ;;
	*) say "--arch $arch: not supported (supported: $SUPPORTED_ARCHES)"; exit 2 ;;
	esac
done

# One architecture, built already: run it natively or in its VM. Returns
# 0, or 125 when it could not be tested.
test_arch() {
	local arch=$1 dir=$results/$1 mode=$where rc=0
	mkdir -p "$dir"
	# Nothing from an earlier run may be counted as this run's.
	rm -f "$dir/results.ktap" "$dir/kernel.log" "$dir/console.log" "$dir/kernel-version" \
		"$dir/observations.jsonl" "$dir/kernel-package" "$dir/untestable" "$dir/summary" \
		"$dir/timing" "$dir/durations"
	if [ "$mode" = auto ]; then
		if native_kvm_usable "$arch"; then mode=native; else mode=vm; fi
	fi
	if [ "$mode" = native ] && ! native_kvm_usable "$arch"; then
		say "--native: /dev/kvm is not usable for $arch here"
		echo "$last_said" > "$dir/untestable"
		return 125
	fi
	if [ "$mode" = native ]; then run_native "$arch" "$dir" || rc=$?; else run_vm "$arch" "$dir" || rc=$?; fi
	if [ "$rc" != 0 ]; then
		[ -s "$dir/results.ktap" ] || echo "$last_said" > "$dir/untestable"
		return 125
	fi
}

# Count one architecture's results into the totals.
tally() {
	local arch=$1 rc=$2 dir=$results/$1
	[ "$list" = 1 ] && return
	if [ "$rc" != 0 ]; then
		status=125
		# What ran before the VM died still counts.
		if [ -s "$dir/results.ktap" ]; then
			count_ktap "$dir/results.ktap"
			say "$arch: before that: $last_counts"
		fi
		return
	fi
	count_ktap "$dir/results.ktap"
	echo "$last_counts" > "$dir/summary"
	say "$arch: $last_counts (results in ${dir#$TOP/})"
}

n_arches=$(echo $arches | wc -w)
if [ "$parallel" = 1 ] && [ "$n_arches" -gt 1 ] && [ "$list" = 0 ]; then
	# Build and fetch one after the other (they share the cache), then
	# boot the VMs side by side; their output is shown when all are done.
	ready=
	for arch in $arches; do
		if ! build "$arch"; then status=125; continue; fi
		if [ "$where" != native ] && ! native_kvm_usable "$arch"; then
			quiet "$TOP/scripts/debian.sh" busybox "$arch"
			[ -n "$kernel_image" ] || quiet "$TOP/scripts/debian.sh" kernel "$arch" ${debian_spec:+"$debian_spec"}
		fi
		ready="$ready $arch"
	done
	say "running$ready side by side"
	for arch in $ready; do
		mkdir -p "$results/$arch"
		( trap - INT TERM; rc=0; test_arch "$arch" || rc=$?; echo "$rc" > "$results/$arch/rc" ) \
			> "$results/$arch/output" 2>&1 &
	done
	wait
	for arch in $ready; do
		cat "$results/$arch/output"
		tally "$arch" "$(cat "$results/$arch/rc" 2>/dev/null || echo 125)"
		[ -s "$results/$arch/untestable" ] && last_said=$(cat "$results/$arch/untestable")
	done
else
	for arch in $arches; do
		if ! build "$arch"; then status=125; continue; fi
		rc=0
		test_arch "$arch" || rc=$?
		tally "$arch" "$rc"
	done
fi

[ "$list" = 1 ] && exit "$status"
run_dirs=()
for arch in $arches; do
	[ -f "$results/$arch/results.ktap" ] || [ -f "$results/$arch/untestable" ] && run_dirs+=("$results/$arch")
done
write_reports "kvm-contract results" "${run_dirs[@]}"
if [ -n "$baseline" ]; then
	say "baseline ${baseline#$TOP/}: $total_xfail known deviations failing as listed, $total_xpass fixed"
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
if [ "$total_fail" -gt 0 ]; then exit 1; fi
# No verdict at all is not a pass.
if [ "$status" = 0 ] && [ $((total_pass + total_skip)) = 0 ]; then
	if [ -n "$pattern" ]; then
		say "no test matches -t '$pattern' (list them with -l)"
		exit 2
	fi
	say "no test ran"
	exit 125
fi
exit "$status"

# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# --coverage (issue 23 part 3): its options are usage mistakes when they
# cannot apply, refused before anything is built; and the smoke test: a
# few tests of the suite on arm64 with a gcov build of Debian's
# linux-source, whose report must have the functions that decide what
# KVM_RUN reports.
# Sourced by tests/runner/runner_test.sh (its helpers: run, complain, ...).

case_coverage_usage() {
	run -- --arch arm64 --coverage
	expect_rc 2; expect_out "--coverage goes with --build"
	run -- --arch arm64 --coverage-diff HEAD --build "$WORK"
	expect_rc 2; expect_out "go with --coverage"
	local t="$WORK/tree"
	mkdir -p "$t/arch/arm64" "$t/scripts/kconfig"
	: > "$t/Makefile"; : > "$t/Kconfig"; : > "$t/scripts/kconfig/merge_config.sh"
	run -- --arch arm64 --build "$t" --coverage --coverage-diff v7.3
	expect_rc 2; expect_out "--coverage-diff: 'v7.3' is not a commit of .*tree"
	run -- --arch arm64 --build "$t" --coverage -l
	expect_rc 2; expect_out "--coverage runs the suite in the test VM"
	grep -q "building" "$LOG" && complain "built before refusing"
}

# The gcov build of Debian's linux-source as the cache has it: cold, it
# is a whole kernel build (tens of minutes on 2 cores), so make check runs
# the smoke test only once `make check-coverage` (or any --coverage run of
# that tree) has built it, or with KVMC_COVERAGE_SMOKE=1.
coverage_smoke_tree() { "$TOP/scripts/debian.sh" linux-source 2>/dev/null | tail -n 1; }

case_coverage_smoke() {
	local tree json
	tree=$(coverage_smoke_tree)
	[ -d "$tree" ] || { complain "no linux-source tree (scripts/debian.sh linux-source)"; return; }
	if [ "${KVMC_COVERAGE_SMOKE:-0}" != 1 ] &&
		! (cd "$TOP/scripts" && python3 -c 'import sys, os
from kvmc import common, kbuild
d = kbuild.build_dir_for(sys.argv[1], "arm64", str(common.cache_root()), coverage=True)
sys.exit(0 if os.path.exists(os.path.join(d, "arch/arm64/boot/Image")) else 1)' "$tree"); then
		skip "no gcov build of $tree in the cache yet (make check-coverage builds it)"
		return
	fi
	run -- --arch arm64 --build "$tree" --coverage -t m1_
	expect_rc 0
	expect_out "coverage \(suite\): lines [1-9][0-9]*/"
	json="$WORK/results/arm64/coverage/coverage.json"
	[ -f "$json" ] || { complain "no $json"; return; }
	[ -f "$WORK/results/arm64/coverage/index.html" ] || complain "no HTML report"
	(cd "$TOP/scripts" && python3 -m kvmc.coverage table "$json") > "$WORK/table" ||
		complain "python3 -m kvmc.coverage table failed"
	local f
	for f in kvm_handle_guest_abort user_mem_abort io_mem_abort kvm_handle_mmio_return \
		 kvm_handle_guest_sea kvm_arch_prepare_memory_region kvm_set_memory_region \
		 kvm_gmem_get_pfn gmem_abort kvm_inject_sea; do
		grep -q "^| $f |" "$WORK/table" || complain "coverage.json lacks $f"
	done
	# (kvm_prepare_memory_fault_exit is inlined everywhere: no row of its
	# own.) The function every M1 test goes through ran.
	grep -qE "^\| kvm_handle_guest_abort \| [^|]+ \| [1-9][0-9]*/" "$WORK/table" ||
		complain "kvm_handle_guest_abort: no branch taken"
}

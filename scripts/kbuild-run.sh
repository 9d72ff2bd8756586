#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ./run_tests.sh --build DIR, for a runner that does not have the flag
# yet: build DIR's kernel for the test VM (python3 -m kvmc.kbuild), then
# run the suite on it with ./run_tests.sh --kernel IMAGE.
#
#   scripts/kbuild-run.sh --build DIR --arch ARCH [--kconfig-add CONFIG_X=y]
#                         [--kconfig FRAGMENT] [run_tests.sh options...]
#
# Exit status, for git bisect run: 0 no test failed, 1 a test failed, 125
# the tree cannot be tested (not a kernel tree, the build failed, the
# configuration lacks what the suite needs, the kernel did not boot), and
# 128 (git bisect run stops) on bad usage, which run_tests.sh reports as 2
# and git bisect would otherwise take for "bad".
# KVMC_BUILD_NICE: nice level of the build (default 10).
set -u -o pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
tree= arch= build_args=() run_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || exit 128; tree=$2; shift 2 ;;
	--arch) [ $# -ge 2 ] || exit 128; arch=$2; run_args+=(--arch "$2"); shift 2 ;;
	--kconfig-add|--kconfig) [ $# -ge 2 ] || exit 128; build_args+=("$1" "$2"); shift 2 ;;
	*) run_args+=("$1"); shift ;;
	esac
done
if [ -z "$tree" ] || [ -z "$arch" ]; then
	echo "kbuild-run.sh: needs --build DIR and one --arch" >&2
	exit 128
fi

image=$(PYTHONPATH=$TOP/scripts python3 -m kvmc.kbuild --tree "$tree" --arch "$arch" \
	--nice "${KVMC_BUILD_NICE:-10}" "${build_args[@]}")
rc=$?
case $rc in
0) ;;
125) exit 125 ;;
*) exit 128 ;;
esac
"$TOP/run_tests.sh" "${run_args[@]}" --kernel "$image"
rc=$?
case $rc in
0|1|125) exit "$rc" ;;
*) exit 128 ;;
esac

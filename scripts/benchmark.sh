#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Time to verdict against the project's targets (scripts/kvmc/bench.py):
# cold (--cold), warm per architecture, both side by side, and the kernel's
# own KVM selftests in the same VM (unless --no-selftests), and a kernel
# tree's edit-build-test loop (unless --no-kernel-tree).
#   scripts/benchmark.sh [--cold] [--runs N] [--no-selftests] [--no-kernel-tree]
#                        [--kernel-tree-only] [--cold-kernel]
#   make bench BENCH_ARGS="--cold"
TOP=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$TOP/scripts${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kvmc.bench "$@"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# From finding to fix (issue 26): each patch of scripts/kvmc/patches/fixes/
# built into Debian's linux-source and checked the way a maintainer would:
#  (1) the finding's tests pass without their baseline lines,
#  (2) every other test keeps its verdict,
#  (3) the kernel's own KVM selftests pass on the patched kernel,
#  (4) --reference against the stock kernel shows only the intended changes,
#  (5) the catalog's mutants of the patched files die at least as often
#      (those the stock kernel killed, each re-checked with the tests that
#      killed it, in full when those do not; --full-mutation: all, in full).
#
#   scripts/fix-demo.sh [--fix NAME|NN]... [--no-mutation | --mutation-only] [--full-mutation]
#                       [--worktree NAME] [--out DIR]
#
# The trees are branches fixes/<name> of the cache's worktree "fixes" (or --worktree; one
# cold kernel build per architecture the first time, then incremental).
# Results and logs: results/fix-demo/. Exit status 0 when every check held
# for every fix, 1 otherwise, 2 for a usage mistake. scripts/kvmc/fixdemo.py
# says more.
set -eu -o pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP/scripts"
exec python3 -m kvmc.fixdemo demo "$@"

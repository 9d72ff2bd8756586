#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Regenerate docs/matrix-example.html: both architectures on four Debian
# kernels (6.1 bookworm, 6.12 trixie, 7.2 sid, 7.3 trixie-backports), with
# Debian's known deviations as "known" (the JSON behind it stays in results/).
#
#   scripts/matrix-example.sh
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/run_tests.sh" --matrix --kernels "bookworm trixie sid trixie-backports" \
	--baseline "$top/baselines/debian.txt" \
	-o "$top/results/matrix-example" \
	--report "$top/docs/matrix-example.html" --json "$top/results/matrix-example/results.json" || rc=$?
# A failing kernel is part of the picture, not a reason to stop.
[ "${rc:-0}" -le 1 ] || exit "$rc"
echo "docs/matrix-example.html written"

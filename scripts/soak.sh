#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Flakiness: run the whole suite N times, report every test whose verdict
# changed (scripts/kvmc/soak.py).
#   scripts/soak.sh [-n N] [RUN_TESTS_ARGS...]     (default N=20)
TOP=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$TOP/scripts${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kvmc soak "$@"

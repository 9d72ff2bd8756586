#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Flakiness and what a CI farm hits: run the suite N times, P at a time,
# in this clone or in C fresh clones sharing one (cold) cache; report every
# test whose verdict changed and everything the runs left behind
# (scripts/kvmc/soak.py; -h lists the options).
#   scripts/soak.sh [-n N] [--parallel P] [--clones C] [--cold-cache]
#                   [--cache DIR] [--out DIR] [--limit S] [--keep] [RUN_TESTS_ARGS...]
TOP=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$TOP/scripts${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kvmc soak "$@"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The scenario x architecture verdict table of a run as Markdown, from the
# result tree of results/<arch>/ (scripts/kvmc/report.py); with --update
# README.md, replace the table between the status markers of that file.
#   scripts/status-table.sh [-r RESULTS_DIR] [--update FILE]
TOP=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$TOP/scripts${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kvmc status-table "$@"

# SPDX-License-Identifier: GPL-2.0
"""python3 -m kvmc COMMAND: the host side's tools beside run_tests.sh.

    python3 -m kvmc run [RUN_TESTS_ARGS...]       what ./run_tests.sh does
    python3 -m kvmc report FORMAT -o FILE DIR...  json, junit, html, baseline
    python3 -m kvmc status-table [-r DIR] [--update FILE]
    python3 -m kvmc soak [-n N] [--parallel P] [--clones C --cold-cache] [RUN_TESTS_ARGS...]
"""

import sys

from .tools import main

sys.exit(main(sys.argv[1:]))

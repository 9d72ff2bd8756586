# SPDX-License-Identifier: GPL-2.0
"""python3 -m kvmc COMMAND: the host side's tools beside run_tests.sh.

    python3 -m kvmc run [RUN_TESTS_ARGS...]       what ./run_tests.sh does
    python3 -m kvmc report FORMAT -o FILE DIR...  json, junit, html, baseline
    python3 -m kvmc status-table [-r DIR] [--update FILE]
    python3 -m kvmc soak [-n N] [--parallel P] [--clones C --cold-cache] [RUN_TESTS_ARGS...]
"""

from __future__ import annotations

import argparse
import os
import sys

from . import TOP, common, report, results


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        from .cli import main as run_main
        return run_main(rest)
    if cmd == "report":
        return report_main(rest)
    if cmd == "status-table":
        return status_main(rest)
    if cmd == "soak":
        from .soak import main as soak_main
        return soak_main(rest)
    common.Log("kvmc")(f"unknown command '{cmd}'")
    return 2


def report_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python3 -m kvmc report",
                                description="Reports from results directories (results/<arch>/).")
    p.add_argument("format", choices=["json", "junit", "html", "baseline"])
    p.add_argument("-o", dest="output", required=True)
    p.add_argument("--title", default="kvm-contract results")
    p.add_argument("dirs", nargs="+")
    a = p.parse_args(argv)
    title: str = a.title
    output: str = a.output
    runs = [results.load_dir(d) for d in a.dirs
            if any(os.path.exists(os.path.join(d, f)) for f in (results.KTAP, results.UNTESTABLE))]
    if not runs:
        common.Log("kvmc report")(f"no results in {' '.join(a.dirs)}")
        return 1
    text = report.render(a.format, runs, title)
    if output == "-":
        sys.stdout.write(text)
    else:
        common.write_atomic(output, text)
    return 0


def status_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="scripts/status-table.sh",
                                description="The scenario x architecture table of a run, as Markdown.")
    p.add_argument("-r", dest="results", default=os.path.join(TOP, "results"))
    p.add_argument("--update", metavar="FILE", help="replace the table between the status markers")
    a = p.parse_args(argv)
    from .qemu_configs import CONFIGS
    where: str = a.results
    runs = [results.load_dir(os.path.join(where, name)) for name in CONFIGS
            if os.path.exists(os.path.join(where, name, results.KTAP))
            and os.path.getsize(os.path.join(where, name, results.KTAP))]
    if not runs:
        common.Log("status-table")(f"no results under {a.results}")
        return 1
    update: str | None = a.update
    if not update:
        sys.stdout.write(report.status_table(runs))
        return 0
    with open(update, encoding="utf-8") as f:
        text = f.read()
    common.write_atomic(update, report.update_status(text, runs))
    return 0

# SPDX-License-Identifier: GPL-2.0
"""python3 -m kvmc COMMAND: the host side's tools beside run_tests.sh, one
argparse parser with a subcommand each (python3 -m kvmc -h):

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


def parser() -> argparse.ArgumentParser:
    """One parser with a subcommand per tool, as kunit.py has. run and soak
    keep their own options (their parsers live in cli.py and soak.py): what
    follows their name goes to them untouched."""
    p = argparse.ArgumentParser(prog="python3 -m kvmc", description="The host side's tools beside run_tests.sh.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", add_help=False, help="what ./run_tests.sh does (python3 -m kvmc run -h)")
    r = sub.add_parser("report", help="json, junit, html or baseline from results directories",
                       description="Reports from results directories (results/<arch>/).")
    r.add_argument("format", choices=["json", "junit", "html", "baseline"])
    r.add_argument("-o", dest="output", required=True)
    r.add_argument("--title", default="kvm-contract results")
    r.add_argument("dirs", nargs="+")
    st = sub.add_parser("status-table", help="the scenario x architecture table of a run, as Markdown",
                        description="The scenario x architecture table of a run, as Markdown.")
    st.add_argument("-r", dest="results", default=os.path.join(TOP, "results"))
    st.add_argument("--update", metavar="FILE", help="replace the table between the status markers")
    sub.add_parser("soak", add_help=False, help="the suite run again and again (python3 -m kvmc soak -h)")
    return p


def main(argv: list[str]) -> int:
    p = parser()
    if argv and argv[0] in ("run", "soak"):
        # Everything after the name, options included, is the tool's own.
        rest = argv[1:]
        if argv[0] == "run":
            from .cli import main as run_main
            return run_main(rest)
        from .soak import main as soak_main
        return soak_main(rest)
    a = p.parse_args(argv)     # exits 2 on a mistake, 0 after -h
    if a.command == "report":
        return report_command(a)
    return status_command(a)


def report_command(a: argparse.Namespace) -> int:
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


def status_command(a: argparse.Namespace) -> int:
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

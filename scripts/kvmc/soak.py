# SPDX-License-Identifier: GPL-2.0
"""Flakiness: run the whole suite N times and report every test whose
verdict was not the same in all runs.

    scripts/soak.sh [-n N] [RUN_TESTS_ARGS...]     (default N=20)

Each run keeps its results in results/soak/<i>/; a test's verdict (pass,
fail, skip, xfail, xpass) is read from each run's result tree, per
architecture. Exit 0 when no verdict changed, 1 when one did, 125 when a
run could not test a kernel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter

from . import TOP, results
from .report import single_tests


def verdicts(run_dir: str) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    if not os.path.isdir(run_dir):
        return out
    for arch in sorted(os.listdir(run_dir)):
        d = os.path.join(run_dir, arch)
        if not os.path.isfile(os.path.join(d, results.KTAP)) or arch in ("unit", "python", "runner"):
            continue
        for t, _ in single_tests(results.load_dir(d)):
            out[(arch, t.name)] = t.verdict.value
    return out


def main(argv: list[str]) -> int:
    n = 20
    if argv[:1] == ["-n"] and len(argv) >= 2:
        n, argv = int(argv[1]), argv[2:]
    out = os.path.join(TOP, "results", "soak")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    start = time.monotonic()
    untestable = False
    seen: list[dict[tuple[str, str], str]] = []
    for i in range(1, n + 1):
        t0 = time.monotonic()
        with open(os.path.join(out, f"{i}.log"), "w", encoding="utf-8") as log:
            rc = subprocess.call([os.path.join(TOP, "run_tests.sh"), "-o", os.path.join(out, str(i)), *argv],
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        untestable = untestable or rc > 1
        with open(os.path.join(out, f"{i}.log"), encoding="utf-8", errors="replace") as log:
            last = (log.read().strip().splitlines() or [""])[-1]
        print(f"soak: run {i}/{n}: exit {rc}, {last}, {int(time.monotonic() - t0)} s", flush=True)
        seen.append(verdicts(os.path.join(out, str(i))))
    tests = sorted({k for v in seen for k in v})
    changed = 0
    for key in tests:
        c = Counter(v.get(key, "missing") for v in seen)
        if len(c) > 1:
            changed += 1
            print(f"soak: CHANGED {key[0]} {key[1]}: " + ", ".join(f"{v} x{k}" for v, k in sorted(c.items())))
    print(f"soak: {n} runs of {len(tests)} tests in {int(time.monotonic() - start)} s: {changed} verdicts changed")
    if changed:
        return 1
    return 125 if untestable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

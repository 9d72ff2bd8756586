# SPDX-License-Identifier: GPL-2.0
"""--reference DIR: a behavioural diff against an earlier run.

Everything a test judges is in results/<arch>/observations.jsonl. After
a run, each observation is compared with the reference's observation of
the same configuration, test and step (the n-th of that step, when a
test records one step several times), field by field (COMPARED), and
each test's verdict with the reference's: every difference is a Change.
A change is no failure: the contract may allow both values (si_addr_lsb
12 or 21, an ESR's ISS), but a VMM would notice, and `git bisect run`
with --fail-on-change finds the commit that made it.

What differs between two runs of one kernel is no change: VARIES is the
one place that says what that is, and each value is normalised by it
before it is compared (and shown normalised). Tests of this run that the
reference lacks are listed as new, tests of the reference this run
selects (-t) but did not run as gone; neither is a change.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Callable

from . import results, testnames
from .qemu_configs import CONFIGS
from .results import Change, Diff, Run

# The fields of an observation that are what it saw, as record.cpp writes
# them; "test" and "step" name it, "section" and "basis" are the suite's
# references to the documentation (its text, not the kernel's behaviour).
COMPARED = ("rule", "verdict", "expected", "observed", "ret", "errno", "exit_reason", "payload",
            "state", "findings")

# The test's verdict (pass, fail, skip, xfail, xpass), as a change's field.
VERDICT_FIELD = "verdict"
VERDICT_STEP = "(test result)"


@dataclass(frozen=True)
class Varies:
    """A value that legitimately differs between two runs of one kernel,
    found by pattern in every compared field and replaced."""
    what: str
    pattern: re.Pattern[str]
    replace: Callable[[re.Match[str]], str]


def _host_address(m: re.Match[str]) -> str:
    # The page offset stays: it is the test's, not ASLR's (si_addr
    # 0x...040 is the byte the access touched).
    return f"<host address>+0x{m.group(0)[-3:]}"


# What two runs of the same kernel differ in, found by comparing two
# complete runs of Debian's 7.3.4 on every configuration (arm64,
# arm64-nested, x86_64, x86_64-shadow) field by field: 9 to 11
# observations each, all of the poison tests (P1, P2, N11, N15), all in a
# host address (in "expected", on x86 also in a C8 note). A mutation study
# later showed x86_64's mmap base below 0x7f00_0000_0000 (u1_missing_page's
# userfaultfd page at 0x7efcf4265000), which the first pattern missed. Pids, fds and
# timings are in no observation; a value added to one that varies goes
# here, with the runs that showed it (tests/runner/cases/reference.sh
# runs the suite five times on one kernel).
VARIES: tuple[Varies, ...] = (
    Varies("a host user-space address (mmap and the stack, moved by ASLR: the poisoned page, the "
           "native fault's si_addr, a userfaultfd page): 12 hex digits from 0x5000_0000_0000 up, "
           "where a 48-bit address space puts mmap, the stack and PIE (x86_64's mmap base ranges "
           "over 0x7e... and 0x7f..., arm64's over 0xa... to 0xf...); its page offset is kept",
           re.compile(r"\b0x[5-9a-f][0-9a-f]{11}\b"), _host_address),
)


def normalise(value: object) -> str:
    """A field's value as it is compared and shown: JSON (keys in order),
    what VARIES lists replaced."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    for v in VARIES:
        text = v.pattern.sub(v.replace, text)
    return text


class ReferenceError(Exception):
    pass


def load(path: str) -> dict[str, Run]:
    """The runs of a reference: a results directory (-o) of an earlier
    run, each run by its path in it (arm64, matrix/7.3.4/arm64), or one
    run's directory (results/arm64), by its name. ReferenceError when
    there is none."""
    if not os.path.isdir(path):
        raise ReferenceError(f"--reference {path}: no such directory")
    if os.path.exists(os.path.join(path, results.KTAP)) or \
            os.path.exists(os.path.join(path, results.OBSERVATIONS)):
        run = results.load_dir(path)
        return {run.label: run}
    runs = {r.label: r for r in results.load_tree(path)}
    if not runs:
        raise ReferenceError(f"--reference {path}: no results there (neither {results.KTAP} nor "
                             "a directory holding one: give the -o directory of an earlier run)")
    return runs


def match(run: Run, rel: str, refs: dict[str, Run], only: bool) -> Run | None:
    """The reference run for run (rel: its path in the results
    directory): the same path, else the same configuration, else, when
    this run and the reference each have only one, that one."""
    if rel in refs:
        return refs[rel]
    if run.arch in refs:
        return refs[run.arch]
    if only and len(refs) == 1:
        return next(iter(refs.values()))
    return None


def _keyed(observations: dict[str, list[dict[str, object]]],
           test: str) -> dict[tuple[str, int], dict[str, object]]:
    """A test's observations by (step, how many of that step came before)."""
    out: dict[tuple[str, int], dict[str, object]] = {}
    seen: dict[str, int] = {}
    for rec in observations.get(test, []):
        step = normalise(str(rec.get("step", "")))
        n = seen.get(step, 0)
        seen[step] = n + 1
        out[(step, n)] = rec
    return out


def verdicts(run: Run) -> dict[str, str]:
    """Each test's verdict (pass, fail, skip, xfail, xpass) by name."""
    return {t.name: t.verdict.value for t, _ in run.doc.leaves() if t.name}


def diff(run: Run, ref: Run, pattern: str = "") -> Diff:
    """run against ref: every change, every new and gone test."""
    d = Diff(reference=ref.directory, kernel=ref.kernel)
    now, then = verdicts(run), verdicts(ref)
    tests = list(dict.fromkeys([*now, *run.observations]))
    old = list(dict.fromkeys([*then, *ref.observations]))
    for test in tests:
        if test not in then and test not in ref.observations:
            d.new.append(test)
            continue
        out: list[Change] = []
        if now.get(test, "") != then.get(test, ""):
            out.append(Change(test, VERDICT_STEP, ((VERDICT_FIELD, then.get(test, ""), now.get(test, "")),)))
        a, b = _keyed(ref.observations, test), _keyed(run.observations, test)
        for key in dict.fromkeys([*a, *b]):
            step = key[0] + (f" #{key[1] + 1}" if key[1] else "")
            ra, rb = a.get(key), b.get(key)
            if ra is None or rb is None:
                out.append(Change(test, step, (("observation", "" if ra is None else "recorded",
                                                 "" if rb is None else "recorded"),)))
                continue
            values = [(f, normalise(ra[f]) if f in ra else "", normalise(rb[f]) if f in rb else "")
                      for f in COMPARED]
            differ = tuple(v for v in values if v[1] != v[2])
            if differ:
                out.append(Change(test, step, differ))
        if out:
            d.changes[test] = out
    seen = set(tests)
    d.gone = [t for t in old if t not in seen and (not pattern or testnames.selects(pattern, t))]
    return d


def apply(run: Run, d: Diff) -> None:
    """The diff in the run's KTAP: a "# CHANGED" line in each changed
    test's diagnostics, the reference, new and gone tests in the run's."""
    for t, _ in run.doc.leaves():
        for c in d.changes.get(t.name, []):
            t.post.append("# " + c.text())
        if t.name in d.new:
            t.post.append("# reference: new test (not in the reference)")


def compare(run: Run, ref: Run, pattern: str = "") -> None:
    """run against ref, kept in run.reference and written into its KTAP;
    nothing when either could not test."""
    if run.untestable or ref.untestable or run.arch not in CONFIGS:
        return
    d = diff(run, ref, pattern)
    run.reference = d
    apply(run, d)


# How many changes the summary on stderr lists a run (all are in --json).
LISTED = 20


def listing(d: Diff) -> list[str]:
    """The changes, new and gone tests of a run, a line each, for stderr."""
    lines = [f"{test}: {c.text()}" for test, cs in d.changes.items() for c in cs]
    if len(lines) > LISTED:
        lines = lines[:LISTED] + [f"... and {len(lines) - LISTED} more (--json lists them all)"]
    lines += [f"new: {t}" for t in d.new[:LISTED]]
    lines += [f"gone: {t}" for t in d.gone[:LISTED]]
    return lines


def closing(runs: list[Run], path: str) -> str:
    """The line above the closing counts: "N changed", new and gone
    tests, against which reference; runs it did not cover said so."""
    ds = [r.reference for r in runs if r.reference is not None]
    line = (f"{sum(d.changed for d in ds)} changed, {sum(len(d.new) for d in ds)} new, "
            f"{sum(len(d.gone) for d in ds)} gone against the reference {path}")
    missing = [r.label for r in runs if r.reference is None and not r.untestable
               and r.arch in CONFIGS]
    if missing:
        line += (f" (not compared: {', '.join(missing)}: no such run in the reference, or it could not"
                 " test)")
    return line

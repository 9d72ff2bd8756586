# SPDX-License-Identifier: GPL-2.0
"""The result tree of a run: one Run per architecture (and kernel), each
holding its KTAP document as parsed by ktap.py, its observations and why
it could not be tested, if so. The summary, the exit code and every report
are computed from it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from . import baseline as bl
from .common import read_text, write_atomic
from .ktap import Counts, Test, Verdict, parse

# What each file of results/<arch>/ holds.
KTAP = "results.ktap"
OBSERVATIONS = "observations.jsonl"
KERNEL_VERSION = "kernel-version"
KERNEL_PACKAGE = "kernel-package"
UNTESTABLE = "untestable"
SUMMARY = "summary"


@dataclass
class Run:
    arch: str                      # as given to --arch (or unit, runner)
    label: str                     # unique among the runs of one invocation
    doc: Test = field(default_factory=Test)
    kernel: str = "unknown"
    package: str = ""
    untestable: str = ""           # why it could not be tested (exit 125)
    # Taint or WARN in the kernel before the first test (boot, module
    # loading): no test's failure, but shown in the summary and the JSON.
    boot_health: str = ""
    directory: str = ""
    observations: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)
    not_excused: list[str] = field(default_factory=list)

    def counts(self) -> Counts:
        return self.doc.counts()

    def as_test(self, number: int) -> Test:
        """This run as one named subtest of the whole run's document."""
        c = self.counts()
        t = Test(name=self.label, number=number, header=self.doc.header,
                 subtests=self.doc.subtests, trailer=self.doc.trailer, pre=[])
        t.pre.append(f"# {self.label}: kernel {self.kernel}" + (f" ({self.package})" if self.package else ""))
        if self.boot_health:
            t.pre.append(f"# {self.label}: kernel unhealthy before the first test (C13): {self.boot_health}")
        if self.untestable:
            t.ok, t.directive = False, f"not tested: {self.untestable}"
        elif c.failed:
            t.ok, t.directive = False, f"{c.failed} failed"
        elif c.verdicts == 0:
            t.ok, t.directive = True, "SKIP no test ran"
        elif c.xfail:
            t.ok, t.directive = False, f"TODO {c.xfail} known deviations"
        else:
            t.ok = True
        return t

    # ---- observations -------------------------------------------------------
    def failing_findings(self, test: str) -> list[tuple[str | None, str]]:
        out: list[tuple[str | None, str]] = []
        for rec in self.observations.get(test, []):
            findings = rec.get("findings")
            failing = [f for f in findings if isinstance(f, dict) and f.get("severity") == "failure"] \
                if isinstance(findings, list) else []
            for f in failing:
                key = f.get("key")
                out.append((key if isinstance(key, str) and key else None, str(f.get("text", ""))))
            if not failing and rec.get("verdict") == "fail":
                out.append((None, f"{rec.get('rule', '?')} {rec.get('step', '')}: {rec.get('observed', '')}"))
        return out


def read_observations(path: str) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for line in read_text(path).splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.setdefault(str(rec.get("test", "")), []).append(rec)
    return out


def apply_baseline(run: Run, entries: list[bl.Entry]) -> None:
    """Mark the known deviations of a run XFAIL (and listed tests that
    passed XPASS) in its tree, at every level that contains them."""
    if not entries:
        return
    from .qemu_configs import CONFIGS
    arch = run.arch
    if arch in CONFIGS and CONFIGS[arch].build_arch != arch:
        arch = f"{arch}/{CONFIGS[arch].build_arch}"
    for binary in run.doc.subtests:
        tests = binary.subtests or [binary]
        for t in tests:
            if t.raw_verdict is Verdict.SKIP:
                continue
            failed = t.raw_verdict is Verdict.FAIL
            j = bl.judge(entries, arch, run.kernel, t.name, failed, t.synthesized,
                         run.failing_findings(t.name) if failed else [])
            if j.excused:
                t.verdict_override, t.reason = Verdict.XFAIL, j.reason
            elif j.listed and not failed:
                t.verdict_override, t.reason = Verdict.XPASS, j.reason
                run.fixed.append(t.name)
            elif j.listed and failed:
                t.post.append("# baseline: not excused: " + "; ".join(j.unexcused))
                run.not_excused.append(f"{t.name}: " + "; ".join(j.unexcused))
        # A binary that failed only through its known deviations: the
        # harness's exit status 1, nothing else failing in it.
        if binary.subtests and binary.raw_verdict is Verdict.FAIL and \
                binary.directive in ("", "exit status 1") and \
                any(t.verdict is Verdict.XFAIL for t in binary.subtests) and \
                not any(t.verdict is Verdict.FAIL for t in binary.subtests):
            binary.verdict_override = Verdict.XFAIL
            binary.reason = "known deviations only"


def load_dir(directory: str, label: str = "") -> Run:
    """A run as a results directory keeps it (what report/soak/status read)."""
    arch = os.path.basename(os.path.normpath(directory))
    text = read_text(os.path.join(directory, KTAP))
    run = Run(arch=arch, label=label or arch, doc=parse(text.splitlines(), arch),
              kernel=read_text(os.path.join(directory, KERNEL_VERSION)).strip() or "unknown",
              package=read_text(os.path.join(directory, KERNEL_PACKAGE)).strip(),
              untestable=read_text(os.path.join(directory, UNTESTABLE)).strip(),
              directory=directory,
              observations=read_observations(os.path.join(directory, OBSERVATIONS)))
    return run


def save_dir(run: Run) -> None:
    """Write results.ktap, summary and untestable from the tree."""
    d = run.directory
    os.makedirs(d, exist_ok=True)
    write_atomic(os.path.join(d, KTAP), "\n".join(run.doc.document()) + "\n"
                 if run.doc.subtests or run.doc.header else "")
    if run.untestable:
        write_atomic(os.path.join(d, UNTESTABLE), run.untestable + "\n")
    else:
        write_atomic(os.path.join(d, SUMMARY), run.counts().line() + "\n")


def total(runs: list[Run]) -> Counts:
    c = Counts()
    for r in runs:
        c.add(r.counts())
    return c


def whole_document(runs: list[Run], planned: int | None = None) -> list[str]:
    """The whole run as one KTAP document, each run a named subtest."""
    out = ["TAP version 13", f"1..{len(runs) if planned is None else planned}"]
    for i, r in enumerate(runs, 1):
        out += r.as_test(i).lines()
    return out


def exit_code(runs: list[Run], pattern: str = "") -> tuple[int, str]:
    """The exit status of a run and, when it is not 0 or 1, why."""
    c = total(runs)
    if c.failed:
        return 1, ""
    if any(r.untestable for r in runs):
        return 125, ""
    if c.verdicts == 0:
        if pattern:
            return 2, f"no test matches -t '{pattern}' (list them with -l)"
        return 125, "no test ran"
    return 0, ""


def load_tree(directory: str) -> list[Run]:
    """Every run a results directory (-o) holds, in name order: each
    directory under it with results.ktap or untestable (results/<arch>/,
    the own tests' results/unit/, --matrix's results/matrix/<kernel>/<arch>/),
    labelled by its path in directory."""
    out: list[Run] = []
    for d, dirs, files in os.walk(directory):
        dirs.sort()
        if KTAP in files or UNTESTABLE in files:
            out.append(load_dir(d, label=os.path.relpath(d, directory)))
    return out


def closing_line(runs: list[Run]) -> str:
    """run_tests.sh's last line: the counts of all the runs of one invocation."""
    c = total(runs)
    return f"{c.passed} passed, {c.failed} failed, {c.skipped} skipped"

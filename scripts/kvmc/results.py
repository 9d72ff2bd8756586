# SPDX-License-Identifier: GPL-2.0
"""The result tree of a run: one Run per architecture (and kernel), each
holding its KTAP document as parsed by ktap.py, its observations and why
it could not be tested, if so. The summary, the exit code and every report
are computed from it."""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field

from . import baseline as bl
from .common import read_text, write_atomic
from .ktap import Counts, Test, Verdict, parse

# What each file of results/<arch>/ holds; no other module spells these.
KTAP = "results.ktap"                # the run's KTAP document
OBSERVATIONS = "observations.jsonl"  # every judgement, one JSON object a line
KERNEL_VERSION = "kernel-version"    # uname -r of the kernel tested
KERNEL_PACKAGE = "kernel-package"    # the Debian package it came from, if any
KVM_IMPLEMENTATION = "kvm"           # the KVM judged: kvm_amd, kvm_intel, kvm, kvm_pvm ...
UNTESTABLE = "untestable"            # why it could not be tested
SUMMARY = "summary"                  # the counts line
KERNEL_LOG = "kernel.log"            # the test VM's kernel log
CONSOLE_LOG = "console.log"          # everything else the VM printed
TIMING = "timing"                    # NAME=MS lines, NAME one of TIMING_KEYS
DURATIONS = "durations"              # "TEST MS" lines, one a test
EXTRA_DURATIONS = "extra-durations"  # "NAME MS STATUS" lines, one a kselftest or extra test
# What earlier versions of the runner left there.
QEMU_PID = "qemu.pid"
OUTPUT = "output"
RC = "rc"
# Everything a run may find of an earlier one (removed before it starts).
FILES = (KTAP, OBSERVATIONS, KERNEL_VERSION, KERNEL_PACKAGE, KVM_IMPLEMENTATION, UNTESTABLE,
         SUMMARY, KERNEL_LOG, CONSOLE_LOG, TIMING, DURATIONS, EXTRA_DURATIONS, QEMU_PID, OUTPUT, RC)

# The times in TIMING, milliseconds from QEMU's start: the VM's init ran,
# the first KTAP line came, QEMU ended.
TIMING_KEYS = ("guest_init_ms", "first_ktap_ms", "total_ms")

# The KVM implementations of the upstream kernel, as /sys/module names
# them: x86's vendor modules, powerpc's, and "kvm" alone where KVM has no
# vendor module (arm64, riscv, s390). Any other (kvm_pvm) is a flavour
# the verdicts are about, not upstream KVM.
UPSTREAM_KVM = frozenset({"kvm_intel", "kvm_amd", "kvm_hv", "kvm_pr", "kvm"})


def kvm_upstream(kvm: str) -> bool:
    """Whether an implementation as Run.kvm names it is upstream KVM."""
    return bool(kvm) and all(part in UPSTREAM_KVM for part in kvm.split("+"))


def kvm_text(kvm: str) -> str:
    """An implementation as the run's header names it."""
    if not kvm or kvm_upstream(kvm):
        return kvm
    return f"{kvm}: not upstream KVM; verdicts are about this implementation"


def baseline_arch(config: str) -> str:
    """CONFIG as a baseline entry matches it: the configuration and, where
    they differ, its architecture (x86_64-shadow/x86_64)."""
    from .qemu_configs import CONFIGS
    if config in CONFIGS and CONFIGS[config].build_arch != config:
        return f"{config}/{CONFIGS[config].build_arch}"
    return config


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
    # The KVM implementation judged (see UPSTREAM_KVM), "" when not known.
    kvm: str = ""
    observations: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)
    not_excused: list[str] = field(default_factory=list)
    # Against --reference (reference.py): None when not compared.
    reference: Diff | None = None

    def counts(self) -> Counts:
        return self.doc.counts()

    def as_test(self, number: int) -> Test:
        """This run as one named subtest of the whole run's document."""
        c = self.counts()
        t = Test(name=self.label, number=number, header=self.doc.header,
                 subtests=self.doc.subtests, trailer=self.doc.trailer, pre=[])
        t.pre.append(f"# {self.label}: kernel {self.kernel}" + (f" ({self.package})" if self.package else "")
                     + (f", KVM {kvm_text(self.kvm)}" if self.kvm else ""))
        if self.boot_health:
            t.pre.append(f"# {self.label}: kernel unhealthy before the first test (C13): {self.boot_health}")
        if self.reference is not None:
            t.pre += self.reference.diagnostics(self.label)
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

    def baseline_arch(self) -> str:
        """The architecture as a baseline entry matches it: the
        configuration and, where they differ, its architecture."""
        return baseline_arch(self.arch)

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
    arch = run.baseline_arch()
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
              kvm=read_text(os.path.join(directory, KVM_IMPLEMENTATION)).strip(),
              directory=directory,
              observations=read_observations(os.path.join(directory, OBSERVATIONS)))
    return run


def save_dir(run: Run) -> None:
    """Write results.ktap, summary and untestable from the tree."""
    d = run.directory
    os.makedirs(d, exist_ok=True)
    write_atomic(os.path.join(d, KTAP), "\n".join(run.doc.document()) + "\n"
                 if run.doc.subtests or run.doc.header else "")
    if run.kvm:
        write_atomic(os.path.join(d, KVM_IMPLEMENTATION), run.kvm + "\n")
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


# ---- the closing summary: failures by finding ----------------------------------
NO_KEY = "no finding key"
DID_NOT_FINISH = "crash or time limit"


@dataclass
class FailureGroup:
    """The failed tests of a run that share one finding key (or none)."""
    what: str                     # a finding key, NO_KEY or DID_NOT_FINISH
    tests: int = 0
    known: int = 0                # of them, how many a baseline entry excuses
    where: list[str] = field(default_factory=list)   # "on ARCH KERNEL: FILE, REASON"
    files: list[str] = field(default_factory=list)   # the baselines that know it


def _did_not_finish(t: Test) -> bool:
    """A failure no baseline excuses: a crash, a time limit, a dead VM
    (a test the runner added for one that never reported, a binary
    killed by its time limit or a signal)."""
    if t.synthesized:
        return True
    d = t.directive.lower()
    status = d.removeprefix("exit status ").strip()
    return d.startswith("timeout") or (d.startswith("exit status ") and status.isdigit()
                                        and int(status) >= 128)


def failure_groups(runs: list[Run], baselines: list[tuple[str, list[bl.Entry]]]) -> list[FailureGroup]:
    """The failed tests of runs grouped by their failing findings' keys,
    each group with how many of its tests a baseline of baselines (file
    name, entries) knows for the run's architecture and kernel. A test
    with two keys counts in both groups. The most frequent key first (of
    equals, the first seen);
    failures without a key, then crashes and time limits, last."""
    groups: dict[str, FailureGroup] = {}
    for r in runs:
        arch = r.baseline_arch()
        for t, _ in r.doc.leaves():
            if t.verdict is not Verdict.FAIL:
                continue
            if _did_not_finish(t):
                groups.setdefault(DID_NOT_FINISH, FailureGroup(DID_NOT_FINISH)).tests += 1
                continue
            findings = r.failing_findings(t.name)
            keys = list(dict.fromkeys(k for k, _ in findings if k))
            if not findings or any(k is None for k, _ in findings):
                groups.setdefault(NO_KEY, FailureGroup(NO_KEY)).tests += 1
            for key in keys:
                g = groups.setdefault(key, FailureGroup(key))
                g.tests += 1
                known = [(name, e) for name, entries in baselines for e in entries
                         if e.applies(arch, r.kernel, t.name) and e.excuses(key)]
                if known:
                    g.known += 1
                for name, e in known:
                    text = (f"on {e.arch} {e.kernel}: {name}, {bl.cut(e.plain_reason or e.key, 100)}"
                            + (f"; proposed fix: {e.fix}" if e.fix else ""))
                    if text not in g.where:
                        g.where.append(text)
                    if name not in g.files:
                        g.files.append(name)
    keyed = sorted((g for k, g in groups.items() if k not in (NO_KEY, DID_NOT_FINISH)),
                   key=lambda g: -g.tests)
    return keyed + [groups[k] for k in (NO_KEY, DID_NOT_FINISH) if k in groups]


def failure_lines(groups: list[FailureGroup], failed: int) -> list[str]:
    """The lines that say what the failed tests have in common: the first
    says how many findings; each finding then gets a line (the first
    line's end when there is only one) with its count and whether a
    baseline knows it."""
    if not failed or not groups:
        return []
    keyed = [g for g in groups if g.what not in (NO_KEY, DID_NOT_FINISH)]
    parts = [f"{len(keyed)} finding" + ("s" if len(keyed) != 1 else "")] if keyed else []
    for g in groups:
        if g.what == NO_KEY:
            parts.append(f"{g.tests} without a finding key (no baseline excuses it)")
        elif g.what == DID_NOT_FINISH:
            parts.append(f"{g.tests} {'crash or time limit' if g.tests == 1 else 'crashes or time limits'}"
                         " (no baseline excuses it)")

    def line(g: FailureGroup) -> str:
        if not g.known:
            return f"{g.what} x {g.tests} (in no baseline)"
        part = "" if g.known == g.tests else f" for {g.known} of them"
        return f"{g.what} x {g.tests} (known{part} {'; '.join(g.where)})"

    head = f"{failed} failed: " + ", ".join(parts)
    if len(parts) == 1 and len(keyed) == 1:
        return [f"{head}: {line(keyed[0])}"]
    return [head + (":" if keyed else "")] + ["  " + line(g) for g in keyed]


def failure_summary(runs: list[Run], failed: int, top: str, hint: bool) -> list[str]:
    """The closing summary's lines about the failures (a line indented
    continues the one before): failure_lines() against every baseline of
    top/baselines/ and, with hint, which of them would excuse the known ones."""
    groups = failure_groups(runs, known_baselines(top))
    lines = failure_lines(groups, failed)
    files = list(dict.fromkeys(f for g in groups for f in g.files))
    if lines and files and hint:
        lines.append(f"with --baseline {files[0]} the known ones count as known deviations"
                     " (XFAIL), not failures")
    return lines


def known_baselines(top: str) -> list[tuple[str, list[bl.Entry]]]:
    """Every baseline of top/baselines/, as (its name from top, its
    entries); one that cannot be read or parsed is left out."""
    out = []
    for path in sorted(glob.glob(os.path.join(top, "baselines", "*.txt"))):
        try:
            out.append((os.path.relpath(path, top), bl.load(path)))
        except bl.BaselineError:
            continue
    return out


# ---- timing and durations ------------------------------------------------------
def write_timing(directory: str, values: dict[str, int | None]) -> None:
    """TIMING: each of TIMING_KEYS, empty when not known."""
    write_atomic(os.path.join(directory, TIMING), "".join(
        f"{k}={'' if values.get(k) is None else values[k]}\n" for k in TIMING_KEYS))


def read_timing(directory: str) -> dict[str, int | None]:
    """TIMING as written: every key of TIMING_KEYS, None when not known
    (no file, an empty or unreadable value)."""
    out: dict[str, int | None] = dict.fromkeys(TIMING_KEYS)
    for line in read_text(os.path.join(directory, TIMING)).splitlines():
        k, _, v = line.strip().partition("=")
        if k in out:
            out[k] = int(v) if v.isdigit() else None
    return out


def read_durations(directory: str) -> list[tuple[str, int]]:
    """DURATIONS: (test, milliseconds) in the order the tests ran."""
    out = []
    for line in read_text(os.path.join(directory, DURATIONS)).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out.append((parts[0], int(parts[1])))
    return out


def read_extra_durations(directory: str) -> list[tuple[str, int, int]]:
    """EXTRA_DURATIONS: (name, milliseconds, exit status) of each
    kselftest or extra test the VM ran, in that order."""
    out = []
    for line in read_text(os.path.join(directory, EXTRA_DURATIONS)).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].lstrip("-").isdigit():
            out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


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


def changed(runs: list[Run]) -> int:
    """How many observations and verdicts differ from --reference's."""
    return sum(r.reference.changed for r in runs if r.reference is not None)


def closing_line(runs: list[Run]) -> str:
    """run_tests.sh's last line: the counts of all the runs of one invocation."""
    return total(runs).closing()


# ---- against an earlier run (--reference; reference.py compares) ----------------
@dataclass(frozen=True)
class Change:
    """One observation (or a test's verdict) that differs from the
    reference's: step of test, each field that differs as (field, the
    reference's value, this run's; "" when absent on that side)."""
    test: str
    step: str
    values: tuple[tuple[str, str, str], ...]

    def text(self) -> str:
        step = f" step '{self.step}'" if self.step else ""
        return f"CHANGED{step}: " + "; ".join(
            f"{f}: {a or '(none)'} -> {b or '(none)'}" for f, a, b in self.values)

    def as_json(self) -> dict[str, object]:
        return {"step": self.step,
                "values": [{"field": f, "reference": a, "value": b} for f, a, b in self.values]}


@dataclass
class Diff:
    """A run against its reference."""
    reference: str                      # the reference run's directory
    kernel: str                         # the reference's kernel
    changes: dict[str, list[Change]] = field(default_factory=dict)   # by test, in order
    new: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(len(c) for c in self.changes.values())

    def diagnostics(self, label: str) -> list[str]:
        """The run's own lines about it, before its document."""
        out = [f"# {label}: reference: {self.summary()}"]
        out += [f"# {label}: reference: gone test (in the reference, not in this run): {t}"
                for t in self.gone]
        return out

    def summary(self) -> str:
        """One line: the counts against the reference."""
        tests = len(self.changes)
        return (f"{self.changed} changed in {tests} test{'s' if tests != 1 else ''}, "
                f"{len(self.new)} new, {len(self.gone)} gone against {self.reference} (kernel {self.kernel})")

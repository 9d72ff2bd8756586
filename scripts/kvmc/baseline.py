# SPDX-License-Identifier: GPL-2.0
"""Baselines: known kernel deviations, one exact finding per entry.

A line is

    ARCH KERNEL-GLOB TEST-GLOB RULE FIELD=VALUE  free-text reason

ARCH, KERNEL-GLOB (matched against uname -r) and TEST-GLOB are shell
patterns (ARCH matches the --arch configuration or its architecture: an
x86_64 entry covers x86_64-shadow); "RULE FIELD=VALUE" is a finding's key as the oracle writes it
(e.g. "C4 exit_reason=KVM_EXIT_UNKNOWN(0)"), FIELD=VALUE matched exactly
or, when it holds "*", as a pattern. "#" starts a comment line.

A failed test is excused (XFAIL) only when it has at least one failing
finding and every one of them has a key some entry for its architecture,
kernel and name excuses. A crash, a time limit, a dead VM, an exit status
or a failure without a key is never excused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

RULE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
FIELD_VALUE = re.compile(r"^[^=\s]+=\S*$")


class BaselineError(Exception):
    """A baseline that cannot be read or parsed (exit 2)."""


@dataclass(frozen=True)
class Entry:
    arch: str
    kernel: str
    test: str
    rule: str
    finding: str     # FIELD=VALUE
    reason: str
    where: str       # FILE:LINE

    @property
    def key(self) -> str:
        return f"{self.rule} {self.finding}"

    def applies(self, arch: str, kernel: str, test: str) -> bool:
        """arch: a configuration name, or several separated by "/" (the
        configuration and its architecture: an entry for x86_64 also
        covers x86_64-shadow, one for x86_64-shadow only that)."""
        return (any(fnmatchcase(a, self.arch) for a in arch.split("/"))
                and fnmatchcase(kernel, self.kernel) and fnmatchcase(test, self.test))

    def excuses(self, key: str) -> bool:
        rule, _, finding = key.partition(" ")
        if rule != self.rule:
            return False
        if "*" in self.finding:
            return fnmatchcase(finding, self.finding)
        return finding == self.finding


def parse_line(text: str, where: str) -> Entry | None:
    line = text.strip()
    if not line or line.startswith("#"):
        return None
    parts = line.split(None, 5)
    if len(parts) < 5:
        raise BaselineError(f"{where}: expected ARCH KERNEL-GLOB TEST-GLOB RULE FIELD=VALUE REASON,"
                            f" got {len(parts)} fields: {line}")
    arch, kernel, test, rule, finding = parts[:5]
    if not RULE.match(rule):
        raise BaselineError(f"{where}: '{rule}' is not a rule (like C4)")
    if not FIELD_VALUE.match(finding):
        raise BaselineError(f"{where}: '{finding}' is not FIELD=VALUE (a finding key such as"
                            " exit_reason=KVM_EXIT_UNKNOWN(0))")
    return Entry(arch, kernel, test, rule, finding, parts[5].strip() if len(parts) > 5 else "", where)


def parse(text: str, name: str) -> list[Entry]:
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        e = parse_line(line, f"{name}:{n}")
        if e:
            entries.append(e)
    return entries


def load(path: str) -> list[Entry]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise BaselineError(f"cannot read baseline {path}: {e.strerror}") from e
    return parse(text, path)


@dataclass
class Judgement:
    excused: bool
    listed: bool                  # some entry names this test
    reason: str                   # for the KTAP directive
    unexcused: list[str]          # failing findings (keys, or text) no entry excuses


def judge(entries: list[Entry], arch: str, kernel: str, test: str, failed: bool,
          by_runner: bool, findings: list[tuple[str | None, str]]) -> Judgement:
    """Whether a test's outcome is a known deviation.

    findings: the test's failing findings as (key or None, text).
    by_runner: its failure was a crash, time limit or dead VM.
    """
    mine = [e for e in entries if e.applies(arch, kernel, test)]
    if not mine:
        return Judgement(False, False, "", [])
    if not failed:
        return Judgement(False, True, "fixed: " + "; ".join(e.key for e in mine), [])
    if by_runner:
        return Judgement(False, True, "", ["the test did not finish (not excusable)"])
    if not findings:
        return Judgement(False, True, "", ["a failure without a finding (not excusable)"])
    unexcused, reasons = [], []
    for key, text in findings:
        if key is None:
            unexcused.append(f"no key: {text}")
            continue
        match = next((e for e in mine if e.excuses(key)), None)
        if match is None:
            unexcused.append(key)
        elif match.reason not in reasons:
            reasons.append(match.reason or match.key)
    if unexcused:
        return Judgement(False, True, "", unexcused)
    return Judgement(True, True, "known deviation: " + "; ".join(reasons), [])


def cut(text: str, limit: int = 150) -> str:
    """A reason no longer than limit, cut at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."

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

A test that brings the kernel down (an oops, a hang) has no finding to
excuse: its entry says "crash kernel=WHAT" instead of a finding's key,

    arm64-nested 7.* some_fixture.* crash kernel=oops  why [fix: NN-...]

and the test is not run where the entry applies: it is reported as a
skip that gives the reason (KVMC_KNOWN_CRASHES, lib/test_util.cpp).
Such an entry excuses no finding and is never reported as fixed.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from fnmatch import fnmatchcase

RULE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
FIELD_VALUE = re.compile(r"^[^=\s]+=\S*$")
# The rule of an entry for a test that brings the kernel down, and what
# its key may say.
CRASH = "crash"
CRASH_KINDS = ("kernel=oops", "kernel=hang", "kernel=panic")


# The mark that names a deviation's fix at the end of a line's reason.
FIX_MARK = re.compile(r"\s*\[fix: ([0-9a-z-]+)\]")
# A fix's name (its file in FIXES without .patch): NN-arm64-what,
# NN-x86-what, or NN-doc-what for a fix of Documentation/ only.
FIX_NAME = re.compile(r"^(\d\d)-(arm64|x86|doc)-[a-z0-9][a-z0-9-]*$")
FIXES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "patches", "fixes")


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

    def applies_to_config(self, arch: str) -> bool:
        """arch: a configuration name, or several separated by "/" (the
        configuration and its architecture: an entry for x86_64 also
        covers x86_64-shadow, one for x86_64-shadow only that)."""
        return any(fnmatchcase(a, self.arch) for a in arch.split("/"))

    def applies(self, arch: str, kernel: str, test: str) -> bool:
        """arch as applies_to_config() takes it."""
        return self.applies_to_config(arch) and fnmatchcase(kernel, self.kernel) and fnmatchcase(test, self.test)

    @property
    def fix(self) -> str:
        """The patch of scripts/kvmc/patches/fixes/ that removes this
        deviation, named at the end of the reason ("[fix: NAME]"), or ""."""
        m = FIX_MARK.search(self.reason)
        return m.group(1) if m else ""

    @property
    def plain_reason(self) -> str:
        """The reason without its fix mark."""
        return FIX_MARK.sub("", self.reason).strip()

    @property
    def is_crash(self) -> bool:
        """A test that brings the kernel down: not run where this applies."""
        return self.rule == CRASH

    def excuses(self, key: str) -> bool:
        if self.is_crash:
            return False
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
    if rule == CRASH and finding not in CRASH_KINDS:
        raise BaselineError(f"{where}: a crash entry says how the kernel goes down, one of"
                            f" {', '.join(CRASH_KINDS)}; got '{finding}'")
    return Entry(arch, kernel, test, rule, finding, parts[5].strip() if len(parts) > 5 else "", where)


def parse(text: str, name: str) -> list[Entry]:
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        e = parse_line(line, f"{name}:{n}")
        if e:
            entries.append(e)
    return entries


# A baseline is a list of lines someone curates; anything bigger is not one.
MAX_SIZE = 1 << 20


def _kind(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def load(path: str) -> list[Entry]:
    """The entries of a baseline file (UTF-8, a byte order mark allowed).
    Anything but a regular file of at most MAX_SIZE bytes is refused at
    once: a FIFO would block the run, /dev/zero fill the memory."""
    def refuse(why: str) -> BaselineError:
        return BaselineError(f"baseline {path}: {why}; give a text file of entries"
                             " (ARCH KERNEL-GLOB TEST-GLOB RULE FIELD=VALUE REASON)")
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise refuse(f"is {_kind(st.st_mode)}, not a file")
        # O_NONBLOCK: should a FIFO take the file's place after the check,
        # opening it does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise refuse(f"is {_kind(st.st_mode)}, not a file")
            data = f.read(MAX_SIZE + 1)
    except OSError as e:
        raise BaselineError(f"cannot read baseline {path}: {e.strerror}") from e
    if len(data) > MAX_SIZE:
        raise refuse(f"larger than {MAX_SIZE >> 20} MiB, too large for a baseline")
    try:
        # utf-8-sig: a byte order mark (some editors write one) is not
        # part of the first entry.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise BaselineError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x})") from e
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
    mine = [e for e in entries if not e.is_crash and e.applies(arch, kernel, test)]
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


def known_crashes(entries: list[Entry], arch: str) -> str:
    """The crash entries for configuration arch (as Entry.applies takes
    it), one "KERNEL-GLOB TEST-GLOB REASON" line each: KVMC_KNOWN_CRASHES
    for the tests, which match the kernel and their own name."""
    lines = []
    for e in entries:
        if e.is_crash and e.applies_to_config(arch):
            reason = " ".join(f"{e.finding}: {e.reason}".split())
            lines.append(f"{e.kernel} {e.test} {reason} ({os.path.basename(e.where)})")
    return "\n".join(lines)


def cut(text: str, limit: int = 150) -> str:
    """A reason no longer than limit, cut at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."

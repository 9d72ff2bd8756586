# SPDX-License-Identifier: GPL-2.0
"""One KTAP parser, one result tree.

Every consumer of results (the summary, the exit code, the KTAP written to
stdout and results.ktap, JSON, JUnit, HTML, baselines, the status table,
soak) reads the tree this module builds; nothing else parses KTAP.

A document is a list of lines; a subtest's own document is indented four
spaces more than the line that reports its result. What the suite's
runners write is recognised too: "# kvm-contract: NAME" (like KTAP's
"# Subtest: NAME") names the subtest that follows, "#  RUN NAME ..." (the
kselftest harness) marks a test as started, so a stream cut off in the
middle still says which test was running.

A document's plan ("1..5") is the number of its results, as KTAP wants:
a test whose document has another number fails ("planned 5, got 3"),
unless the stream was cut off, which fails the running test already.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

RESULT = re.compile(r"^(not ok|ok)(?:\s+(\d+))?(?:\s+(.*?))?(?:\s+#\s*(.*))?$")
VERSION = re.compile(r"^(?:K?TAP) version \d+$")
PLAN = re.compile(r"^1\.\.(\d+)")
RUN = re.compile(r"^#\s+RUN\s+(\S+)")
SUBTEST_NAME = re.compile(r"^#\s+(?:Subtest|kvm-contract):\s+(\S+)\s*$")
# A plan its document's results do not match: "planned 5, got 3".
PLAN_ERROR = re.compile(r"^planned (\d+), got (\d+)$")
# The failed result that stands for a top-level document's plan mismatch
# (the document has no result line of its own to carry it).
PLAN_TEST = "ktap_plan"


class Verdict(enum.Enum):
    """A test's verdict, after any baseline was applied."""
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    XFAIL = "xfail"   # a known deviation that occurred as listed
    XPASS = "xpass"   # a listed deviation that did not occur: fixed


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfail: int = 0
    xpass: int = 0

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.xfail += other.xfail
        self.xpass += other.xpass

    def count(self, verdict: Verdict) -> None:
        # Known deviations and fixed ones count as passed, as kselftest
        # counts XFAIL; they are also reported apart.
        if verdict is Verdict.FAIL:
            self.failed += 1
        elif verdict is Verdict.SKIP:
            self.skipped += 1
        else:
            self.passed += 1
            if verdict is Verdict.XFAIL:
                self.xfail += 1
            elif verdict is Verdict.XPASS:
                self.xpass += 1

    @property
    def verdicts(self) -> int:
        return self.passed + self.failed + self.skipped

    def closing(self) -> str:
        """The plain counts, as run_tests.sh's last line has them."""
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"

    def line(self) -> str:
        text = self.closing()
        if self.xfail or self.xpass:
            text += (f" ({self.xfail} known deviations failing as listed,"
                     f" {self.xpass} fixed)")
        return text


@dataclass
class Test:
    """A test and, when it has one, its own document of subtests.

    ok is None when the stream ended before the test's result line.
    number 0 marks a result a runner added for a test that never reported
    one (killed by a time limit, or the VM died in it).
    """
    name: str = ""
    number: int = 0
    ok: bool | None = None
    directive: str = ""
    pre: list[str] = field(default_factory=list)      # diagnostics before its document
    post: list[str] = field(default_factory=list)     # diagnostics after it, before the result
    header: list[str] = field(default_factory=list)   # its document's version and plan lines
    plan: int | None = None
    subtests: list[Test] = field(default_factory=list)
    trailer: list[str] = field(default_factory=list)  # its document's lines after the last result
    running: str = ""        # a "#  RUN" test of its document without a result yet
    verdict_override: Verdict | None = None
    reason: str = ""         # why the override (a baseline entry, a dead VM)
    # "planned 5, got 3": its document broke its plan. A failure no
    # baseline excuses (KTAP: the plan is the number of subtests).
    plan_error: str = ""
    malformed: list[str] = field(default_factory=list)

    # ---- reading ----------------------------------------------------------
    @property
    def synthesized(self) -> bool:
        return self.number == 0 and self.ok is False

    @property
    def raw_verdict(self) -> Verdict:
        """The verdict the KTAP line itself states."""
        d = self.directive.upper()
        if self.ok is None or self.plan_error:
            return Verdict.FAIL
        if d.startswith("SKIP"):
            return Verdict.SKIP
        if d.startswith("TODO") or d.startswith("XFAIL"):
            return Verdict.XFAIL if not self.ok else Verdict.XPASS
        return Verdict.PASS if self.ok else Verdict.FAIL

    @property
    def verdict(self) -> Verdict:
        if self.plan_error:
            return Verdict.FAIL
        return self.verdict_override or self.raw_verdict

    def diagnostics(self) -> list[str]:
        """Its diagnostic lines (without "# "): before, inside and after."""
        out = [strip_hash(x) for x in self.pre]
        if not self.subtests:
            out += [strip_hash(x) for x in self.trailer]
        out += [strip_hash(x) for x in self.post]
        return out

    def walk(self) -> Iterator[Test]:
        for t in self.subtests:
            yield t
            yield from t.walk()

    def leaves(self) -> Iterator[tuple[Test, Test | None]]:
        """Every single test with its parent; a parent that failed with no
        failed subtest of its own (crashed after them, timed out) counts
        as a test of its own."""
        for t in self.subtests:
            if t.subtests:
                yield from t.leaves()
                if t.ok is not None and t.verdict is Verdict.FAIL and not any(
                        leaf.verdict is Verdict.FAIL for leaf, _ in t.leaves()):
                    yield t, self
            elif t.ok is not None:
                # A test the stream was cut off in (a dead VM) has no verdict.
                yield t, self

    def counts(self) -> Counts:
        c = Counts()
        for leaf, _ in self.leaves():
            c.count(leaf.verdict)
        return c

    # ---- writing ----------------------------------------------------------
    def result_line(self, number: int | None = None) -> str:
        ok = "ok" if self.verdict in (Verdict.PASS, Verdict.SKIP, Verdict.XPASS) else "not ok"
        directive = self.directive
        v = self.verdict
        if self.plan_error:
            pass    # its own directive: the plan, or what failed it first (a crash)
        elif self.verdict_override is not None:
            if v in (Verdict.XFAIL, Verdict.XPASS):
                directive = f"TODO {self.reason}".rstrip()
            elif v is Verdict.FAIL:
                directive = self.reason or directive
        elif self.ok is None:
            directive = self.reason or "no result line"
        line = f"{ok} {self.number if number is None else number} {self.name}".rstrip()
        return f"{line} # {directive}" if directive else line

    def document(self) -> list[str]:
        """Its subtests as a document (header, diagnostics, results)."""
        out = list(self.header) or ["KTAP version 1", f"1..{len(self.subtests)}"]
        for t in self.subtests:
            out += t.lines()
        out += [as_diagnostic(x) for x in self.trailer]
        return out

    def lines(self) -> list[str]:
        """This test as it appears in its parent's document."""
        out = [as_diagnostic(x) for x in self.pre]
        if self.subtests or self.header:
            out += ["    " + x if x else x for x in self.document()]
        out += [as_diagnostic(x) for x in self.post]
        out.append(self.result_line())
        return out


def strip_hash(line: str) -> str:
    return line[1:].lstrip(" ") if line.startswith("#") else line


def as_diagnostic(line: str) -> str:
    """A kept line, as a valid KTAP line: anything not a diagnostic becomes one."""
    return line if line.startswith("#") else f"# {line}"


# ---- parsing ----------------------------------------------------------------
def _split_indent(line: str) -> tuple[int, str]:
    stripped = line.lstrip(" ")
    return (len(line) - len(stripped)) // 4, stripped


class Parser:
    """Feed lines one at a time (a console stream), or use parse()."""

    def __init__(self, name: str = "") -> None:
        self.root = Test(name=name)
        # stack[i] is the open test whose document holds level-i lines.
        self.stack: list[Test] = [self.root]
        self.pending: list[list[str]] = [[]]   # per level: diagnostics for the next subtest

    def _open(self, level: int) -> None:
        while len(self.stack) - 1 < level:
            parent_level = len(self.stack) - 1
            child = Test(pre=self.pending[parent_level])
            self.pending[parent_level] = []
            # A "# kvm-contract: NAME" line names it even if no result comes.
            for d in reversed(child.pre):
                m = SUBTEST_NAME.match(d)
                if m:
                    child.name = m.group(1)
                    break
            self.stack.append(child)
            self.pending.append([])

    def _close_to(self, level: int) -> None:
        """Close documents deeper than level + 1 (cut off: no result line)."""
        while len(self.stack) - 1 > level + 1:
            self._finish_cut(len(self.stack) - 1)

    def _pop(self) -> Test:
        t = self.stack.pop()
        t.trailer += self.pending.pop()
        return t

    def _finish_cut(self, level: int) -> None:
        t = self._pop()
        self._attach(self.stack[level - 1], t)

    def _attach(self, parent: Test, t: Test) -> None:
        parent.subtests.append(t)
        if parent.running and t.name == parent.running:
            parent.running = ""

    def feed(self, raw: str) -> None:
        raw = raw.rstrip("\r\n")
        if not raw.strip():
            return
        level, text = _split_indent(raw)
        # A line deeper than any open document by more than one level is
        # taken as belonging to the deepest document plus one.
        level = min(level, len(self.stack))
        m = RESULT.match(text)
        if m:
            self._close_to(level)
            if len(self.stack) - 1 > level:
                t = self._pop()
            else:
                t = Test(pre=self.pending[level])
                self.pending[level] = []
            t.ok = m.group(1) == "ok"
            t.number = int(m.group(2)) if m.group(2) else 0
            t.name = (m.group(3) or t.name).strip()
            t.directive = (m.group(4) or "").strip()
            check_plan(t)
            self._attach(self.stack[level], t)
            return
        if len(self.stack) - 1 < level:
            self._open(level)
        else:
            self._close_to(level)
        if len(self.stack) - 1 > level:
            # A line of this level after a subtest's document: it belongs
            # to that subtest, before its result line.
            self.stack[level + 1].post.append(text)
            return
        doc = self.stack[level]
        if VERSION.match(text) and not doc.subtests:
            doc.header.append(text)
            return
        pm = PLAN.match(text)
        if pm and not doc.subtests and len(doc.header) < 2:
            doc.header.append(text)
            doc.plan = int(pm.group(1))
            return
        rm = RUN.match(text)
        if rm:
            doc.running = rm.group(1)
        if not text.startswith("#"):
            self.root.malformed.append(raw)
        self.pending[level].append(text)

    def finish(self, why: str = "") -> Test:
        """End of stream. Tests left open get no result (ok None); a test
        some document was running gets a failed result of its own, with
        why as its reason."""
        # A stream cut off (a test left open, a document still running, a
        # runner saying why) fails already: its plan is not held against it.
        cut = len(self.stack) > 1 or bool(self.root.running) or bool(why)
        while len(self.stack) > 1:
            level = len(self.stack) - 1
            t = self.stack[level]
            if t.running:
                t.subtests.append(Test(name=t.running, number=0, ok=False, pre=self.pending[level],
                                       directive=why or "no result line", reason=why))
                self.pending[level] = []
                t.running = ""
            t.reason = t.reason or why
            self._finish_cut(level)
        root = self.root
        root.trailer += self.pending[0]
        self.pending[0] = []
        if root.running:
            root.subtests.append(Test(name=root.running, number=0, ok=False,
                                      directive=why or "no result line", reason=why))
            root.running = ""
        if not cut:
            check_top_plan(root)
        return root


# ---- plans ------------------------------------------------------------------
def _results(doc: Test) -> int:
    """The results a document holds, without the one standing for its plan."""
    return sum(1 for t in doc.subtests if not is_plan_failure(t))


def is_plan_failure(t: Test) -> bool:
    return t.synthesized and t.name == PLAN_TEST and bool(PLAN_ERROR.match(t.directive))


def check_plan(t: Test) -> None:
    """A test whose document broke its plan ("1..5" and 3 results) fails,
    as KTAP wants; "1..0" with no result (a binary skipped whole) is kept.
    Its result line keeps a failure's own cause (a crash, a time limit);
    "ok" and SKIP become "not ok # planned 5, got 3". The diagnostic
    "# plan: planned 5, got 3" says so; reading a written document again
    finds the same, once."""
    if t.plan is None or t.ok is None:
        return
    got = _results(t)
    if got == t.plan:
        return
    t.plan_error = f"planned {t.plan}, got {got}"
    if t.ok or not t.directive or t.directive.upper().startswith(("SKIP", "TODO", "XFAIL")):
        t.ok, t.directive = False, t.plan_error
    note = f"# plan: {t.plan_error}"
    if note not in t.post:
        t.post.append(note)


def check_top_plan(root: Test) -> None:
    """The top-level document has no result line: a plan its results
    break is a failed result of its own (PLAN_TEST), added once."""
    if root.plan is None or any(is_plan_failure(t) for t in root.subtests):
        return
    got = _results(root)
    if got != root.plan:
        root.subtests.append(Test(name=PLAN_TEST, number=0, ok=False,
                                  directive=f"planned {root.plan}, got {got}"))


def parse(lines: Iterable[str], name: str = "", why: str = "") -> Test:
    p = Parser(name)
    for line in lines:
        p.feed(line)
    return p.finish(why)


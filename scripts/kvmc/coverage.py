# SPDX-License-Identifier: GPL-2.0
"""Kernel coverage of KVM (run_tests.sh --build TREE --coverage).

The tree is built with gcov for the architecture's KVM directory only
(kbuild.gcov_make_vars: arch/<arch>/kvm, whose Makefile also builds
virt/kvm). In the test VM, guest-init.sh resets the counters before the
first test and sends every .gcda file back over the console after the
suite (phase "suite") and, with --coverage-selftests, again after the
kernel's own KVM selftests (phase "selftests", counted from zero):

    @@KVMC-GCDA PHASE SIZE SHA256 PATH      PATH: under /sys/kernel/debug/gcov
    base64 lines
    @@KVMC-GCDA-END

GcdaReceiver checks each file's framing, size and digest; gcda_relpath()
takes only a path under the build directory, in a profiled directory,
with no "." or ".." component and ending in .gcda. The host then puts each
.gcda next to a copy of its .gcno in a private directory, and lcov turns
them into a tracefile per phase (branch coverage on), genhtml into HTML,
and this module into coverage.json (lines and branches per function) and,
with --coverage-diff BASE, patch coverage: the lines changed since BASE
(git diff) that the suite ran and those it did not.

    python3 -m kvmc.coverage table COVERAGE.JSON [FUNCTION...]

prints the per-function table (suite and selftests side by side) that
docs/coverage.md shows.

Standard library only; commands are argument lists.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .common import capture, write_atomic

PHASES = ("suite", "selftests")
MARK = "@@KVMC-GCDA"
END = "@@KVMC-GCDA-END"
# A .gcda of KVM's biggest file is tens of KB; anything past this is no
# gcda of ours.
MAX_GCDA = 16 << 20
MAX_FILES = 2000
PATH_PART = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]*")
BASE64_LINE = re.compile(r"[A-Za-z0-9+/=]*")
# The functions that decide what KVM_RUN reports (issue 23): the table of
# docs/coverage.md, and what the smoke test looks for.
KEY_FUNCTIONS = {
    "arm64": ["kvm_handle_guest_abort", "user_mem_abort", "gmem_abort", "io_mem_abort",
              "kvm_s2_fault_*", "kvm_handle_mmio_return", "kvm_handle_guest_sea", "kvm_translate_vncr",
              "kvm_handle_vncr_abort", "kvm_inject_*", "kvm_arch_prepare_memory_region",
              "kvm_gmem_get_pfn", "kvm_gmem_bind", "kvm_gmem_prepare_memory_region",
              "kvm_gmem_commit_memory_region", "__kvm_set_memory_region", "kvm_set_memory_region",
              "kvm_prepare_memory_fault_exit"],
    "x86_64": ["kvm_mmu_page_fault", "kvm_mmu_faultin_pfn", "kvm_handle_error_pfn",
               "kvm_handle_noslot_fault", "handle_mmio_page_fault", "emulator_read_write*",
               "complete_emulated_mmio", "x86_emulate_instruction", "kvm_arch_prepare_memory_region",
               "kvm_gmem_get_pfn", "kvm_gmem_bind", "kvm_gmem_prepare_memory_region",
               "kvm_gmem_commit_memory_region", "__kvm_set_memory_region", "kvm_set_memory_region",
               "kvm_prepare_memory_fault_exit"],
}
# (7.3 renamed kvm_gmem_bind to kvm_gmem_prepare/commit_memory_region and
# __kvm_set_memory_region to kvm_set_memory_region: both names are asked
# for, a tree has one of them.)


# Kept in the report besides the profiled directories: virt/kvm, and the
# header whose inline functions decide exits (kvm_prepare_memory_fault_exit),
# counted where the profiled objects inline them.
KEEP_ALSO = ("virt/kvm/*", "include/linux/kvm_host.h")


class CoverageError(Exception):
    """The coverage report could not be made (a tool failed, no data)."""


# ---- the transfer out of the VM ----------------------------------------------------
@dataclasses.dataclass
class Gcda:
    phase: str
    path: str        # as the VM named it, under /sys/kernel/debug/gcov
    data: bytes


class GcdaReceiver:
    """The .gcda files in the console's @@KVMC-GCDA frames; what was
    wrong with a frame goes to errors (the file is dropped)."""

    def __init__(self) -> None:
        self.files: list[Gcda] = []
        self.errors: list[str] = []
        self._head: tuple[str, int, str, str] | None = None
        self._bad = ""
        self._lines: list[str] = []
        self._size = 0
        self.active = False

    def begin(self, line: str) -> None:
        if self.active:
            self._error("a frame began inside another")
        self.active, self._head, self._bad, self._lines, self._size = True, None, "", [], 0
        words = line.split(" ", 4)
        if len(words) != 5:
            self._bad = f"bad header {_show(line)}"
            return
        _, phase, size, digest, path = words
        if phase not in PHASES:
            self._bad = f"unknown phase {_show(phase)}"
        elif not size.isdigit() or int(size) > MAX_GCDA:
            self._bad = f"bad size {_show(size)}"
        elif not re.fullmatch(r"[0-9a-f]{64}", digest):
            self._bad = f"bad sha256 {_show(digest)}"
        elif len(self.files) >= MAX_FILES:
            self._bad = f"more than {MAX_FILES} files"
        else:
            self._head = (phase, int(size), digest, path)

    def feed(self, line: str) -> None:
        if self._bad:
            return
        text = line.strip()
        self._size += len(text)
        if not BASE64_LINE.fullmatch(text):
            self._bad = "a line that is not base64 (console output in the middle?)"
        elif self._size > MAX_GCDA * 4 // 3 + 8:
            self._bad = "more data than its size"
        else:
            self._lines.append(text)

    def end(self) -> None:
        if not self.active:
            self._error("an end without a beginning")
            return
        self.active = False
        if self._bad or self._head is None:
            self._error(self._bad)
            return
        phase, size, digest, path = self._head
        try:
            data = base64.b64decode("".join(self._lines), validate=True)
        except (binascii.Error, ValueError):
            self._error(f"{_show(path)}: not base64")
            return
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            self._error(f"{_show(path)}: {len(data)} bytes, its sha256 or size differs from the header's")
            return
        self.files.append(Gcda(phase, path, data))

    def finish(self) -> None:
        """The console ended: a frame still open is lost."""
        if self.active:
            self.active = False
            self._error("the console ended inside a frame")

    def _error(self, why: str) -> None:
        self.errors.append(why)


def _show(text: str, most: int = 120) -> str:
    """Text from the VM as it may be printed: control characters escaped,
    cut short."""
    shown = text.encode("unicode_escape").decode("ascii")
    return repr(shown[:most] + ("..." if len(shown) > most else ""))


def gcda_relpath(path: str, build_dir: str, dirs: Iterable[str]) -> str:
    """PATH (as the VM named it) relative to BUILD_DIR, or "" when it is
    not a .gcda of ours: outside the build directory, a "." or ".."
    component, characters a kernel object's name has not, or outside the
    profiled directories DIRS (and virt/kvm)."""
    prefix = build_dir.rstrip("/") + "/"
    if not path.startswith(prefix):
        return ""
    rel = path[len(prefix):]
    parts = rel.split("/")
    if not rel.endswith(".gcda") or any(not PATH_PART.fullmatch(p) for p in parts):
        return ""
    allowed = [d.strip("/") + "/" for d in dirs] + ["virt/kvm/"]
    return rel if any(rel.startswith(a) for a in allowed) else ""


# ---- lcov tracefiles ------------------------------------------------------------------
@dataclasses.dataclass
class SourceFile:
    path: str
    functions: dict[str, int] = dataclasses.field(default_factory=dict)      # name -> first line
    calls: dict[str, int] = dataclasses.field(default_factory=dict)          # name -> count
    lines: dict[int, int] = dataclasses.field(default_factory=dict)          # line -> count
    # (line, block, branch) -> times taken (None: the block never ran, "-")
    branches: dict[tuple[int, int, int], int | None] = dataclasses.field(default_factory=dict)


def parse_tracefile(text: str) -> dict[str, SourceFile]:
    """An lcov tracefile (SF/FN/FNDA/DA/BRDA records) by source path;
    records of one path given twice are added up."""
    files: dict[str, SourceFile] = {}
    cur: SourceFile | None = None
    for raw in text.splitlines():
        key, _, value = raw.strip().partition(":")
        if key == "SF":
            cur = files.setdefault(value, SourceFile(value))
        elif cur is None:
            continue
        elif key == "FN":
            first, _, name = value.partition(",")
            if first.isdigit() and name:
                cur.functions.setdefault(name, int(first))
        elif key == "FNDA":
            count, _, name = value.partition(",")
            if count.isdigit() and name:
                cur.calls[name] = cur.calls.get(name, 0) + int(count)
        elif key == "DA":
            parts = value.split(",")
            if len(parts) >= 2 and parts[0].isdigit() and parts[1].lstrip("-").isdigit():
                n = int(parts[0])
                cur.lines[n] = cur.lines.get(n, 0) + max(0, int(parts[1]))
        elif key == "BRDA":
            parts = value.split(",")
            if len(parts) == 4 and all(p.isdigit() for p in parts[:3]):
                k = (int(parts[0]), int(parts[1]), int(parts[2]))
                taken = None if parts[3] == "-" else int(parts[3]) if parts[3].isdigit() else None
                old = cur.branches.get(k)
                cur.branches[k] = taken if old is None else old + (taken or 0)
        elif key == "end_of_record":
            cur = None
    return files


@dataclasses.dataclass
class FunctionCoverage:
    file: str
    name: str
    line: int
    end: int                  # the last line counted as its own
    calls: int
    lines_hit: int
    lines_total: int
    branches_hit: int         # branches taken at least once
    branches_total: int
    missed_lines: list[int]
    missed_branches: list[int]   # lines with a branch never taken
    # [line, branches never taken, branches] for each line of
    # missed_branches (absent from a coverage.json older than this field)
    missed_branch_counts: list[list[int]] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def functions(files: dict[str, SourceFile], relative_to: str = "",
              source: Callable[[str], list[str]] | None = None) -> list[FunctionCoverage]:
    """Line and branch coverage per function. lcov 1.x gives a function's
    first line only: its lines run to the kernel style's closing brace in
    column 0 when SOURCE (path -> its lines) has the file, and never past
    the next function's first line (a static function inlined everywhere
    has no record of its own: without the source its lines would count
    as the function's above it)."""
    out: list[FunctionCoverage] = []
    for path, sf in sorted(files.items()):
        name_of = _relative(path, relative_to)
        text = source(path) if source else []
        starts = sorted((line, name) for name, line in sf.functions.items())
        for i, (start, name) in enumerate(starts):
            # Two functions on one line (macros): each has the same span.
            nxt = next((s for s, _ in starts[i + 1:] if s > start), None)
            end = nxt - 1 if nxt is not None else 1 << 30
            brace = next((n for n in range(start, min(end, len(text)) + 1) if text[n - 1] == "}"), None)
            if brace is not None:
                end = brace
            lines = {n: c for n, c in sf.lines.items() if start <= n <= end}
            branches = {k: t for k, t in sf.branches.items() if start <= k[0] <= end}
            out.append(FunctionCoverage(
                file=name_of, name=name, line=start,
                end=end if brace is not None else max([start, *lines, *(k[0] for k in branches)]),
                calls=sf.calls.get(name, 0),
                lines_hit=sum(1 for c in lines.values() if c > 0), lines_total=len(lines),
                branches_hit=sum(1 for t in branches.values() if t), branches_total=len(branches),
                missed_lines=sorted(n for n, c in lines.items() if c == 0),
                missed_branches=sorted({k[0] for k, t in branches.items() if not t}),
                missed_branch_counts=_missed_counts(branches)))
    return out


def _missed_counts(branches: dict[tuple[int, int, int], int | None]) -> list[list[int]]:
    per: dict[int, list[int]] = {}
    for (line, _, _), taken in branches.items():
        c = per.setdefault(line, [line, 0, 0])
        c[1] += 0 if taken else 1
        c[2] += 1
    return [c for _, c in sorted(per.items()) if c[1]]


def read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return []


def _relative(path: str, root: str) -> str:
    if root:
        r = root.rstrip("/") + "/"
        if path.startswith(r):
            return path[len(r):]
    return path


def coverage_doc(arch: str, kernel: str, tree: str, phases: dict[str, list[FunctionCoverage]],
                 timings: dict[str, float], config: str = "") -> dict[str, Any]:
    return {
        "arch": arch, "config": config or arch, "kernel": kernel, "tree": tree,
        "phases": {phase: {"totals": totals(fns), "functions": [f.as_json() for f in fns]}
                   for phase, fns in phases.items()},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


def coverage_json(arch: str, kernel: str, tree: str, phases: dict[str, list[FunctionCoverage]],
                  timings: dict[str, float], config: str = "") -> str:
    return json.dumps(coverage_doc(arch, kernel, tree, phases, timings, config), indent=1, sort_keys=True) + "\n"


def totals(fns: list[FunctionCoverage]) -> dict[str, int]:
    return {"functions": len(fns), "functions_hit": sum(1 for f in fns if f.calls),
            "lines_hit": sum(f.lines_hit for f in fns), "lines_total": sum(f.lines_total for f in fns),
            "branches_hit": sum(f.branches_hit for f in fns),
            "branches_total": sum(f.branches_total for f in fns)}


def select(fns: list[FunctionCoverage], patterns: list[str]) -> list[FunctionCoverage]:
    """The functions named by PATTERNS (a trailing * is a prefix), in the
    patterns' order, each once."""
    out: list[FunctionCoverage] = []
    for pat in patterns:
        for f in sorted(fns, key=lambda f: (f.file, f.line)):
            hit = f.name.startswith(pat[:-1]) if pat.endswith("*") else f.name == pat
            if hit and f not in out:
                out.append(f)
    return out


def table(doc: dict[str, Any], patterns: list[str]) -> list[str]:
    """Markdown rows: function, file, the suite's and the selftests'
    branches and lines (hit/total), side by side."""
    phases = doc.get("phases", {})
    by_phase = {p: [FunctionCoverage(**f) for f in phases.get(p, {}).get("functions", [])]
                for p in PHASES}
    base = by_phase["suite"] or by_phase["selftests"]
    rows = ["| function | file | suite branches | suite lines | selftests branches | selftests lines |",
            "|---|---|---|---|---|---|"]
    for f in select(base, patterns):
        cells = []
        for p in PHASES:
            g = next((x for x in by_phase[p] if x.file == f.file and x.name == f.name), None)
            cells += ["-", "-"] if g is None else [_frac(g.branches_hit, g.branches_total),
                                                  _frac(g.lines_hit, g.lines_total)]
        rows.append(f"| {f.name} | {f.file}:{f.line} | " + " | ".join(cells) + " |")
    return rows


def _frac(a: int, b: int) -> str:
    return f"{a}/{b}" if b else "0/0"


# ---- patch coverage --------------------------------------------------------------------
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def changed_lines(diff: str) -> dict[str, set[int]]:
    """The lines of the new side that a unified diff (git diff -U0) adds
    or changes, by file (git's b/ path without the b/)."""
    out: dict[str, set[int]] = {}
    path = ""
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = line[4:].split("\t")[0]
            path = target[2:] if target.startswith("b/") else "" if target == "/dev/null" else target
            continue
        m = HUNK.match(line)
        if m and path:
            start, count = int(m.group(1)), int(m.group(2) or "1")
            out.setdefault(path, set()).update(range(start, start + count))
    return {p: s for p, s in out.items() if s}


@dataclasses.dataclass
class PatchLine:
    file: str
    line: int
    status: str        # "run", "not run", "no code" (no count: a comment, a declaration)
    function: str


def patch_coverage(changed: dict[str, set[int]], files: dict[str, SourceFile],
                   tree: str) -> list[PatchLine]:
    """Every changed line of a profiled file with what the tracefile says of it."""
    by_rel = {_relative(p, tree): sf for p, sf in files.items()}
    out: list[PatchLine] = []
    for rel in sorted(changed):
        sf = by_rel.get(rel)
        if sf is None:
            continue
        starts = sorted((line, name) for name, line in sf.functions.items())
        for n in sorted(changed[rel]):
            fn = ""
            for start, name in starts:
                if start <= n:
                    fn = name
            status = "no code" if n not in sf.lines else "run" if sf.lines[n] > 0 else "not run"
            out.append(PatchLine(rel, n, status, fn))
    return out


def _ranges(numbers: list[int]) -> str:
    parts: list[str] = []
    for n in sorted(numbers):
        if parts and "-" not in parts[-1] and int(parts[-1]) == n - 1:
            parts[-1] = f"{parts[-1]}-{n}"
        elif parts and "-" in parts[-1] and int(parts[-1].split("-")[1]) == n - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ",".join(parts)


def patch_table(rows: list[PatchLine], base: str) -> list[str]:
    """The short table for stderr: per file and function, the changed
    lines with code, how many the suite ran, and those it did not."""
    if not rows:
        return [f"patch coverage against {base}: no changed line with code in the profiled directories"]
    groups: dict[tuple[str, str], list[PatchLine]] = {}
    for r in rows:
        groups.setdefault((r.file, r.function), []).append(r)
    code = [r for r in rows if r.status != "no code"]
    ran = [r for r in code if r.status == "run"]
    out = [f"patch coverage against {base}: the suite ran {len(ran)} of {len(code)} changed lines with code",
           f"  {'file:function':<58} {'run':>5} {'code':>5}  not run"]
    for (file, fn), rs in groups.items():
        c = [r for r in rs if r.status != "no code"]
        if not c:
            continue
        missed = [r.line for r in c if r.status == "not run"]
        out.append(f"  {(file + ':' + (fn or '-'))[:58]:<58} {len(c) - len(missed):>5} {len(c):>5}  "
                   f"{_ranges(missed) or '-'}")
    return out


def patch_html(rows: list[PatchLine], base: str, sources: Callable[[str], list[str]]) -> str:
    """patch.html: the table and every changed line with code, its source
    text and status (everything escaped)."""
    head = patch_table(rows, base)
    body = [f"<h1>{html.escape(head[0])}</h1>", "<pre>" + html.escape("\n".join(head[1:])) + "</pre>",
            "<table><tr><th>file</th><th>line</th><th>function</th><th>status</th><th>source</th></tr>"]
    cache: dict[str, list[str]] = {}
    for r in rows:
        if r.status == "no code":
            continue
        text = cache.setdefault(r.file, sources(r.file))
        src = text[r.line - 1] if 0 < r.line <= len(text) else ""
        cls = "run" if r.status == "run" else "miss"
        body.append(f'<tr class="{cls}"><td>{html.escape(r.file)}</td><td>{r.line}</td>'
                    f"<td>{html.escape(r.function)}</td><td>{r.status}</td>"
                    f"<td><code>{html.escape(src)}</code></td></tr>")
    body.append("</table><p><a href=\"index.html\">the whole report (lcov)</a></p>")
    style = ("<style>body{font-family:sans-serif}td{padding:0 .5em}.run{background:#cfc}"
             ".miss{background:#fcc}code{white-space:pre}</style>")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>patch coverage</title>{style}"
            f"</head><body>{''.join(body)}</body></html>\n")


def git_diff(tree: str, base: str, dirs: list[str]) -> str:
    """git diff -U0 BASE of the profiled directories (the working tree,
    uncommitted changes included)."""
    p = capture(["git", "-C", tree, "diff", "-U0", "--no-color", "--no-ext-diff", base, "--",
                 *dirs, "virt/kvm"], timeout=300, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise CoverageError(f"git diff {base}: {p.stderr.decode(errors='replace').strip()[-300:]}")
    return p.stdout.decode("utf-8", "replace")


def check_base(tree: str, base: str) -> str:
    """"" when BASE names a commit of the git repository TREE, else why not."""
    if base.startswith("-"):
        return f"'{base}' is not a commit"
    try:
        p = capture(["git", "-C", tree, "rev-parse", "--verify", "--quiet", base + "^{commit}"],
                    timeout=60, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return "git not found"
    if p.returncode != 0:
        return f"'{base}' is not a commit of {tree} (a git repository is needed)"
    return ""


# ---- the report ------------------------------------------------------------------------
def gcov_tool(triplet: str, host_is_target: bool) -> str:
    for tool in [f"{triplet}-gcov"] + (["gcov"] if host_is_target else []):
        if shutil.which(tool):
            return tool
    raise CoverageError(f"{triplet}-gcov not found (it comes with gcc-{triplet})")


@dataclasses.dataclass
class Report:
    directory: str
    phases: dict[str, list[FunctionCoverage]]
    tracefiles: dict[str, str]
    patch: list[PatchLine]
    notes: list[str]
    seconds: float


LCOV_RC = ["--rc", "lcov_branch_coverage=1"]


def _run(argv: list[str], what: str, timeout: float = 900) -> None:
    p = capture(argv, timeout=timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        tail = (p.stderr or b"").decode(errors="replace").strip().splitlines()[-5:]
        raise CoverageError(f"{what} failed (exit {p.returncode}): " + " / ".join(tail))


def make_report(files: list[Gcda], build_dir: str, tree: str, dirs: list[str], tool: str,
                out_dir: str, arch: str, kernel: str, diff_base: str = "",
                say: Callable[[str], None] = lambda m: None, config: str = "") -> Report:
    """The whole report in OUT_DIR (made here; see place()): lcov
    tracefiles per phase, HTML (the suite's, and the selftests' under
    selftests/), coverage.json, and with DIFF_BASE patch.txt and patch.html."""
    t0 = time.monotonic()
    notes: list[str] = []
    tree = os.path.realpath(tree)
    keep = [f"{tree}/{d}/*" for d in dirs] + [f"{tree}/{h}" for h in KEEP_ALSO]
    phases: dict[str, list[FunctionCoverage]] = {}
    traces: dict[str, str] = {}
    parsed: dict[str, dict[str, SourceFile]] = {}
    with tempfile.TemporaryDirectory(prefix="kvmc-coverage.") as work:
        for phase in PHASES:
            mine = [g for g in files if g.phase == phase]
            if not mine:
                continue
            root = Path(work, phase)
            placed = 0
            for g in mine:
                rel = gcda_relpath(g.path, build_dir, dirs)
                if not rel:
                    notes.append(f"refused a .gcda from the VM: {_show(g.path)}")
                    continue
                gcno = Path(build_dir, rel[: -len(".gcda")] + ".gcno")
                if not gcno.is_file():
                    notes.append(f"no {gcno} for {rel}")
                    continue
                dest = root / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(g.data)
                shutil.copyfile(gcno, dest.with_suffix(".gcno"))
                placed += 1
            if not placed:
                continue
            raw = os.path.join(work, f"{phase}.raw.info")
            _run(["lcov", "--quiet", "--capture", "--directory", str(root), "--base-directory", build_dir,
                  "--gcov-tool", tool, "--test-name", phase, "--output-file", raw, *LCOV_RC],
                 f"lcov --capture ({phase})")
            info = os.path.join(out_dir, f"{phase}.info")
            _run(["lcov", "--quiet", "--extract", raw, *keep, "--output-file", info, *LCOV_RC],
                 f"lcov --extract ({phase})")
            traces[phase] = info
            parsed[phase] = parse_tracefile(Path(info).read_text(errors="replace"))
            phases[phase] = functions(parsed[phase], tree, read_lines)
    if "suite" not in traces:
        raise CoverageError("no coverage data came back from the VM" +
                            (f" ({notes[0]})" if notes else ""))
    for phase, info in traces.items():
        html_dir = out_dir if phase == "suite" else os.path.join(out_dir, phase)
        _run(["genhtml", "--quiet", "--branch-coverage", "--legend", "--prefix", tree,
              "--title", f"kvm-contract {phase}: {arch} {kernel}"[:200], "--output-directory", html_dir,
              info, *LCOV_RC], f"genhtml ({phase})")
    patch: list[PatchLine] = []
    if diff_base:
        changed = changed_lines(git_diff(tree, diff_base, dirs))
        patch = patch_coverage(changed, parsed["suite"], tree)
        lines = patch_table(patch, diff_base)
        write_atomic(os.path.join(out_dir, "patch.txt"), "\n".join(lines) + "\n")

        def source(rel: str) -> list[str]:
            try:
                return Path(tree, rel).read_text(errors="replace").splitlines()
            except OSError:
                return []
        write_atomic(os.path.join(out_dir, "patch.html"), patch_html(patch, diff_base, source))
    seconds = time.monotonic() - t0
    write_atomic(os.path.join(out_dir, "coverage.json"),
                 coverage_json(arch, kernel, tree, phases, {"report": seconds}, config))
    return Report(out_dir, phases, traces, patch, notes, seconds)


MARKER = ".kvmc-coverage"


def new_dir(parent: str) -> str:
    """A private directory for a report being made, next to where it goes."""
    os.makedirs(parent, exist_ok=True)
    d = tempfile.mkdtemp(prefix=".coverage.", dir=parent)
    os.chmod(d, 0o755)
    Path(d, MARKER).write_text("made by kvm-contract (run_tests.sh --coverage)\n")
    return d


def place(made: str, dest: str) -> str:
    """Move the finished report MADE to DEST, replacing an earlier report
    there only if this tool made it (its marker file); otherwise it stays
    where it is. The report's final path."""
    if os.path.lexists(dest):
        if not (os.path.isdir(dest) and not os.path.islink(dest) and os.path.isfile(os.path.join(dest, MARKER))):
            return made
        shutil.rmtree(dest)
    os.rename(made, dest)
    return dest


def missed(doc: dict[str, Any], patterns: list[str], phase: str = "suite") -> list[str]:
    """For each function named: the lines of its branches never taken in
    PHASE, with their source text (from the tree the report names)."""
    fns = [FunctionCoverage(**f) for f in doc.get("phases", {}).get(phase, {}).get("functions", [])]
    out: list[str] = []
    for f in select(fns, patterns):
        try:
            text = Path(source_tree(doc), f.file).read_text(errors="replace").splitlines()
        except OSError:
            text = []
        out.append(f"{f.name} ({f.file}:{f.line}): branches {f.branches_hit}/{f.branches_total}, "
                   f"lines {f.lines_hit}/{f.lines_total}, called {f.calls}")
        for n in f.missed_branches:
            src = text[n - 1].strip() if 0 < n <= len(text) else ""
            out.append(f"  {n}: {src}")
    return out


# ---- one architecture: its configurations together ---------------------------------------

def merge(dirs: list[str]) -> str:
    """coverage.json for one architecture from the coverage directories
    of its configurations (results/<config>/coverage, the same gcov
    build): each phase's tracefiles added up, so a branch counts as taken
    when any configuration took it. The tree is named, not located
    (source_tree() finds it)."""
    from .qemu_configs import CONFIGS
    docs = [json.loads(Path(d, "coverage.json").read_text()) for d in dirs]
    if not docs:
        raise CoverageError("merge: no coverage directory given")
    archs = {CONFIGS[x["arch"]].build_arch if x.get("arch") in CONFIGS else x.get("arch") for x in docs}
    for what, seen in (("architecture", archs), ("kernel", {x.get("kernel") for x in docs}),
                       ("tree", {x.get("tree") for x in docs})):
        if len(seen) != 1:
            raise CoverageError(f"merge: the directories differ in their {what}: {', '.join(sorted(map(str, seen)))}")
    tree = str(docs[0]["tree"])
    phases: dict[str, list[FunctionCoverage]] = {}
    for phase in PHASES:
        infos = [Path(d, f"{phase}.info") for d in dirs if Path(d, f"{phase}.info").is_file()]
        if infos:
            text = "\n".join(i.read_text(errors="replace") for i in infos)
            phases[phase] = functions(parse_tracefile(text), tree, read_lines)
    if "suite" not in phases:
        raise CoverageError("merge: no suite.info in the directories given")
    doc = coverage_doc(archs.pop(), str(docs[0]["kernel"]), os.path.basename(tree.rstrip("/")), phases, {})
    # (A coverage.json older than its "config" field: the directory
    # results/<config>/coverage says it.)
    doc["configs"] = [str(x.get("config") or (Path(d).resolve().parent.name
                                              if Path(d).resolve().parent.name in CONFIGS else x["arch"]))
                      for x, d in zip(docs, dirs)]
    del doc["config"]
    del doc["timings_s"]
    return dump_by_function(doc)


def dump_by_function(doc: dict[str, Any]) -> str:
    """DOC as JSON with one function to a line: a file kept in the
    repository (docs/coverage-<arch>.json) whose diff after a new run
    shows the functions that changed, at a third of the indented size."""
    def one(v: Any) -> str:
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    out = ["{"]
    for k in sorted(doc):
        if k != "phases":
            out.append(f"{one(k)}:{one(doc[k])},")
    out.append('"phases":{')
    phases = sorted(doc.get("phases", {}).items())
    for i, (phase, data) in enumerate(phases):
        out.append(f"{one(phase)}:{{{one('totals')}:{one(data.get('totals', {}))},{one('functions')}:[")
        fns = data.get("functions", [])
        out += [one(f) + ("," if j < len(fns) - 1 else "") for j, f in enumerate(fns)]
        out.append("]}" + ("," if i < len(phases) - 1 else ""))
    out.append("}}")
    return "\n".join(out) + "\n"


def source_tree(doc: dict[str, Any]) -> str:
    """The tree a coverage.json was made from: its path, or a name under
    the cache (a merged file, or one in docs/, names it)."""
    tree = str(doc.get("tree", ""))
    if os.path.isabs(tree) or not tree:
        return tree
    from .common import cache_root
    return str(cache_root() / tree)


# ---- what can be reached, and why the rest cannot ----------------------------------------
# docs/coverage-reasons.txt gives a reason for every line of a named
# function with a branch the suite never takes:
#     ARCH FUNCTION LINES KIND WHY...
# LINES: 2246, 2270-2272 or 2296,2301. KIND "gap" is reachable under
# emulation but no test takes it yet; every other kind cannot be reached
# in this configuration, and those lines' untaken branches leave the
# count of reachable branches. A reason is for a whole line: a line with
# one branch reachable and another not is a gap.
KINDS = {
    "gap": "reachable, no test takes it yet",
    "bug": "a check of KVM's own invariants (KVM_BUG_ON, WARN_ON, BUG_ON)",
    "hw": "needs a hardware behaviour QEMU's emulation does not have",
    "mode": "another KVM mode (protected, nVHE, pKVM) or a feature the VM cannot have",
    "config": "a kernel option or module parameter the suite's kernels do not have",
    "race": "a race with another thread or an invalidation: timing, not a scenario",
    "compiler": "a branch gcc made with no decision in the source",
    "alloc": "an allocation failure: needs fault injection",
    "caller": "no caller passes what takes it (dead in this tree)",
}
REASON_LINE = re.compile(r"^(\S+)\s+(\S+)\s+(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)\s+(\S+)\s+(\S.*)$")


@dataclasses.dataclass(frozen=True)
class Reason:
    arch: str
    function: str
    lines: frozenset[int]
    kind: str
    why: str
    where: str

    @property
    def reachable(self) -> bool:
        return self.kind == "gap"


def parse_reasons(text: str, origin: str) -> list[Reason]:
    out: list[Reason] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = REASON_LINE.match(line)
        if not m:
            raise CoverageError(f"{origin}:{n}: not ARCH FUNCTION LINES KIND WHY: {_show(line)}")
        kind = m.group(4)
        if kind not in KINDS:
            raise CoverageError(f"{origin}:{n}: kind {kind!r} is none of {', '.join(KINDS)}")
        lines: set[int] = set()
        for part in m.group(3).split(","):
            a, _, b = part.partition("-")
            lo, hi = int(a), int(b or a)
            if hi < lo:
                raise CoverageError(f"{origin}:{n}: line range {part} runs backwards")
            lines.update(range(lo, hi + 1))
        out.append(Reason(m.group(1), m.group(2), frozenset(lines), kind, m.group(5), f"{origin}:{n}"))
    return out


@dataclasses.dataclass
class Reach:
    function: FunctionCoverage
    unreachable: int = 0                 # untaken branches on lines that cannot be reached
    gaps: list[int] = dataclasses.field(default_factory=list)           # lines, kind "gap"
    unexplained: list[int] = dataclasses.field(default_factory=list)    # lines with no reason
    selftests: FunctionCoverage | None = None
    selftests_unreachable: int = 0

    @property
    def reachable(self) -> int:
        return self.function.branches_total - self.unreachable

    @property
    def selftests_reachable(self) -> int:
        return (self.selftests.branches_total - self.selftests_unreachable) if self.selftests else 0


def reach(doc: dict[str, Any], reasons: list[Reason], patterns: list[str]) -> tuple[list[Reach], list[str]]:
    """For each function named, its branches and those that can be reached
    (REASONS of the document's architecture); and the problems of the
    reasons: one for a line with no branch left untaken (stale), one for a
    line the kernel's selftests take a branch of that it calls unreachable."""
    arch = str(doc.get("arch", ""))
    mine = [r for r in reasons if r.arch == arch]
    by_phase = {p: [FunctionCoverage(**f) for f in doc.get("phases", {}).get(p, {}).get("functions", [])]
                for p in PHASES}
    out: list[Reach] = []
    problems: list[str] = []
    used: set[tuple[Reason, int]] = set()
    for f in select(by_phase["suite"], patterns):
        r = Reach(f)
        r.selftests = next((g for g in by_phase["selftests"] if g.file == f.file and g.name == f.name), None)
        st_missed = {c[0]: c[1] for c in (r.selftests.missed_branch_counts if r.selftests else [])}
        for line, missed_n, _ in f.missed_branch_counts:
            why = next((x for x in mine if x.function == f.name and line in x.lines), None)
            if why is None:
                r.unexplained.append(line)
                continue
            used.add((why, line))
            if why.reachable:
                r.gaps.append(line)
                continue
            r.unreachable += missed_n
            if r.selftests:
                if st_missed.get(line, 0) < missed_n:
                    problems.append(f"{why.where}: {f.name} line {line} ({why.kind}): the selftests take "
                                    f"{missed_n - st_missed.get(line, 0)} of its branches")
                r.selftests_unreachable += min(st_missed.get(line, 0), missed_n)
        out.append(r)
    named = {f.function.name for f in out}
    for x in mine:
        if x.function not in named:
            problems.append(f"{x.where}: {x.function} is not among the functions named, or not in the data")
            continue
        for line in sorted(x.lines):
            if (x, line) not in used:
                problems.append(f"{x.where}: {x.function} line {line}: no branch untaken there (stale)")
    return out, problems


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a // b}%)" if b else "0/0"


def reach_table(rows: list[Reach]) -> list[str]:
    """Markdown: each function's branches, those that cannot be reached,
    the suite's and the selftests' share of the reachable ones, and the
    lines of the gaps ("?": a line with no reason given, counted as
    reachable); a last row adds them up."""
    out = ["| function | file | branches | cannot be reached | suite, of the reachable | "
           "selftests, of the reachable | gaps (lines) |", "|---|---|---|---|---|---|---|"]
    tot = [0, 0, 0, 0, 0]
    for r in rows:
        f = r.function
        st = r.selftests
        gaps = ", ".join([str(n) for n in r.gaps] + [f"{n}?" for n in r.unexplained])
        out.append(f"| {f.name} | {f.file}:{f.line} | {f.branches_total} | {r.unreachable} | "
                   f"{_pct(f.branches_hit, r.reachable)} | "
                   f"{_pct(st.branches_hit, r.selftests_reachable) if st else '-'} | {gaps} |")
        tot[0] += f.branches_total
        tot[1] += r.unreachable
        tot[2] += f.branches_hit
        tot[3] += st.branches_hit if st else 0
        tot[4] += r.selftests_reachable
    out.append(f"| **all {len(rows)}** | | {tot[0]} | {tot[1]} | **{_pct(tot[2], tot[0] - tot[1])}** | "
               f"{_pct(tot[3], tot[4])} | |")
    return out


def read_reasons(path: str) -> list[Reason]:
    return parse_reasons(Path(path).read_text(), os.path.basename(path))


# ---- command line ----------------------------------------------------------------------
USAGE = ("usage: python3 -m kvmc.coverage table COVERAGE.JSON [FUNCTION...]\n"
         "       python3 -m kvmc.coverage missed COVERAGE.JSON [--selftests] [FUNCTION...]\n"
         "       python3 -m kvmc.coverage merge OUT.JSON COVERAGE_DIR...\n"
         "       python3 -m kvmc.coverage reach COVERAGE.JSON REASONS [FUNCTION...]")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] not in ("table", "missed", "merge", "reach") \
            or (args[0] in ("merge", "reach") and len(args) < 3):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        if args[0] == "merge":
            write_atomic(args[1], merge(args[2:]))
            return 0
        doc = json.loads(Path(args[1]).read_text())
        if args[0] == "reach":
            rows, problems = reach(doc, read_reasons(args[2]), args[3:] or KEY_FUNCTIONS.get(doc.get("arch", ""), []))
            print("\n".join(reach_table(rows)))
            for p in problems:
                print(f"coverage: {p}", file=sys.stderr)
            return 1 if problems else 0
    except (CoverageError, OSError, ValueError) as e:
        print(f"coverage: {e}", file=sys.stderr)
        return 1
    rest = args[2:]
    phase = "selftests" if "--selftests" in rest else "suite"
    rest = [a for a in rest if a != "--selftests"]
    names = rest or KEY_FUNCTIONS.get(doc.get("arch", ""), [])
    print("\n".join(table(doc, names) if args[0] == "table" else missed(doc, names, phase)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

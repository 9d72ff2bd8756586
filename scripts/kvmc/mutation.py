# SPDX-License-Identifier: GPL-2.0
"""Kernel mutation study: what the suite catches, next to the kernel's own
KVM selftests, on the same mutants of the same kernel in the same VM.

    python3 -m kvmc.mutation check [--tree DIR]     # every mutant applies exactly once
    python3 -m kvmc.mutation list [--arch ARCH] [--catalog NAME]
    python3 -m kvmc.mutation run --arch arm64 [--mutants a,b] [--catalog NAME] [--config C]
                                 [--no-selftests]
    python3 -m kvmc.mutation render                  # docs/mutation.md from docs/mutation.json
    python3 -m kvmc.mutation restore                 # undo a mutation left by a killed run

The catalog is data: scripts/kvmc/mutants/*.toml (format in the README
there).  A run works in a worktree of Debian's linux-source repository in
the cache (kvmc.kernel_tree), builds each kernel once with kvmc.kbuild,
boots it with ./run_tests.sh --kernel on every configuration of its
architecture (qemu_configs: arm64 and arm64-nested, x86_64 and
x86_64-shadow, as make check runs them; --config restricts), which runs
the suite and, through KVMC_EXTRA_TESTS, the kernel's selftests that
cover the same ground, and puts the file back after every mutant.

A catalog file with a top-level `heading` is a set of its own (the blind
set): a run without --catalog leaves it out, `--catalog NAME` runs it
(NAME.toml), and its results are published in tables of their own under
that heading (--heading names another, e.g. "before" and "after").

What the tool writes into a tree it records first (in the worktree's git
directory: the file, the texts, a hash of the file before and after), and
it puts back only a file whose content is exactly what it wrote; anything
else in the tree (the user's own edits, a mutated file edited since) is
left as it is and named.  Every child (make, the selftests' build,
run_tests.sh, git) is registered with kvmc.common: a signal, an exception
or the death of this process stops it.

A mutant is killed by a side when, on any configuration, a test of that
side that passed on the unmutated kernel there fails, errors, times out
or does not run on the mutant (or, run with the Debian baseline, one that
was XFAIL fails outright); the tables name the configurations that killed.
A mutant that does not build is reported and not counted.

Standard library only; commands are argument lists.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterable

from kvmc import kbuild, kernel_tree, qemu_configs, reference
from kvmc.common import (Interrupted, Log, cache_root, call, capture, raise_on_signals, read_text,
                         write_atomic)
from kvmc.results import Run, load_dir, read_extra_durations

TOP = Path(__file__).resolve().parents[2]
CATALOG_DIR = Path(__file__).resolve().parent / "mutants"
ARCHES = tuple(qemu_configs.ARCHES)
ARCH_VALUES = ARCHES + ("both",)
KINDS = ("wrong-errno", "field-not-filled", "neighbour-value", "off-by-one",
         "dropped-check", "swapped-order", "inverted-condition", "wrong-width",
         "wrong-return", "wrong-type", "equivalent")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FIELDS = {"id", "arch", "file", "function", "kind", "rules", "old", "new", "why",
          "equivalent", "upstream", "uncovered"}
# Keys of a catalog file besides its mutants: the heading of a set of its
# own, published apart from the main catalog.
FILE_FIELDS = {"mutant", "heading"}
REQUIRED = ("id", "arch", "file", "function", "kind", "old", "new", "why")

# The kernel's own selftests run next to the suite (qemu_configs: each
# architecture's selftests).  Built by scripts/kernel-selftests.sh;
# KVMC_KST_EXTRA asks it for those beyond its default list.
SELFTESTS = {a.name: list(a.selftests) for a in qemu_configs.ARCHES.values()}
SELFTEST_EXTRA = {a.name: " ".join(a.selftest_extra) for a in qemu_configs.ARCHES.values()}

# ---- per-architecture facts still kept here ---------------------------------------
# TO MOVE: these belong with the architecture records of qemu_configs/, as
# the selftest lists above do; kept in this one block until they move.
#
# Objects that compile a header's code, for the quick compile check.
HEADER_OBJECTS = {
    ("include/linux/kvm_host.h", "arm64"): ["virt/kvm/kvm_main.o", "arch/arm64/kvm/mmu.o"],
    ("include/linux/kvm_host.h", "x86_64"): ["virt/kvm/kvm_main.o", "arch/x86/kvm/mmu/mmu.o"],
    ("arch/x86/kvm/mmu/mmu_internal.h", "x86_64"): ["arch/x86/kvm/mmu/mmu.o"],
    ("arch/x86/kvm/x86.h", "x86_64"): ["arch/x86/kvm/x86.o"],
}
# ---- end of the per-architecture facts -------------------------------------------

SELFTEST_PREFIX = "selftest:"
RUN_TIMEOUT = 3600.0


class CatalogError(ValueError):
    """A catalog file that is not a valid list of mutants."""


class UsageError(ValueError):
    """Options that do not go together (the user's mistake: exit 2)."""


class ApplyError(RuntimeError):
    """A mutant's text does not occur exactly once in its file."""


@dataclasses.dataclass(frozen=True)
class Upstream:
    subject: str
    commit: str
    source: str


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    arch: str                   # arm64, x86_64 or both
    file: str                   # path in the kernel tree
    function: str
    kind: str
    rules: tuple[str, ...]      # CONTRACT.md rules and scenarios it touches
    old: str                    # exact text replaced (occurs once in file)
    new: str
    why: str
    equivalent: bool
    upstream: Upstream | None
    origin: str                 # catalog file it came from
    # When the suite cannot kill it: one line on why the contract (or this
    # environment) does not cover it, printed next to it in the report.
    uncovered: str = ""
    # Its file's heading: "" for the main catalog, else the set's own
    # (published apart, left out of a run without --catalog).
    heading: str = ""

    def arches(self) -> tuple[str, ...]:
        return ARCHES if self.arch == "both" else (self.arch,)

    def where(self) -> str:
        return f"{self.file}:{self.function}"

    def catalog(self) -> str:
        """Its catalog file's name, as --catalog takes it (blind for blind.toml)."""
        return self.origin.removesuffix(".toml")


# ---- the catalog -------------------------------------------------------------

def _str(block: dict[str, Any], key: str, where: str, allow_empty: bool = False) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise CatalogError(f"{where}: '{key}' must be a string")
    if not value and not allow_empty:
        raise CatalogError(f"{where}: '{key}' is empty")
    return value


def parse_catalog(text: str, origin: str = "catalog") -> list[Mutant]:
    """The mutants of one catalog file (TOML, a [[mutant]] array)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{origin}: not TOML: {e}") from e
    extra = set(data) - FILE_FIELDS
    if extra:
        raise CatalogError(f"{origin}: unknown top-level keys {sorted(extra)}")
    heading = data.get("heading", "")
    if not isinstance(heading, str) or ("heading" in data and not heading.strip()) or "\n" in heading:
        raise CatalogError(f"{origin}: 'heading' must be one line of text")
    blocks = data.get("mutant", [])
    if not isinstance(blocks, list):
        raise CatalogError(f"{origin}: 'mutant' must be an array of tables ([[mutant]])")
    mutants = []
    for n, block in enumerate(blocks, 1):
        where = f"{origin}: mutant #{n}"
        if isinstance(block.get("id"), str):
            where = f"{origin}: mutant {block['id']}"
        unknown = set(block) - FIELDS
        if unknown:
            raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
        for key in REQUIRED:
            if key not in block:
                raise CatalogError(f"{where}: '{key}' missing")
        ident = _str(block, "id", where)
        if not ID_RE.match(ident):
            raise CatalogError(f"{where}: id must be lower-case letters, digits and '-'")
        arch = _str(block, "arch", where)
        if arch not in ARCH_VALUES:
            raise CatalogError(f"{where}: arch '{arch}' is not one of {', '.join(ARCH_VALUES)}")
        kind = _str(block, "kind", where)
        if kind not in KINDS:
            raise CatalogError(f"{where}: kind '{kind}' is not one of {', '.join(KINDS)}")
        old = _str(block, "old", where)
        new = _str(block, "new", where, allow_empty=True)
        if old == new:
            raise CatalogError(f"{where}: 'old' and 'new' are the same text")
        equivalent = block.get("equivalent", False)
        if not isinstance(equivalent, bool):
            raise CatalogError(f"{where}: 'equivalent' must be true or false")
        if equivalent != (kind == "equivalent"):
            raise CatalogError(f"{where}: kind 'equivalent' and equivalent = true go together")
        rules = block.get("rules", [])
        if not isinstance(rules, list) or not all(isinstance(r, str) and r for r in rules):
            raise CatalogError(f"{where}: 'rules' must be a list of strings")
        upstream = None
        if "upstream" in block:
            up = block["upstream"]
            if not isinstance(up, dict) or set(up) - {"subject", "commit", "source"}:
                raise CatalogError(f"{where}: 'upstream' takes subject, commit and source")
            commit = up.get("commit", "")
            if not isinstance(commit, str) or (commit and not re.match(r"^[0-9a-f]{12,40}$", commit)):
                raise CatalogError(f"{where}: upstream commit must be 12-40 hex digits (or empty)")
            upstream = Upstream(subject=_str(up, "subject", where + " upstream"), commit=commit,
                                source=_str(up, "source", where + " upstream"))
        path = _str(block, "file", where)
        if path.startswith("/") or ".." in Path(path).parts:
            raise CatalogError(f"{where}: file must be a path inside the kernel tree")
        mutants.append(Mutant(id=ident, arch=arch, file=path,
                              function=_str(block, "function", where), kind=kind,
                              rules=tuple(rules), old=old, new=new,
                              why=" ".join(_str(block, "why", where).split()),
                              equivalent=equivalent, upstream=upstream, origin=origin,
                              uncovered=" ".join(_str(block, "uncovered", where).split())
                              if "uncovered" in block else "", heading=heading.strip()))
    return mutants


def load_catalog(directory: Path | None = None) -> list[Mutant]:
    """Every mutant of every *.toml in DIRECTORY (CATALOG_DIR), ids unique."""
    directory = CATALOG_DIR if directory is None else directory
    mutants: list[Mutant] = []
    seen: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.toml")):
        for m in parse_catalog(path.read_text(encoding="utf-8"), path.name):
            if m.id in seen:
                raise CatalogError(f"{path.name}: mutant {m.id} already defined in {seen[m.id]}")
            seen[m.id] = path.name
            mutants.append(m)
    if not mutants:
        raise CatalogError(f"no mutants in {directory}")
    return mutants


def select(mutants: list[Mutant], ids: Iterable[str] = (), arch: str | None = None) -> list[Mutant]:
    """The mutants named (all when none is), for ARCH when given, in
    catalog order; an unknown id is an error."""
    wanted = [i for i in ids if i]
    known = {m.id for m in mutants}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise CatalogError(f"unknown mutant(s): {', '.join(unknown)}")
    chosen = [m for m in mutants if not wanted or m.id in wanted]
    if arch:
        chosen = [m for m in chosen if arch in m.arches()]
    return chosen


def catalog_scope(mutants: list[Mutant], names: Iterable[str] = ()) -> tuple[list[Mutant], str]:
    """The mutants of the catalog files NAMES (blind for blind.toml) and
    the heading their results are published under; with no name, the main
    catalog (every file without a heading of its own) and "".  Files of
    different headings are different studies: one run is one of them."""
    wanted = list(dict.fromkeys(n.removesuffix(".toml") for n in names if n))
    if not wanted:
        return [m for m in mutants if not m.heading], ""
    files = list(dict.fromkeys(m.catalog() for m in mutants))
    unknown = [n for n in wanted if n not in files]
    if unknown:
        raise CatalogError(f"no catalog file {', '.join(n + '.toml' for n in unknown)} in {CATALOG_DIR} "
                           f"(--catalog takes one of: {', '.join(files)})")
    chosen = [m for m in mutants if m.catalog() in wanted]
    headings = {m.heading for m in chosen}
    if len(headings) > 1:
        raise CatalogError(f"--catalog {','.join(wanted)}: files of different sets "
                           f"({', '.join(repr(h or 'the main catalog') for h in sorted(headings))}); "
                           "run one set at a time")
    return chosen, headings.pop()


def select_in(scope: list[Mutant], catalog: list[Mutant], ids: Iterable[str]) -> None:
    """CatalogError unless every id names a mutant of SCOPE (the catalog
    files run), saying where one of the CATALOG's other files has it."""
    select(catalog, ids)
    inside = {m.id for m in scope}
    home = {m.id: m.origin for m in catalog}
    outside = [i for i in ids if i and i not in inside]
    if outside:
        raise CatalogError("not in the catalog files run: " + ", ".join(f"{i} ({home[i]}; --catalog "
                                                                         f"{home[i].removesuffix('.toml')})"
                                                                         for i in outside))


# ---- applying ----------------------------------------------------------------

def read_source(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "surrogateescape")


def mutate_text(text: str, mutant: Mutant) -> str:
    """TEXT with the mutant applied; ApplyError unless its text occurs
    exactly once."""
    count = text.count(mutant.old)
    if count != 1:
        raise ApplyError(f"{mutant.id}: the text to replace occurs {count} times in "
                         f"{mutant.file} (wanted exactly once)")
    return text.replace(mutant.old, mutant.new, 1)


def check_tree(tree: Path, mutants: list[Mutant]) -> list[str]:
    """Problems (one line each) of MUTANTS against the kernel TREE: a
    missing file, text not found exactly once, a function name the file
    does not define.  Empty when every mutant can be applied."""
    problems = []
    for m in mutants:
        path = tree / m.file
        if not path.is_file():
            problems.append(f"{m.id}: {m.file} is not in {tree}")
            continue
        text = read_source(path)
        try:
            mutate_text(text, m)
        except ApplyError as e:
            problems.append(str(e))
            continue
        if not re.search(r"\b" + re.escape(m.function) + r"\s*\(", text):
            problems.append(f"{m.id}: {m.file} has no function {m.function}")
    return problems


def git(tree: Path, args: list[str]) -> str:
    """git's output (bytes as surrogate escapes, so a file's text comes back
    exactly); RuntimeError when it fails."""
    proc = capture(["git", "-C", str(tree)] + args, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"git -C {tree} {' '.join(args)}: "
                           f"{proc.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def tree_changes(tree: Path) -> list[str]:
    """Tracked files that differ from the worktree's commit."""
    out = git(tree, ["status", "--porcelain", "--untracked-files=no"])
    return [line[3:] for line in out.splitlines() if line.strip()]


# What the tool has written into a tree and not yet undone, kept in the
# tree's own git directory (git never shows it, no build sees it).
LEDGER = "kvmc-mutation.json"
LEDGER_FORMAT = "kvm-contract applied mutants 1"


@dataclasses.dataclass(frozen=True)
class Applied:
    """A mutant written into a file of a tree, recorded before the write."""
    mutant: str
    file: str
    offset: int                 # where the new text starts in the mutated file
    old: str
    new: str
    original_sha256: str        # the file before the mutant
    mutated_sha256: str         # the file exactly as the tool wrote it


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def ledger_path(tree: Path) -> Path:
    return Path(git(tree, ["rev-parse", "--absolute-git-dir"]).strip()) / LEDGER


def read_ledger(tree: Path) -> list[Applied]:
    path = ledger_path(tree)
    text = read_text(path)
    if not text:
        return []
    try:
        doc = json.loads(text)
        if doc.get("format") != LEDGER_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}")
        return [Applied(**e) for e in doc["applied"]]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise RuntimeError(f"{path} is not this tool's record of applied mutants ({e}): compare {tree} "
                           f"with its commit by hand (git -C {tree} diff), then remove it") from e


def write_ledger(tree: Path, entries: list[Applied]) -> None:
    path = ledger_path(tree)
    if not entries:
        path.unlink(missing_ok=True)
        return
    write_atomic(path, json.dumps({"format": LEDGER_FORMAT,
                                   "applied": [dataclasses.asdict(e) for e in entries]}, indent=1) + "\n")


def apply_mutant(tree: Path, mutant: Mutant) -> Applied:
    """Write MUTANT into its file in TREE (a git tree).  What it writes is
    recorded first, so that restore() knows it even after a kill."""
    path = tree / mutant.file
    before = path.read_bytes()
    text = before.decode("utf-8", "surrogateescape")
    after = _encode(mutate_text(text, mutant))
    entries = read_ledger(tree)
    for e in entries:
        if e.file == mutant.file:
            raise RuntimeError(f"{tree / e.file} still holds mutant {e.mutant}: "
                               "run 'python3 -m kvmc.mutation restore' first")
    applied = Applied(mutant=mutant.id, file=mutant.file, offset=text.index(mutant.old),
                      old=mutant.old, new=mutant.new, original_sha256=_sha256(before),
                      mutated_sha256=_sha256(after))
    write_ledger(tree, entries + [applied])
    write_atomic(path, after, mode=stat.S_IMODE(path.stat().st_mode))
    return applied


def restore(tree: Path, only: str | None = None) -> tuple[list[str], list[str]]:
    """Undo the recorded mutants of TREE (of the file ONLY, when given).
    A file whose content is exactly what the tool wrote gets back its text
    from before the mutant (the user's earlier edits included), written
    anew so that make sees it newer than the mutant's object; a file with
    any other content was changed since, maybe by its user, and is left
    as it is.  Returns (what was put back, what was left and why), one
    line per file."""
    done: list[str] = []
    left: list[str] = []
    keep: list[Applied] = []
    for e in read_ledger(tree):
        if only is not None and e.file != only:
            keep.append(e)
            continue
        path = tree / e.file
        try:
            current: bytes | None = path.read_bytes()
        except OSError:
            current = None
        digest = _sha256(current) if current is not None else ""
        if current is not None and digest == e.mutated_sha256:
            text = current.decode("utf-8", "surrogateescape")
            original = _encode(text[:e.offset] + e.old + text[e.offset + len(e.new):])
            if _sha256(original) == e.original_sha256:
                write_atomic(path, original, mode=stat.S_IMODE(path.stat().st_mode))
                done.append(f"{e.file}: mutant {e.mutant} undone")
                continue
        elif current is not None and digest == e.original_sha256:
            os.utime(path)
            done.append(f"{e.file}: already as it was before mutant {e.mutant}")
            continue
        why = "it is gone" if current is None else "its content is not what the tool wrote (changed since)"
        left.append(f"{e.file}: left as it is: {why}; mutant {e.mutant} replaced {e.old!r} by {e.new!r}: "
                    f"look with 'git -C {tree} diff -- {e.file}' and put it right by hand")
        keep.append(e)
    write_ledger(tree, keep)
    return done, left


def undo(tree: Path, mutant: Mutant, log: Callable[[str], None]) -> bool:
    """restore() for MUTANT's file after its run; False (and said) when
    the file was changed meanwhile and is left as it is."""
    _, left = restore(tree, mutant.file)
    for line in left:
        log(f"{tree}: {line}")
    return not left


def unrecorded_mutant(tree: Path, rel: str, catalog: list[Mutant]) -> Mutant | None:
    """The catalog mutant whose text REL holds exactly as written onto its
    commit, with no record (an earlier version of this tool)."""
    try:
        current = (tree / rel).read_bytes()
        committed = git(tree, ["show", f"HEAD:{rel}"])
    except (OSError, RuntimeError):
        return None
    for m in catalog:
        if m.file == rel and committed.count(m.old) == 1 and _encode(mutate_text(committed, m)) == current:
            return m
    return None


def restore_tree(tree: Path, catalog: list[Mutant], log: Callable[[str], None]) -> int:
    """The restore command: undo what the tool wrote into TREE, leave
    everything else and say so.  1 when a mutant could not be undone."""
    done, left = restore(tree)
    recorded = {e.file for e in read_ledger(tree)}
    others = []
    for rel in tree_changes(tree):
        if rel in recorded:
            continue
        m = unrecorded_mutant(tree, rel, catalog)
        if m:
            committed = _encode(git(tree, ["show", f"HEAD:{rel}"]))
            write_atomic(tree / rel, committed, mode=stat.S_IMODE((tree / rel).stat().st_mode))
            done.append(f"{rel}: mutant {m.id} undone (unrecorded, written by an earlier version)")
        else:
            others.append(f"{rel}: left as it is: not written by this tool")
    for line in done + left + others:
        log(f"{tree}: {line}")
    if left:
        log(f"{tree}: {len(left)} mutated file(s) changed since the tool wrote them; not undone")
        return 1
    if others:
        print(f"{tree}: no mutant left; {len(others)} file(s) differ from the commit, left as they are")
    else:
        print(f"{tree}: clean")
    return 0


# ---- judging -------------------------------------------------------------------

PASS = "pass"


def killed_by(baseline: dict[str, str], observed: dict[str, str]) -> list[str]:
    """Tests that passed on the unmutated kernel and failed, errored, timed
    out or did not run at all (the VM died) on the mutant, sorted.  A test
    that now skips is not a kill: a skip reports nothing wrong.  A test
    whose baseline line did not occur on the unmutated kernel (xpass: a
    patched tree, scripts/fix-demo.sh) passed all the same.  A test
    whose only findings on the unmutated kernel are excused by the baseline
    file (xfail) kills when it fails outright on the mutant: a finding the
    baseline does not list is new (one that now passes is not a kill)."""
    return sorted(t for t, r in baseline.items()
                  if (r in (PASS, "xpass") and observed.get(t, "missing") not in (PASS, "skip", "xpass"))
                  or (r == "xfail" and observed.get(t, "missing") not in (PASS, "skip", "xfail", "xpass")))


def selftest_outcome(rc: int) -> str:
    if rc == 0:
        return PASS
    if rc == 4:
        return "skip"
    if rc in (124, 137):
        return "timeout"
    return f"fail({rc})"


def selftest_outcomes(directory: Path) -> dict[str, str]:
    """The selftests' outcomes in a results directory (its extra tests, as
    kvmc.results reads them)."""
    return {SELFTEST_PREFIX + name: selftest_outcome(rc)
            for name, _ms, rc in read_extra_durations(str(directory))}


def suite_outcomes(run: Run) -> dict[str, str]:
    """Each suite test's verdict (pass, fail, skip, xfail, xpass) in a run
    (kvmc.results.load_dir): the tests of its result tree, a binary that
    failed with no failed test of its own among them."""
    return {t.name: t.verdict.value for t, _ in run.doc.leaves() if t.name}


@dataclasses.dataclass
class Outcome:
    suite: dict[str, str]
    selftests: dict[str, str]
    rc: int
    untestable: str             # why the kernel could not be tested, if so
    seconds: float
    # The suite's results as read (observations included), kept for the
    # behavioural diff of a mutant's run against the baseline's.
    run: Run | None = None


def config_order(names: Iterable[str]) -> list[str]:
    """NAMES (configurations) in qemu_configs.CONFIGS's order, any other after."""
    known = list(qemu_configs.CONFIGS)
    unique = list(dict.fromkeys(names))
    return sorted(unique, key=lambda n: (known.index(n) if n in known else len(known), unique.index(n)))


# How many of a configuration's changed observations the JSON names.
CHANGES_KEPT = 5


def observation_changes(base: Run | None, seen: Run | None) -> tuple[int, list[list[str]]] | None:
    """The suite's observations and verdicts on the mutant that differ
    from the unmutated kernel's on the same configuration, as --reference
    finds them (reference.diff, what varies between runs of one kernel
    normalised): how many, and the first CHANGES_KEPT as [test, step,
    field].  None when either run could not test: there is nothing to
    compare (and a mutant that could not be tested is killed anyway)."""
    if base is None or seen is None or base.untestable or seen.untestable:
        return None
    d = reference.diff(seen, base)
    first = [[c.test, c.step, f] for cs in d.changes.values() for c in cs for f, _, _ in c.values]
    return d.changed, first[:CHANGES_KEPT]


@dataclasses.dataclass
class ConfigResult:
    """What one boot of a mutant's kernel, on one configuration, killed,
    and which of the suite's observations changed there (not a kill)."""
    suite_killed: list[str]
    selftests_killed: list[str]
    run_s: float
    untestable: str = ""        # why the kernel could not be tested there (every test killed)
    # Changed observations against the baseline's, None when not recorded
    # (a run of an older tool, a run that could not test); changes names
    # the first few as [test, step, field].
    changed: int | None = None
    changes: list[list[str]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"suite_killed": self.suite_killed, "selftests_killed": self.selftests_killed,
               "run_s": round(self.run_s, 1), "untestable": self.untestable}
        if self.changed is not None:
            # Optional keys: format 2 without them reads as "not recorded".
            out.update(changed=self.changed, changes=self.changes)
        return out

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ConfigResult:
        return cls(suite_killed=record["suite_killed"], selftests_killed=record["selftests_killed"],
                   run_s=record.get("run_s", 0.0), untestable=record.get("untestable", ""),
                   changed=record.get("changed"), changes=record.get("changes", []))


SIDES = ("suite", "selftests")


@dataclasses.dataclass
class MutantResult:
    mutant: Mutant
    arch: str
    status: str                 # ok, not-compiling, apply-failed, untestable
    # Each configuration its kernel was booted on (none when it did not
    # build): what that boot killed.  Killed means killed on any of them.
    configs: dict[str, ConfigResult]
    wall_s: float
    build_s: float
    reason: str = ""            # why it did not build

    def killed(self, side: str) -> list[str]:
        """The tests of SIDE (suite, selftests) that killed it on any configuration."""
        return sorted({t for c in self.configs.values() for t in getattr(c, side + "_killed")})

    @property
    def suite_killed(self) -> list[str]:
        return self.killed("suite")

    @property
    def selftests_killed(self) -> list[str]:
        return self.killed("selftests")

    def killed_on(self, side: str) -> list[str]:
        """The configurations on which SIDE killed it."""
        return [n for n in config_order(self.configs) if getattr(self.configs[n], side + "_killed")]

    @property
    def run_s(self) -> float:
        return sum(c.run_s for c in self.configs.values())

    def changed(self) -> int | None:
        """The suite's changed observations on all configurations; None
        when no configuration recorded them."""
        counts = [c.changed for c in self.configs.values() if c.changed is not None]
        return sum(counts) if counts else None

    def to_json(self) -> dict[str, Any]:
        m = self.mutant
        return {
            "mutant": m.id, "arch": self.arch, "catalog": m.catalog(), "file": m.file,
            "function": m.function, "kind": m.kind, "equivalent": m.equivalent, "rules": list(m.rules),
            "upstream": dataclasses.asdict(m.upstream) if m.upstream else None,
            "status": self.status, "reason": self.reason,
            "configs": {n: self.configs[n].to_json() for n in config_order(self.configs)},
            "wall_s": round(self.wall_s, 1), "build_s": round(self.build_s, 1),
        }


def judge(mutant: Mutant, arch: str, baselines: dict[str, Outcome], observed: dict[str, Outcome],
          build_s: float, wall_s: float, selftests: bool = True) -> MutantResult:
    """A mutant's result from its boots (configuration -> outcome) and the
    unmutated kernel's on the same configurations.  A kernel that could
    not be tested at all on a configuration (no boot, no /dev/kvm) fails
    every test there: killed by both sides, with the reason kept.  Only
    verdicts kill; the suite's changed observations are kept beside them.
    Without SELFTESTS (a --recheck boot, which does not run them) none
    kills on their side."""
    configs = {}
    for n, o in observed.items():
        c = ConfigResult(suite_killed=killed_by(baselines[n].suite, o.suite),
                         selftests_killed=killed_by(baselines[n].selftests, o.selftests) if selftests else [],
                         run_s=o.seconds, untestable=o.untestable)
        diff = observation_changes(baselines[n].run, o.run if not o.untestable else None)
        if diff is not None:
            c.changed, c.changes = diff
        configs[n] = c
    return MutantResult(mutant=mutant, arch=arch, status="ok", configs=configs, wall_s=wall_s, build_s=build_s)


def totals(results: list[MutantResult], arch: str) -> dict[str, Any]:
    """Per architecture: counted mutants (built and run), kills per side,
    survivors, controls killed, not compiling; the suite's kills per
    configuration, and the mutants that only one configuration killed
    (of those booted on several); the suite's survivors with changed
    observations, and those without a record of them."""
    mine = [r for r in results if r.arch == arch]
    counted = [r for r in mine if r.status == "ok" and not r.mutant.equivalent]
    controls = [r for r in mine if r.status == "ok" and r.mutant.equivalent]
    suite = [r for r in counted if r.suite_killed]
    kst = [r for r in counted if r.selftests_killed]
    configs = config_order(n for r in counted for n in r.configs)
    out: dict[str, Any] = {
        "arch": arch, "counted": len(counted),
        "suite_killed": len(suite), "selftests_killed": len(kst),
        "either_killed": len([r for r in counted if r.suite_killed or r.selftests_killed]),
        "suite_only": len([r for r in counted if r.suite_killed and not r.selftests_killed]),
        "selftests_only": len([r for r in counted if r.selftests_killed and not r.suite_killed]),
        "survivors": sorted(r.mutant.id for r in counted if not r.suite_killed and not r.selftests_killed),
        "suite_survivors": sorted(r.mutant.id for r in counted if not r.suite_killed),
        "controls": len(controls),
        "controls_killed": sorted(r.mutant.id for r in controls if r.suite_killed or r.selftests_killed),
        "not_compiling": sorted(r.mutant.id for r in mine if r.status == "not-compiling"),
        "not_run": sorted(r.mutant.id for r in mine if r.status not in ("ok", "not-compiling")),
        "suite_killed_on": {n: len([r for r in counted if n in r.killed_on("suite")]) for n in configs},
        "suite_only_on": {n: sorted(r.mutant.id for r in counted
                                    if len(r.configs) > 1 and r.killed_on("suite") == [n]) for n in configs},
    }
    # Survivors of the suite's verdicts whose observations changed: still
    # survivors (a change is no kill), counted apart.  Left out when no
    # result recorded changes (an older run's totals stay as they were).
    survivors = [r for r in counted if not r.suite_killed]
    if any(r.changed() is not None for r in counted):
        out["suite_survivors_changed"] = sorted(r.mutant.id for r in survivors if r.changed())
        out["suite_survivors_unrecorded"] = sorted(r.mutant.id for r in survivors if r.changed() is None)
    return out


# ---- the results document ------------------------------------------------------
#
# docs/mutation.json: studies, each a heading ("" for the main catalog)
# with one run per architecture; a run boots each mutant on one or more
# configurations and keeps each configuration's kills.  The first format
# had one configuration per run and only the main catalog: it is read as
# the main study (upgrade), and `render` writes it again in this format.

FORMAT = "kvm-contract mutation 2"
FORMAT_1 = "kvm-contract mutation 1"


def upgrade_record(record: dict[str, Any], config: str) -> dict[str, Any]:
    """A mutant's result of FORMAT_1 (its kills, on the run's one
    CONFIG) as this format keeps it; one of this format as it is."""
    if "configs" in record:
        return record
    out = {k: v for k, v in record.items() if k not in ("suite_killed", "selftests_killed", "run_s")}
    out["configs"] = {}
    if record.get("status") == "ok":
        out["reason"] = ""
        out["configs"][config] = {"suite_killed": record.get("suite_killed", []),
                                  "selftests_killed": record.get("selftests_killed", []),
                                  "run_s": record.get("run_s", 0.0), "untestable": record.get("reason", "")}
    return out


def upgrade_run(run: dict[str, Any], arch: str) -> dict[str, Any]:
    """An architecture's run of FORMAT_1 (one configuration, the
    baseline's counts at the top) as this format keeps it."""
    if isinstance(run.get("configs"), list):
        return run
    config = run.get("config") or arch
    out = {k: v for k, v in run.items()
           if k not in ("config", "baseline_suite_passed", "baseline_selftests_passed", "baseline_selftests")}
    out["configs"] = [config]
    out["baselines"] = {config: {"suite_passed": run.get("baseline_suite_passed", "?"),
                                 "selftests_passed": run.get("baseline_selftests_passed", "?"),
                                 "selftests": run.get("baseline_selftests", {})}}
    out["results"] = [upgrade_record(r, config) for r in run.get("results", [])]
    if "totals" in out:
        t = out["totals"]
        out["totals"] = dict(t, suite_killed_on=t.get("suite_killed_on", {config: t.get("suite_killed", 0)}),
                             suite_only_on=t.get("suite_only_on", {config: []}))
    return out


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """DOC in this format: FORMAT_1's runs become the main study's;
    ValueError for a document of neither format."""
    fmt = doc.get("format")
    if "studies" in doc:
        if fmt not in (FORMAT, None):
            raise ValueError(f"format {fmt!r}, not {FORMAT!r}")
        return doc
    if fmt not in (FORMAT_1, None):
        raise ValueError(f"format {fmt!r}, not {FORMAT!r}")
    runs = {a: upgrade_run(r, a) for a, r in doc.get("runs", {}).items()}
    return {"format": FORMAT, "studies": [{"heading": "", "catalogs": [], "runs": runs}] if runs else []}


def read_doc(path: Path) -> dict[str, Any]:
    """The results document at PATH in this format (an older one
    upgraded); an empty one when there is none."""
    text = read_text(path)
    if not text:
        return {"format": FORMAT, "studies": []}
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        return upgrade(doc)
    except ValueError as e:
        raise RuntimeError(f"{path} is not the mutation tool's results ({e}): pass another --json, "
                           "or move it away") from e


def study(doc: dict[str, Any], heading: str, catalogs: Iterable[str] = ()) -> dict[str, Any]:
    """DOC's study published under HEADING ("" the main catalog's), added
    when new (the main one first); CATALOGS names its files, none for the
    main catalog."""
    for s in doc["studies"]:
        if s["heading"] == heading:
            return dict(s)  # callers assign it back through put_study
    return {"heading": heading, "catalogs": list(catalogs) if heading else [], "runs": {}}


def put_study(doc: dict[str, Any], s: dict[str, Any]) -> None:
    studies = [x for x in doc["studies"] if x["heading"] != s["heading"]]
    where = next((i for i, x in enumerate(doc["studies"]) if x["heading"] == s["heading"]), None)
    if where is None:
        where = 0 if not s["heading"] else len(studies)
    doc["studies"] = studies[:where] + [s] + studies[where:]


# ---- reporting -----------------------------------------------------------------

def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}%" if d else "-"


def _tests(names: list[str], limit: int = 4) -> str:
    shown = [n.removeprefix(SELFTEST_PREFIX) for n in names[:limit]]
    more = f" +{len(names) - limit}" if len(names) > limit else ""
    return ", ".join(shown) + more if names else "survived"


def _kills(record: dict[str, Any], side: str, named: bool) -> str:
    """A table cell: the tests of SIDE that killed the mutant, after the
    configurations they killed it on when NAMED (a run of several)."""
    configs = record["configs"]
    killing = [(n, configs[n][side + "_killed"]) for n in config_order(configs) if configs[n][side + "_killed"]]
    if not killing:
        return "survived"
    if not named:
        return _tests(sorted({t for _, tests in killing for t in tests}))
    groups: dict[tuple[str, ...], list[str]] = {}
    for n, tests in killing:
        groups.setdefault(tuple(tests), []).append(n)
    return "; ".join(f"{', '.join(ns)}: {_tests(list(tests))}" for tests, ns in groups.items())


# How many changed observations a survivor's cell names per configuration.
CHANGES_SHOWN = 2


def _change_id(change: list[str]) -> str:
    """A recorded change as the table names it: test, step, field (no step
    for the test's verdict)."""
    test, step, f = change
    where = f" '{step}'" if step and step != reference.VERDICT_STEP else ""
    return f"{test}{where}: {f}".replace("|", "\\|")


def _changes(record: dict[str, Any]) -> str:
    """A table cell: the suite's changed observations on each configuration
    that has any, "none", or "not recorded" (a run of an older tool).  A
    survivor's names the first few; a killed mutant's only counts them,
    its killing tests are in the cells before."""
    configs = record["configs"]
    recorded = [n for n in config_order(configs) if configs[n].get("changed") is not None]
    if not recorded:
        return "not recorded"
    survived = not any(configs[n]["suite_killed"] for n in configs)
    cells = []
    for n in recorded:
        count, first = configs[n]["changed"], configs[n].get("changes", [])
        if not count:
            continue
        cell = f"{n}: {count}"
        shown = first[:CHANGES_SHOWN]
        if survived and shown:
            more = len(first) > len(shown) or count > len({(c[0], c[1]) for c in shown})
            cell += f" ({', '.join(_change_id(c) for c in shown)}{', ...' if more else ''})"
        cells.append(cell)
    return "; ".join(cells) or "none"


def _survivors_changed(t: dict[str, Any]) -> str:
    """The totals' cell of the suite's survivors with changed observations."""
    if "suite_survivors_changed" not in t:
        return "not recorded"
    unrecorded = t.get("suite_survivors_unrecorded", [])
    return str(len(t["suite_survivors_changed"])) + (f" ({len(unrecorded)} not recorded)" if unrecorded else "")


def render_catalog(catalog: list[Mutant], title: str = "The catalog") -> list[str]:
    """The catalog (or a set of its own) as a markdown section: what each
    mutant changes."""
    counted = [m for m in catalog if not m.equivalent]
    per = {a: len([m for m in counted if a in m.arches()]) for a in ARCHES}
    lines = [f"## {title}", "",
             f"{len(counted)} non-equivalent mutants (arm64 {per['arm64']}, x86_64 {per['x86_64']}; "
             f"those marked both run on each), {len([m for m in counted if m.upstream])} of them "
             f"re-introducing upstream fixes, and {len(catalog) - len(counted)} equivalent controls.", "",
             "| mutant | arch | file:function | kind | rules | upstream fix undone |",
             "|---|---|---|---|---|---|"]
    for m in catalog:
        up = ""
        if m.upstream:
            up = (f"{m.upstream.commit[:12]} " if m.upstream.commit else "") + f"\"{m.upstream.subject}\""
        name = m.id + (" (control)" if m.equivalent else "")
        lines.append(f"| {name} | {m.arch} | {m.where()} | {m.kind} | {' '.join(m.rules)} | {up} |")
    return lines + [""]


def _per_config(t: dict[str, Any]) -> str:
    """The totals' cell of the suite's kills per configuration."""
    cells = []
    for n, k in t.get("suite_killed_on", {}).items():
        only = t.get("suite_only_on", {}).get(n, [])
        cells.append(f"{n} {k}" + (f" ({len(only)} only there)" if only else ""))
    return ", ".join(cells) or "-"


def render_study(s: dict[str, Any], catalog: list[Mutant] | None) -> list[str]:
    """One study's totals and per-architecture tables; the main catalog's
    (heading "") at the top level, a set of its own under its heading."""
    runs = s["runs"]
    h = "###" if s["heading"] else "##"
    lines = [f"## {s['heading']}", ""] if s["heading"] else []
    if s["heading"] and s.get("catalogs"):
        lines += ["Catalog files: " + ", ".join(f"`{c}.toml`" for c in s["catalogs"]) + ".", ""]
    lines += [f"{h} Totals", "",
              "| arch | kernel | mutants counted | killed by suite | killed by selftests "
              "| suite only | selftests only | survivors | survivors with changed observations "
              "| controls killed | not compiling | suite kills per configuration |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for arch in ARCHES:
        run = runs.get(arch)
        if not run:
            continue
        t = run["totals"]
        configs = run.get("configs", [])
        kernel = run.get("kernel", "?") + (f" ({', '.join(f'`--arch {c}`' for c in configs)})" if configs else "")
        lines.append(f"| {arch} | {kernel} | {t['counted']} "
                     f"| {t['suite_killed']} ({_pct(t['suite_killed'], t['counted'])}) "
                     f"| {t['selftests_killed']} ({_pct(t['selftests_killed'], t['counted'])}) "
                     f"| {t['suite_only']} | {t['selftests_only']} | {len(t['survivors'])} "
                     f"| {_survivors_changed(t)} | {len(t['controls_killed'])} of {t['controls']} | {len(t['not_compiling'])} "
                     f"| {_per_config(t)} |")
    if catalog is None:
        scope = None
    elif s.get("catalogs"):
        scope = [m for m in catalog if m.catalog() in s["catalogs"]]
    else:
        scope = [m for m in catalog if not m.heading]
    for arch in ARCHES:
        run = runs.get(arch)
        if not run:
            continue
        configs = run.get("configs", [])
        lines += ["", f"{h} {arch}", ""]
        done = {r["mutant"] for r in run["results"]}
        missing = [m.id for m in scope if arch in m.arches() and m.id not in done] if scope is not None else []
        # An interrupted run finished later with --append is whole again.
        if not run.get("complete", True) and (missing or scope is None):
            lines += ["**Interrupted run: only the mutants below were run.**", ""]
        if run.get("earlier_runs"):
            lines += ["Put together with `--append` from more than one run; the earlier ones "
                      "published at " + ", ".join(f"{e.get('date', '?')}" for e in run["earlier_runs"]) + ".", ""]
        base = run.get("baselines", {})
        if len(configs) == 1:
            b = base.get(configs[0], {})
            lines += [f"Run {run.get('date', '?')}, baseline: {b.get('suite_passed', '?')} suite "
                      f"tests and {b.get('selftests_passed', '?')} selftests passed on the "
                      f"unmutated kernel ({run.get('baseline_s', '?')} s).", ""]
        else:
            each = "; ".join(f"on {n} {base.get(n, {}).get('suite_passed', '?')} suite tests and "
                             f"{base.get(n, {}).get('selftests_passed', '?')} selftests" for n in configs)
            lines += [f"Run {run.get('date', '?')}, each mutant's kernel built once and booted on "
                      f"{', '.join(configs)}; baseline: {each} passed on the unmutated kernel "
                      f"({run.get('baseline_s', '?')} s).", ""]
        lines += ["| mutant | file:function | killed by suite | killed by selftests "
                  "| changed observations (suite) | wall (s) |",
                  "|---|---|---|---|---|---|"]
        for r in run["results"]:
            name = r["mutant"] + (" (control)" if r["equivalent"] else "")
            if r.get("upstream"):
                name += " (historical)"
            if r["status"] != "ok":
                cell = f"{r['status']}: {r['reason'][:80]}"
                lines.append(f"| {name} | {r['file']}:{r['function']} | {cell} | {cell} | - | {r['wall_s']} |")
                continue
            named = len(configs) > 1 or list(r["configs"]) != configs
            lines.append(f"| {name} | {r['file']}:{r['function']} | {_kills(r, 'suite', named)} "
                         f"| {_kills(r, 'selftests', named)} | {_changes(r)} | {r['wall_s']} |")
        t = run["totals"]
        if t["suite_survivors"]:
            reasons = {m.id: m.uncovered for m in catalog or []}
            lines += ["", "Survivors of the suite, and why the contract does not cover them:", ""]
            for ident in t["suite_survivors"]:
                why = reasons.get(ident) or "**no test and no reason yet**"
                lines.append(f"- `{ident}`: {why}")
        only = {n: ids for n, ids in t.get("suite_only_on", {}).items() if ids}
        if only:
            lines += ["", "Killed by the suite on one configuration only: "
                      + "; ".join(f"{n}: {', '.join(f'`{i}`' for i in ids)}" for n, ids in only.items()) + "."]
        if missing:
            lines += ["", "Not run yet (finish with `--append --mutants ...`): " + ", ".join(missing) + "."]
    return lines + [""]


def render_markdown(doc: dict[str, Any], catalog: list[Mutant] | None = None) -> str:
    """docs/mutation.md from the JSON document (and the catalog)."""
    doc = upgrade(doc)
    lines = ["# Mutation study: what the suite catches", "",
             "Generated by `make mutation` (`python3 -m kvmc.mutation run`) from",
             "`docs/mutation.json`; the catalog is `scripts/kvmc/mutants/*.toml`.",
             "A mutant is killed by a side when a test that passed on the unmutated",
             "kernel fails, errors, times out or does not run on the mutant; the suite",
             "runs with `baselines/debian.txt`, so a test whose only findings are the",
             "known deviations (XFAIL) kills too when the mutant makes it fail outright.",
             "Each mutant's kernel is built once and booted on every configuration of",
             "its architecture that `make check` runs (arm64 and arm64-nested, x86_64",
             "and x86_64-shadow) unless the run names one (`--config`); it counts as",
             "killed when any configuration kills it, and the tables name which.",
             "Controls are equivalent mutants: a killed control means a flaky test.",
             "Only verdicts kill. Each mutant's suite observations are also compared with",
             "the unmutated kernel's, as `--reference` does: a change is no kill (a",
             "survivor of the suite with one stays a survivor, counted apart in the totals);",
             "it shows where a difference the contract allows appeared, one that",
             "`--fail-on-change` would flag.",
             "Each architecture's table comes from one run of the tool; a mutant run",
             "again later (`--append`) replaces its row. Totals are counted under the",
             "catalog as it is now (a mutant found equivalent after a run counts as a",
             "control). A catalog file with a heading of its own (a blind set) is run",
             "with `--catalog NAME` and published in tables of its own under it.", "",
             "Reproduce: `make mutation` (both architectures, every mutant), or",
             "`make mutation MUTATION_ARCH=arm64 MUTANTS=arm64-nisv-errno,eq-arm64-mmio-fill-order`;",
             "directly: `cd scripts && python3 -m kvmc.mutation run --arch arm64 --mutants ...`;",
             "a set of its own: `python3 -m kvmc.mutation run --arch all --catalog blind`.",
             "`python3 -m kvmc.mutation check` verifies that every mutant's text occurs exactly",
             "once in Debian's linux-source tree.", ""]
    studies = [s for s in doc["studies"] if s.get("runs")]
    tail: list[str] = []
    if catalog:
        tail = render_catalog([m for m in catalog if not m.heading])
        for heading in dict.fromkeys(m.heading for m in catalog if m.heading):
            tail += render_catalog([m for m in catalog if m.heading == heading], f"{heading}: the mutants")
    if not studies:
        return "\n".join(lines + ["No run recorded yet.", ""] + tail)
    for s in studies:
        lines += render_study(s, catalog)
    return "\n".join(lines + tail) + "\n"


def result_from_json(record: dict[str, Any], catalog: dict[str, Mutant]) -> MutantResult | None:
    m = catalog.get(record["mutant"])
    if m is None:
        return None
    return MutantResult(mutant=m, arch=record["arch"], status=record["status"],
                        configs={n: ConfigResult.from_json(c) for n, c in record["configs"].items()},
                        wall_s=record["wall_s"], build_s=record["build_s"], reason=record.get("reason", ""))


def append_run(old: dict[str, Any], new: dict[str, Any], catalog: list[Mutant]) -> dict[str, Any]:
    """NEW's results added to OLD's (a mutant run again replaces its old
    result), totals recomputed; the baselines of both are kept, and the
    configurations of both named."""
    arch = new["totals"]["arch"]
    old, new = upgrade_run(old, arch), upgrade_run(new, arch)
    by_id = {m.id: m for m in catalog}
    records = {r["mutant"]: r for r in old.get("results", [])}
    records.update({r["mutant"]: r for r in new["results"]})
    order = [m.id for m in catalog if m.id in records]
    merged = dict(new, results=[records[i] for i in order],
                  configs=config_order(old.get("configs", []) + new.get("configs", [])),
                  baselines={**old.get("baselines", {}), **new.get("baselines", {})})
    results = [r for r in (result_from_json(records[i], by_id) for i in order) if r]
    merged["totals"] = totals(results, arch)
    merged["complete"] = old.get("complete", True) and new.get("complete", True)
    merged["earlier_runs"] = old.get("earlier_runs", []) + [
        {k: old.get(k) for k in ("date", "configs", "baseline_s", "baselines")}]
    return merged


def recount(run: dict[str, Any], catalog: list[Mutant]) -> dict[str, Any]:
    """RUN's totals computed again under CATALOG as it is now (a mutant
    found equivalent after the run is then counted as a control); results
    of mutants the catalog no longer has, or no longer runs on RUN's
    architecture, are dropped."""
    by_id = {m.id: m for m in catalog}
    arch = run["totals"]["arch"]
    run = upgrade_run(run, arch)
    kept = [r for r in run.get("results", []) if r["mutant"] in by_id and arch in by_id[r["mutant"]].arches()]
    results = [r for r in (result_from_json(r, by_id) for r in kept) if r]
    return dict(run, results=kept, totals=totals(results, arch))


def merge_doc(path: Path, arch: str, run: dict[str, Any], heading: str = "",
              catalogs: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON document at PATH (upgraded when older) with ARCH's run of
    the study under HEADING replaced by RUN."""
    doc = read_doc(path)
    s = study(doc, heading, catalogs)
    s["runs"] = dict(s["runs"], **{arch: run})
    put_study(doc, s)
    return doc


# ---- running -------------------------------------------------------------------

# A shell script dies of its parent-death signal at once and leaves the
# make it runs in the foreground going; under this shell the signal goes
# to the script's whole process group (the child's own session) instead.
GROUP_ON_TERM = ("trap \"trap '' TERM; kill -TERM 0\" TERM; \"$@\" & wait $!; rc=$?; "
                 "wait $! 2>/dev/null; exit $rc")


def group_stops_on_term(argv: list[str]) -> list[str]:
    """ARGV (a script) under a shell that, on SIGTERM (the parent-death
    signal of call(..., pdeathsig="TERM")), sends SIGTERM to its whole
    process group, so that the script's make stops with this process."""
    return ["sh", "-c", GROUP_ON_TERM, "sh", *argv]


def build_selftests(arch: str, out: Path, log: Callable[[str], None]) -> Path:
    """OUT/run: the selftests for ARCH (links to the binaries that
    scripts/kernel-selftests.sh built in OUT/bin) and a list.txt of
    'NAME ARGS' lines for the ones this tree has, as KVMC_EXTRA_TESTS
    takes them.  OUT/bin stays as the build script left it, so its next
    run finds it up to date."""
    bindir = out / "bin"
    env = dict(os.environ, KVMC_KST_EXTRA=SELFTEST_EXTRA[arch])
    log(f"{arch}: building the kernel's selftests ({' '.join(SELFTESTS[arch])})")
    # TERM, to the whole group: the script's make stops when this process dies.
    rc = call(group_stops_on_term([str(TOP / "scripts/kernel-selftests.sh"), arch, str(bindir)]),
              pdeathsig="TERM", env=env, stdin=subprocess.DEVNULL)
    if rc != 0:
        raise RuntimeError(f"{arch}: scripts/kernel-selftests.sh failed (exit {rc}); --no-selftests runs the suite alone")
    built = set((bindir / "list.txt").read_text().split())
    lines = [spec for spec in SELFTESTS[arch] if spec.split()[0] in built]
    missing = [spec.split()[0] for spec in SELFTESTS[arch] if spec.split()[0] not in built]
    if missing:
        log(f"{arch}: selftests not in this tree, not run: {', '.join(missing)}")
    rundir = out / "run"
    rundir.mkdir(parents=True, exist_ok=True)
    for stale in rundir.iterdir():
        stale.unlink()
    for spec in lines:
        (rundir / spec.split()[0]).symlink_to(bindir / spec.split()[0])
    write_atomic(rundir / "list.txt", "".join(line + "\n" for line in lines))
    return rundir


# The known deviations of Debian's kernels (the same source): tests whose
# only findings are listed there run as xfail, and still count.
BASELINE = TOP / "baselines/debian.txt"


def run_kernel(arch: str, image: str, out: Path, selftests: Path | None,
               suite_filter: str | None, log: Callable[[str], None], config: str = "") -> Outcome:
    """Boot IMAGE once: the suite, then the selftests, in the same VM."""
    config = config or arch
    out.mkdir(parents=True, exist_ok=True)
    cmd = [str(TOP / "run_tests.sh"), "--arch", config, "--kernel", image, "--baseline", str(BASELINE),
           "-o", str(out / "results")]
    if suite_filter:
        cmd += ["-t", suite_filter]
    env = dict(os.environ)
    env.setdefault("KVMC_BIN_TIMEOUT", "600")
    if selftests:
        env["KVMC_EXTRA_TESTS"] = str(selftests)
        env.setdefault("KVMC_VM_MEMORY", "2G")
    start = time.monotonic()
    with open(out / "run.log", "w") as f:
        try:
            # TERM: the run stops its QEMU when this process dies.
            rc = call(cmd, timeout=RUN_TIMEOUT, pdeathsig="TERM", stdin=subprocess.DEVNULL, stdout=f,
                      stderr=subprocess.STDOUT, env=env, cwd=TOP)
        except subprocess.TimeoutExpired:
            rc = 124
    seconds = time.monotonic() - start
    res = out / "results" / config
    run = load_dir(str(res))
    suite = suite_outcomes(run)
    kst = selftest_outcomes(res)
    untestable = ""
    if rc not in (0, 1):
        untestable = f"run_tests.sh exited {rc}"
        if run.untestable:
            untestable += ": " + run.untestable[:200]
    log(f"{config}: {len(suite)} suite tests, {len(kst)} selftests in {seconds:.0f} s (exit {rc})")
    return Outcome(suite=suite, selftests=kst, rc=rc, untestable=untestable, seconds=seconds, run=run)


def objects_for(mutant: Mutant, arch: str) -> list[str]:
    """The objects whose compilation shows whether MUTANT builds for ARCH."""
    if mutant.file.endswith(".c"):
        return [mutant.file[:-2] + ".o"]
    return HEADER_OBJECTS.get((mutant.file, arch), [])


def compile_check(arch: str, mutants: list[Mutant], tree: Path, cache: Path,
                  log: Callable[[str], None]) -> dict[str, str]:
    """Mutant id -> "ok" or the compiler's complaint, compiling only the
    objects of each mutated file in the tree's configured build directory
    (seconds per mutant instead of a kernel link and a boot)."""
    out = kbuild.build_dir_for(str(tree), arch, str(cache))
    if not (out / ".config").exists():
        raise RuntimeError(f"{out} is not configured: build the tree once (run, or kvmc.kbuild)")
    make_vars, use_ccache = kbuild.compiler(arch)
    env = dict(os.environ)
    if use_ccache:
        env.setdefault("CCACHE_DIR", str(cache / "ccache"))
    verdicts = {}
    for m in mutants:
        objs = objects_for(m, arch)
        if not objs:
            verdicts[m.id] = f"no object known for {m.file}"
            continue
        apply_mutant(tree, m)
        try:
            # TERM: make stops its jobs when this process dies.
            proc = capture(["nice", "-n", "19", "make", "-C", str(tree), f"O={out}"] + make_vars + objs,
                           pdeathsig="TERM", stdin=subprocess.DEVNULL, env=env)
        finally:
            clean = undo(tree, m, log)
        if not clean:
            raise RuntimeError(f"{tree}: mutant {m.id} could not be undone (above): stopped")
        lines = (proc.stdout + proc.stderr).decode("utf-8", "replace").splitlines()
        errors = [l for l in lines if "error" in l]
        warnings = [l.split("warning:", 1)[1].strip() for l in lines if "warning:" in l]
        if proc.returncode != 0:
            verdicts[m.id] = errors[0] if errors else f"make exit {proc.returncode}"
        else:
            verdicts[m.id] = "ok" + (f" (warns: {warnings[0]})" if warnings else "")
        log(f"{arch}: {m.id}: {verdicts[m.id]}")
    # Objects of the restored files, so the next build starts from the tree.
    call(["nice", "-n", "19", "make", "-C", str(tree), f"O={out}"] + make_vars
         + sorted({o for m in mutants for o in objects_for(m, arch)}),
         pdeathsig="TERM", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
         env=env)
    return verdicts


def run_arch(arch: str, mutants: list[Mutant], tree: Path | None, cache: Path,
             with_selftests: bool, suite_filter: str | None, out: Path,
             log: Callable[[str], None], worktree: str = "mutation",
             progress: Callable[[dict[str, Any]], object] | None = None,
             configs: Iterable[str] = (), catalogs: Iterable[str] = (),
             recheck: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Baseline, then every mutant: each kernel built once and booted on
    every configuration in CONFIGS (default: every configuration of ARCH,
    qemu_configs.configs_of); PROGRESS gets the run so far after each
    mutant (so an interrupted run still leaves its table).  CATALOGS
    (the --catalog files, none for the main catalog) is recorded.
    RECHECK (--recheck) makes it a quick re-check of known kills: a
    mutant it names boots only on the configurations it gives, and the
    selftests run in the unmutated boots alone."""
    boot_on = config_order(configs) or list(qemu_configs.configs_of(arch))
    wrong = [c for c in boot_on if c not in qemu_configs.CONFIGS or qemu_configs.CONFIGS[c].arch.name != arch]
    if wrong:
        raise UsageError(f"--config {', '.join(wrong)}: not a configuration of {arch} "
                         f"(one of {', '.join(qemu_configs.configs_of(arch))})")
    if tree is None:
        tree = kernel_tree.worktree(worktree, cache=cache, log=log)
    tree = Path(tree)
    dirty = tree_changes(tree)
    if dirty:
        raise RuntimeError(f"{tree} has changes ({', '.join(dirty[:5])}): 'python3 -m kvmc.mutation "
                           "restore' undoes a mutant a killed run left (and nothing else); commit or "
                           "stash your own changes, or pass another --worktree")
    problems = check_tree(tree, mutants)
    if problems:
        raise ApplyError("; ".join(problems))
    for mid, cs in (recheck or {}).items():
        if not cs or any(c not in boot_on for c in cs):
            raise UsageError(f"--recheck: {mid}: {', '.join(cs) or 'no configuration'}: not among "
                             f"the run's configurations ({', '.join(boot_on)})")
    out.mkdir(parents=True, exist_ok=True)
    kst = build_selftests(arch, out / "selftests", log) if with_selftests else None

    def build(label: str) -> tuple[str, float]:
        t = time.monotonic()
        k = kbuild.build_kernel(str(tree), arch, str(cache), log=log, nice=19)
        return k.image, time.monotonic() - t

    def boot(image: str, label: str, on: list[str] | None = None, selftests: Path | None = kst) -> dict[str, Outcome]:
        """The kernel IMAGE booted on each configuration (ON, default all;
        results in OUT/LABEL/<configuration>)."""
        return {c: run_kernel(arch, image, out / label / c, selftests, suite_filter, log, c)
                for c in (on or boot_on)}

    log(f"{arch}: baseline (unmutated {tree}) on {', '.join(boot_on)}")
    t0 = time.monotonic()
    image, _ = build("baseline")
    baselines = boot(image, "baseline")
    for c, b in baselines.items():
        if b.untestable:
            raise RuntimeError(f"the unmutated kernel could not be tested on {c}: {b.untestable}")
    baseline_s = time.monotonic() - t0
    results: list[MutantResult] = []
    kernel = tree.name

    def summary(complete: bool) -> dict[str, Any]:
        return {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "complete": complete,
            "kernel": kernel, "configs": boot_on, "catalogs": list(catalogs), "tree": str(tree),
            "suite_filter": suite_filter or "",
            **({"recheck": recheck} if recheck is not None else {}),
            "baseline_s": round(baseline_s, 1),
            "baselines": {c: {"suite_passed": sum(1 for r in b.suite.values() if r == PASS),
                              "selftests_passed": sum(1 for r in b.selftests.values() if r == PASS),
                              "selftests": b.selftests, "seconds": round(b.seconds, 1)}
                          for c, b in baselines.items()},
            "results": [r.to_json() for r in results],
            "totals": totals(results, arch),
        }
    for m in mutants:
        start = time.monotonic()
        log(f"{arch}: mutant {m.id} ({m.where()})")
        try:
            apply_mutant(tree, m)
            try:
                image, build_s = build(m.id)
            except kbuild.BuildError as e:
                results.append(MutantResult(m, arch, "not-compiling", {}, time.monotonic() - start,
                                            time.monotonic() - start, reason=e.reason.splitlines()[0]))
                log(f"{arch}: {m.id} does not build: {e.reason.splitlines()[0]}")
                continue
            if recheck is None:
                observed = boot(image, m.id)
            else:
                observed = boot(image, m.id, recheck.get(m.id), None)
        finally:
            clean = undo(tree, m, log)
        if not clean:
            raise RuntimeError(f"{tree}: mutant {m.id} could not be undone (above): stopped")
        r = judge(m, arch, baselines, observed, build_s, time.monotonic() - start, recheck is None)
        results.append(r)
        log(f"{arch}: {m.id}: " + "; ".join(
            f"{c}: suite {_tests(k.suite_killed)}, selftests {_tests(k.selftests_killed)}"
            + (f", {k.changed} changed observations" if k.changed else "")
            for c, k in r.configs.items()) + f" ({r.wall_s:.0f} s)")
        if progress:
            progress(summary(False))
    # Leave the build directory matching the restored tree.
    build("restore")
    return summary(True)


def read_recheck(path: Path) -> dict[str, list[str]]:
    """--recheck FILE: mutant id -> configurations, or UsageError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"--recheck {path}: {e}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, list)
                                             and all(isinstance(c, str) for c in v) for k, v in data.items()):
        raise UsageError(f"--recheck {path}: wanted a JSON object, mutant id -> list of configurations")
    return {k: list(v) for k, v in data.items()}


def configs_for(arches: Iterable[str], config: str) -> dict[str, list[str]]:
    """Architecture -> the configurations its mutants boot on: every one
    of the architecture (qemu_configs.configs_of), or those of CONFIG
    (comma-separated --config values) that are of it; UsageError for a
    name that is no configuration, or an architecture none of them is of."""
    wanted = [c.strip() for c in config.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in qemu_configs.CONFIGS]
    if unknown:
        raise UsageError(f"--config {', '.join(unknown)}: no such configuration "
                         f"(one of {', '.join(qemu_configs.CONFIGS)})")
    chosen = {}
    for arch in arches:
        mine = [c for c in wanted if qemu_configs.CONFIGS[c].arch.name == arch]
        if wanted and not mine:
            raise UsageError(f"--config {config}: no configuration of {arch} "
                             f"(its configurations: {', '.join(qemu_configs.configs_of(arch))})")
        chosen[arch] = config_order(mine) or list(qemu_configs.configs_of(arch))
    others = [c for c in wanted if qemu_configs.CONFIGS[c].arch.name not in chosen]
    if others:
        raise UsageError(f"--config {', '.join(others)}: not a configuration of {', '.join(chosen)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m kvmc.mutation", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="every mutant's text occurs exactly once in the tree")
    c.add_argument("--tree", help="kernel tree (default: Debian's linux-source, unpacked)")
    lst = sub.add_parser("list", help="the catalog")
    lst.add_argument("--arch", choices=ARCHES)
    lst.add_argument("--catalog", default="", help="only these catalog files (blind for blind.toml; "
                     "default: every file)")
    r = sub.add_parser("run", help="build, boot and test each mutant")
    r.add_argument("--arch", default=os.environ.get("ARCH", "arm64"), choices=ARCHES + ("all",))
    r.add_argument("--mutants", default=os.environ.get("MUTANTS", ""),
                   help="comma-separated ids (env MUTANTS; default: all for the architecture)")
    r.add_argument("--tree", help="a git worktree to mutate (default: the cache's worktree --worktree)")
    r.add_argument("--worktree", default="mutation",
                   help="name of the linux-source worktree in the cache (kvmc.kernel_tree; default "
                        "'mutation'); sharing one with another clean user saves its cold build")
    r.add_argument("--catalog", default=os.environ.get("MUTATION_CATALOG", ""),
                   help="run only the mutants of these catalog files, comma-separated (blind for "
                        "mutants/blind.toml; env MUTATION_CATALOG); default: the main catalog, every "
                        "file without a heading of its own")
    r.add_argument("--heading", default=None,
                   help="publish under this heading (default: the catalog files' own, none for the "
                        "main catalog), e.g. 'Blind set, before'")
    r.add_argument("--config", default="",
                   help="run_tests.sh --arch values to boot each mutant with, comma-separated "
                        "(default: every configuration of the architecture that make check runs: "
                        f"{'; '.join(', '.join(qemu_configs.configs_of(a)) for a in ARCHES)})")
    r.add_argument("--no-selftests", action="store_true", help="run the suite only")
    r.add_argument("--recheck", metavar="FILE",
                   help="a quick re-check of known kills (scripts/fix-demo.sh): FILE is JSON, mutant id -> "
                        "the configurations to boot it on (others boot on every one); the selftests run "
                        "in the unmutated boots only; with -t, the tests that killed each")
    r.add_argument("-t", dest="suite_filter", help="run only the suite tests matching (run_tests.sh -t)")
    r.add_argument("--json", default=str(TOP / "docs/mutation.json"))
    r.add_argument("--doc", default=str(TOP / "docs/mutation.md"))
    r.add_argument("--out", default=str(TOP / "results/mutation"), help="per-mutant logs and results")
    r.add_argument("--append", action="store_true",
                   help="add to the architecture's results in --json instead of replacing them "
                        "(re-run a subset, finish an interrupted run)")
    r.add_argument("--expect-kills", action="store_true",
                   help="exit 1 unless every control survives and every other mutant is killed "
                        "by the suite (the smoke test of the tool)")
    rn = sub.add_parser("render", help="write the markdown table from the JSON (totals recounted "
                                          "under the catalog as it is now)")
    rn.add_argument("--json", default=str(TOP / "docs/mutation.json"))
    rn.add_argument("--doc", default=str(TOP / "docs/mutation.md"))
    cc = sub.add_parser("compile", help="compile only each mutant's objects, no boot")
    cc.add_argument("--arch", default=os.environ.get("ARCH", "arm64"), choices=ARCHES)
    cc.add_argument("--mutants", default=os.environ.get("MUTANTS", ""))
    cc.add_argument("--worktree", default="mutation")
    cc.add_argument("--tree", help="a configured git worktree to mutate (default: the cache's worktree --worktree)")
    rs = sub.add_parser("restore", help="undo the mutants a killed run left in the tree (and only them)")
    rs.add_argument("--tree", help="the worktree (default: the cache's worktree --worktree)")
    rs.add_argument("--worktree", default="mutation")
    args = p.parse_args(argv)
    # Paths as the user gave them, relative to where they stood: the runs
    # below start run_tests.sh from the top of the repository.
    for name in ("json", "doc", "out", "tree"):
        if getattr(args, name, None):
            setattr(args, name, os.path.abspath(getattr(args, name)))

    log = Log("mutation")
    # A signal unwinds (the mutated file is put back in run_arch's finally,
    # the children are stopped) and ends with 128 + its number.
    raise_on_signals()

    try:
        catalog = load_catalog()
        if args.cmd == "list":
            listed = catalog_scope(catalog, args.catalog.split(","))[0] if args.catalog else catalog
            for m in select(listed, arch=args.arch):
                flag = " [control]" if m.equivalent else (" [historical]" if m.upstream else "")
                print(f"{m.id:36} {m.arch:7} {m.where()}{flag}")
            return 0
        if args.cmd == "check":
            if args.tree:
                tree = Path(args.tree)
            else:
                tree = kernel_tree.unpacked_source()
            problems = check_tree(tree, catalog)
            for line in problems:
                print(line)
            counted = [m for m in catalog if not m.equivalent]
            per = {a: len([m for m in counted if a in m.arches()]) for a in ARCHES}
            print(f"{len(catalog)} mutants ({len(catalog) - len(counted)} controls, "
                  f"{len([m for m in counted if m.upstream])} historical; arm64 {per['arm64']}, "
                  f"x86_64 {per['x86_64']} non-equivalent) against {tree}: "
                  f"{'ok' if not problems else f'{len(problems)} problems'}")
            return 1 if problems else 0
        if args.cmd == "render":
            # An older document is written again in this format (upgrade).
            doc = read_doc(Path(args.json))
            if doc["studies"]:
                for s in doc["studies"]:
                    s["runs"] = {a: recount(r, catalog) for a, r in s["runs"].items()}
                write_atomic(args.json, json.dumps(doc, indent=1) + "\n")
            write_atomic(args.doc, render_markdown(doc, catalog))
            return 0
        if args.cmd == "compile":
            tree = Path(args.tree) if args.tree else kernel_tree.worktree(args.worktree, log=log)
            chosen = select(catalog, [i.strip() for i in args.mutants.split(",")], args.arch)
            verdicts = compile_check(args.arch, chosen, tree, cache_root(), log)
            bad = {k: v for k, v in verdicts.items() if not v.startswith("ok")}
            print(f"{args.arch}: {len(verdicts) - len(bad)} of {len(verdicts)} mutants compile")
            for k, v in verdicts.items():
                if v.startswith("ok ("):
                    print(f"  {k}: {v}")
            for k, v in bad.items():
                print(f"  {k}: {v}")
            return 1 if bad else 0
        if args.cmd == "restore":
            tree = Path(args.tree) if args.tree else kernel_tree.worktree(args.worktree, log=log)
            return restore_tree(tree, catalog, log)
        arches = ARCHES if args.arch == "all" else (args.arch,)
        ids = [i.strip() for i in args.mutants.split(",") if i.strip()]
        names = [n.strip() for n in args.catalog.split(",") if n.strip()]
        scope, heading = catalog_scope(catalog, names)
        if args.heading is not None:
            heading = " ".join(args.heading.split())
        # The files run; a study other than the main catalog's names them
        # (its "not run yet" list), the main one is every file without a heading.
        run_files = list(dict.fromkeys(n.removesuffix(".toml") for n in names))
        catalogs = run_files if heading else []
        select_in(scope, catalog, ids)  # unknown ids fail before any build
        boot_on = configs_for(arches, args.config)  # and configurations that do not fit
        # Read (an older format upgraded) before any build: one that is not
        # the tool's fails now, not after hours of boots.
        read_doc(Path(args.json))
        recheck = read_recheck(Path(args.recheck)) if args.recheck else None
        cache = cache_root()
        failed_expectation = []
        for arch in arches:
            chosen = select(scope, ids, arch)
            if not chosen:
                log(f"{arch}: no selected mutant applies to this architecture")
                continue
            earlier = study(read_doc(Path(args.json)), heading)["runs"].get(arch) if args.append else None

            def publish(run: dict[str, Any], arch: str = arch,
                        earlier: dict[str, Any] | None = earlier) -> dict[str, Any]:
                if earlier:
                    run = append_run(earlier, run, catalog)
                doc = merge_doc(Path(args.json), arch, run, heading, catalogs)
                write_atomic(args.json, json.dumps(doc, indent=1) + "\n")
                write_atomic(args.doc, render_markdown(doc, catalog))
                return doc

            run = run_arch(arch, chosen, Path(args.tree) if args.tree else None, cache,
                           not args.no_selftests, args.suite_filter, Path(args.out) / arch, log,
                           args.worktree, publish, boot_on[arch], run_files, recheck)
            run = study(publish(run), heading)["runs"][arch]
            t = run["totals"]
            log(f"{arch}{f' ({heading})' if heading else ''}: suite killed {t['suite_killed']}/{t['counted']}"
                f" ({_per_config(t)}), selftests "
                f"{t['selftests_killed']}/{t['counted']}, controls killed {len(t['controls_killed'])}"
                f"/{t['controls']}; table in {args.doc}")
            failed_expectation += [f"{arch}: control {i} killed" for i in t["controls_killed"]]
            failed_expectation += [f"{arch}: {i} survived the suite" for i in t["suite_survivors"]]
            failed_expectation += [f"{arch}: {i} did not build or run" for i in t["not_compiling"] + t["not_run"]]
        if args.expect_kills and failed_expectation:
            for line in failed_expectation:
                log("unexpected: " + line)
            return 1
        return 0
    except (CatalogError, ApplyError, UsageError) as e:
        log(str(e))
        return 2
    except (RuntimeError, OSError, kernel_tree.TreeError) as e:
        log(str(e))
        return 1
    except kbuild.BuildError as e:
        log(e.reason)
        return 1
    except Interrupted as e:
        log(f"stopped by signal {e.signum}; what it had started is stopped, its mutant undone")
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())

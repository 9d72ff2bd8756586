# SPDX-License-Identifier: GPL-2.0
"""From finding to fix (issue 26): each patch of scripts/kvmc/patches/fixes/
checked the way a maintainer would check it.

    python3 -m kvmc.fixdemo check              # every fix applies to linux-source (make check)
    python3 -m kvmc.fixdemo list               # the fixes, their findings and tests
    python3 -m kvmc.fixdemo demo [--fix NAME]... [--no-mutation] [--out DIR]

scripts/fix-demo.sh runs `demo`. For each fix, on the cache's worktree
"fixes" (--worktree; a branch fixes/<name>: the Debian base plus the
patch, built incrementally, one build directory per architecture; the
worktree is left at the base) and on each
configuration of its architecture (arm64 and arm64-nested, x86_64 and
x86_64-shadow), it shows:

 1. the finding's tests pass without their baseline lines: the suite runs
    with baselines/debian.txt minus the lines that name the fix
    ("[fix: NAME]" in their reason); every test those lines excused on the
    stock kernel must not fail;
 2. every other test's verdict is the stock kernel's;
 3. the kernel's own KVM selftests that the mutation study runs pass on
    the patched kernel (the mutation run's unmutated boot, step 5);
 4. the behavioural diff (--reference) against the stock kernel lists
    changes only in the finding's tests and in the tests the fix declares
    in also-changes.txt (with the reason);
 5. the catalog's mutants of the files the fix changes, run on the patched
    tree, are killed at least as often as the published study
    (docs/mutation.json) kills them on the stock tree. By default each
    mutant the stock tree killed is re-checked (one boot, a few of the
    tests that killed it; in full only when those do not): a mutant the
    stock tree did not kill cannot lower the count. --full-mutation runs
    every mutant on every configuration with every test.

The stock kernel's runs are made once per suite commit and reused.
Exit status: 0 when every check held for every fix, 1 otherwise, 2 for a
usage mistake.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import TOP, baseline as bl, common, kernel_tree, mutation, reference, results

Mutant = mutation.Mutant
FIXES = Path(bl.FIXES)
ALSO = "also-changes.txt"
BASELINE = Path(TOP) / "baselines" / "debian.txt"
WORKTREE = "fixes"
# The configurations make check runs, per architecture of a fix's name.
CONFIGS = {"arm64": ("arm64", "arm64-nested"), "x86": ("x86_64", "x86_64-shadow")}
MUTATION_ARCH = {"arm64": "arm64", "x86": "x86_64"}
# One suite run on one configuration (build, boot, every test): bounded
# here too, although run_tests.sh bounds its build and VM itself.
RUN_TIMEOUT = 3 * 3600


class FixError(Exception):
    """A fix or its metadata that is not usable (exit 2)."""


@dataclass(frozen=True)
class Fix:
    name: str
    path: Path
    subject: str
    arch: str                       # arm64, x86 or doc (the name's)
    files: tuple[str, ...]          # the kernel files it changes
    fixes: str                      # its Fixes: line
    also: tuple[tuple[str, str], ...] = ()   # (test glob, why) it also changes
    depends: tuple[str, ...] = ()   # fixes it goes on top of (Depends-on:), a series

    @property
    def doc(self) -> bool:
        """A documentation fix: api.rst is what it changes, not the kernel."""
        return self.arch == "doc"

    @property
    def configs(self) -> tuple[str, ...]:
        return () if self.doc else CONFIGS[self.arch]

    @property
    def mutation_arch(self) -> str:
        return MUTATION_ARCH.get(self.arch, "")


def parse_fix(path: Path, also: dict[str, list[tuple[str, str]]] | None = None) -> Fix:
    name = path.name.removesuffix(".patch")
    m = bl.FIX_NAME.match(name)
    if not m or not path.name.endswith(".patch"):
        raise FixError(f"{path.name}: a fix is named NN-arm64-what.patch, NN-x86-what.patch or "
                       "NN-doc-what.patch")
    text = path.read_text(encoding="utf-8")
    subject = next((ln.removeprefix("Subject: ").strip() for ln in text.splitlines()
                    if ln.startswith("Subject: ")), "")
    if not subject:
        raise FixError(f"{path.name}: no Subject: line")
    header = text.split("\n---\n", 1)[0]
    fixes = next((ln.strip() for ln in header.splitlines() if ln.startswith("Fixes:")), "")
    if not fixes:
        raise FixError(f"{path.name}: no Fixes: line before the diff")
    depends = tuple(d.removesuffix(".patch") for ln in header.splitlines() if ln.startswith("Depends-on:")
                    for d in ln.removeprefix("Depends-on:").split())
    files = tuple(dict.fromkeys(ln[len("+++ b/"):].split("\t")[0].strip()
                                for ln in text.splitlines() if ln.startswith("+++ b/")))
    if not files:
        raise FixError(f"{path.name}: no diff (no +++ b/ line)")
    if m.group(2) == "doc" and any(not f.startswith("Documentation/") for f in files):
        raise FixError(f"{path.name}: a documentation fix changes Documentation/ only, not "
                       f"{', '.join(f for f in files if not f.startswith('Documentation/'))}")
    return Fix(name=name, path=path, subject=subject, arch=m.group(2), files=files, fixes=fixes,
               also=tuple((also or {}).get(name, [])), depends=depends)


def parse_also(text: str, origin: str = ALSO) -> dict[str, list[tuple[str, str]]]:
    """also-changes.txt: "FIX TEST-GLOB REASON" per line, # comments."""
    out: dict[str, list[tuple[str, str]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            raise FixError(f"{origin}:{n}: wanted FIX TEST-GLOB REASON")
        out.setdefault(parts[0], []).append((parts[1], parts[2]))
    return out


def load_fixes(directory: Path = FIXES) -> list[Fix]:
    also_path = directory / ALSO
    also = parse_also(also_path.read_text(encoding="utf-8"), str(also_path)) if also_path.exists() else {}
    fixes = [parse_fix(p, also) for p in sorted(directory.glob("*.patch"))]
    names = {f.name for f in fixes}
    unknown = sorted(set(also) - names)
    if unknown:
        raise FixError(f"{also_path}: no such fix: {', '.join(unknown)}")
    for f in fixes:
        for d in f.depends:
            if d not in names or d >= f.name:
                raise FixError(f"{f.name}: Depends-on: {d}: not a fix that comes before it")
    return fixes


def series(fix: Fix, fixes: list[Fix]) -> list[Fix]:
    """The fixes FIX goes on top of (Depends-on:, recursively), then FIX."""
    by_name = {f.name: f for f in fixes}
    out: list[Fix] = []
    for d in fix.depends:
        out += [f for f in series(by_name[d], fixes) if f not in out]
    return out + [fix]


def without(text: str, name: str | tuple[str, ...]) -> tuple[str, list[bl.Entry]]:
    """A baseline's TEXT without the lines that name fix NAME (or any of
    the names: a series), and those lines' entries. Comments and every
    other line stay as they were."""
    names = {name} if isinstance(name, str) else set(name)
    kept: list[str] = []
    removed: list[bl.Entry] = []
    for n, line in enumerate(text.splitlines(), 1):
        entry = bl.parse_line(line, f"{BASELINE.name}:{n}")
        if entry is not None and entry.fix in names:
            removed.append(entry)
            continue
        kept.append(line)
    return "\n".join(kept) + "\n", removed


def configs_for(fix: Fix, removed: list[bl.Entry]) -> tuple[str, ...]:
    """The configurations a fix is shown on: its architecture's, or for a
    documentation fix those of the architectures its baseline lines name."""
    if not fix.doc:
        return fix.configs
    every = [c for configs in CONFIGS.values() for c in configs]
    return tuple(c for c in every
                 if any(e.applies(results.baseline_arch(c), e.kernel, e.test) for e in removed))


def check_marks(fixes: list[Fix], entries: list[bl.Entry]) -> list[str]:
    """Problems between the fixes and the baseline: a line naming no
    existing fix, a fix no line names."""
    names = {f.name for f in fixes}
    problems = [f"{e.where}: names fix {e.fix}, which scripts/kvmc/patches/fixes/ does not have"
                for e in entries if e.fix and e.fix not in names]
    marked = {e.fix for e in entries}
    problems += [f"{f.name}: no line of {BASELINE.name} names it ([fix: {f.name}]): "
                 "the demo would have no finding to show" for f in fixes if f.name not in marked]
    return problems


def apply_check(fix: Fix, tree: Path) -> str:
    """"" when git apply --check takes the fix on TREE (a plain directory
    such as the unpacked linux-source, or a worktree), else why not."""
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(tree.parent))
    p = common.capture(["git", "apply", "--check", str(fix.path)], timeout=120, cwd=str(tree), env=env)
    return "" if p.returncode == 0 else p.stderr.decode("utf-8", "replace").strip()


# ---- judging one configuration -------------------------------------------------

@dataclass
class Verdicts:
    """What one configuration of one fix showed."""
    config: str
    finding_tests: dict[str, str] = field(default_factory=dict)   # test -> patched verdict
    still_failing: list[str] = field(default_factory=list)        # (1) failed
    changed_verdicts: list[tuple[str, str, str]] = field(default_factory=list)  # (2) test, stock, patched
    changes_finding: int = 0                                      # (4) in the finding's tests
    changes_declared: int = 0                                     # (4) in also-changes tests
    changes_other: list[str] = field(default_factory=list)        # (4) unintended
    new_or_gone: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.still_failing or self.changed_verdicts or self.changes_other)


def judge_config(config: str, stock: results.Run, patched: results.Run, removed: list[bl.Entry],
                 also: tuple[tuple[str, str], ...]) -> Verdicts:
    """(1), (2) and (4) for one configuration: STOCK ran with the whole
    baseline, PATCHED without the REMOVED lines and with --reference."""
    v = Verdicts(config=config)
    before, after = reference.verdicts(stock), reference.verdicts(patched)
    arch = stock.baseline_arch()
    # A finding's tests: XFAIL on the stock kernel for a removed line, or
    # not run there for a removed crash line (a skip); either must pass.
    finding = {t for t, verdict in before.items()
               if (verdict == "xfail" and any(not e.is_crash and e.applies(arch, stock.kernel, t) for e in removed))
               or (verdict == "skip" and any(e.is_crash and e.applies(arch, stock.kernel, t) for e in removed))}
    for t in sorted(finding):
        v.finding_tests[t] = after.get(t, "")
        # xpass: it passed, with a line of another fix left unused (the
        # NPT line of 01 on x86_64-shadow); xfail: another fix's line
        # still excuses a finding of its own.
        if after.get(t, "") not in ("pass", "xpass", "xfail"):
            v.still_failing.append(t)
    for t, old in before.items():
        if t not in finding and t in after and after[t] != old:
            v.changed_verdicts.append((t, old, after[t]))
    d = reference.diff(patched, stock)
    v.new_or_gone = [f"new: {t}" for t in d.new] + [f"gone: {t}" for t in d.gone]
    for test, changes in d.changes.items():
        if test in finding:
            v.changes_finding += len(changes)
        elif any(fnmatch.fnmatchcase(test, glob) for glob, _ in also):
            v.changes_declared += len(changes)
        else:
            v.changes_other += [f"{test}: {c.text()}" for c in changes]
    return v


# ---- (3) and (5): the mutation run on the patched tree ------------------------

def mutants_for(fix: Fix, catalog: list[mutation.Mutant]) -> list[mutation.Mutant]:
    """The catalog's counted mutants (not equivalent: the main catalog's
    and every set's, the blind one's included) of the fix's architecture
    in the files it changes."""
    return [m for m in catalog if not m.equivalent and fix.mutation_arch in m.arches() and m.file in fix.files]


# The published study a set's mutants on the patched tree are compared
# with: its latest complete run (the blind set's "after").
PUBLISHED = {"Blind set": "Blind set, after"}


def applicable(mutants: list[mutation.Mutant], tree: Path) -> tuple[list[mutation.Mutant], list[str]]:
    """Those whose text is still there exactly once on the patched TREE,
    and why each other one is not."""
    ok: list[mutation.Mutant] = []
    not_ok: list[str] = []
    for m in mutants:
        try:
            mutation.mutate_text(mutation.read_source(tree / m.file), m)
            ok.append(m)
        except (mutation.ApplyError, OSError) as e:
            not_ok.append(f"{m.id}: {e}")
    return ok, not_ok


def killed(run: dict[str, Any]) -> dict[str, bool]:
    """Mutant id -> killed by the suite on any configuration, of a study's
    run for one architecture (docs/mutation.json's shape)."""
    out: dict[str, bool] = {}
    for r in run.get("results", []):
        if r.get("status") != "ok":
            continue
        out[r["mutant"]] = any(c.get("suite_killed") for c in r.get("configs", {}).values())
    return out


def selftests_of(run: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Configuration -> selftest -> outcome of the unmutated boots."""
    return {cfg: dict(b.get("selftests", {})) for cfg, b in run.get("baselines", {}).items()}


# How many of the tests that killed a mutant on the stock kernel its
# quick re-check on the patched tree runs.
KILLERS = 3


def killers(run: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Mutant id -> configuration -> the suite tests that killed it there,
    of a study's run for one architecture (only configurations that did)."""
    out: dict[str, dict[str, list[str]]] = {}
    for r in run.get("results", []):
        if r.get("status") != "ok":
            continue
        kills = {c: list(v.get("suite_killed", [])) for c, v in r.get("configs", {}).items() if v.get("suite_killed")}
        if kills:
            out[r["mutant"]] = kills
    return out


def recheck_plan(ids: list[str], kills: dict[str, dict[str, list[str]]], order: tuple[str, ...],
                 avoid: Callable[[str], bool] = lambda t: False) -> tuple[dict[str, list[str]], str]:
    """The quick re-check of the mutants IDS that the stock kernel killed
    (KILLS, killers()): each boots on one configuration where it was
    killed (the first in ORDER), running up to KILLERS of the tests that
    killed it there, those AVOID does not name first (the fix's own
    finding tests, whose verdict the fix changes). Returns mutant ->
    [configuration] (mutation run --recheck) and the -t pattern: the
    chosen tests, comma-separated."""
    plan: dict[str, list[str]] = {}
    tests: set[str] = set()
    for i in ids:
        where = [c for c in order if kills.get(i, {}).get(c)] + \
                [c for c in sorted(kills.get(i, {})) if c not in order]
        if not where:
            continue
        plan[i] = [where[0]]
        names = sorted(kills[i][where[0]], key=lambda t: (avoid(t), t))
        tests.update(names[:KILLERS])
    return plan, ",".join(sorted(tests))


@dataclass
class MutationVerdict:
    ran: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    stock_killed: int = 0
    patched_killed: int = 0
    lost: list[str] = field(default_factory=list)         # killed on stock, not on patched
    selftests: dict[str, dict[str, str]] = field(default_factory=dict)
    error: str = ""
    vacuous: str = ""   # why (5) compares nothing
    quick: bool = False                                   # re-checked the stock kills (not --full-mutation)
    rechecked_killed: int = 0                             # killed by their quick re-check
    full: list[str] = field(default_factory=list)         # not killed by it: run again in full
    not_killed_on_stock: list[str] = field(default_factory=list)  # quick: not run

    @property
    def selftests_ok(self) -> bool:
        """Some selftest ran, and none failed: a selftest may skip (as it
        does on the stock kernel: smaller_maxphyaddr_emulation_test
        without its capability, the private_mem ones without NPT)."""
        outcomes = [o for s in self.selftests.values() for o in s.values()]
        return "pass" in outcomes and all(o in ("pass", "skip") for o in outcomes)

    @property
    def ok(self) -> bool:
        return not self.error and self.selftests_ok and not self.lost and self.patched_killed >= self.stock_killed


def judge_mutation(stock: dict[str, bool], patched: dict[str, bool], ran: list[str]) -> tuple[int, int, list[str]]:
    """Kills among the mutants RAN: on the stock tree (the published study;
    a mutant it lacks counts as not killed), on the patched tree, and the
    mutants the stock tree killed that the patched one did not."""
    s = sum(1 for i in ran if stock.get(i, False))
    p = sum(1 for i in ran if patched.get(i, False))
    lost = [i for i in ran if stock.get(i, False) and not patched.get(i, False)]
    return s, p, lost


def settle_mutants(tree: Path, log: Callable[[str], None]) -> None:
    """Undo the mutants the mutation tool recorded in TREE before the demo
    checks out another branch there. A mutation run killed with its
    mutant applied leaves the file and the tool's record of it; a forced
    checkout would replace the file but keep the record, and the next
    run would refuse to apply that mutant again ("still holds"). A
    mutated file changed since stops the demo: it is not the tool's."""
    done, left = mutation.restore(tree)
    for line in done:
        log(f"  {tree}: {line}")
    if left:
        raise RuntimeError(f"{tree}: " + "; ".join(left))


# ---- the demo ------------------------------------------------------------------

class Demo:
    def __init__(self, out: Path, log: Callable[[str], None], worktree: str = WORKTREE) -> None:
        self.out = out
        self.log = log
        self.tree = kernel_tree.worktree(worktree, log=log)
        # The worktree's parent is named after the version (linux-git/<version>/fixes).
        self.base = kernel_tree.base_tag(self.tree.parent.name)
        # The stock runs are reused while the suite is the same: the last
        # commit of what builds and runs it, never with changes of those
        # paths not committed.
        suite = ["tests", "lib", "include", "guest_code", "Makefile", "config", "run_tests.sh", "scripts",
                 ":(exclude)scripts/kvmc/patches", ":(exclude)scripts/kvmc/mutants",
                 ":(exclude)scripts/kvmc/fixdemo.py", ":(exclude)scripts/fix-demo.sh"]
        self.head = self._git_top(["log", "-1", "--format=%H", "--", *suite])
        if self._git_top(["status", "--porcelain", "--", *suite]):
            self.head += "-uncommitted"

    def _git_top(self, args: list[str]) -> str:
        p = common.capture(["git", "-C", TOP, *args], timeout=60)
        return p.stdout.decode().strip()

    def _git(self, args: list[str], env: dict[str, str] | None = None) -> None:
        p = common.capture(["git", "-C", str(self.tree), *args], timeout=600,
                           env=dict(os.environ, **(env or {})))
        if p.returncode:
            raise RuntimeError(f"git {' '.join(args)} in {self.tree}: "
                               f"{p.stderr.decode('utf-8', 'replace').strip()}")

    def checkout(self, fix: Fix | None, chain: list[Fix] | None = None) -> None:
        """The worktree at the base (fix None) or on fixes/<name>: the base
        plus the patch, after those it depends on (CHAIN, series()), each
        committed (so the mutation tool sees a clean tree)."""
        settle_mutants(self.tree, self.log)
        self._git(["checkout", "-q", "-f", "-B", f"fixes/{fix.name if fix else 'stock'}", self.base])
        if fix is None:
            return
        who = {"GIT_AUTHOR_NAME": "kvm-contract", "GIT_AUTHOR_EMAIL": "kvm-contract@localhost",
               "GIT_COMMITTER_NAME": "kvm-contract", "GIT_COMMITTER_EMAIL": "kvm-contract@localhost",
               "GIT_AUTHOR_DATE": "2026-12-05T12:00:00Z", "GIT_COMMITTER_DATE": "2026-12-05T12:00:00Z"}
        for one in chain or [fix]:
            self._git(["apply", str(one.path)])
            self._git(["commit", "-q", "-a", "-m", one.subject,
                       "-m", f"From kvm-contract's scripts/kvmc/patches/fixes/{one.path.name}."], who)

    def suite(self, config: str, directory: Path, baseline: Path, ref: Path | None,
              extra: tuple[str, ...] = ()) -> int:
        """run_tests.sh --build on the worktree as it is; its exit status."""
        argv = [str(Path(TOP) / "run_tests.sh"), "--build", str(self.tree), "--arch", config,
                "--baseline", str(baseline), "-o", str(directory), *extra]
        if ref is not None:
            argv += ["--reference", str(ref)]
        directory.parent.mkdir(parents=True, exist_ok=True)
        log = directory.parent / f"{directory.name}.log"
        with open(log, "wb") as f:
            rc = common.call(argv, timeout=RUN_TIMEOUT, stdout=f, stderr=subprocess.STDOUT)
        tail = common.read_text(log).strip().splitlines()
        self.log(f"  {directory.name}: {tail[-1] if tail else '(no output)'} (exit {rc}; log {log})")
        return rc

    def run_of(self, directory: Path, config: str) -> results.Run:
        runs = [r for r in results.load_tree(str(directory)) if r.arch == config]
        if not runs:
            raise RuntimeError(f"{directory}: no results of {config} (see {directory}.log)")
        return runs[0]

    def stock(self, config: str) -> results.Run:
        """The stock kernel's run of CONFIG, made once per suite commit."""
        directory = self.out / f"stock-{config}"
        stamp = directory / "kvmc-fix-demo.stamp"
        if self.head.endswith("-uncommitted") or common.read_text(stamp).strip() != self.head \
                or not directory.is_dir():
            self.log(f"stock {self.base}, {config}")
            self.checkout(None)
            self.suite(config, directory, BASELINE, None)
            common.write_atomic(stamp, self.head + "\n")
        return self.run_of(directory, config)

    def mutation(self, fix: Fix, directory: Path, chain: list[Fix] | None = None,
                 removed: list[bl.Entry] | None = None, full: bool = False) -> MutationVerdict:
        """(3) and (5): the mutants of the changed files (of the whole
        series) on the patched tree, one run of the mutation tool per set
        (the main catalog, the blind set), each compared with that set's
        published study.

        Quick (the default): only the mutants the published study killed
        on the stock tree run (one that survived there cannot lower the
        count), each booted once, on a configuration where it was killed,
        with a few of the tests that killed it (recheck_plan()); the
        selftests run in the unmutated boots, for (3). A mutant that
        survives its re-check runs again in full (every configuration,
        every test) before it counts as lost. FULL: every mutant, every
        configuration, every test, the selftests in every boot."""
        mv = MutationVerdict(quick=not full)
        chain = chain or [fix]
        catalog = mutation.load_catalog()
        wanted: list[mutation.Mutant] = []
        for one in chain:
            wanted += [m for m in mutants_for(one, catalog) if m.id not in {w.id for w in wanted}]
        files = list(dict.fromkeys(name for one in chain for name in one.files))
        chosen, mv.not_applicable = applicable(wanted, self.tree)
        mv.ran = [m.id for m in chosen]
        published_doc = mutation.read_doc(Path(TOP) / "docs" / "mutation.json")
        stock: dict[str, bool] = {}
        kills: dict[str, dict[str, list[str]]] = {}
        for heading in {m.heading for m in chosen}:
            ref = mutation.study(published_doc, PUBLISHED.get(heading, heading))["runs"].get(fix.mutation_arch, {})
            stock.update(killed(ref))
            kills.update(killers(ref))
        if not full:
            mv.not_killed_on_stock = [m.id for m in chosen if not stock.get(m.id)]
            chosen = [m for m in chosen if stock.get(m.id)]
        if not chosen:
            # (5) has nothing to compare; (3) still needs the patched
            # kernel booted with the selftests: an equivalent control
            # mutant of the architecture does that (and its kill would
            # say the run is flaky).
            controls, _ = applicable([m for m in catalog if m.equivalent and m.catalog() == "controls"
                                      and fix.mutation_arch in m.arches()], self.tree)
            if not controls:
                mv.error = "no mutant of the catalog applies to the files it changes, and no control to boot"
                return mv
            what = (f"no mutant of the catalog is in {', '.join(files)}" if not mv.ran else
                    f"the stock kernel killed none of the {len(mv.ran)} mutants of {', '.join(files)}")
            mv.vacuous = f"{what}: nothing to compare (the control {controls[0].id} booted the patched kernel for (3))"
            mv.quick = False
            chosen = controls[:1]
        avoid = (lambda t: any(fnmatch.fnmatchcase(t, e.test) for e in (removed or [])))
        patched: dict[str, bool] = {}
        sets: dict[str, list[mutation.Mutant]] = {}
        for m in chosen:
            sets.setdefault(m.heading, []).append(m)
        for heading, ms in sets.items():
            slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "catalog"
            extra: list[str] = []
            if mv.quick:
                plan, pattern = recheck_plan([m.id for m in ms], kills, fix.configs, avoid)
                common.write_atomic(directory / f"recheck-{slug}.json", json.dumps(plan, indent=1) + "\n")
                extra = ["--recheck", str(directory / f"recheck-{slug}.json"), "-t", pattern]
                self.log(f"  mutation: {len(ms)} mutants of {heading or 'the catalog'} in {', '.join(files)} "
                         f"that the stock kernel killed, re-checked on the patched tree")
            elif mv.vacuous:
                self.log(f"  mutation: no mutant to compare; the control {ms[0].id} on the patched tree")
            else:
                self.log(f"  mutation: {len(ms)} mutants of {heading or 'the catalog'} in "
                         f"{', '.join(files)} on the patched tree")
            run, mv.error = self._mutation_run(fix, ms, heading, directory, slug, extra)
            if mv.error:
                return mv
            for cfg, outcomes in selftests_of(run).items():
                mv.selftests.setdefault(cfg, {}).update(outcomes)
            seen = killed(run)
            patched.update(seen)
            if mv.quick:
                mv.rechecked_killed += sum(1 for m in ms if seen.get(m.id))
                again = [m for m in ms if not seen.get(m.id)]
                if again:
                    mv.full += [m.id for m in again]
                    self.log(f"  mutation: {len(again)} not killed by the re-check, run again in full: "
                             f"{', '.join(m.id for m in again)}")
                    run, mv.error = self._mutation_run(fix, again, heading, directory, slug + "-full",
                                                       ["--no-selftests"])
                    if mv.error:
                        return mv
                    patched.update(killed(run))
        mv.stock_killed, mv.patched_killed, mv.lost = judge_mutation(stock, patched, mv.ran)
        return mv

    def _mutation_run(self, fix: Fix, ms: list[Mutant], heading: str, directory: Path, slug: str,
                      extra: list[str]) -> tuple[dict[str, Any], str]:
        """One run of the mutation tool on the patched tree: its run of the
        architecture and "", or {} and why it failed."""
        jpath = directory / f"mutation-{slug}.json"
        argv = [sys.executable, "-m", "kvmc.mutation", "run", "--arch", fix.mutation_arch,
                "--tree", str(self.tree), "--mutants", ",".join(m.id for m in ms), "--json", str(jpath),
                "--doc", str(directory / f"mutation-{slug}.md"), "--out", str(directory / f"mutation-{slug}"),
                *extra]
        if heading:
            argv += ["--catalog", ",".join(sorted({m.catalog() for m in ms})), "--heading", heading]
        log = directory / f"mutation-{slug}.log"
        with open(log, "wb") as f:
            rc = common.call(argv, timeout=RUN_TIMEOUT, cwd=str(Path(TOP) / "scripts"),
                             stdout=f, stderr=subprocess.STDOUT)
        if rc:
            return {}, f"the mutation run exited {rc} (log {log})"
        run: dict[str, Any] = mutation.study(mutation.read_doc(jpath), heading)["runs"].get(fix.mutation_arch, {})
        return run, ""

    def one(self, fix: Fix, run_mutation: bool, run_suite: bool = True, chain: list[Fix] | None = None,
            full_mutation: bool = False) -> bool:
        chain = chain or [fix]
        self.log(f"{fix.name}: {fix.subject}")
        if len(chain) > 1:
            self.log(f"  on top of {', '.join(f.name for f in chain[:-1])} (Depends-on:): the series is shown")
        text = BASELINE.read_text(encoding="utf-8")
        kept, removed = without(text, tuple(f.name for f in chain))
        directory = self.out / fix.name
        directory.mkdir(parents=True, exist_ok=True)
        base_file = directory / "baseline-without-fix.txt"
        common.write_atomic(base_file, kept)
        configs = configs_for(fix, removed)
        stocks = {c: self.stock(c) for c in configs} if run_suite else {}
        # A documentation fix leaves the kernel as it is: the stock tree,
        # with the suite judging by the patched text (--doc-fix).
        self.checkout(None if fix.doc else fix, chain)
        extra = ("--doc-fix", fix.name) if fix.doc else ()
        seen: list[Verdicts] = []
        for config in configs if run_suite else ():
            rc = self.suite(config, directory / config, base_file, self.out / f"stock-{config}", extra)
            v = judge_config(config, stocks[config], self.run_of(directory / config, config), removed,
                             tuple(a for f in chain for a in f.also))
            seen.append(v)
            self.log(f"  {config} (exit {rc}): (1) {len(v.finding_tests)} finding tests, "
                     f"{len([t for t, x in v.finding_tests.items() if x in ('pass', 'xpass')])} now pass, "
                     f"{len(v.still_failing)} still fail"
                     + "".join(f"\n      still failing: {t}" for t in v.still_failing))
            self.log(f"      (2) other tests' verdicts: {len(v.changed_verdicts)} changed"
                     + "".join(f"\n      {t}: {a} -> {b}" for t, a, b in v.changed_verdicts))
            self.log(f"      (4) changes against stock: {v.changes_finding} in the finding's tests, "
                     f"{v.changes_declared} declared in {ALSO}, {len(v.changes_other)} other"
                     + "".join(f"\n      unintended: {c}" for c in v.changes_other[:20])
                     + "".join(f"\n      {x}" for x in v.new_or_gone[:10]))
        ok = all(v.ok for v in seen)
        if not run_suite:
            self.log("  (1), (2), (4) not run (--mutation-only)")
        elif not any(v.finding_tests for v in seen):
            self.log("  (1) no test of the finding was XFAIL (or skipped as a known crash) on the stock kernel: "
                     "nothing shown")
            ok = False
        if run_mutation and fix.doc:
            self.log("  (3), (5) a documentation fix: the kernel is the stock one, so are its selftests' "
                     "outcomes and the catalog's kills (the published study)")
        elif run_mutation:
            mv = self.mutation(fix, directory, chain, removed, full_mutation)
            for cfg, outcomes in sorted(mv.selftests.items()):
                self.log(f"  (3) selftests on {cfg}: "
                         + ", ".join(f"{k.removeprefix('selftest:')} {o}" for k, o in sorted(outcomes.items())))
            if mv.error:
                self.log(f"  (5) {mv.error}")
            elif mv.vacuous:
                self.log(f"  (5) {mv.vacuous}")
            elif mv.quick:
                self.log(f"  (5) {len(mv.ran)} mutants of the changed files: stock kernel (published study) "
                         f"{mv.stock_killed} killed, patched {mv.patched_killed} killed"
                         + (f"; lost: {', '.join(mv.lost)}" if mv.lost else "")
                         + f"\n      quick: the {mv.stock_killed} killed on stock re-checked with the tests that "
                         f"killed them, {mv.rechecked_killed} killed there"
                         + (f", {len(mv.full)} run again in full ({', '.join(mv.full)})" if mv.full else "")
                         + (f"; {len(mv.not_killed_on_stock)} not killed on stock, not run (cannot lower "
                            f"the count): {', '.join(mv.not_killed_on_stock)}" if mv.not_killed_on_stock else ""))
            else:
                self.log(f"  (5) {len(mv.ran)} mutants of the changed files: stock kernel (published study) "
                         f"{mv.stock_killed} killed, patched {mv.patched_killed} killed"
                         + (f"; lost: {', '.join(mv.lost)}" if mv.lost else ""))
            for why in mv.not_applicable:
                self.log(f"      not applicable on the patched tree: {why}")
            ok = ok and mv.ok
        else:
            self.log("  (3), (5) not run (--no-mutation)")
        self.log(f"{fix.name}: {'as expected' if ok else 'NOT as expected'}")
        return ok

    def restore(self) -> None:
        self.checkout(None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m kvmc.fixdemo", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="every fix applies to Debian's linux-source (git apply --check)")
    c.add_argument("--tree", help="the tree (default: Debian's linux-source, unpacked)")
    sub.add_parser("list", help="the fixes and the baseline lines they remove")
    d = sub.add_parser("demo", help="build, test and judge each fix (scripts/fix-demo.sh)")
    d.add_argument("--fix", action="append", default=[], help="only this fix (its name, or NN), repeatable")
    steps = d.add_mutually_exclusive_group()
    steps.add_argument("--no-mutation", action="store_true", help="leave out (3) and (5)")
    steps.add_argument("--mutation-only", action="store_true", help="only (3) and (5)")
    d.add_argument("--full-mutation", action="store_true",
                   help="(5) in full: every mutant of the changed files on every configuration with every "
                        "test (default: the mutants the stock kernel killed, each re-checked with the tests "
                        "that killed it, in full again only when that does not kill it)")
    d.add_argument("--out", default=str(Path(TOP) / "results" / "fix-demo"))
    d.add_argument("--worktree", default=WORKTREE,
                   help=f"the cache's worktree to build in (default {WORKTREE}: one cold build per architecture "
                        "the first time; 'mutation' reuses the mutation study's builds, when no study runs)")
    args = parser.parse_args(argv)
    log = common.Log("fix-demo")
    try:
        fixes = load_fixes()
        entries = bl.load(str(BASELINE))
        problems = check_marks(fixes, entries)
        if args.cmd == "list":
            for f in fixes:
                print(f"{f.name}: {f.subject}\n  {f.fixes}\n  files: {', '.join(f.files)}")
                for e in entries:
                    if e.fix == f.name:
                        print(f"  removes {e.where}: {e.arch} {e.kernel} {e.test} {e.key}")
                for glob, why in f.also:
                    print(f"  also changes {glob}: {why}")
            for p in problems:
                print(f"problem: {p}")
            return 1 if problems else 0
        if args.cmd == "check":
            tree = Path(args.tree) if args.tree else kernel_tree.unpacked_source(log)
            for f in fixes:
                why = apply_check(f, tree)
                problems += [f"{f.name}: does not apply to {tree}: {why}"] if why else []
                if not why:
                    log(f"{f.name}: applies to {tree.name}")
            for p in problems:
                log(p)
            log(f"{len(fixes)} fixes, {len(problems)} problems")
            return 1 if problems else 0
        if problems:
            for p in problems:
                log(p)
            return 2
        chosen = [f for f in fixes if not args.fix or f.name in args.fix or f.name[:2] in args.fix]
        if not chosen:
            log(f"no fix named {', '.join(args.fix)} (python3 -m kvmc.fixdemo list)")
            return 2
        common.raise_on_signals()
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        cache = common.cache_root()
        # One demo at a time per worktree (it checks branches out there);
        # demos in two worktrees run side by side.
        with common.locked(cache / f"fix-demo-{args.worktree}.lock",
                           lambda: log(f"waiting for another fix demo in the worktree {args.worktree} to finish")):
            demo = Demo(out, log, args.worktree)
            outcome: dict[str, bool] = {}
            try:
                for f in chosen:
                    outcome[f.name] = demo.one(f, not args.no_mutation, not args.mutation_only, series(f, fixes),
                                               args.full_mutation)
            finally:
                demo.restore()
        for name, ok in outcome.items():
            log(f"{name}: {'ok' if ok else 'NOT OK'}")
        return 0 if all(outcome.values()) else 1
    except (FixError, bl.BaselineError) as e:
        log(str(e))
        return 2
    except (RuntimeError, OSError, kernel_tree.TreeError) as e:
        log(str(e))
        return 1
    except common.Interrupted as e:
        log(f"stopped by signal {e.signum}")
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())

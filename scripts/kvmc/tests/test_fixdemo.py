# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the fix demo's judging (issue 26, kvmc.fixdemo): which
tests are a fix's finding, what counts as a changed verdict or an
unintended change, the mutation comparison, and the fixes as the project
ships them (named, tagged, each named by a baseline line).

    cd scripts && python3 -m unittest kvmc.tests.test_fixdemo
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from kvmc import baseline as bl, fixdemo, mutation
from kvmc.ktap import parse
from kvmc.results import Run

PATCH = """From: kvm-contract <kvm-contract@localhost>
Subject: [PATCH] KVM: x86/mmu: Say what went wrong

Body.

Fixes: 0123456789ab ("KVM: x86: Something")
---
--- a/arch/x86/kvm/mmu/mmu.c
+++ b/arch/x86/kvm/mmu/mmu.c
@@ -1,1 +1,1 @@
-a
+b
"""

BASELINE = """# comment
x86_64 7.* m4_*.fault C4 exit_reason=KVM_EXIT_UNKNOWN(0)  no memory_fault [fix: 01-x86-say]
x86_64 7.* g1_moved.* G1 move=EINVAL(22)  cannot move
x86_64-shadow 7.* w_* guest guest_call=x  shadow walk [fix: 02-x86-other]
"""


def run(verdicts: dict[str, str], observations: dict[str, list[dict[str, object]]] | None = None,
        arch: str = "x86_64") -> Run:
    """A run whose tests have the given verdicts (pass, fail, xfail, skip)."""
    lines = ["TAP version 13", "1..1", "# kvm-contract: t", "    TAP version 13", f"    1..{len(verdicts)}"]
    for i, (name, v) in enumerate(verdicts.items(), 1):
        lines.append({"pass": f"    ok {i} {name}", "fail": f"    not ok {i} {name}",
                      "xfail": f"    not ok {i} {name} # TODO known",
                      "xpass": f"    ok {i} {name} # TODO fixed: C4 x", "skip": f"    ok {i} {name} # SKIP why"}[v])
    lines.append("not ok 1 t")
    return Run(arch=arch, label=arch, doc=parse(lines, arch), kernel="7.3.4+deb13-amd64",
               directory=f"/r/{arch}", observations=observations or {})


def obs(value: str) -> dict[str, list[dict[str, object]]]:
    return {"m4_prot_none.fault": [{"step": "access", "rule": "C4", "exit_reason": value}],
            "m1.load": [{"step": "load", "rule": "C1", "exit_reason": "KVM_EXIT_MMIO"}],
            "f4_x.y": [{"step": "pre-fault", "rule": "F", "payload": value}]}


class Parsing(unittest.TestCase):
    def write(self, name: str, text: str) -> Path:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        p = Path(tmp.name) / name
        p.write_text(text)
        return p

    def test_a_fix_and_its_files(self) -> None:
        f = fixdemo.parse_fix(self.write("01-x86-say.patch", PATCH))
        self.assertEqual((f.name, f.arch, f.files, f.configs, f.mutation_arch),
                         ("01-x86-say", "x86", ("arch/x86/kvm/mmu/mmu.c",), ("x86_64", "x86_64-shadow"), "x86_64"))
        self.assertEqual(f.subject, "[PATCH] KVM: x86/mmu: Say what went wrong")
        self.assertTrue(f.fixes.startswith("Fixes: 0123456789ab"))

    def test_refused(self) -> None:
        for name, text, why in (("say.patch", PATCH, "named"),
                                ("01-ppc-say.patch", PATCH, "named"),
                                ("01-x86-say.patch", PATCH.replace("Subject:", "Subj:"), "Subject"),
                                ("01-x86-say.patch", PATCH.replace("Fixes:", "Fixing:"), "Fixes"),
                                ("01-x86-say.patch", PATCH.split("---\n")[0], "no diff")):
            with self.assertRaisesRegex(fixdemo.FixError, why):
                fixdemo.parse_fix(self.write(name, text))

    def test_a_documentation_fix(self) -> None:
        doc = PATCH.replace("arch/x86/kvm/mmu/mmu.c", "Documentation/virt/kvm/api.rst")
        f = fixdemo.parse_fix(self.write("05-doc-say.patch", doc))
        self.assertTrue(f.doc)
        self.assertEqual((f.configs, f.mutation_arch), ((), ""))
        with self.assertRaisesRegex(fixdemo.FixError, "Documentation/ only"):
            fixdemo.parse_fix(self.write("05-doc-say.patch", PATCH))
        # Shown on the configurations of the architectures its lines name.
        entries = bl.parse("x86_64 7.* f4_* F errno=EFAULT(14)  undocumented [fix: 05-doc-say]\n"
                           "arm64 7.* g1_* G1 move=EINVAL(22)  undocumented [fix: 05-doc-say]\n", "b")
        self.assertEqual(fixdemo.configs_for(f, entries[:1]), ("x86_64", "x86_64-shadow"))
        self.assertEqual(fixdemo.configs_for(f, entries),
                         ("arm64", "arm64-nested", "x86_64", "x86_64-shadow"))
        # The lines' architecture patterns match as the baseline matches
        # them: one configuration alone, or every one.
        for arch, want in (("x86_64-shadow", ("x86_64-shadow",)), ("arm64-nested", ("arm64-nested",)),
                           ("arm64*", ("arm64", "arm64-nested")),
                           ("*", ("arm64", "arm64-nested", "x86_64", "x86_64-shadow"))):
            one = bl.parse(f"{arch} 7.* f4_* F errno=EFAULT(14)  undocumented [fix: 05-doc-say]\n", "b")
            self.assertEqual(fixdemo.configs_for(f, one), want, arch)
        code = fixdemo.parse_fix(self.write("01-x86-say.patch", PATCH))
        self.assertEqual(fixdemo.configs_for(code, entries), ("x86_64", "x86_64-shadow"))

    def test_a_series(self) -> None:
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        base = Path(d.name)
        (base / "01-x86-say.patch").write_text(PATCH)
        (base / "02-x86-more.patch").write_text(PATCH.replace("Fixes:", "Depends-on: 01-x86-say\n\nFixes:"))
        fixes = fixdemo.load_fixes(base)
        self.assertEqual(fixes[1].depends, ("01-x86-say",))
        self.assertEqual([f.name for f in fixdemo.series(fixes[1], fixes)], ["01-x86-say", "02-x86-more"])
        self.assertEqual([f.name for f in fixdemo.series(fixes[0], fixes)], ["01-x86-say"])
        kept, removed = fixdemo.without(BASELINE, ("01-x86-say", "02-x86-other"))
        self.assertEqual([e.test for e in removed], ["m4_*.fault", "w_*"])
        (base / "00-x86-first.patch").write_text(PATCH.replace("Fixes:", "Depends-on: 02-x86-more\n\nFixes:"))
        with self.assertRaisesRegex(fixdemo.FixError, "not a fix that comes before it"):
            fixdemo.load_fixes(base)

    def test_also_changes(self) -> None:
        also = fixdemo.parse_also("# c\n01-x86-say  f4_*  pre-fault fills memory_fault too\n")
        self.assertEqual(also, {"01-x86-say": [("f4_*", "pre-fault fills memory_fault too")]})
        with self.assertRaises(fixdemo.FixError):
            fixdemo.parse_also("01-x86-say f4_*\n")

    def test_without_removes_only_the_fix_lines(self) -> None:
        kept, removed = fixdemo.without(BASELINE, "01-x86-say")
        self.assertEqual([e.test for e in removed], ["m4_*.fault"])
        self.assertNotIn("m4_*", kept)
        self.assertIn("# comment", kept)
        self.assertIn("g1_moved", kept)
        self.assertIn("[fix: 02-x86-other]", kept)

    def test_the_mark_is_read_and_left_out_of_the_reason(self) -> None:
        e = bl.parse(BASELINE, "b")[0]
        self.assertEqual((e.fix, e.plain_reason), ("01-x86-say", "no memory_fault"))
        self.assertEqual((bl.parse(BASELINE, "b")[1].fix, bl.parse(BASELINE, "b")[1].plain_reason), ("", "cannot move"))

    def test_marks(self) -> None:
        entries = bl.parse(BASELINE, "b")
        one = fixdemo.parse_fix(self.write("01-x86-say.patch", PATCH))
        other = fixdemo.parse_fix(self.write("03-x86-none.patch", PATCH))
        problems = fixdemo.check_marks([one, other], entries)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("02-x86-other", problems[0])       # a line naming no fix
        self.assertIn("03-x86-none", problems[1])        # a fix no line names


class Judging(unittest.TestCase):
    removed = fixdemo.without(BASELINE, "01-x86-say")[1]

    def test_fixed(self) -> None:
        stock = run({"m4_prot_none.fault": "xfail", "m1.load": "pass", "g1_moved.x": "xfail"}, obs("0"))
        patched = run({"m4_prot_none.fault": "pass", "m1.load": "pass", "g1_moved.x": "xfail"}, obs("39"))
        v = fixdemo.judge_config("x86_64", stock, patched, self.removed, (("f4_*", "why"),))
        self.assertTrue(v.ok, v)
        self.assertEqual(v.finding_tests, {"m4_prot_none.fault": "pass"})
        # The verdict and the exit reason of the finding's test; f4's payload, declared.
        self.assertEqual((v.changes_finding, v.changes_declared, v.changes_other), (2, 1, []))

    def test_still_failing(self) -> None:
        stock = run({"m4_prot_none.fault": "xfail"}, obs("0"))
        patched = run({"m4_prot_none.fault": "fail"}, obs("0"))
        v = fixdemo.judge_config("x86_64", stock, patched, self.removed, ())
        self.assertFalse(v.ok)
        self.assertEqual(v.still_failing, ["m4_prot_none.fault"])

    def test_fixed_with_another_fix_line_left(self) -> None:
        # KTAP "ok ... # TODO fixed": the test passed; a line of another
        # fix that names it did not occur.
        stock = run({"m4_prot_none.fault": "xfail"}, obs("0"))
        patched = run({"m4_prot_none.fault": "xpass"}, obs("39"))
        v = fixdemo.judge_config("x86_64", stock, patched, self.removed, (("f4_*", "why"),))
        self.assertTrue(v.ok, v)
        self.assertEqual(v.still_failing, [])

    def test_other_verdict_changed(self) -> None:
        stock = run({"m4_prot_none.fault": "xfail", "m1.load": "pass"}, obs("0"))
        patched = run({"m4_prot_none.fault": "pass", "m1.load": "fail"}, obs("0"))
        v = fixdemo.judge_config("x86_64", stock, patched, self.removed, ())
        self.assertFalse(v.ok)
        self.assertEqual(v.changed_verdicts, [("m1.load", "pass", "fail")])

    def test_undeclared_change(self) -> None:
        stock = run({"m4_prot_none.fault": "xfail", "f4_x.y": "pass"}, obs("0"))
        patched = run({"m4_prot_none.fault": "pass", "f4_x.y": "pass"}, obs("39"))
        v = fixdemo.judge_config("x86_64", stock, patched, self.removed, ())
        self.assertFalse(v.ok)
        self.assertEqual(len(v.changes_other), 1)
        self.assertTrue(v.changes_other[0].startswith("f4_x.y: "), v.changes_other)

    def test_a_test_passing_on_stock_is_no_finding(self) -> None:
        # m4 on a configuration where it passed anyway: not the fix's to show.
        stock = run({"m4_prot_none.fault": "pass"}, obs("39"))
        v = fixdemo.judge_config("x86_64", stock, stock, self.removed, ())
        self.assertEqual(v.finding_tests, {})
        self.assertTrue(v.ok)

    def test_entry_for_shadow_only(self) -> None:
        removed = fixdemo.without(BASELINE, "02-x86-other")[1]
        stock = run({"w_1.a": "xfail"}, arch="x86_64")
        self.assertEqual(fixdemo.judge_config("x86_64", stock, stock, removed, ()).finding_tests, {})
        stock = run({"w_1.a": "xfail"}, arch="x86_64-shadow")
        patched = run({"w_1.a": "pass"}, arch="x86_64-shadow")
        self.assertEqual(fixdemo.judge_config("x86_64-shadow", stock, patched, removed, ()).finding_tests,
                         {"w_1.a": "pass"})

    def test_a_known_crash_is_a_finding_test(self) -> None:
        # Skipped on stock by its crash line; on the patched kernel it runs
        # and must pass. A skip for any other reason is no finding.
        text = BASELINE + "x86_64 7.* c_* crash kernel=oops  it oopses [fix: 01-x86-say]\n"
        removed = fixdemo.without(text, "01-x86-say")[1]
        stock = run({"c_1.a": "skip", "m1.load": "skip"})
        v = fixdemo.judge_config("x86_64", stock, run({"c_1.a": "pass", "m1.load": "skip"}), removed, ())
        self.assertEqual(v.finding_tests, {"c_1.a": "pass"})
        self.assertTrue(v.ok, v)
        v = fixdemo.judge_config("x86_64", stock, run({"c_1.a": "fail", "m1.load": "skip"}), removed, ())
        self.assertEqual(v.still_failing, ["c_1.a"])


class Mutation(unittest.TestCase):
    def test_kills_compared(self) -> None:
        stock = {"a": True, "b": True, "c": False}
        patched = {"a": True, "b": False, "c": True}
        self.assertEqual(fixdemo.judge_mutation(stock, patched, ["a", "b", "c", "d"]), (2, 2, ["b"]))

    def test_killed_and_selftests_from_a_study_run(self) -> None:
        r = {"results": [{"mutant": "a", "status": "ok", "configs": {"x": {"suite_killed": ["t"]},
                                                                      "y": {"suite_killed": []}}},
                         {"mutant": "b", "status": "ok", "configs": {"x": {"suite_killed": []}}},
                         {"mutant": "c", "status": "not-compiling", "configs": {}}],
             "baselines": {"x": {"selftests": {"selftest:s": "pass"}}}}
        self.assertEqual(fixdemo.killed(r), {"a": True, "b": False})
        self.assertEqual(fixdemo.selftests_of(r), {"x": {"selftest:s": "pass"}})
        mv = fixdemo.MutationVerdict(selftests={"x": {"selftest:s": "pass"}}, stock_killed=1, patched_killed=1)
        self.assertTrue(mv.ok)
        mv.selftests["x"]["selftest:t"] = "skip"
        self.assertTrue(mv.ok)                              # a skip is no failure
        mv.selftests["x"]["selftest:s"] = "fail"
        self.assertFalse(mv.ok)
        self.assertFalse(fixdemo.MutationVerdict(selftests={"x": {"selftest:s": "skip"}}).ok)  # nothing ran
        self.assertFalse(fixdemo.MutationVerdict().ok)     # no selftests seen is no pass


class Recheck(unittest.TestCase):
    RUN = {"results": [
        {"mutant": "a", "status": "ok", "configs": {"x86_64": {"suite_killed": []},
                                                   "x86_64-shadow": {"suite_killed": ["m4.x", "w.b", "w.a", "w.c"]}}},
        {"mutant": "b", "status": "ok", "configs": {"x86_64": {"suite_killed": ["m4.x", "w.a"]},
                                                   "x86_64-shadow": {"suite_killed": ["w.d"]}}},
        {"mutant": "c", "status": "ok", "configs": {"x86_64": {"suite_killed": []}}},
        {"mutant": "d", "status": "not-compiling", "configs": {}}]}

    def test_killers_are_per_configuration_and_only_where_killed(self) -> None:
        self.assertEqual(fixdemo.killers(self.RUN),
                         {"a": {"x86_64-shadow": ["m4.x", "w.b", "w.a", "w.c"]},
                          "b": {"x86_64": ["m4.x", "w.a"], "x86_64-shadow": ["w.d"]}})

    def test_one_configuration_and_a_few_killers_each(self) -> None:
        order = fixdemo.CONFIGS["x86"]
        plan, pattern = fixdemo.recheck_plan(["a", "b", "c"], fixdemo.killers(self.RUN), order,
                                             lambda t: t.startswith("m4."))
        # c survived on stock: no re-check; b boots where it was first
        # killed; the finding's own tests (m4.*) are the last chosen.
        self.assertEqual(plan, {"a": ["x86_64-shadow"], "b": ["x86_64"]})
        self.assertEqual(fixdemo.KILLERS, 3)
        self.assertEqual(pattern, "m4.x,w.a,w.b,w.c")

    def test_the_pattern_selects_exactly_the_killers(self) -> None:
        from kvmc import testnames
        _, pattern = fixdemo.recheck_plan(["b"], fixdemo.killers(self.RUN), fixdemo.CONFIGS["x86"])
        self.assertTrue(testnames.selects(pattern, "m4.x"))
        self.assertTrue(testnames.selects(pattern, "w.a"))
        self.assertFalse(testnames.selects(pattern, "w.d"))


class QuickMutation(unittest.TestCase):
    """Demo.mutation's quick (5): what runs, and how a survivor of the
    re-check is settled (the tool's runs are stubs)."""

    def mutants(self) -> list[mutation.Mutant]:
        text = "".join(f'[[mutant]]\nid = "{i}"\narch = "x86_64"\nfile = "arch/x86/kvm/x86.c"\n'
                       f'function = "fn"\nkind = "dropped-check"\nold = "{i}();"\nnew = "/* {i} */"\n'
                       f'why = "w"\n\n' for i in ("a", "b", "c"))
        return mutation.parse_catalog(text)

    def demo(self, tmp: str, published: dict[str, bool], quick_kills: dict[str, bool],
             full_kills: dict[str, bool], why: str = "") -> tuple[fixdemo.MutationVerdict,
                                                                   list[tuple[list[str], list[str]]], list[str]]:
        d = object.__new__(fixdemo.Demo)
        d.tree, d.out = Path(tmp), Path(tmp)
        said: list[str] = []
        d.log = said.append
        runs: list[tuple[list[str], list[str]]] = []

        def result(i: str, killed: bool) -> dict[str, object]:
            return {"mutant": i, "status": "ok", "configs": {"x86_64-shadow": {"suite_killed": ["t." + i] if killed else []}}}

        def one_run(fix: fixdemo.Fix, ms: list[mutation.Mutant], heading: str, directory: Path, slug: str,
                    extra: list[str]) -> tuple[dict[str, object], str]:
            runs.append(([m.id for m in ms], extra))
            kills = full_kills if "--no-selftests" in extra else quick_kills
            return {"results": [result(m.id, kills.get(m.id, False)) for m in ms],
                    "baselines": {"x86_64": {"selftests": {"selftest:s": "pass"}}}}, why
        setattr(d, "_mutation_run", one_run)
        fix = fixdemo.parse_fix(self.patch(tmp))
        pub = {"runs": {"x86_64": {"results": [result(i, k) for i, k in published.items()]}}}
        with mock.patch.object(mutation, "load_catalog", self.mutants), \
                mock.patch.object(fixdemo, "applicable", lambda ms, tree: (ms, [])), \
                mock.patch.object(mutation, "read_doc", lambda p: {}), \
                mock.patch.object(mutation, "study", lambda doc, heading: pub):
            mv = d.mutation(fix, Path(tmp))
        return mv, runs, said

    def patch(self, tmp: str) -> Path:
        p = Path(tmp) / "01-x86-say.patch"
        p.write_text(PATCH.replace("arch/x86/kvm/mmu/mmu.c", "arch/x86/kvm/x86.c"))
        return p

    def test_only_stock_kills_are_rechecked_with_their_killers(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            mv, runs, _ = self.demo(tmp, {"a": True, "b": True, "c": False}, {"a": True, "b": True}, {})
            self.assertEqual(runs[0][0], ["a", "b"])
            self.assertEqual(runs[0][1][2:], ["-t", "t.a,t.b"])
            self.assertEqual(json.loads((Path(tmp) / "recheck-catalog.json").read_text()),
                             {"a": ["x86_64-shadow"], "b": ["x86_64-shadow"]})
            self.assertEqual(len(runs), 1)
            self.assertEqual((mv.stock_killed, mv.patched_killed, mv.lost, mv.not_killed_on_stock, mv.full),
                             (2, 2, [], ["c"], []))
            self.assertTrue(mv.ok)

    def test_a_survivor_of_the_recheck_runs_again_in_full(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            mv, runs, _ = self.demo(tmp, {"a": True, "b": True}, {"a": True}, {"b": True})
            self.assertEqual(runs[1], (["b"], ["--no-selftests"]))
            self.assertEqual((mv.patched_killed, mv.full, mv.lost), (2, ["b"], []))
            self.assertTrue(mv.ok)

    def test_a_failed_run_is_the_verdict(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            mv, runs, _ = self.demo(tmp, {"a": True}, {"a": True}, {}, "the mutation run exited 1 (log l)")
            self.assertEqual((len(runs), mv.error), (1, "the mutation run exited 1 (log l)"))
            self.assertFalse(mv.ok)

    def test_lost_only_when_the_full_run_does_not_kill_it_either(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            mv, _, _ = self.demo(tmp, {"a": True, "b": True}, {"a": True}, {})
            self.assertEqual((mv.stock_killed, mv.patched_killed, mv.lost), (2, 1, ["b"]))
            self.assertFalse(mv.ok)


class Shipped(unittest.TestCase):
    """The fixes in scripts/kvmc/patches/fixes/ as they are."""

    def test_named_tagged_and_marked(self) -> None:
        fixes = fixdemo.load_fixes()
        self.assertTrue(fixes, "no fix in scripts/kvmc/patches/fixes/")
        self.assertEqual(fixdemo.check_marks(fixes, bl.load(str(fixdemo.BASELINE))), [])
        for f in fixes:
            self.assertRegex(f.subject, r"^\[PATCH\] KVM: ", f.name)
            text = f.path.read_text()
            self.assertIn("Provenance:", text, f.name)
            self.assertRegex(f.fixes, r"^Fixes: ([0-9a-f]{12} \(\".+\"\)|\(not established: .+\))$", f.name)


if __name__ == "__main__":
    unittest.main()


class SettleMutants(unittest.TestCase):
    """A mutation run killed inside the demo leaves its mutant and the
    tool's record of it; the demo undoes both before its next checkout."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.tree = Path(self.tmp.name)
        self.m = next(m for m in mutation.load_catalog() if not m.equivalent)
        self.path = self.tree / self.m.file
        self.path.parent.mkdir(parents=True)
        self.committed = f"int {self.m.function}(void)\n{{\n{self.m.old}}}\n"
        self.path.write_text(self.committed)
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "base"]):
            subprocess.run(["git", "-C", str(self.tree)] + cmd, check=True, env=env)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_a_killed_run_is_undone(self) -> None:
        mutation.apply_mutant(self.tree, self.m)
        said: list[str] = []
        fixdemo.settle_mutants(self.tree, said.append)
        self.assertEqual(self.path.read_text(), self.committed)
        self.assertEqual(mutation.read_ledger(self.tree), [])
        self.assertIn(f"mutant {self.m.id} undone", "\n".join(said))
        # Applying it again works: nothing "still holds" it.
        mutation.apply_mutant(self.tree, self.m)

    def test_nothing_to_do(self) -> None:
        said: list[str] = []
        fixdemo.settle_mutants(self.tree, said.append)
        self.assertEqual(said, [])

    def test_a_mutated_file_changed_since_stops_the_demo(self) -> None:
        mutation.apply_mutant(self.tree, self.m)
        self.path.write_text("edited by someone\n")
        with self.assertRaisesRegex(RuntimeError, "changed since"):
            fixdemo.settle_mutants(self.tree, lambda _: None)
        self.assertEqual(self.path.read_text(), "edited by someone\n")

# SPDX-License-Identifier: GPL-2.0
"""Unit tests of kvmc.mutation: the catalog parser, the exact-once check,
the kill computation and the result parsers.  No kernel, no VM:

    cd scripts && python3 -m unittest kvmc.tests.test_mutation
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kvmc import mutation  # noqa: E402
from kvmc.mutation import ApplyError, CatalogError, Outcome  # noqa: E402
from kvmc.results import load_dir  # noqa: E402

ONE = '''
[[mutant]]
id = "demo-errno"
arch = "arm64"
file = "arch/arm64/kvm/mmio.c"
function = "io_mem_abort"
kind = "wrong-errno"
rules = ["C6"]
old = "\\t\\treturn -ENOSYS;\\n"
new = "\\t\\treturn -EFAULT;\\n"
why = """A reason
over two lines."""
'''

SOURCE = "int io_mem_abort(void)\n{\n\tif (x)\n\t\treturn -ENOSYS;\n\treturn 0;\n}\n"


class CatalogParser(unittest.TestCase):
    def test_parses_a_block(self) -> None:
        (m,) = mutation.parse_catalog(ONE, "one.toml")
        self.assertEqual(m.id, "demo-errno")
        self.assertEqual(m.old, "\t\treturn -ENOSYS;\n")
        self.assertEqual(m.new, "\t\treturn -EFAULT;\n")
        self.assertEqual(m.why, "A reason over two lines.")
        self.assertEqual(m.arches(), ("arm64",))
        self.assertFalse(m.equivalent)
        self.assertIsNone(m.upstream)
        self.assertEqual(m.where(), "arch/arm64/kvm/mmio.c:io_mem_abort")

    def test_both_means_every_architecture(self) -> None:
        (m,) = mutation.parse_catalog(ONE.replace('arch = "arm64"', 'arch = "both"'))
        self.assertEqual(m.arches(), ("arm64", "x86_64"))

    def test_upstream_table(self) -> None:
        text = ONE + '[mutant.upstream]\nsubject = "KVM: fix"\ncommit = "57c841f131ef"\nsource = "a page"\n'
        (m,) = mutation.parse_catalog(text)
        assert m.upstream is not None
        self.assertEqual(m.upstream.commit, "57c841f131ef")

    def assert_rejected(self, text: str, words: str) -> None:
        with self.assertRaises(CatalogError) as cm:
            mutation.parse_catalog(text, "bad.toml")
        self.assertIn(words, str(cm.exception))
        self.assertIn("bad.toml", str(cm.exception))

    def test_rejects_bad_entries(self) -> None:
        self.assert_rejected("[[mutant]\n", "not TOML")
        self.assert_rejected(ONE.replace('arch = "arm64"', 'arch = "riscv"'), "arch 'riscv'")
        self.assert_rejected(ONE.replace('kind = "wrong-errno"', 'kind = "typo"'), "kind 'typo'")
        self.assert_rejected(ONE.replace('id = "demo-errno"', 'id = "Demo errno"'), "id must be")
        self.assert_rejected(ONE.replace('function = "io_mem_abort"\n', ''), "'function' missing")
        self.assert_rejected(ONE.replace('new = "\\t\\treturn -EFAULT;\\n"', 'new = "\\t\\treturn -ENOSYS;\\n"'),
                             "same text")
        self.assert_rejected(ONE.replace('old = "\\t\\treturn -ENOSYS;\\n"', 'old = ""'), "'old' is empty")
        self.assert_rejected(ONE + 'colour = "red"\n', "unknown keys")
        self.assert_rejected(ONE.replace('file = "arch', 'file = "../arch'), "inside the kernel tree")
        self.assert_rejected(ONE.replace('rules = ["C6"]', 'rules = "C6"'), "'rules'")
        self.assert_rejected(ONE + "equivalent = true\n", "go together")
        self.assert_rejected(ONE + '[mutant.upstream]\nsubject = "x"\ncommit = "zz"\nsource = "y"\n',
                             "hex digits")
        self.assert_rejected('title = "x"\n', "unknown top-level")

    def test_empty_replacement_deletes(self) -> None:
        (m,) = mutation.parse_catalog(ONE.replace('new = "\\t\\treturn -EFAULT;\\n"', 'new = ""'))
        self.assertEqual(m.new, "")

    def test_duplicate_ids_across_files(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            Path(d, "a.toml").write_text(ONE)
            Path(d, "b.toml").write_text(ONE)
            with self.assertRaises(CatalogError) as cm:
                mutation.load_catalog(Path(d))
            self.assertIn("already defined in a.toml", str(cm.exception))

    def test_select(self) -> None:
        both = mutation.parse_catalog(ONE.replace('arch = "arm64"', 'arch = "both"')
                                      .replace("demo-errno", "demo-both"))
        mutants = mutation.parse_catalog(ONE) + both
        self.assertEqual([m.id for m in mutation.select(mutants, arch="x86_64")], ["demo-both"])
        self.assertEqual([m.id for m in mutation.select(mutants, ["demo-both"], "arm64")], ["demo-both"])
        self.assertEqual(len(mutation.select(mutants, [], "arm64")), 2)
        with self.assertRaises(CatalogError):
            mutation.select(mutants, ["nope"])

    def test_the_project_catalog_parses(self) -> None:
        catalog = mutation.load_catalog()
        counted = [m for m in catalog if not m.equivalent]
        for arch in mutation.ARCHES:
            self.assertGreaterEqual(len([m for m in counted if arch in m.arches()]), 15, arch)
        self.assertGreaterEqual(len(counted), 30)
        self.assertGreaterEqual(len([m for m in catalog if m.equivalent]), 3)
        self.assertGreaterEqual(len([m for m in counted if m.upstream]), 6)


class ExactOnce(unittest.TestCase):
    def setUp(self) -> None:
        (self.m,) = mutation.parse_catalog(ONE)

    def test_applies_once(self) -> None:
        out = mutation.mutate_text(SOURCE, self.m)
        self.assertIn("\t\treturn -EFAULT;\n", out)
        self.assertNotIn("ENOSYS", out)

    def test_missing_text(self) -> None:
        with self.assertRaises(ApplyError) as cm:
            mutation.mutate_text(SOURCE.replace("ENOSYS", "EINVAL"), self.m)
        self.assertIn("occurs 0 times", str(cm.exception))

    def test_twice_is_refused(self) -> None:
        with self.assertRaises(ApplyError) as cm:
            mutation.mutate_text(SOURCE + SOURCE, self.m)
        self.assertIn("occurs 2 times", str(cm.exception))

    def test_whitespace_is_exact(self) -> None:
        with self.assertRaises(ApplyError):
            mutation.mutate_text(SOURCE.replace("\t\treturn -ENOSYS", "        return -ENOSYS"), self.m)

    def test_check_tree(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            tree = Path(d)
            (tree / "arch/arm64/kvm").mkdir(parents=True)
            self.assertIn("is not in", mutation.check_tree(tree, [self.m])[0])
            (tree / "arch/arm64/kvm/mmio.c").write_text(SOURCE)
            self.assertEqual(mutation.check_tree(tree, [self.m]), [])
            (tree / "arch/arm64/kvm/mmio.c").write_text(SOURCE.replace("io_mem_abort", "other"))
            self.assertIn("no function io_mem_abort", mutation.check_tree(tree, [self.m])[0])
            (tree / "arch/arm64/kvm/mmio.c").write_text(SOURCE * 2)
            self.assertIn("occurs 2 times", mutation.check_tree(tree, [self.m])[0])

    def test_apply_and_restore_in_git(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            tree = Path(d)
            src = tree / "arch/arm64/kvm/mmio.c"
            src.parent.mkdir(parents=True)
            src.write_text(SOURCE)
            env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                       GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
            for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "base"]):
                subprocess.run(["git", "-C", d] + cmd, check=True, env=env)
            old = 1_000_000_000
            os.utime(src, (old, old))
            mutation.apply_mutant(tree, self.m)
            self.assertEqual(mutation.tree_changes(tree), ["arch/arm64/kvm/mmio.c"])
            os.utime(src, (old, old))  # as if the mutant's build were newer
            self.assertTrue(mutation.undo(tree, self.m, print))
            self.assertEqual(src.read_text(), SOURCE)
            self.assertEqual(mutation.read_ledger(tree), [])
            self.assertEqual(mutation.tree_changes(tree), [])
            self.assertGreater(src.stat().st_mtime, old + 3600, "make must see the file as new")

    def test_the_catalog_applies_to_the_linux_source_tree(self) -> None:
        tree = os.environ.get("KVMC_MUTATION_TREE")
        if not tree:
            self.skipTest("set KVMC_MUTATION_TREE to a 7.3 tree (scripts/debian.sh linux-source)")
        self.assertEqual(mutation.check_tree(Path(tree), mutation.load_catalog()), [])


def outcome(suite: dict[str, str], kst: dict[str, str] | None = None) -> Outcome:
    return Outcome(suite=suite, selftests=kst or {}, rc=0, untestable="", seconds=1.0)


def judge1(m: mutation.Mutant, arch: str, base: Outcome, seen: Outcome, build_s: float,
           wall_s: float) -> mutation.MutantResult:
    """judge() of a run booted on one configuration, named as ARCH."""
    return mutation.judge(m, arch, {arch: base}, {arch: seen}, build_s, wall_s)


class Kills(unittest.TestCase):
    def test_only_tests_that_passed_before_count(self) -> None:
        base = {"a": "pass", "b": "pass", "c": "fail", "d": "skip"}
        seen = {"a": "pass", "b": "fail", "c": "fail", "d": "fail"}
        self.assertEqual(mutation.killed_by(base, seen), ["b"])

    def test_a_fixed_test_passed(self) -> None:
        # xpass: its baseline line did not occur (the fix demo's patched
        # tree): it passed, and failing on the mutant is a kill.
        base = {"e": "xpass", "f": "xpass", "g": "xpass"}
        seen = {"e": "fail", "f": "xpass", "g": "skip"}
        self.assertEqual(mutation.killed_by(base, seen), ["e"])

    def test_error_timeout_and_missing_kill(self) -> None:
        base = {"a": "pass", "b": "pass", "c": "pass", "d": "pass"}
        seen = {"a": "timeout", "b": "skip", "c": "fail(1)"}
        self.assertEqual(mutation.killed_by(base, seen), ["a", "c", "d"])

    def test_xfail_kills_only_when_it_fails_outright(self) -> None:
        base = {"a": "xfail", "b": "xfail", "c": "xfail", "d": "xfail"}
        seen = {"a": "fail", "b": "xfail", "c": "pass", "d": "xpass"}
        self.assertEqual(mutation.killed_by(base, seen), ["a"])
        self.assertEqual(mutation.killed_by({"e": "pass"}, {"e": "xfail"}), ["e"])

    def test_new_tests_do_not_count(self) -> None:
        self.assertEqual(mutation.killed_by({}, {"new": "fail"}), [])

    def test_judge_and_totals(self) -> None:
        cat = mutation.parse_catalog(
            ONE + ONE.replace("demo-errno", "demo-eq").replace('kind = "wrong-errno"',
                                                              'kind = "equivalent"\nequivalent = true')
            + ONE.replace("demo-errno", "demo-survivor"))
        base = outcome({"t1": "pass", "t2": "pass"}, {"selftest:x": "pass"})
        r1 = judge1(cat[0], "arm64", base, outcome({"t1": "fail", "t2": "pass"},
                                                           {"selftest:x": "pass"}), 10, 20)
        r2 = judge1(cat[1], "arm64", base, outcome({"t1": "pass", "t2": "pass"},
                                                           {"selftest:x": "fail(1)"}), 10, 20)
        r3 = judge1(cat[2], "arm64", base, outcome({"t1": "pass", "t2": "pass"},
                                                           {"selftest:x": "pass"}), 10, 20)
        broken = mutation.MutantResult(cat[2], "arm64", "not-compiling", {}, 1, 1, "error")
        self.assertEqual(r1.suite_killed, ["t1"])
        self.assertEqual(r1.selftests_killed, [])
        t = mutation.totals([r1, r2, r3, broken], "arm64")
        self.assertEqual(t["counted"], 2)
        self.assertEqual(t["suite_killed"], 1)
        self.assertEqual(t["selftests_killed"], 0)
        self.assertEqual(t["survivors"], ["demo-survivor"])
        self.assertEqual(t["controls"], 1)
        self.assertEqual(t["controls_killed"], ["demo-eq"])
        self.assertEqual(t["not_compiling"], ["demo-survivor"])
        self.assertEqual(mutation.totals([r1], "x86_64")["counted"], 0)

    def test_append_replaces_and_recounts(self) -> None:
        cat = mutation.parse_catalog(ONE + ONE.replace("demo-errno", "demo-two"))
        base = outcome({"t1": "pass"})
        killed = judge1(cat[0], "arm64", base, outcome({"t1": "fail"}), 1, 2)
        survived = judge1(cat[0], "arm64", base, outcome({"t1": "pass"}), 1, 2)
        two = judge1(cat[1], "arm64", base, outcome({"t1": "fail"}), 1, 2)
        old = {"results": [survived.to_json()], "totals": mutation.totals([survived], "arm64"),
               "date": "d1", "complete": False}
        new = {"results": [killed.to_json(), two.to_json()],
               "totals": mutation.totals([killed, two], "arm64"), "date": "d2"}
        merged = mutation.append_run(old, new, cat)
        self.assertEqual([r["mutant"] for r in merged["results"]], ["demo-errno", "demo-two"])
        self.assertEqual(merged["totals"]["suite_killed"], 2)
        self.assertFalse(merged["complete"])
        self.assertEqual(merged["earlier_runs"][0]["date"], "d1")

    def test_markdown_names_the_killing_tests(self) -> None:
        (m,) = mutation.parse_catalog(ONE)
        base = outcome({"t1": "pass"}, {"selftest:mmio_sign_ext": "pass"})
        r = judge1(m, "arm64", base, outcome({"t1": "fail"}, {"selftest:mmio_sign_ext": "fail(1)"}), 5, 9)
        run = {"results": [r.to_json()], "totals": mutation.totals([r], "arm64"), "kernel": "k"}
        text = mutation.render_markdown({"runs": {"arm64": run}})
        self.assertIn("| demo-errno | arch/arm64/kvm/mmio.c:io_mem_abort | t1 | mmio_sign_ext | not recorded | 9 |",
                      text)
        self.assertIn("| arm64 | k (`--arch arm64`) | 1 | 1 (100%) | 1 (100%) |", text)

    def test_survivors_carry_their_reason(self) -> None:
        cat = mutation.parse_catalog(
            ONE.replace('why = """', 'uncovered = """Needs\n hardware."""\nwhy = """')
            + ONE.replace("demo-errno", "demo-bare"))
        self.assertEqual(cat[0].uncovered, "Needs hardware.")
        self.assertEqual(cat[1].uncovered, "")
        base = outcome({"t1": "pass"})
        rs = [judge1(m, "arm64", base, outcome({"t1": "pass"}), 1, 2) for m in cat]
        run = {"results": [r.to_json() for r in rs], "totals": mutation.totals(rs, "arm64"), "kernel": "k",
               "config": "arm64-nested"}
        text = mutation.render_markdown({"runs": {"arm64": run}}, cat)
        self.assertIn("- `demo-errno`: Needs hardware.", text)
        self.assertIn("- `demo-bare`: **no test and no reason yet**", text)
        self.assertIn("| arm64 | k (`--arch arm64-nested`) |", text)

    def test_recount_follows_the_catalog(self) -> None:
        cat = mutation.parse_catalog(ONE + ONE.replace("demo-errno", "demo-later-equivalent"))
        base = outcome({"t1": "pass"})
        rs = [judge1(m, "arm64", base, outcome({"t1": "pass"}), 1, 2) for m in cat]
        run: dict[str, Any] = {"results": [r.to_json() for r in rs], "totals": mutation.totals(rs, "arm64")}
        self.assertEqual(run["totals"]["counted"], 2)
        now = mutation.parse_catalog(ONE + ONE.replace("demo-errno", "demo-later-equivalent").replace(
            'kind = "wrong-errno"', 'kind = "equivalent"\nequivalent = true'))
        t = mutation.recount(run, now)["totals"]
        self.assertEqual((t["counted"], t["controls"], t["controls_killed"]), (1, 1, []))
        self.assertEqual(len(mutation.recount(run, now[:1])["results"]), 1)
        elsewhere = mutation.parse_catalog(ONE.replace('arch = "arm64"', 'arch = "x86_64"'))
        self.assertEqual(mutation.recount(run, elsewhere)["results"], [])

    def test_the_catalog_explains_only_with_one_line(self) -> None:
        for m in mutation.load_catalog():
            self.assertNotIn("\n", m.uncovered, m.id)
            if m.equivalent:
                self.assertEqual(m.uncovered, "", f"{m.id}: a control needs no reason to survive")


class Parsers(unittest.TestCase):
    def test_suite_outcomes_come_from_the_results_directory(self) -> None:
        text = ("TAP version 13\n1..2\n# kvm-contract: bad_memslot_test\n    TAP version 13\n"
                "    1..5\n    ok 1 m1_no_memslot.w1.load\n    not ok 2 m4_prot_none.load.fault\n"
                "    ok 3 g6_private.mismatch # SKIP no private VM type\n"
                "    not ok 4 m5_munmap.fault # TODO known deviation\n"
                "    ok 5 m6_fixed # TODO listed, passed\nnot ok 1 bad_memslot_test\n"
                "# kvm-contract: crashed_test\n    TAP version 13\n    1..2\n    ok 1 c1_first\n"
                "not ok 2 crashed_test # exit status 139\n")
        with tempfile.TemporaryDirectory() as d:
            Path(d, "results.ktap").write_text(text)
            self.assertEqual(mutation.suite_outcomes(load_dir(d)), {
                "m1_no_memslot.w1.load": "pass", "m4_prot_none.load.fault": "fail",
                "g6_private.mismatch": "skip", "m5_munmap.fault": "xfail", "m6_fixed": "xpass",
                "c1_first": "pass", "crashed_test": "fail"})
            self.assertEqual(mutation.suite_outcomes(load_dir(os.path.join(d, "missing"))), {})

    def test_one_reader_one_cache(self) -> None:
        # Results are read through kvmc.results, the cache is common's.
        for copy in ("parse_ktap", "parse_suite_json", "parse_extra_durations", "RESULT_LINE",
                     "default_cache"):
            self.assertFalse(hasattr(mutation, copy), copy)

    def test_extra_durations(self) -> None:
        text = "guest_memfd_test 3300 0\nexternal_aborts 2700 1\npage_fault_test 120000 124\nmmio_sign_ext 10 4\n"
        with tempfile.TemporaryDirectory() as d:
            Path(d, "extra-durations").write_text(text)
            self.assertEqual(mutation.selftest_outcomes(Path(d)), {
                "selftest:guest_memfd_test": "pass", "selftest:external_aborts": "fail(1)",
                "selftest:page_fault_test": "timeout", "selftest:mmio_sign_ext": "skip"})

    def test_merge_doc_keeps_the_other_architecture(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d, "m.json")
            path.write_text(json.dumps(mutation.merge_doc(path, "x86_64", {"x": 1})))
            doc = mutation.merge_doc(path, "arm64", {"a": 2})
            self.assertEqual(doc["studies"][0]["runs"], {"x86_64": {"x": 1}, "arm64": {"a": 2}})


if __name__ == "__main__":
    unittest.main()

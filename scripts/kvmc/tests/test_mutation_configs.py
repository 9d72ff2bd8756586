# SPDX-License-Identifier: GPL-2.0
"""`python3 -m kvmc.mutation run` boots every mutant on every
configuration of its architecture (issue 22, "the tool itself"): a mutant
in shadow-paging code dies on x86_64-shadow, which a study of x86_64 alone
never boots. The kernel is built once per mutant and booted on each
configuration; a mutant is killed when any of them kills it, and the
tables name which. A catalog file with a heading of its own (the blind
set) runs alone with --catalog and is published under its heading.

No kernel, no VM: a small git tree stands in for the kernel's, the build
and the boot are stubs.

    cd scripts && python3 -m unittest kvmc.tests.test_mutation_configs
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import tempfile
import unittest
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable
from unittest import mock

from kvmc import kbuild, mutation, qemu_configs
from kvmc.mutation import Outcome

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")


def block(ident: str, path: str, old: str, new: str, kind: str = "dropped-check") -> str:
    extra = 'equivalent = true\n' if kind == "equivalent" else ""
    return (f'[[mutant]]\nid = "{ident}"\narch = "x86_64"\nfile = "{path}"\nfunction = "fn"\n'
            f'kind = "{kind}"\n{extra}old = "{old}"\nnew = "{new}"\nwhy = "a test"\n\n')


# Three mutants of the main catalog, one of a blind set: which tests each
# fails on which configuration is the stub boot's (boot() below).
MAIN = (block("shadow-only", "arch/x86/kvm/mmu/mmu.c", "check_shadow();", "/* shadow */")
        + block("both-kill", "arch/x86/kvm/x86.c", "fill_exit();", "/* both */")
        + block("eq-control", "arch/x86/kvm/emulate.c", "a = 1;", "a = 1 ;", "equivalent"))
BLIND = ('# Written blind: a test of the set format.\nheading = "Blind set"\n\n'
         + block("blind-npt", "arch/x86/kvm/svm/svm.c", "npt_fault();", "/* npt */"))


class MultiConfig(unittest.TestCase):
    def setUp(self) -> None:
        self.saved: dict[int, Any] = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.tree, self.catdir, self.out = root / "tree", root / "mutants", root / "out"
        self.json, self.doc = root / "mutation.json", root / "mutation.md"
        self.catdir.mkdir()
        (self.catdir / "x86_64.toml").write_text(MAIN)
        (self.catdir / "blind.toml").write_text(BLIND)
        catalog = mutation.load_catalog(self.catdir)
        self.mutated = {m.id: (m.file, m.new) for m in catalog}
        for m in catalog:
            (self.tree / m.file).parent.mkdir(parents=True, exist_ok=True)
            (self.tree / m.file).write_text(f"int fn(void)\n{{\n{m.old}\n}}\n")
        for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "base"]):
            subprocess.run(["git", "-C", str(self.tree)] + cmd, check=True, env=GIT_ENV)
        self.builds: list[str] = []
        self.boots: list[tuple[str, str]] = []

    def tearDown(self) -> None:
        for s, h in self.saved.items():
            signal.signal(s, h)
        self.tmp.cleanup()

    def applied(self) -> str:
        """The mutant now in the tree, or "" (the unmutated kernel)."""
        for ident, (rel, new) in self.mutated.items():
            if new in (self.tree / rel).read_text():
                return ident
        return ""

    def build(self, tree: str, arch: str, cache: str, **_: Any) -> SimpleNamespace:
        self.builds.append(self.applied() or "unmutated")
        return SimpleNamespace(image=f"{tree}/bzImage-{len(self.builds)}")

    def boot(self, arch: str, image: str, out: Path, selftests: Path | None, suite_filter: str | None,
             log: Callable[[str], None], config: str = "") -> Outcome:
        """t_common runs everywhere, t_shadow only where KVM shadows the
        guest's page tables (it skips elsewhere)."""
        self.boots.append((self.applied() or "unmutated", config))
        self.assertEqual(out.name, config, "each configuration's results in a directory of its own")
        suite = {"t_common": "pass", "t_shadow": "pass" if config == "x86_64-shadow" else "skip"}
        which = self.applied()
        if which == "shadow-only" and config == "x86_64-shadow":
            suite["t_shadow"] = "fail"
        if which == "both-kill":
            suite["t_common"] = "fail"
        if which == "blind-npt" and config == "x86_64":
            suite["t_common"] = "fail"
        return Outcome(suite=suite, selftests={"selftest:s": "pass"} if selftests else {}, rc=0, untestable="",
                       seconds=1.0)

    def run_tool(self, *args: str) -> tuple[int, str]:
        err = io.StringIO()
        with mock.patch.object(mutation, "CATALOG_DIR", self.catdir), \
                mock.patch.object(kbuild, "build_kernel", self.build), \
                mock.patch.object(mutation, "run_kernel", self.boot), \
                mock.patch.dict(os.environ, KVMC_CACHE=str(Path(self.tmp.name) / "cache")), \
                contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
            rc = mutation.main(["run", "--arch", "x86_64", "--tree", str(self.tree), "--no-selftests",
                                "--json", str(self.json), "--doc", str(self.doc), "--out", str(self.out),
                                *args])
        return rc, err.getvalue()

    def results(self, heading: str = "") -> dict[str, dict[str, Any]]:
        doc = json.loads(self.json.read_text())
        (s,) = [s for s in doc["studies"] if s["heading"] == heading]
        return {r["mutant"]: r for r in s["runs"]["x86_64"]["results"]}

    def test_configurations_come_from_qemu_configs(self) -> None:
        self.assertEqual(mutation.configs_for(["x86_64"], ""), {"x86_64": ["x86_64", "x86_64-shadow"]})
        self.assertEqual(mutation.configs_for(mutation.ARCHES, ""),
                         {a: list(qemu_configs.configs_of(a)) for a in mutation.ARCHES})
        self.assertEqual(mutation.configs_for(["arm64"], "arm64"), {"arm64": ["arm64"]})
        # No second list of configurations per architecture in the tool.
        self.assertFalse(hasattr(mutation, "DEFAULT_CONFIG"))

    def test_every_mutant_built_once_and_booted_on_each_configuration(self) -> None:
        rc, said = self.run_tool()
        self.assertEqual(rc, 0, said)
        # The baseline, each mutant of the main catalog (not the blind set),
        # and the restored tree: one build each.
        self.assertEqual(self.builds, ["unmutated", "shadow-only", "both-kill", "eq-control", "unmutated"])
        self.assertEqual(self.boots, [(k, c) for k in ("unmutated", "shadow-only", "both-kill", "eq-control")
                                      for c in ("x86_64", "x86_64-shadow")])
        results = self.results()
        self.assertEqual(set(results), {"shadow-only", "both-kill", "eq-control"})
        shadow = results["shadow-only"]["configs"]
        self.assertEqual(list(shadow), ["x86_64", "x86_64-shadow"])
        self.assertEqual((shadow["x86_64"]["suite_killed"], shadow["x86_64-shadow"]["suite_killed"]),
                         ([], ["t_shadow"]))
        doc = json.loads(self.json.read_text())
        self.assertEqual(doc["format"], mutation.FORMAT)
        run = doc["studies"][0]["runs"]["x86_64"]
        self.assertEqual(run["configs"], ["x86_64", "x86_64-shadow"])
        self.assertEqual(set(run["baselines"]), {"x86_64", "x86_64-shadow"})
        t = run["totals"]
        # Killed when any configuration kills it.
        self.assertEqual((t["counted"], t["suite_killed"], t["suite_survivors"], t["controls_killed"]),
                         (2, 2, [], []))
        self.assertEqual(t["suite_killed_on"], {"x86_64": 1, "x86_64-shadow": 2})
        self.assertEqual(t["suite_only_on"], {"x86_64": [], "x86_64-shadow": ["shadow-only"]})
        text = self.doc.read_text()
        self.assertIn("| shadow-only | arch/x86/kvm/mmu/mmu.c:fn | x86_64-shadow: t_shadow | survived |", text)
        self.assertIn("| both-kill | arch/x86/kvm/x86.c:fn | x86_64, x86_64-shadow: t_common | survived |", text)
        self.assertIn("| x86_64 | tree (`--arch x86_64`, `--arch x86_64-shadow`) | 2 | 2 (100%) |", text)
        self.assertIn("| x86_64 1, x86_64-shadow 2 (1 only there) |", text)
        self.assertIn("Killed by the suite on one configuration only: x86_64-shadow: `shadow-only`.", text)
        self.assertNotIn("blind-npt", text.split("## The catalog")[0])

    def test_config_restricts_to_one_configuration(self) -> None:
        rc, said = self.run_tool("--config", "x86_64", "--mutants", "shadow-only")
        self.assertEqual(rc, 0, said)
        self.assertEqual({c for _, c in self.boots}, {"x86_64"})
        self.assertEqual(self.results()["shadow-only"]["configs"]["x86_64"]["suite_killed"], [])
        t = json.loads(self.json.read_text())["studies"][0]["runs"]["x86_64"]["totals"]
        self.assertEqual(t["suite_survivors"], ["shadow-only"])

    def test_recheck_boots_each_mutant_where_told_with_the_selftests_unmutated_only(self) -> None:
        """--recheck (scripts/fix-demo.sh's quick (5)): a mutant it names
        boots only on its configurations, one it does not on every one;
        the selftests run in the unmutated boots alone; -t goes to each."""
        plan = Path(self.tmp.name) / "recheck.json"
        plan.write_text(json.dumps({"shadow-only": ["x86_64-shadow"]}))
        seen: list[tuple[str, str, bool, str | None]] = []
        stub = self.boot

        def boot(arch: str, image: str, out: Path, selftests: Path | None, suite_filter: str | None,
                 log: Callable[[str], None], config: str = "") -> Outcome:
            seen.append((self.applied() or "unmutated", config, selftests is not None, suite_filter))
            return stub(arch, image, out, selftests, suite_filter, log, config)
        err = io.StringIO()
        with mock.patch.object(mutation, "CATALOG_DIR", self.catdir), \
                mock.patch.object(kbuild, "build_kernel", self.build), \
                mock.patch.object(mutation, "run_kernel", boot), \
                mock.patch.object(mutation, "build_selftests", lambda *a: Path(self.tmp.name) / "st"), \
                mock.patch.dict(os.environ, KVMC_CACHE=str(Path(self.tmp.name) / "cache")), \
                contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
            rc = mutation.main(["run", "--arch", "x86_64", "--tree", str(self.tree), "--json", str(self.json),
                                "--doc", str(self.doc), "--out", str(self.out), "--recheck", str(plan),
                                "--mutants", "shadow-only,both-kill", "-t", "t_shadow,t_common"])
        self.assertEqual(rc, 0, err.getvalue())
        self.assertEqual(seen, [("unmutated", "x86_64", True, "t_shadow,t_common"),
                                ("unmutated", "x86_64-shadow", True, "t_shadow,t_common"),
                                ("shadow-only", "x86_64-shadow", False, "t_shadow,t_common"),
                                ("both-kill", "x86_64", False, "t_shadow,t_common"),
                                ("both-kill", "x86_64-shadow", False, "t_shadow,t_common")])
        results = self.results()
        self.assertEqual(list(results["shadow-only"]["configs"]), ["x86_64-shadow"])
        self.assertEqual(results["shadow-only"]["configs"]["x86_64-shadow"]["suite_killed"], ["t_shadow"])
        # The selftests the mutant's boot did not run kill nothing.
        self.assertEqual(results["shadow-only"]["configs"]["x86_64-shadow"]["selftests_killed"], [])
        run = json.loads(self.json.read_text())["studies"][0]["runs"]["x86_64"]
        self.assertEqual(run["recheck"], {"shadow-only": ["x86_64-shadow"]})

    def test_a_recheck_that_does_not_fit_is_a_usage_error(self) -> None:
        plan = Path(self.tmp.name) / "recheck.json"
        for text, words in (('{"shadow-only": ["arm64"]}', "not among the run's configurations"),
                            ('{"shadow-only": []}', "no configuration"),
                            ('["shadow-only"]', "wanted a JSON object"), ("{", "--recheck")):
            with self.subTest(text=text):
                plan.write_text(text)
                rc, said = self.run_tool("--recheck", str(plan))
                self.assertEqual(rc, 2, said)
                self.assertIn(words, said)
        self.assertEqual(self.builds, [], "nothing is built before the plan is checked")

    def test_configurations_that_do_not_fit_are_usage_errors(self) -> None:
        for config, words in (("arm64", "no configuration of x86_64"), ("x86_64,arm64-nested", "arm64-nested"),
                              ("x86_64-ept", "no such configuration")):
            with self.subTest(config=config):
                rc, said = self.run_tool("--config", config)
                self.assertEqual(rc, 2, said)
                self.assertIn(words, said)
        self.assertEqual(self.builds, [], "nothing is built before the options are checked")

    def test_a_catalog_file_runs_alone_under_its_heading(self) -> None:
        rc, said = self.run_tool()
        self.assertEqual(rc, 0, said)
        main_table = self.doc.read_text()
        self.builds.clear()
        rc, said = self.run_tool("--catalog", "blind")
        self.assertEqual(rc, 0, said)
        self.assertEqual(self.builds, ["unmutated", "blind-npt", "unmutated"])
        doc = json.loads(self.json.read_text())
        self.assertEqual([(s["heading"], s["catalogs"]) for s in doc["studies"]],
                         [("", []), ("Blind set", ["blind"])])
        self.assertEqual(set(self.results()), {"shadow-only", "both-kill", "eq-control"}, "main table kept")
        self.assertEqual(list(self.results("Blind set")), ["blind-npt"])
        self.assertEqual([s["runs"]["x86_64"]["catalogs"] for s in doc["studies"]], [[], ["blind"]])
        text = self.doc.read_text()
        self.assertIn(main_table.split("## The catalog")[0].split("## Totals")[1], text)
        blind = text.split("\n## Blind set\n")[1]
        self.assertIn("### Totals", blind)
        self.assertIn("| blind-npt | arch/x86/kvm/svm/svm.c:fn | x86_64: t_common | survived |", blind)
        self.assertIn("## Blind set: the mutants", text)
        # Before and after: another heading, another table.
        rc, said = self.run_tool("--catalog", "blind", "--heading", "Blind set, after")
        self.assertEqual(rc, 0, said)
        self.assertEqual([s["heading"] for s in json.loads(self.json.read_text())["studies"]],
                         ["", "Blind set", "Blind set, after"])
        self.assertIn("\n## Blind set, after\n", self.doc.read_text())

    def test_catalog_and_mutants_must_agree(self) -> None:
        rc, said = self.run_tool("--catalog", "nope")
        self.assertEqual(rc, 2, said)
        self.assertIn("no catalog file nope.toml", said)
        rc, said = self.run_tool("--catalog", "blind", "--mutants", "both-kill")
        self.assertEqual(rc, 2, said)
        self.assertIn("both-kill (x86_64.toml; --catalog x86_64)", said)
        rc, said = self.run_tool("--catalog", "blind,x86_64")
        self.assertEqual(rc, 2, said)
        self.assertIn("run one set at a time", said)
        self.assertEqual(self.builds, [])

    def test_append_keeps_the_other_rows_and_configurations(self) -> None:
        rc, said = self.run_tool("--config", "x86_64")
        self.assertEqual(rc, 0, said)
        rc, said = self.run_tool("--config", "x86_64-shadow", "--append", "--mutants", "shadow-only")
        self.assertEqual(rc, 0, said)
        run = json.loads(self.json.read_text())["studies"][0]["runs"]["x86_64"]
        self.assertEqual(run["configs"], ["x86_64", "x86_64-shadow"])
        self.assertEqual(set(run["baselines"]), {"x86_64", "x86_64-shadow"})
        self.assertEqual(list(self.results()), ["shadow-only", "both-kill", "eq-control"])
        self.assertEqual(run["totals"]["suite_killed"], 2)
        self.assertIn("| shadow-only | arch/x86/kvm/mmu/mmu.c:fn | x86_64-shadow: t_shadow |", self.doc.read_text())


# docs/mutation.json as the first format wrote it: one configuration per run.
FORMAT_1 = {"format": "kvm-contract mutation 1", "runs": {"x86_64": {
    "date": "2026-11-25 10:40 UTC", "complete": True, "kernel": "mutation", "config": "x86_64",
    "tree": "/t", "suite_filter": "", "baseline_s": 76.2, "baseline_suite_passed": 86,
    "baseline_selftests_passed": 5, "baseline_selftests": {"selftest:x": "pass"},
    "results": [
        {"mutant": "both-kill", "arch": "x86_64", "file": "arch/x86/kvm/x86.c", "function": "fn",
         "kind": "dropped-check", "equivalent": False, "rules": [], "upstream": None, "status": "ok",
         "reason": "", "suite_killed": ["t_common"], "selftests_killed": ["selftest:x"],
         "wall_s": 66.2, "build_s": 23.3, "run_s": 42.6},
        {"mutant": "shadow-only", "arch": "x86_64", "file": "arch/x86/kvm/mmu/mmu.c", "function": "fn",
         "kind": "dropped-check", "equivalent": False, "rules": [], "upstream": None, "status": "not-compiling",
         "reason": "mmu.c:3: error: x", "suite_killed": [], "selftests_killed": [],
         "wall_s": 5.0, "build_s": 5.0, "run_s": 0.0}],
    "totals": {"arch": "x86_64", "counted": 1, "suite_killed": 1, "selftests_killed": 1, "either_killed": 1,
               "suite_only": 0, "selftests_only": 0, "survivors": [], "suite_survivors": [], "controls": 0,
               "controls_killed": [], "not_compiling": ["shadow-only"], "not_run": []}}}}


class OlderDocument(unittest.TestCase):
    def setUp(self) -> None:
        self.saved: dict[int, Any] = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        self.tmp = tempfile.TemporaryDirectory()
        self.catdir = Path(self.tmp.name, "mutants")
        self.catdir.mkdir()
        (self.catdir / "x86_64.toml").write_text(MAIN)

    def tearDown(self) -> None:
        for s, h in self.saved.items():
            signal.signal(s, h)
        self.tmp.cleanup()

    def test_first_format_renders_as_before(self) -> None:
        text = mutation.render_markdown(FORMAT_1, mutation.load_catalog(self.catdir))
        # As before, but for the changed observations it did not record.
        self.assertIn("| x86_64 | mutation (`--arch x86_64`) | 1 | 1 (100%) | 1 (100%) | 0 | 0 | 0 "
                      "| not recorded | 0 of 0 | 1 | x86_64 1 |", text)
        self.assertIn("| both-kill | arch/x86/kvm/x86.c:fn | t_common | x | not recorded | 66.2 |", text)
        self.assertIn("| shadow-only | arch/x86/kvm/mmu/mmu.c:fn | not-compiling: mmu.c:3: error: x |", text)
        self.assertIn("baseline: 86 suite tests and 5 selftests passed on the unmutated kernel (76.2 s).", text)

    def test_the_project_document_renders(self) -> None:
        path = Path(__file__).resolve().parents[3] / "docs/mutation.json"
        doc = mutation.read_doc(path)
        self.assertEqual(doc["format"], mutation.FORMAT)
        self.assertIn("## Totals", mutation.render_markdown(doc, mutation.load_catalog()))

    def test_render_migrates_it(self) -> None:
        path, md = Path(self.tmp.name, "mutation.json"), Path(self.tmp.name, "mutation.md")
        path.write_text(json.dumps(FORMAT_1))
        with mock.patch.object(mutation, "CATALOG_DIR", self.catdir), \
                contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(mutation.main(["render", "--json", str(path), "--doc", str(md)]), 0)
        doc = json.loads(path.read_text())
        self.assertEqual(doc["format"], mutation.FORMAT)
        (s,) = doc["studies"]
        run = s["runs"]["x86_64"]
        self.assertEqual((s["heading"], run["configs"]), ("", ["x86_64"]))
        self.assertEqual(run["baselines"]["x86_64"]["suite_passed"], 86)
        by_id = {r["mutant"]: r for r in run["results"]}
        self.assertEqual(by_id["both-kill"]["configs"]["x86_64"]["selftests_killed"], ["selftest:x"])
        self.assertEqual(by_id["shadow-only"]["configs"], {})
        self.assertEqual(run["totals"]["suite_killed_on"], {"x86_64": 1})

    def test_a_document_of_another_kind_is_left_alone(self) -> None:
        path = Path(self.tmp.name, "mutation.json")
        path.write_text('{"format": "something else", "runs": {}}\n')
        with self.assertRaises(RuntimeError) as cm:
            mutation.merge_doc(path, "x86_64", {})
        self.assertIn("not the mutation tool's results", str(cm.exception))
        self.assertEqual(path.read_text(), '{"format": "something else", "runs": {}}\n')


if __name__ == "__main__":
    unittest.main()


class InterruptedThenFinished(OlderDocument):
    """A run stopped part way says so until --append has run what it
    missed; then it is whole again."""

    def doc(self, with_control: bool) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(json.dumps(FORMAT_1))
        run = doc["runs"]["x86_64"]
        run["complete"] = False
        if with_control:
            control = dict(run["results"][0], mutant="eq-control", equivalent=True, suite_killed=[],
                           selftests_killed=[])
            run["results"].append(control)
            run["earlier_runs"] = [{"date": "2026-11-25 09:00 UTC"}]
        return doc

    def test_a_mutant_missing_is_an_interrupted_run(self) -> None:
        text = mutation.render_markdown(self.doc(False), mutation.load_catalog(self.catdir))
        self.assertIn("**Interrupted run", text)
        self.assertIn("Not run yet", text)

    def test_finished_with_append_is_whole(self) -> None:
        text = mutation.render_markdown(self.doc(True), mutation.load_catalog(self.catdir))
        self.assertNotIn("Interrupted run", text)
        self.assertNotIn("Not run yet", text)
        self.assertIn("earlier ones published at 2026-11-25 09:00 UTC", text)

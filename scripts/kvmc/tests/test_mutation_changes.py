# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the mutation tool's changed observations (issue 22): each
mutant's suite results diffed against the unmutated kernel's as
--reference does, recorded beside the kills and never counted as one.
Fixtures are small results directories in a private temporary directory,
read as run_kernel reads a boot's:

    cd scripts && python3 -m unittest kvmc.tests.test_mutation_changes
"""

from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

from kvmc import mutation, reference, results
from kvmc.mutation import Outcome

CATALOG = "".join(f'''
[[mutant]]
id = "{ident}"
arch = "arm64"
file = "arch/arm64/kvm/mmio.c"
function = "io_mem_abort"
kind = "wrong-errno"
old = "return -ENOSYS;"
new = "return -EFAULT;"
why = "a test"
''' for ident in ("demo-changed", "demo-killed", "demo-same"))

M1 = "m1_no_memslot.w1.load"
P1 = "p1_poisoned_anon_page.load.access"


def observation(test: str, step: str, **fields: object) -> dict[str, object]:
    rec: dict[str, object] = {"test": test, "step": step, "rule": "C5", "verdict": "pass",
                              "section": "CONTRACT.md C5"}
    rec.update(fields)
    return rec


# The unmutated kernel's observations: an MMIO exit and a poisoned page,
# whose expected si_addr is a host address (it moves between runs).
BASE = [observation(M1, "load", observed="mmio{phys_addr=0xc0000100 len=4 is_write=0}"),
        observation(P1, "access", expected="si_addr=0xffff8424d040", observed="SIGBUS BUS_MCEERR_AR", errno=4)]


class Changes(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.root = Path(tmp.name)
        self.cat = mutation.parse_catalog(CATALOG, "demo.toml")

    def results_dir(self, name: str, observations: list[dict[str, object]],
                    failed: tuple[str, ...] = (), config: str = "arm64") -> Path:
        """A results directory as run_tests.sh leaves one: the KTAP (one
        binary, a test per observed test) and observations.jsonl."""
        d = Path(tempfile.mkdtemp(prefix=name + "-", dir=self.root), config)
        d.mkdir()
        tests = list(dict.fromkeys(str(o["test"]) for o in observations))
        lines = ["TAP version 13", "1..1", "# kvm-contract: t", "    TAP version 13", f"    1..{len(tests)}"]
        lines += [f"    {'not ok' if t in failed else 'ok'} {i} {t}" for i, t in enumerate(tests, 1)]
        lines.append("not ok 1 t # exit status 1" if failed else "ok 1 t")
        (d / results.KTAP).write_text("\n".join(lines) + "\n")
        (d / results.OBSERVATIONS).write_text("".join(json.dumps(o) + "\n" for o in observations))
        return d

    def boot(self, name: str, observations: list[dict[str, object]], failed: tuple[str, ...] = (),
             config: str = "arm64") -> Outcome:
        """The outcome of a boot whose results are that directory, as
        run_kernel makes it."""
        run = results.load_dir(str(self.results_dir(name, observations, failed, config)))
        return Outcome(suite=mutation.suite_outcomes(run), selftests={}, rc=1 if failed else 0,
                       untestable="", seconds=1.0, run=run)

    def judged(self, observations: list[dict[str, object]], failed: tuple[str, ...] = (),
               which: int = 0) -> mutation.MutantResult:
        base = self.boot("baseline", BASE)
        seen = self.boot(self.cat[which].id, observations, failed)
        return mutation.judge(self.cat[which], "arm64", {"arm64": base}, {"arm64": seen}, 1, 2)

    def test_a_changed_observation_is_no_kill(self) -> None:
        seen = [dict(BASE[0], observed="mmio{phys_addr=0xc0000000 len=4 is_write=0}"), BASE[1]]
        r = self.judged(seen)
        self.assertEqual((r.suite_killed, r.changed()), ([], 1))
        c = r.configs["arm64"]
        self.assertEqual((c.changed, c.changes), (1, [[M1, "load", "observed"]]))
        t = mutation.totals([r], "arm64")
        self.assertEqual((t["suite_killed"], t["suite_survivors"]), (0, ["demo-changed"]))
        self.assertEqual((t["suite_survivors_changed"], t["suite_survivors_unrecorded"]), (["demo-changed"], []))
        # Kept in the JSON, and read back from it.
        back = mutation.ConfigResult.from_json(json.loads(json.dumps(c.to_json())))
        self.assertEqual((back.changed, back.changes), (1, [[M1, "load", "observed"]]))

    def test_the_table_shows_a_survivors_changes(self) -> None:
        killed = self.judged(BASE[:1] + [dict(BASE[1], errno=14)], failed=(P1,), which=1)
        rs = [self.judged([dict(BASE[0], observed="mmio{len=8}"), dict(BASE[1], errno=14)]), killed,
              self.judged(BASE, which=2)]
        run = {"results": [r.to_json() for r in rs], "totals": mutation.totals(rs, "arm64"), "kernel": "k"}
        text = mutation.render_markdown({"runs": {"arm64": run}}, self.cat)
        self.assertIn(f"| demo-changed | arch/arm64/kvm/mmio.c:io_mem_abort | survived | survived "
                      f"| arm64: 2 ({M1} 'load': observed, {P1} 'access': errno) | 2 |", text)
        # A killed mutant's changes are counted (its verdict's among them),
        # its killing tests named in the cell before.
        self.assertIn(f"| demo-killed | arch/arm64/kvm/mmio.c:io_mem_abort | {P1} | survived | arm64: 2 | 2 |", text)
        self.assertIn("| demo-same | arch/arm64/kvm/mmio.c:io_mem_abort | survived | survived | none | 2 |", text)
        # Two survivors, one with changes; the kill rate counts verdicts only.
        self.assertIn("| arm64 | k (`--arch arm64`) | 3 | 1 (33%) | 0 (0%) | 1 | 0 | 2 | 1 | 0 of 0 |", text)
        self.assertIn("as `--reference` does: a change is no kill", text)

    def test_more_changes_than_shown(self) -> None:
        seen = [dict(BASE[0], observed="x", ret=-1, errno=14), dict(BASE[1], errno=14),
                observation(M1, "load")]
        r = self.judged(seen)
        c = r.configs["arm64"]
        self.assertEqual(c.changed, 3)
        self.assertEqual(c.changes, [[M1, "load", "observed"], [M1, "load", "ret"], [M1, "load", "errno"],
                                     [M1, "load #2", "observation"], [P1, "access", "errno"]])
        self.assertEqual(mutation._changes(r.to_json()),
                         f"arm64: 3 ({M1} 'load': observed, {M1} 'load': ret, ...)")

    def test_a_host_address_is_no_change(self) -> None:
        # Another run of the same kernel: the poisoned page elsewhere, at
        # the same page offset (reference.VARIES).
        seen = [BASE[0], dict(BASE[1], expected="si_addr=0xffffa646a040")]
        r = self.judged(seen)
        self.assertEqual((r.configs["arm64"].changed, r.configs["arm64"].changes), (0, []))
        self.assertEqual(mutation._changes(r.to_json()), "none")
        self.assertEqual(mutation.totals([r], "arm64")["suite_survivors_changed"], [])
        # That is reference's normalisation, not one of the tool's own.
        with mock.patch.object(reference, "VARIES", ()):
            self.assertEqual(self.judged(seen).configs["arm64"].changed, 1)
        # Another page offset is a change.
        moved = self.judged([BASE[0], dict(BASE[1], expected="si_addr=0xffffa646a000")])
        self.assertEqual(moved.configs["arm64"].changes, [[P1, "access", "expected"]])

    def test_a_verdict_change_that_kills_nothing(self) -> None:
        # A test the unmutated kernel failed that now passes: a change
        # (its verdict), no kill.
        base = self.boot("baseline", BASE, failed=(M1,))
        seen = self.boot("demo-changed", BASE)
        r = mutation.judge(self.cat[0], "arm64", {"arm64": base}, {"arm64": seen}, 1, 2)
        self.assertEqual(r.suite_killed, [])
        self.assertEqual(r.configs["arm64"].changes, [[M1, "(test result)", "verdict"]])
        self.assertEqual(mutation._changes(r.to_json()), f"arm64: 1 ({M1}: verdict)")

    def test_no_diff_with_a_run_that_could_not_test(self) -> None:
        base = self.boot("baseline", BASE)
        dead = Outcome(suite={}, selftests={}, rc=125, untestable="run_tests.sh exited 125", seconds=1.0,
                       run=results.load_dir(str(self.root / "nothing" / "arm64")))
        r = mutation.judge(self.cat[0], "arm64", {"arm64": base}, {"arm64": dead}, 1, 2)
        self.assertEqual(r.suite_killed, [M1, P1])
        self.assertIsNone(r.configs["arm64"].changed)
        self.assertNotIn("changed", r.configs["arm64"].to_json())

    def test_a_record_without_changes_says_not_recorded(self) -> None:
        # What the tool wrote before it recorded changes (format 2 all the same).
        old = self.judged(BASE).to_json()
        for c in old["configs"].values():
            del c["changed"], c["changes"]
        results_old = [mutation.result_from_json(old, {m.id: m for m in self.cat})]
        self.assertIsNone(results_old[0] and results_old[0].changed())
        run: dict[str, Any] = {"results": [old], "totals": {"arch": "arm64"}, "kernel": "k"}
        run = mutation.recount(run, self.cat)
        self.assertNotIn("suite_survivors_changed", run["totals"], "an older run's totals as they were")
        text = mutation.render_markdown({"runs": {"arm64": run}}, self.cat)
        self.assertIn("| survived | survived | not recorded | 2 |", text)
        self.assertIn("| 1 | 0 (0%) | 0 (0%) | 0 | 0 | 1 | not recorded | 0 of 0 |", text)
        # Appended to by a run that records them: those it could not say.
        new = self.judged([dict(BASE[0], observed="x"), BASE[1]], which=1).to_json()
        both = mutation.append_run(run, {"results": [new], "totals": {"arch": "arm64"}}, self.cat)
        t = both["totals"]
        self.assertEqual((t["suite_survivors_changed"], t["suite_survivors_unrecorded"]),
                         (["demo-killed"], ["demo-changed"]))
        self.assertIn("| 2 | 0 (0%) | 0 (0%) | 0 | 0 | 2 | 1 (1 not recorded) |",
                      mutation.render_markdown({"runs": {"arm64": both}}, self.cat))

    def test_run_kernel_keeps_the_results_it_read(self) -> None:
        # What judge() diffs is what run_kernel read from the boot's results.
        out = self.root / "boot"

        def call(cmd: list[str], **_: Any) -> int:
            results_dir = Path(cmd[cmd.index("-o") + 1]) / "arm64"
            results_dir.parent.mkdir(parents=True, exist_ok=True)
            self.results_dir("made", BASE).rename(results_dir)
            return 0
        with mock.patch.object(mutation, "call", call):
            o = mutation.run_kernel("arm64", "/k/Image", out, None, None, lambda _: None, "arm64")
        assert o.run is not None
        self.assertEqual(o.run.directory, str(out / "results" / "arm64"))
        self.assertEqual(list(o.run.observations), [M1, P1])
        self.assertEqual(o.suite, {M1: "pass", P1: "pass"})


if __name__ == "__main__":
    unittest.main()

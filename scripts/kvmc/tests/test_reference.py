# SPDX-License-Identifier: GPL-2.0
"""Unit tests of --reference (issue 22 item 2): the behavioural diff
against an earlier run, the normalisation of what varies between runs of
one kernel (reference.VARIES), and how the reports show the changes.

    cd scripts && python3 -m unittest kvmc.tests.test_reference
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import unittest
import xml.etree.ElementTree as ET
from unittest import mock

from kvmc import cli, reference, report, results
from kvmc.ktap import parse
from kvmc.results import Run

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test_data", "reference")


def recorded(which: str, arch: str = "arm64") -> Run:
    """One of two recorded runs of the same Debian kernel (7.3.4, arm64
    or x86_64) on different days: the poison tests P1/P2, whose
    observations name host addresses, and three M1 tests, every test
    passing; which is "a" or "b"."""
    observations = results.read_observations(os.path.join(DATA, f"{arch}-{which}.jsonl"))
    return make_run(observations, {t: True for t in observations})


def make_run(observations: dict[str, list[dict[str, object]]], verdicts: dict[str, bool],
             label: str = "arm64") -> Run:
    lines = ["TAP version 13", "1..1", "# kvm-contract: t", "    TAP version 13", f"    1..{len(verdicts)}"]
    for i, (name, ok) in enumerate(verdicts.items(), 1):
        lines.append(f"    {'ok' if ok else 'not ok'} {i} {name}")
    lines.append("ok 1 t" if all(verdicts.values()) else "not ok 1 t # exit status 1")
    return Run(arch="arm64", label=label, doc=parse(lines, "arm64"), kernel="7.3.4+deb13-arm64",
               directory=f"/r/{label}", observations=observations)


def altered(run: Run, test: str, step: str, f: str, value: object) -> Run:
    """run with one field of the first observation of test's step set."""
    out = copy.deepcopy(run)
    rec = next(r for r in out.observations[test] if r.get("step") == step)
    rec[f] = value
    return out


P1 = "p1_poisoned_anon_page.load.access"
M1 = "m1_no_memslot.w1.load"


class Diff(unittest.TestCase):
    def test_same_data_no_change(self) -> None:
        d = reference.diff(recorded("a"), recorded("a"))
        self.assertEqual((d.changed, d.changes, d.new, d.gone), (0, {}, [], []))

    def test_two_runs_of_one_kernel_no_change(self) -> None:
        # The recorded runs differ in their host addresses only.
        for arch in ("arm64", "x86_64"):
            d = reference.diff(recorded("b", arch), recorded("a", arch))
            self.assertEqual((d.changed, d.new, d.gone), (0, [], []), arch)

    def test_two_runs_of_one_kernel_differ_without_varies(self) -> None:
        # What VARIES is there for: without it, the host addresses differ
        # (in what the oracle expected, and on x86 in a C8 note).
        for arch, fields in (("arm64", {"expected"}), ("x86_64", {"expected", "findings"})):
            with mock.patch.object(reference, "VARIES", ()):
                d = reference.diff(recorded("b", arch), recorded("a", arch))
            self.assertEqual(d.changed, 9, arch)
            self.assertEqual({f for cs in d.changes.values() for c in cs for f, _, _ in c.values}, fields)

    def test_one_altered_value_is_exactly_that_change(self) -> None:
        ref = recorded("a")
        run = altered(ref, M1, "load", "payload",
                      "mmio{phys_addr=0xc0000000 len=1 is_write=0 data=[00]}")
        d = reference.diff(run, ref)
        self.assertEqual(d.changed, 1)
        self.assertEqual(d.changes, {M1: [results.Change(M1, "load", (
            ("payload", "mmio{phys_addr=0xc0000100 len=1 is_write=0 data=[00]}",
             "mmio{phys_addr=0xc0000000 len=1 is_write=0 data=[00]}"),))]})
        self.assertEqual(d.changes[M1][0].text(), "CHANGED step 'load': payload: mmio{phys_addr=0xc0000100 "
                         "len=1 is_write=0 data=[00]} -> mmio{phys_addr=0xc0000000 len=1 is_write=0 data=[00]}")

    def test_every_compared_field_is_a_change(self) -> None:
        ref = recorded("a")
        for f in reference.COMPARED:
            with self.subTest(field=f):
                d = reference.diff(altered(ref, M1, "load", f, "something else"), ref)
                self.assertEqual([c.values[0][0] for c in d.changes[M1]], [f])

    def test_documentation_fields_are_no_change(self) -> None:
        ref = recorded("a")
        for f in ("section", "basis"):
            d = reference.diff(altered(ref, P1, "access", f, "reworded"), ref)
            self.assertEqual(d.changed, 0, f)

    def test_altered_value_in_the_second_run_too(self) -> None:
        # The change is found against the other run of the same kernel.
        ref = recorded("a")
        run = altered(recorded("b"), P1, "access", "errno", 14)
        d = reference.diff(run, ref)
        self.assertEqual([(c.test, c.step, c.values) for cs in d.changes.values() for c in cs],
                         [(P1, "access", (("errno", "4", "14"),))])

    def test_verdict_change(self) -> None:
        ref = recorded("a")
        run = copy.deepcopy(ref)
        run.doc = make_run(ref.observations, {t: t != M1 for t in ref.observations}).doc
        d = reference.diff(run, ref)
        self.assertEqual(d.changes[M1], [results.Change(M1, reference.VERDICT_STEP,
                                                          (("verdict", "pass", "fail"),))])

    def test_repeated_step_matched_by_order(self) -> None:
        obs: dict[str, list[dict[str, object]]] = {"t.a.b": [
            {"test": "t.a.b", "step": "s", "observed": "1"}, {"test": "t.a.b", "step": "s", "observed": "2"}]}
        ref = make_run(obs, {"t.a.b": True})
        run = copy.deepcopy(ref)
        run.observations["t.a.b"][1]["observed"] = "3"
        run.observations["t.a.b"].append({"test": "t.a.b", "step": "s", "observed": "4"})
        d = reference.diff(run, ref)
        self.assertEqual([(c.step, c.values) for c in d.changes["t.a.b"]],
                         [("s #2", (("observed", "2", "3"),)), ("s #3", (("observation", "", "recorded"),))])

    def test_new_and_gone_tests_are_listed_not_changed(self) -> None:
        ref = recorded("a")
        obs = {("m1_no_memslot.w1.new" if t == M1 else t): v for t, v in ref.observations.items()}
        run = make_run(obs, {t: True for t in obs})
        d = reference.diff(run, ref)
        self.assertEqual((d.changed, d.new, d.gone), (0, ["m1_no_memslot.w1.new"], [M1]))
        # A gone test this run's -t does not select is not listed.
        self.assertEqual(reference.diff(run, ref, "p1_*").gone, [])

    def test_no_verdicts_compared_with_an_untestable_run(self) -> None:
        ref, run = recorded("a"), recorded("a")
        ref.untestable = "no boot"
        reference.compare(run, ref)
        self.assertIsNone(run.reference)


class Normalise(unittest.TestCase):
    def test_host_address_page_offset_kept(self) -> None:
        n = reference.normalise
        self.assertEqual(n("si_addr=0xffff8424d040"), n("si_addr=0xffffa646a040"))
        self.assertEqual(n("page 0x7f97040a2000"), n("page 0x7f8ec8b3d000"))
        # x86_64's mmap base also lands below 0x7f00_0000_0000.
        self.assertEqual(n("page 0x7efcf4265000"), n("page 0x7f3dcbe3c000"))
        self.assertEqual(n("pc 0xaaaac1d2e040"), n("pc 0xaaaab0c1d040"))
        self.assertNotEqual(n("si_addr=0xffff8424d040"), n("si_addr=0xffffa646a000"))

    def test_guest_values_untouched(self) -> None:
        for v in ("0xffffffffb5a69788", "0x100000000", "0xffff", "0x7f", "0x8877665544332211", "0xc0000100",
                  "0x140006048", "0x1000000000", "0x4000000000"):
            self.assertEqual(reference.normalise(f"x={v} y"), f"x={v} y")

    def test_non_strings_as_json(self) -> None:
        self.assertEqual(reference.normalise(4), "4")
        self.assertEqual(reference.normalise([{"b": 1, "a": "0xffff8424d040"}]),
                         '[{"a": "<host address>+0x040", "b": 1}]')


class Load(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, rel: str) -> None:
        d = os.path.join(self.dir, rel)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, results.KTAP), "w", encoding="utf-8") as f:
            f.write("TAP version 13\n1..1\nok 1 t\n")
        shutil.copy(os.path.join(DATA, "arm64-a.jsonl"), os.path.join(d, results.OBSERVATIONS))

    def test_tree_and_single_directory(self) -> None:
        self.write("arm64")
        self.write("x86_64")
        self.assertEqual(sorted(reference.load(self.dir)), ["arm64", "x86_64"])
        one = reference.load(os.path.join(self.dir, "arm64"))
        self.assertEqual(list(one), ["arm64"])
        self.assertIn(P1, one["arm64"].observations)

    def test_nothing_there(self) -> None:
        with self.assertRaisesRegex(reference.ReferenceError, "no results there"):
            reference.load(self.dir)
        with self.assertRaisesRegex(reference.ReferenceError, "no such directory"):
            reference.load(os.path.join(self.dir, "missing"))

    def test_match(self) -> None:
        a, n = recorded("a"), Run(arch="arm64-nested", label="arm64-nested")
        refs = {"arm64": a}
        self.assertIs(reference.match(a, "arm64", refs, False), a)
        self.assertTrue(reference.match(n, "arm64-nested", refs, False) is None)
        # One run against a reference of one run: those two.
        self.assertIs(reference.match(n, "arm64-nested", refs, True), a)

    def test_options(self) -> None:
        with self.assertRaisesRegex(cli.UsageError, "--fail-on-change goes with --reference"):
            cli.parse_args(["--fail-on-change"], {})
        o = cli.parse_args(["--reference", self.dir, "--fail-on-change"], {})
        self.assertEqual((o.reference, o.fail_on_change), (self.dir, True))


class Reports(unittest.TestCase):
    def changed_run(self) -> Run:
        ref = recorded("a")
        run = altered(recorded("b"), P1, "access", "errno", 14)
        del run.observations[M1]
        run.doc = make_run(run.observations, {t: True for t in run.observations}).doc
        ref.observations["p3.x.y"] = []
        reference.compare(run, make_run(ref.observations, {t: True for t in ref.observations}))
        return run

    def test_ktap(self) -> None:
        run = self.changed_run()
        lines = run.as_test(1).lines()
        self.assertIn("        # CHANGED step 'access': errno: 4 -> 14", lines)
        self.assertIn("# arm64: reference: 1 changed in 1 test, 0 new, 2 gone against /r/arm64 "
                      "(kernel 7.3.4+deb13-arm64)", lines)
        self.assertIn(f"# arm64: reference: gone test (in the reference, not in this run): {M1}", lines)
        # The document stays one a KTAP parser reads with the same verdicts.
        again = parse(lines, "arm64")
        self.assertEqual(again.counts().line(), run.counts().line())

    def test_json(self) -> None:
        data = json.loads(report.to_json([self.changed_run()]))
        self.assertEqual(data["summary"]["changed"], 1)
        r = data["runs"][0]
        self.assertEqual((r["summary"]["changed"], r["reference"]["changed"], r["reference"]["gone_tests"]),
                         (1, 1, [M1, "p3.x.y"]))
        t = next(t for t in r["tests"] if t["name"] == P1)
        self.assertEqual(t["changes"], [{"step": "access", "values": [
            {"field": "errno", "reference": "4", "value": "14"}]}])
        self.assertTrue(all(t["changes"] == [] for t in r["tests"] if t["name"] != P1))
        # Without --reference: no changes, a count of 0.
        plain = json.loads(report.to_json([recorded("a")]))
        self.assertEqual((plain["summary"]["changed"], plain["runs"][0]["reference"]), (0, None))

    def test_junit(self) -> None:
        root = ET.fromstring(report.to_junit([self.changed_run()]))
        case = next(c for c in root.iter("testcase") if c.get("name") == P1)
        prop = case.find("properties/property")
        assert prop is not None
        self.assertEqual((prop.get("name"), prop.get("value")), ("changed", "1"))
        self.assertEqual(case.findtext("system-out"), "CHANGED step 'access': errno: 4 -> 14")
        suite = root.find("testsuite")
        assert suite is not None
        self.assertIn(("changed", "1"), [(p.get("name"), p.get("value")) for p in suite.iter("property")])

    def test_html(self) -> None:
        text = report.to_html([self.changed_run()], "t")
        self.assertEqual(text.count(f"pass {report.CHANGED_MARK}</td>"), 1)
        self.assertIn("CHANGED step &#x27;access&#x27;: errno: 4 -&gt; 14", text)

    def test_closing_line(self) -> None:
        self.assertEqual(reference.closing([self.changed_run()], "/ref"),
                         "1 changed, 0 new, 2 gone against the reference /ref")
        self.assertEqual(results.changed([self.changed_run(), recorded("a")]), 1)


if __name__ == "__main__":
    unittest.main()

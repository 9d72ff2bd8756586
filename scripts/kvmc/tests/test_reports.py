# SPDX-License-Identifier: GPL-2.0
"""Unit tests of what reaches the reports from the test VM, of baseline
files that are not text files, and of KTAP plans (issue 27 items 4, 6, 13
and 14).

    cd scripts && python3 -m unittest kvmc.tests.test_reports
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from fnmatch import fnmatchcase
from html.parser import HTMLParser

from kvmc import baseline as bl, report, results
from kvmc.ktap import PLAN_TEST, Parser, Test, Verdict, parse
from kvmc.results import Run

SCRIPTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(SCRIPTS, "kvmc", "test_data")


def data(name: str) -> list[str]:
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read().splitlines()


# ---- hostile text from the VM --------------------------------------------------
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "q'uo\"te",
    "pi|pe",
    "new\nline",
    "nul\x00byte",
    # A newline that would write a baseline line excusing every test.
    "x\nx86_64 * * C4 exit_reason=KVM_EXIT_UNKNOWN(0) injected",
]


def hostile_runs(texts: list[str]) -> list[Run]:
    """Two runs whose every field from the VM holds one of texts: test,
    binary and scenario names, kernel version, package, diagnostics,
    observations and finding keys, baseline reasons, skip reasons, the
    label, why a run could not be tested."""
    binaries = []
    observations: dict[str, list[dict[str, object]]] = {}
    for i, h in enumerate(texts, 1):
        failed = Test(name=h, number=1, ok=False, pre=[f"# FAIL {h} [key: C4 v={h}]", f"# note {h}"])
        known = Test(name=f"{h}.known", number=2, ok=False, verdict_override=Verdict.XFAIL,
                     reason=f"known deviation: {h}")
        skipped = Test(name=f"{h}.skip", number=3, ok=True, directive=f"SKIP {h}")
        binaries.append(Test(name=f"{h}_test", number=i, ok=False, directive=f"exit status 1 {h}",
                             subtests=[failed, known, skipped], post=[f"# {h}"]))
        observations[h] = [{"test": h, "rule": h, "verdict": "fail", "observed": h, "exit_reason": h,
                            "findings": [{"severity": "failure", "key": f"C4 v={h}", "text": h},
                                         {"severity": "failure", "key": f"C4 {h}", "text": h}]}]
        # A crash: written as a comment line of the baseline.
        binaries.append(Test(name=f"{h}_crash", number=0, ok=False, directive=h, reason=h))
    a = Run(arch="x86_64", label="".join(texts), doc=Test(subtests=binaries), kernel="".join(texts),
            package="".join(texts), boot_health="".join(texts), observations=observations)
    b = Run(arch="arm64", label="arm64" + "".join(texts), untestable="".join(texts),
            kernel="".join(texts))
    return [a, b]


class Elements(HTMLParser):
    """Every element and attribute of a page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


HTML_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "p", "span", "table",
             "tr", "th", "td", "br", "i"}
HTML_ATTRS = {"charset", "style", "title", "class"}


class HostileNames(unittest.TestCase):
    runs = hostile_runs(HOSTILE)

    def test_html_creates_no_element_and_no_handler(self) -> None:
        page = report.to_html(self.runs, "t")
        page.encode("utf-8")
        p = Elements()
        p.feed(page)
        p.close()
        self.assertLessEqual(p.tags, HTML_TAGS)
        self.assertLessEqual({k for k, _ in p.attrs}, HTML_ATTRS)
        self.assertFalse([k for k, _ in p.attrs if k.startswith("on")])
        text = "".join(p.text)
        # Shown as text, in the scenario and test columns.
        self.assertIn("<script>alert(1)</script>", text)
        self.assertIn("<img src=x onerror=alert(1)>", text)
        self.assertIn("nul\\x00byte", text)
        self.assertNotIn("\x00", page)
        tips = "".join(v or "" for k, v in p.attrs if k == "title")
        self.assertIn("known deviation: <script>alert(1)</script>", tips)

    def test_junit_holds_the_names_as_text(self) -> None:
        root = ET.fromstring(report.to_junit(self.runs).encode("utf-8"))
        tags = {e.tag for e in root.iter()}
        self.assertLessEqual(tags, {"testsuites", "testsuite", "properties", "property", "testcase",
                                    "failure", "skipped", "system-out", "error"})
        names = {c.get("name") for c in root.iter("testcase")}
        for h in HOSTILE:
            self.assertIn(report.visible(h), names)
        self.assertIn("nul\\x00byte", names)

    def test_json_round_trips_the_names(self) -> None:
        text = report.to_json(self.runs)
        text.encode("ascii")
        js = json.loads(text)
        names = {t["name"] for r in js["runs"] for t in r["tests"]}
        for h in HOSTILE:
            self.assertIn(h, names)
        self.assertEqual(js["runs"][0]["kernel"], "".join(HOSTILE))

    def test_baseline_gets_no_line_from_a_name(self) -> None:
        runs = hostile_runs(HOSTILE)
        runs[0].kernel = "7.3.4+deb13-amd64"
        text = report.to_baseline(runs)
        self.assertNotIn("\x00", text)
        entries = bl.parse(text, "written")       # every line reads back
        self.assertFalse([line for line in text.splitlines()
                          if "injected" in line and not line.startswith("#")], text)
        # What one line of fields can hold is listed, each entry for its
        # test and finding alone; the rest is said in a comment.
        self.assertEqual({e.test for e in entries}, {"<script>alert(1)</script>", "q'uo\"te", "pi|pe"})
        every = [t.name for r in runs for t, _ in report.single_tests(r)]
        for e in entries:
            self.assertEqual([n for n in every if fnmatchcase(n, e.test)], [e.test])
            self.assertEqual((e.arch, e.kernel), ("x86_64", "7.3.4+deb13-amd64"))
            self.assertEqual(e.key, f"C4 v={e.test}")
        self.assertIn("cannot be listed", text)

    def test_baseline_fields_match_only_themselves(self) -> None:
        for name in ("m4_[x].load", "a*b", "a?b", "#x", "plain.name"):
            field = report.baseline_field(name)
            assert field is not None
            self.assertTrue(fnmatchcase(name, field), field)
            for other in ("m4_x.load", "aXb", "ab", "x", "plain-name"):
                self.assertFalse(fnmatchcase(other, field), (other, field))
        for bad in ("a b", "a\nb", "a\x00b", "a\u2028b", ""):
            self.assertIsNone(report.baseline_field(bad))
        for bad in ("C4 a=b\nx86_64 * * C4 a=b", "C4\n a=b", "C4 a=b c", "C4 a b"):
            self.assertIsNone(report.baseline_key(bad), bad)
        key = report.baseline_key("C8 addr=*")
        assert key is not None
        (e,) = bl.parse(f"x86_64 * t {key}  why\n", "f")
        self.assertTrue(e.excuses("C8 addr=*"))
        self.assertFalse(e.excuses("C8 addr=0x1000"))

    def test_status_table_keeps_its_columns(self) -> None:
        runs = self.runs[:1]
        table = report.status_table(runs)
        self.assertNotIn("<script", table)
        self.assertNotIn("<img", table)
        self.assertNotIn("\x00", table)
        rows = [line for line in table.splitlines() if line.startswith("|")]
        body = table.split("\n\n")[0].splitlines()
        self.assertEqual(rows, body, "a name broke a row")
        for row in rows:
            cells = row.replace("\\|", "").count("|")
            self.assertEqual(cells, len(runs) + 2, row)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", table)
        for note in table.split("\n\n")[1:]:
            self.assertEqual(len(note.strip().splitlines()), 1, note)


# ---- JUnit: what XML 1.0 forbids ------------------------------------------------
# The first and last code point of every range XML 1.0 forbids, and DEL,
# which the report has always replaced.
FORBIDDEN = ["\x00", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\x7f",
             "\ud800", "\udbff", "\udc00", "\udc80", "\udfff", "\ufffe", "\uffff"]


class ForbiddenCharacters(unittest.TestCase):
    def test_every_forbidden_character_in_every_field(self) -> None:
        texts = [f"a{c}z" for c in FORBIDDEN]
        xml = report.to_junit(hostile_runs(texts))
        root = ET.fromstring(xml.encode("utf-8"))
        for e in root.iter():
            for v in [e.text or "", *e.attrib.values()]:
                self.assertFalse(report.CONTROL.search(v), (e.tag, v))
        names = {c.get("name") for c in root.iter("testcase")}
        shown = {"\x00": "\\x00", "\x1f": "\\x1f", "\x7f": "\\x7f", "\ud800": "\\ud800",
                 "\udc80": "\\x80", "\udfff": "\\udfff", "\ufffe": "\\ufffe", "\uffff": "\\uffff"}
        for c, text in shown.items():
            self.assertIn(f"a{text}z", names)
        # Attributes (kernel, package, the error's message) and text alike.
        prop = root.find("testsuite/properties/property[@name='kernel']")
        assert prop is not None
        self.assertIn("a\\ufffez", prop.get("value", ""))
        failure = root.find("testsuite/testcase/failure")
        assert failure is not None and failure.text is not None
        self.assertIn("\\x", failure.text)
        # Tab, newline, carriage return and U+0080-U+009F stay.
        xml = report.to_junit(hostile_runs(["t\tn\nc\x85"]))
        names = {c.get("name") for c in ET.fromstring(xml.encode("utf-8")).iter("testcase")}
        self.assertIn("t\tn\nc\x85", names)

    def test_other_reports_take_them_too(self) -> None:
        runs = hostile_runs([f"a{c}z" for c in FORBIDDEN])
        for kind in ("html", "baseline"):
            text = report.render(kind, runs)
            text.encode("utf-8")
            self.assertFalse(report.CONTROL.search(text), kind)
        strings: list[str] = []

        def walk(v: object) -> None:
            if isinstance(v, str):
                strings.append(v)
            elif isinstance(v, dict):
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
        walk(json.loads(report.to_json(runs)))
        self.assertFalse([x for x in strings if re.search("[\ud800-\udfff]", x)], "a lone surrogate in JSON")
        self.assertIn("a\\ud800z", strings)
        report.status_table(runs).encode("utf-8")


# ---- baselines that are not text files ------------------------------------------
LOAD = ("import sys\nfrom kvmc import baseline as bl\n"
        "try:\n    print(len(bl.load(sys.argv[1])))\n"
        "except bl.BaselineError as e:\n    print(e)\n")


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))


def load_in_child(path: str) -> str:
    """bl.load(path) in a child with a time and memory limit, so that a
    hang or a MemoryError fails the test instead of the test run."""
    try:
        p = subprocess.run([sys.executable, "-c", LOAD, path], cwd=SCRIPTS, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=15, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        return f"bl.load({path}) did not return within 15 s"
    return p.stdout.strip()


class BaselineFiles(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="kvmc-test-")
        self.dir = self.tmp.name

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_byte_order_mark(self) -> None:
        line = "x86_64 7.* m4_* C4 exit_reason=KVM_EXIT_UNKNOWN(0)  reason\n"
        path = self.write("bom.txt", b"\xef\xbb\xbf" + (line * 2).encode())
        entries = bl.load(path)
        self.assertEqual([e.arch for e in entries], ["x86_64", "x86_64"])
        self.assertTrue(entries[0].applies("x86_64", "7.3", "m4_x"))

    def test_dev_zero(self) -> None:
        self.assertEqual(load_in_child("/dev/zero"),
                         "baseline /dev/zero: is a character device, not a file; give a text file"
                         " of entries (ARCH KERNEL-GLOB TEST-GLOB RULE FIELD=VALUE REASON)")

    def test_fifo(self) -> None:
        path = os.path.join(self.dir, "fifo")
        os.mkfifo(path)
        self.assertIn("is a FIFO (named pipe), not a file", load_in_child(path))

    def test_directory(self) -> None:
        with self.assertRaisesRegex(bl.BaselineError, r"is a directory, not a file"):
            bl.load(self.dir)

    def test_too_large(self) -> None:
        path = os.path.join(self.dir, "big.txt")
        with open(path, "wb") as f:
            f.truncate(bl.MAX_SIZE + 1)
        with self.assertRaisesRegex(bl.BaselineError, r"larger than 1 MiB, too large for a baseline"):
            bl.load(path)

    def test_not_utf8(self) -> None:
        path = self.write("latin1.txt", b"# fine\n# caf\xe9\n")
        with self.assertRaisesRegex(bl.BaselineError, r"latin1.txt:2: not UTF-8 text \(byte 0xe9\)"):
            bl.load(path)


# ---- KTAP plans ------------------------------------------------------------------
class Plans(unittest.TestCase):
    def test_nested_plan_not_met_fails_its_test(self) -> None:
        root = parse(data("plan_mismatch.ktap"))
        short, nested, skipped, slow = root.subtests
        self.assertEqual(short.verdict, Verdict.FAIL)
        self.assertEqual(short.plan_error, "planned 5, got 3")
        self.assertIn("plan: planned 5, got 3", short.diagnostics())
        self.assertEqual(short.result_line(), "not ok 1 short_test # planned 5, got 3")
        inner = nested.subtests[0]
        self.assertEqual(inner.verdict, Verdict.FAIL)
        self.assertIn("plan: planned 3, got 2", inner.diagnostics())
        # 1..0 and SKIP: a binary skipped whole.
        self.assertEqual(skipped.verdict, Verdict.SKIP)
        self.assertEqual(skipped.plan_error, "")
        # Killed in its second test: one failure (the test it was in),
        # the plan said besides, its cause kept.
        self.assertEqual(slow.directive, "timeout")
        self.assertIn("plan: planned 5, got 2", slow.diagnostics())
        c = root.counts()
        self.assertEqual((c.passed, c.failed, c.skipped), (7, 3, 1))
        r = Run(arch="x86_64", label="x86_64", doc=root)
        self.assertEqual(results.exit_code([r])[0], 1)
        failure = ET.fromstring(report.to_junit([r])).find("testsuite/testcase[@name='short_test']/failure")
        assert failure is not None
        self.assertEqual(failure.get("message"), "planned 5, got 3")
        # Written and read again: the same, said once.
        once = root.document()
        self.assertEqual(parse(once).document(), once)
        self.assertEqual(sum("plan: planned 5, got 3" in x for x in once), 1)

    def test_top_level_plan_not_met_fails_the_run(self) -> None:
        root = parse(data("top_plan_mismatch.ktap"))
        last = root.subtests[-1]
        self.assertEqual((last.name, last.verdict, last.directive),
                         (PLAN_TEST, Verdict.FAIL, "planned 3, got 2"))
        self.assertEqual((root.counts().passed, root.counts().failed), (2, 1))
        self.assertEqual(results.exit_code([Run(arch="x86_64", label="x86_64", doc=root)])[0], 1)
        once = root.document()
        self.assertEqual(parse(once).document(), once)
        # Too many results as well.
        root = parse(["1..1", "ok 1 a", "ok 2 b"])
        self.assertEqual(root.subtests[-1].directive, "planned 1, got 2")

    def test_a_cut_stream_is_not_failed_twice(self) -> None:
        # The VM died: the running test fails, the run is not also failed
        # for its plan.
        root = parse(data("vm_died.ktap"), why="the test VM crashed: kernel panic")
        self.assertFalse([t for t in root.walk() if t.plan_error or t.name == PLAN_TEST])
        self.assertEqual(root.counts().failed, 1)
        p = Parser()
        for line in data("top_plan_mismatch.ktap"):
            p.feed(line)
        root = p.finish("the test VM stopped early")
        self.assertEqual(root.counts().failed, 0)

    def test_recorded_data_parse_as_before(self) -> None:
        for name, counts in (("crash_after_pass.ktap", (3, 1, 0)), ("timeout.ktap", (1, 1, 0)),
                             ("nested.ktap", (1, 1, 1)), ("malformed.ktap", (2, 0, 0)),
                             ("baselined.ktap", (1, 2, 0)), ("vm_died.ktap", (1, 1, 0))):
            root = parse(data(name))
            c = root.counts()
            self.assertEqual((c.passed, c.failed, c.skipped), counts, name)
            self.assertFalse([t.name for t in root.walk() if t.plan_error or t.name == PLAN_TEST], name)

    def test_a_broken_plan_is_never_excused(self) -> None:
        lines = [x.replace("    1..3", "    1..4") for x in data("baselined.ktap")]
        r = Run(arch="x86_64", label="x86_64", doc=parse(lines), kernel="7.3.4+deb13-amd64",
                observations=results.read_observations(os.path.join(DATA, "baselined.jsonl")))
        r.observations["m5_unmapped.load.fault"] = r.observations["m4_prot_none.load.fault"]
        results.apply_baseline(r, bl.load(os.path.join(DATA, "baseline.txt")))
        binary = r.doc.subtests[0]
        self.assertEqual(binary.verdict, Verdict.FAIL)
        self.assertEqual(results.exit_code([r])[0], 1)


if __name__ == "__main__":
    unittest.main()

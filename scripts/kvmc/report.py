# SPDX-License-Identifier: GPL-2.0
"""Reports from the result tree: JSON, JUnit XML, an HTML matrix, a
baseline of this run's failures, the README's status table."""

from __future__ import annotations

import datetime
import html
import json
import re
import xml.etree.ElementTree as ET

from .baseline import FIELD_VALUE, RULE, cut
from .ktap import Test, Verdict
from .results import Change, Run, changed, exit_code, kvm_upstream, total

# Every string from the test VM (names, kernel version, diagnostics,
# observations, reasons) goes into each report through one of the escapes
# below: visible() for what no report can hold, html.escape (HTML),
# ElementTree plus visible() on the whole tree (JUnit), json.dumps (JSON),
# baseline_field() (baselines), markdown() (the README's table).
#
# What XML 1.0 forbids (its Char production): C0 controls but tab, newline
# and carriage return, the surrogates (a lone one is a byte that was not
# UTF-8, kept by errors="surrogateescape"), U+FFFE and U+FFFF. DEL is
# replaced as well; U+0080-U+009F, allowed though discouraged, are kept.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _shown(c: str) -> str:
    n = ord(c)
    if 0xDC80 <= n <= 0xDCFF:
        return f"\\x{n - 0xDC00:02x}"     # surrogateescape: the byte itself
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def visible(s: str) -> str:
    """s with each character no report may hold shown as an escape
    (ESC as \\x1b, U+FFFE as \\ufffe)."""
    return CONTROL.sub(lambda m: _shown(m.group()), s)


def xml_text(s: str) -> str:
    return visible(s)


def single_tests(run: Run) -> list[tuple[Test, str]]:
    """(test, binary) for every single test of a run, as counted."""
    out = []
    for binary in run.doc.subtests:
        if not binary.subtests:
            out.append((binary, binary.name))
            continue
        for leaf, parent in binary.leaves():
            out.append((leaf, parent.name if parent is not None and parent is not binary else binary.name))
        if binary.verdict is Verdict.FAIL and not any(
                leaf.verdict is Verdict.FAIL for leaf, _ in binary.leaves()):
            out.append((binary, binary.name))
    return out


def first_failure(t: Test) -> str:
    diags = t.diagnostics()
    line = next((d for d in diags if d.startswith("FAIL")), "")
    if line:
        return line
    if t.reason:
        return t.reason
    return t.directive or "failed"


def changes_of(run: Run, test: str) -> list[Change]:
    """What differs in a test from --reference's run."""
    return [] if run.reference is None else run.reference.changes.get(test, [])


def change_lines(run: Run, test: str) -> list[str]:
    """A test's changes and whether it is new, a line each."""
    out = [c.text() for c in changes_of(run, test)]
    if run.reference is not None and test in run.reference.new:
        out.append("reference: new test (not in the reference)")
    return out


# ---- JSON ---------------------------------------------------------------------
def to_json(runs: list[Run], pattern: str = "", code: int | None = None) -> str:
    """code: the run's exit status when the caller knows more than the
    verdicts (a report that could not be written, a refused baseline)."""
    rc = exit_code(runs, pattern)[0] if code is None else code
    c = total(runs)
    out = {
        "format": "kvm-contract results 2",
        "exit_code": rc,
        # changed: how many values differ from --reference's (0 without one).
        "summary": {**vars(c), "changed": changed(runs)},
        "runs": [{
            "arch": r.arch, "name": r.label, "kernel": r.kernel, "package": r.package,
            "untestable": r.untestable, "boot_health": r.boot_health,
            "summary": {**vars(r.counts()), "changed": changed([r])},
            "kvm": r.kvm, "kvm_upstream": kvm_upstream(r.kvm) if r.kvm else None,
            # --reference: the run compared with, its kernel, the tests it lacks
            # (new) and the tests of it this run lacks (gone); null when not compared.
            "reference": None if r.reference is None else {
                "directory": r.reference.reference, "kernel": r.reference.kernel,
                "changed": r.reference.changed, "new_tests": r.reference.new,
                "gone_tests": r.reference.gone},
            "tests": [{
                "name": t.name, "binary": binary, "result": t.verdict.value,
                "directive": t.result_line().partition(" # ")[2],
                "diagnostics": t.diagnostics(),
                "observations": r.observations.get(t.name) or [],
                "changes": [c.as_json() for c in changes_of(r, t.name)],
            } for t, binary in single_tests(r)],
        } for r in runs],
    }
    return json.dumps(_json_safe(out), indent=1) + "\n"


# ---- JUnit --------------------------------------------------------------------
def to_junit(runs: list[Run]) -> str:
    suites = ET.Element("testsuites")
    for r in runs:
        tests = single_tests(r)
        c = r.counts()
        suite = ET.SubElement(suites, "testsuite", name=xml_text(f"kvm-contract.{r.label}"),
                              tests=str(len(tests)), failures=str(c.failed),
                              errors="1" if r.untestable else "0", skipped=str(c.skipped))
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="arch", value=r.arch)
        ET.SubElement(props, "property", name="kernel", value=xml_text(r.kernel))
        if r.package:
            ET.SubElement(props, "property", name="package", value=xml_text(r.package))
        if r.kvm:
            ET.SubElement(props, "property", name="kvm", value=xml_text(r.kvm))
            ET.SubElement(props, "property", name="kvm_upstream", value=str(kvm_upstream(r.kvm)).lower())
        if r.reference is not None:
            ET.SubElement(props, "property", name="reference", value=xml_text(r.reference.reference))
            ET.SubElement(props, "property", name="changed", value=str(r.reference.changed))
            for name in r.reference.gone:
                ET.SubElement(props, "property", name="gone", value=xml_text(name))
        if r.untestable:
            # JUnit's place for "the run could not happen".
            case = ET.SubElement(suite, "testcase", classname=xml_text(r.label), name="untestable")
            ET.SubElement(case, "error", message=xml_text(r.untestable), type="untestable")
        for t, binary in tests:
            case = ET.SubElement(suite, "testcase", classname=xml_text(f"{r.label}.{binary}"),
                                 name=xml_text(t.name))
            text = xml_text("\n".join(t.diagnostics()))
            v = t.verdict
            if v is Verdict.FAIL:
                ET.SubElement(case, "failure", message=xml_text(first_failure(t))).text = text
            elif v is Verdict.SKIP:
                ET.SubElement(case, "skipped", message=xml_text(t.directive[4:].strip()))
            elif v in (Verdict.XFAIL, Verdict.XPASS):
                ET.SubElement(case, "system-out").text = xml_text(f"{v.value}: {t.reason or t.directive}\n{text}")
            changes = change_lines(r, t.name)
            if changes:
                # Against --reference: a property to count by, the changes in its output.
                cprops = ET.Element("properties")
                ET.SubElement(cprops, "property", name="changed", value=str(len(changes_of(r, t.name))))
                case.insert(0, cprops)
                # A failure's or known deviation's diagnostics hold them already.
                if case.find("failure") is None and case.find("system-out") is None:
                    ET.SubElement(case, "system-out").text = xml_text("\n".join(changes))
    _xml_safe(suites)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


# ---- HTML ---------------------------------------------------------------------
COLOURS = {"pass": "#b6e3b6", "fail": "#f4a6a6", "skip": "#dddddd",
           "xfail": "#f6d28b", "xpass": "#a6c8f4", "": "#ffffff"}
LABELS = {"pass": "pass", "fail": "FAIL", "skip": "skip", "xfail": "known", "xpass": "fixed", "": ""}


# In a cell whose test changed against --reference.
CHANGED_MARK = "&#916;"


def scenario_of(name: str) -> str:
    """The scenario a test name starts with (M1), as text: escape it."""
    m = re.match(r"([a-z]{1,2}\d+)_", name)
    return m.group(1).upper() if m else name.split(".")[0]


def _scenario_key(name: str) -> tuple[str, int, str]:
    s = scenario_of(name)
    return (s[:1], int(re.sub(r"\D", "", s)[:9] or 0), name)


def to_html(runs: list[Run], title: str) -> str:
    def order(r: Run) -> tuple[str, list[int]]:
        return (r.arch, [int(x) for x in re.findall(r"\d+", r.kernel)[:3]])
    runs = sorted(runs, key=order)
    cells = [{t.name: t for t, _ in single_tests(r)} for r in runs]
    names = sorted({n for c in cells for n in c}, key=_scenario_key)
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
           "<style>body{font:13px sans-serif}table{border-collapse:collapse}"
           "td,th{border:1px solid #999;padding:2px 6px}th{background:#eee}"
           "td.r{text-align:center;min-width:4em}td.n{font-family:monospace}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>",
           "<p>Each column is one architecture and kernel; each row one test "
           "(fixture.variant.test; the fixture's first letters are the scenario of CONTRACT.md). "
           "Hover over a cell for the rule and the observed outcome. "
           + " ".join(f"<span style='background:{COLOURS[k]};padding:0 4px'>{LABELS[k]}</span>"
                      for k in ("pass", "fail", "xfail", "xpass", "skip"))
           + " (known: a deviation listed in the baseline; fixed: a listed one that passed)"
           + (f"; {CHANGED_MARK}: a value differs from the reference run's (--reference), new: a test"
              " the reference lacks" if any(r.reference is not None for r in runs) else "") + "</p>",
           "<table><tr><th>scenario</th><th>test</th>"]
    for r in runs:
        head = [r.untestable or r.package or r.kernel]
        if r.reference is not None:
            head += [f"reference {r.reference.reference} (kernel {r.reference.kernel}): "
                     f"{r.reference.changed} changed"] + [f"gone: {g}" for g in r.reference.gone]
        tip = html.escape("\n".join(head[:12]), quote=True)
        note = "<br><i>not tested</i>" if r.untestable else ""
        out.append(f"<th title='{tip}'>{html.escape(r.label)}<br>{html.escape(r.kernel)}{note}</th>")
    out.append("</tr>")
    for name in names:
        out.append(f"<tr><td>{html.escape(scenario_of(name))}</td><td class='n'>{html.escape(name)}</td>")
        for i, r in enumerate(runs):
            t = cells[i].get(name)
            result = t.verdict.value if t else ""
            tip = mark = ""
            if t:
                changes = change_lines(r, name)
                if changes_of(r, name):
                    mark = f" {CHANGED_MARK}"
                elif changes:
                    mark = " new"
                lines = changes[:8] + ([t.reason] if t.reason else [])
                for o in r.observations.get(name, []):
                    if o.get("verdict") != "pass" or "exit_reason" in o:
                        lines.append(f"{o.get('rule')} {o.get('verdict')}: {o.get('observed')}")
                lines += [d for d in t.diagnostics() if d.startswith(("FAIL", "NOTE", "note", "baseline"))]
                tip = html.escape("\n".join(lines[:12]), quote=True)
            out.append(f"<td class='r' style='background:{COLOURS[result]}' title='{tip}'>"
                       f"{LABELS[result] if t else '&ndash;'}{mark}</td>")
        out.append("</tr>")
    if any(r.untestable for r in runs):
        out.append("<tr><td></td><td>why not tested</td>")
        out += [f"<td>{html.escape(r.untestable)}</td>" for r in runs]
        out.append("</tr>")
    out.append("<tr><th></th><th>totals</th>")
    for r in runs:
        c = r.counts()
        out.append("<th>" + html.escape(f"{c.passed - c.xfail - c.xpass} pass, {c.failed} fail, "
                                        f"{c.xfail} known, {c.skipped} skip") + "</th>")
    out.append("</tr></table></body></html>\n")
    return visible("".join(out))


# ---- baseline -----------------------------------------------------------------
def to_baseline(runs: list[Run]) -> str:
    out = ["# Known deviations, written by run_tests.sh --write-baseline from a run.",
           "# ARCH  KERNEL-GLOB  TEST-GLOB  RULE FIELD=VALUE  REASON"]
    for r in runs:
        for t, _ in single_tests(r):
            if t.verdict not in (Verdict.FAIL, Verdict.XFAIL):
                continue
            findings = r.failing_findings(t.name)
            keyed = [(k, text) for k, text in findings if k]
            if t.synthesized or not findings or len(keyed) != len(findings):
                out.append(one_line(f"# {r.arch} {r.kernel} {t.name}: cannot be excused"
                                    f" (a crash, a time limit or a failure without a finding key):"
                                    f" {cut(first_failure(t), 100)}"))
                continue
            seen = set()
            for key, text in keyed:
                assert key is not None
                if key in seen:
                    continue
                seen.add(key)
                fields = [baseline_field(x) for x in (r.arch, r.kernel, t.name)]
                finding = baseline_key(key)
                if None in fields or finding is None:
                    # No way to write it as one line of fields that match
                    # this test alone: say so rather than list it.
                    out.append(one_line(f"# {r.arch} {r.kernel} {t.name} {key}: cannot be listed"
                                        " (white space or control characters in a field)"))
                    continue
                out.append(" ".join(f or "" for f in fields) + f" {finding}  {one_line(cut(text))}")
    return "\n".join(out) + "\n"


# ---- the README's status table --------------------------------------------------
ORDER = "mpgk"


def status_table(runs: list[Run]) -> str:
    """Scenario x architecture, from a run's trees, as Markdown."""
    header = "| scenario |" + "".join(f" {markdown(r.label)} ({markdown(r.kernel)}) |" for r in runs)
    lines = [header, "|---|" + "---|" * len(runs)]
    names: dict[str, tuple[int, int]] = {}
    cells: dict[tuple[str, int], dict[str, int]] = {}
    notes: list[str] = []
    for i, r in enumerate(runs):
        for t, _ in single_tests(r):
            fixture = t.name.split(".")[0]
            rank = ORDER.find(fixture[:1]) if not fixture.startswith("kvmc") else -1
            m = re.match(r"[a-z]{1,2}(\d+)", fixture)
            num = int(m.group(1)) if m else 0
            names.setdefault(fixture, (rank if rank >= 0 else 9, num))
            v = {"pass": "pass", "fail": "FAIL", "xfail": "XFAIL", "xpass": "XPASS",
                 "skip": "skip"}[t.verdict.value]
            cell = cells.setdefault((fixture, i), {})
            cell[v] = cell.get(v, 0) + 1
            if t.verdict is Verdict.XFAIL and t.reason and t.reason not in notes:
                notes.append(t.reason)
    for fixture in sorted(names, key=lambda f: names[f]):
        ident, _, words = fixture.partition("_")
        row = f"| {markdown(ident.upper())} {markdown(words.replace('_', ' '))} |"
        for i in range(len(runs)):
            got = cells.get((fixture, i), {})
            row += " " + (", ".join(f"{v} {got[v]}" for v in ("pass", "FAIL", "XFAIL", "XPASS", "skip")
                                    if v in got) or "n/a") + " |"
        lines.append(row)
    for n in notes:
        lines.append(f"\nXFAIL: {markdown(n)}")
    return "\n".join(lines) + "\n"


def update_status(readme: str, runs: list[Run]) -> str:
    begin, end = "<!-- status:begin -->", "<!-- status:end -->"
    head, _, rest = readme.partition(begin)
    _, _, tail = rest.partition(end)
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    return (f"{head}{begin}\n\n{status_table(runs)}\n"
            f"Generated by `scripts/status-table.sh` from a run of `make check` on {today}.\n\n{end}{tail}")


def render(kind: str, runs: list[Run], title: str = "kvm-contract results", pattern: str = "",
           code: int | None = None) -> str:
    """A report of the given kind: json, junit, html or baseline; code, the
    exit status the JSON records (default: the one the verdicts give)."""
    if kind == "json":
        return to_json(runs, pattern, code)
    if kind == "junit":
        return to_junit(runs)
    if kind == "html":
        return to_html(runs, title)
    if kind == "baseline":
        return to_baseline(runs)
    raise ValueError(kind)


# ---- escapes (see visible()) ----------------------------------------------------
def _json_safe(value: object) -> object:
    """value with every string free of lone surrogates, which no UTF-8
    reader takes; json.dumps escapes the rest (quotes, controls)."""
    if isinstance(value, str):
        return re.sub("[\ud800-\udfff]", lambda m: _shown(m.group()), value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _xml_safe(root: ET.Element) -> None:
    """Every text and attribute of the tree in what XML 1.0 allows
    (ElementTree escapes markup, not forbidden characters)."""
    for e in root.iter():
        if e.text:
            e.text = visible(e.text)
        if e.tail:
            e.tail = visible(e.tail)
        for k, v in e.attrib.items():
            e.attrib[k] = visible(v)


# Where str.splitlines() (so a baseline reader) starts a new line.
LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def one_line(s: str) -> str:
    """s as text on one line of a file: no line breaks, nothing invisible."""
    return LINE_BREAK.sub(lambda m: _shown(m.group()), visible(s))


def baseline_field(s: str) -> str | None:
    """s as a baseline pattern field (ARCH, KERNEL-GLOB, TEST-GLOB) that
    matches s alone ("*", "?", "[" and "#" in brackets); None when s
    cannot be one field (empty, white space, control characters)."""
    if not s or one_line(s) != s or any(c.isspace() for c in s):
        return None
    return re.sub(r"[*?\[#]", lambda m: f"[{m.group()}]", s)


def baseline_key(key: str) -> str | None:
    """A finding key ("C4 exit_reason=KVM_EXIT_UNKNOWN(0)") as baseline
    fields that excuse that finding alone, or None."""
    rule, _, finding = key.partition(" ")
    if one_line(key) != key or not RULE.match(rule) or not FIELD_VALUE.match(finding):
        return None
    if "*" in finding:
        # A finding holding "*" is matched as a pattern: make it literal.
        finding = re.sub(r"[*?\[]", lambda m: f"[{m.group()}]", finding)
    return f"{rule} {finding}"


MARKDOWN = re.compile(r"([\\`*\[\]|])")


def markdown(s: str) -> str:
    """s as text in a Markdown table cell: one line, no HTML, no link,
    image or code, no column break."""
    return MARKDOWN.sub(r"\\\1", html.escape(one_line(s), quote=False))

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn run_tests.sh result directories into JSON, JUnit XML or an HTML
matrix, and write baselines from them.

    report.py json     -o FILE RESULTDIR...
    report.py junit    -o FILE RESULTDIR...
    report.py html     -o FILE [--title T] RESULTDIR...
    report.py baseline -o FILE RESULTDIR...

A RESULTDIR is one architecture's results/<arch>/ of one run: results.ktap,
observations.jsonl (one JSON object per judgement, from the tests),
kernel-version and, for Debian kernels, kernel-package. Each test's result
is read from the KTAP: pass, fail, skip, xfail (a listed known deviation
that failed) or xpass (one that passed).
"""

import argparse
import html
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

RESULT_LINE = re.compile(r"^    (not )?ok \d+ (\S+)(.*)$")
RUN_LINE = re.compile(r"^    #  RUN +(\S+)")
BINARY_LINE = re.compile(r"^# kvm-contract: (\S+)")


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def parse_ktap(text):
    """The single tests of a run, in order, with their diagnostics."""
    tests, diag, binary = [], [], ""
    for line in text.splitlines():
        m = BINARY_LINE.match(line)
        if m:
            binary = m.group(1)
            continue
        if RUN_LINE.match(line):
            diag = []
            continue
        m = RESULT_LINE.match(line)
        if m:
            failed, name, rest = m.group(1) is not None, m.group(2), m.group(3)
            directive = rest.split("#", 1)[1].strip() if "#" in rest else ""
            if directive.startswith("SKIP"):
                result = "skip"
            elif directive.startswith("TODO"):
                result = "xfail" if failed else "xpass"
            else:
                result = "fail" if failed else "pass"
            tests.append({"name": name, "binary": binary, "result": result,
                          "directive": directive, "diagnostics": diag})
            diag = []
            continue
        if line.startswith("    # "):
            diag.append(line[6:])
    return tests


def load_run(directory):
    arch = os.path.basename(os.path.normpath(directory))
    observations = {}
    for line in read(os.path.join(directory, "observations.jsonl")).splitlines():
        try:
            obs = json.loads(line)
        except ValueError:
            continue
        observations.setdefault(obs.get("test", ""), []).append(obs)
    tests = parse_ktap(read(os.path.join(directory, "results.ktap")))
    for t in tests:
        t["observations"] = observations.get(t["name"], [])
    return {
        "arch": arch,
        "kernel": read(os.path.join(directory, "kernel-version")).strip() or "unknown",
        "package": read(os.path.join(directory, "kernel-package")).strip(),
        "untestable": read(os.path.join(directory, "untestable")).strip(),
        "tests": tests,
    }


def write(path, text):
    if path == "-":
        sys.stdout.write(text)
        return
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def to_json(runs):
    return json.dumps({"format": "kvm-contract results 1", "runs": runs}, indent=1) + "\n"


def to_junit(runs):
    suites = ET.Element("testsuites")
    for run in runs:
        counts = {k: sum(t["result"] == k for t in run["tests"]) for k in ("fail", "skip")}
        suite = ET.SubElement(suites, "testsuite", name=f"kvm-contract.{run['arch']}",
                              tests=str(len(run["tests"])), failures=str(counts["fail"]),
                              skipped=str(counts["skip"]))
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="kernel", value=run["kernel"])
        if run["package"]:
            ET.SubElement(props, "property", name="package", value=run["package"])
        for t in run["tests"]:
            case = ET.SubElement(suite, "testcase", classname=f"{run['arch']}.{t['binary']}",
                                 name=t["name"])
            text = "\n".join(t["diagnostics"])
            if t["result"] == "fail":
                first = next((d for d in t["diagnostics"] if d.startswith("FAIL")), "failed")
                ET.SubElement(case, "failure", message=first).text = text
            elif t["result"] == "skip":
                ET.SubElement(case, "skipped", message=t["directive"][4:].strip())
            elif t["result"] in ("xfail", "xpass"):
                ET.SubElement(case, "system-out").text = f"{t['result']}: {t['directive']}\n{text}"
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


COLOURS = {"pass": "#b6e3b6", "fail": "#f4a6a6", "skip": "#dddddd",
           "xfail": "#f6d28b", "xpass": "#a6c8f4", "": "#ffffff"}
LABELS = {"pass": "pass", "fail": "FAIL", "skip": "skip", "xfail": "known", "xpass": "fixed", "": ""}


def scenario_of(name):
    m = re.match(r"([a-z]\d+)_", name)
    return m.group(1).upper() if m else name.split(".")[0]


def to_html(runs, title):
    def key(run):
        nums = [int(x) for x in re.findall(r"\d+", run["kernel"])[:3]]
        return (run["arch"], nums)
    runs = sorted(runs, key=key)
    names = []
    for run in runs:
        for t in run["tests"]:
            if t["name"] not in names:
                names.append(t["name"])
    names.sort(key=lambda n: (scenario_of(n)[0], int(re.sub(r"\D", "", scenario_of(n)) or 0), n))
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
           + " (known: a deviation listed in the baseline; fixed: a listed one that passed)</p>",
           "<table><tr><th>scenario</th><th>test</th>"]
    for run in runs:
        tip = html.escape(run["untestable"] or run["package"] or run["kernel"], quote=True)
        note = "<br><i>not tested</i>" if run["untestable"] else ""
        out.append(f"<th title='{tip}'>{html.escape(run['arch'])}<br>{html.escape(run['kernel'])}{note}</th>")
    out.append("</tr>")
    totals = [{k: 0 for k in COLOURS} for _ in runs]
    for name in names:
        out.append(f"<tr><td>{scenario_of(name)}</td><td class='n'>{html.escape(name)}</td>")
        for i, run in enumerate(runs):
            t = next((t for t in run["tests"] if t["name"] == name), None)
            result = t["result"] if t else ""
            totals[i][result] += 1
            tip = ""
            if t:
                lines = [t["directive"]] if t["directive"] else []
                for o in t["observations"]:
                    if o.get("verdict") != "pass" or "exit_reason" in o:
                        lines.append(f"{o.get('rule')} {o.get('verdict')}: {o.get('observed')}")
                lines += [d for d in t["diagnostics"] if d.startswith(("FAIL", "NOTE", "note"))]
                tip = html.escape("\n".join(lines[:12]), quote=True)
            out.append(f"<td class='r' style='background:{COLOURS[result]}' title='{tip}'>"
                       f"{LABELS[result] if t else '&ndash;'}</td>")
        out.append("</tr>")
    untested = [r for r in runs if r["untestable"]]
    if untested:
        out.append("<tr><td></td><td>why not tested</td>")
        for run in runs:
            out.append(f"<td>{html.escape(run['untestable'])}</td>")
        out.append("</tr>")
    out.append("<tr><th></th><th>totals</th>")
    for tot in totals:
        out.append("<th>" + html.escape(f"{tot['pass']} pass, {tot['fail']} fail, "
                                        f"{tot['xfail']} known, {tot['skip']} skip") + "</th>")
    out.append("</tr></table></body></html>\n")
    return "".join(out)


def to_baseline(runs):
    out = ["# Known deviations, written by scripts/report.py baseline from a run.",
           "# ARCH  KERNEL-PATTERN  TEST-PATTERN  REASON"]
    for run in runs:
        for t in run["tests"]:
            if t["result"] not in ("fail", "xfail"):
                continue
            reason = t["directive"][len("TODO known deviation:"):].strip() if t["result"] == "xfail" else ""
            if not reason:
                first = next((d for d in t["diagnostics"] if d.startswith("FAIL")), "failed")
                reason = first[len("FAIL "):][:150]
            out.append(f"{run['arch']} {run['kernel']} {t['name']} {reason}")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("format", choices=["json", "junit", "html", "baseline"])
    p.add_argument("-o", dest="output", required=True)
    p.add_argument("--title", default="kvm-contract results")
    p.add_argument("dirs", nargs="+")
    a = p.parse_args()
    runs = [load_run(d) for d in a.dirs
            if any(os.path.exists(os.path.join(d, f)) for f in ("results.ktap", "untestable"))]
    if not runs:
        sys.exit(f"report.py: no results.ktap in {' '.join(a.dirs)}")
    text = {"json": lambda: to_json(runs), "junit": lambda: to_junit(runs),
            "html": lambda: to_html(runs, a.title), "baseline": lambda: to_baseline(runs)}[a.format]()
    write(a.output, text)


if __name__ == "__main__":
    main()

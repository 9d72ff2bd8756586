# SPDX-License-Identifier: GPL-2.0
"""kvmc.coverage: the .gcda transfer out of the VM, lcov tracefiles,
coverage.json, patch coverage from a git diff."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path
from typing import Any

from .. import TOP, coverage, kbuild
from ..cli import UsageError, parse_args
from ..console import Console
from ..qemu_configs import CONFIGS
from ..runner import run_config

BUILD = "/cache/build/abc-arm64-gcov"


def frame(phase: str, path: str, data: bytes, digest: str = "", size: int | None = None) -> list[str]:
    text = base64.b64encode(data).decode()
    return ([f"@@KVMC-GCDA {phase} {len(data) if size is None else size} "
             f"{digest or hashlib.sha256(data).hexdigest()} {path}"]
            + [text[i:i + 76] for i in range(0, len(text), 76)] + ["@@KVMC-GCDA-END"])


class Transfer(unittest.TestCase):
    def feed(self, lines: list[str]) -> Console:
        c = Console("arm64")
        for x in ["@@KVMC-BEGIN guest 7.3.4 aarch64", *lines, "@@KVMC-DONE"]:
            c.feed(x + "\n")
        return c

    def test_files_come_through_whole_and_stay_out_of_the_console_log(self) -> None:
        data = bytes(range(256)) * 9
        c = self.feed(frame("suite", f"{BUILD}/arch/arm64/kvm/mmu.gcda", data)
                      + frame("selftests", f"{BUILD}/virt/kvm/kvm_main.gcda", b"x"))
        self.assertEqual([(g.phase, g.path, g.data) for g in c.gcda.files],
                         [("suite", f"{BUILD}/arch/arm64/kvm/mmu.gcda", data),
                          ("selftests", f"{BUILD}/virt/kvm/kvm_main.gcda", b"x")])
        self.assertEqual(c.gcda.errors, [])
        self.assertFalse(any("KVMC" in x or x.startswith("AAEC") for x in c.console))

    def test_damaged_frames_are_dropped_with_a_reason(self) -> None:
        good = frame("suite", f"{BUILD}/arch/arm64/kvm/a.gcda", b"abc")
        wrong_digest = frame("suite", f"{BUILD}/arch/arm64/kvm/b.gcda", b"abc", digest="0" * 64)
        wrong_size = frame("suite", f"{BUILD}/arch/arm64/kvm/c.gcda", b"abc", size=4)
        noise = frame("suite", f"{BUILD}/arch/arm64/kvm/d.gcda", b"abcdef" * 40)
        noise.insert(2, "[   12.3] kvm: some kernel message")
        bad_phase = frame("boot", f"{BUILD}/arch/arm64/kvm/e.gcda", b"abc")
        cut = frame("suite", f"{BUILD}/arch/arm64/kvm/f.gcda", b"abc")[:-1]
        c = self.feed(wrong_digest + wrong_size + noise + bad_phase + ["@@KVMC-GCDA suite 3"]
                      + ["QUJD", "@@KVMC-GCDA-END"] + good + cut)
        self.assertEqual([g.path for g in c.gcda.files], [f"{BUILD}/arch/arm64/kvm/a.gcda"])
        self.assertEqual(len(c.gcda.errors), 6, c.gcda.errors)
        self.assertIn("console ended inside a frame", c.gcda.errors[-1])

    def test_the_guest_script_frames_what_the_receiver_takes(self) -> None:
        """guest-init.sh's send_gcda, run here by sh on a directory made to
        look like /sys/kernel/debug/gcov."""
        if not all(shutil.which(t) for t in ("sh", "base64", "sha256sum", "find", "wc")):
            self.skipTest("needs sh, base64, sha256sum, find, wc")
        init = Path(TOP, "scripts", "guest-init.sh").read_text()
        m = re.search(r"^send_gcda\(\) \{\n.*?^\}\n", init, re.S | re.M)
        assert m is not None
        with tempfile.TemporaryDirectory() as d:
            gcov = Path(d, "gcov")
            files = {f"{BUILD}/arch/arm64/kvm/mmu.gcda": os.urandom(5000),
                     f"{BUILD}/virt/kvm/kvm_main.gcda": b"", f"{BUILD}/virt/kvm/x.gcno": b"no"}
            for path, data in files.items():
                Path(gcov, path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                Path(gcov, path.lstrip("/")).write_bytes(data)
            script = (m.group(0).replace("/sys/kernel/debug/gcov", str(gcov)).replace("/tmp/gcda", f"{d}/gcda")
                      + "send_gcda suite\n")
            out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
        c = self.feed(out.splitlines())
        self.assertEqual(c.gcda.errors, [])
        self.assertEqual({g.path: g.data for g in c.gcda.files},
                         {k: v for k, v in files.items() if k.endswith(".gcda")})

    def test_only_gcda_files_of_the_profiled_directories_are_taken(self) -> None:
        dirs = kbuild.gcov_dirs("arm64")
        self.assertEqual(dirs, ["arch/arm64/kvm"])
        ok = coverage.gcda_relpath(f"{BUILD}/arch/arm64/kvm/mmu.gcda", BUILD, dirs)
        self.assertEqual(ok, "arch/arm64/kvm/mmu.gcda")
        self.assertEqual(coverage.gcda_relpath(f"{BUILD}/virt/kvm/kvm_main.gcda", BUILD, dirs),
                         "virt/kvm/kvm_main.gcda")
        for bad in (f"{BUILD}/arch/arm64/kvm/../../../../etc/passwd.gcda", "/etc/passwd",
                    f"{BUILD}/arch/arm64/kvm/./mmu.gcda", f"{BUILD}/arch/arm64/kvm/mmu.gcno",
                    f"{BUILD}/mm/memory.gcda", f"{BUILD}/arch/arm64/kvm/a b.gcda",
                    f"{BUILD}-other/arch/arm64/kvm/mmu.gcda", f"{BUILD}//arch/arm64/kvm/mmu.gcda",
                    f"{BUILD}/arch/arm64/kvm/\x1b[2J.gcda", "arch/arm64/kvm/mmu.gcda"):
            self.assertEqual(coverage.gcda_relpath(bad, BUILD, dirs), "", bad)

    def test_gcov_is_switched_on_for_the_kvm_directory_alone(self) -> None:
        self.assertEqual(kbuild.gcov_make_vars("x86_64"),
                         ["GCOV_PROFILE=$(if $(filter arch/x86/kvm,$(obj)),y)"])
        frag = kbuild.plan_config("arm64", coverage=True).wanted()
        self.assertEqual((frag["CONFIG_GCOV_KERNEL"], frag["CONFIG_GCOV_PROFILE_ALL"]), ("y", "n"))
        self.assertNotIn("CONFIG_GCOV_KERNEL", kbuild.plan_config("arm64").wanted())
        self.assertTrue(str(kbuild.build_dir_for("/t", "arm64", "/c", coverage=True)).endswith("-arm64-gcov"))


TRACE = """TN:suite
SF:/src/linux/arch/arm64/kvm/mmu.c
FN:10,user_mem_abort
FN:30,io_mem_abort
FN:50,never_called
FNDA:4,user_mem_abort
FNDA:1,io_mem_abort
FNDA:0,never_called
DA:11,4
DA:12,4
DA:13,0
DA:31,1
DA:32,1
DA:51,0
BRDA:12,0,0,4
BRDA:12,0,1,0
BRDA:31,0,0,1
BRDA:31,0,1,-
BRDA:51,0,0,-
BRDA:51,0,1,-
end_of_record
SF:/src/linux/virt/kvm/kvm_main.c
FN:5,kvm_prepare_memory_fault_exit
FNDA:0,kvm_prepare_memory_fault_exit
DA:6,0
end_of_record
"""


class Tracefile(unittest.TestCase):
    def test_functions_get_their_lines_and_branches(self) -> None:
        fns = coverage.functions(coverage.parse_tracefile(TRACE), "/src/linux")
        by = {f.name: f for f in fns}
        u = by["user_mem_abort"]
        self.assertEqual((u.file, u.line, u.calls), ("arch/arm64/kvm/mmu.c", 10, 4))
        self.assertEqual((u.lines_hit, u.lines_total, u.branches_hit, u.branches_total), (2, 3, 1, 2))
        self.assertEqual((u.missed_lines, u.missed_branches), ([13], [12]))
        io = by["io_mem_abort"]
        self.assertEqual((io.lines_hit, io.lines_total, io.branches_hit, io.branches_total), (2, 2, 1, 2))
        n = by["never_called"]
        self.assertEqual((n.calls, n.branches_hit, n.branches_total, n.missed_branches), (0, 0, 2, [51]))
        self.assertEqual(by["kvm_prepare_memory_fault_exit"].file, "virt/kvm/kvm_main.c")

    def test_a_function_ends_at_its_closing_brace_when_the_source_is_there(self) -> None:
        # Lines 30-49 hold io_mem_abort up to line 35, then a static
        # helper inlined everywhere (no FN record of its own).
        src = ["x"] * 60
        src[34] = "}"
        trace = TRACE.replace("DA:32,1", "DA:32,1\nDA:40,0\nBRDA:41,0,0,-")
        fns = coverage.functions(coverage.parse_tracefile(trace), "/src/linux",
                                 lambda p: src if p.endswith("mmu.c") else [])
        io = next(f for f in fns if f.name == "io_mem_abort")
        self.assertEqual((io.end, io.lines_total, io.branches_total), (35, 2, 2))
        without = next(f for f in coverage.functions(coverage.parse_tracefile(trace), "/src/linux")
                       if f.name == "io_mem_abort")
        self.assertEqual((without.lines_total, without.branches_total), (3, 3))

    def test_coverage_json_and_the_side_by_side_table(self) -> None:
        suite = coverage.functions(coverage.parse_tracefile(TRACE), "/src/linux")
        selftests = coverage.functions(coverage.parse_tracefile(TRACE.replace("FNDA:4,", "FNDA:0,")
                                                                .replace("DA:11,4", "DA:11,0")), "/src/linux")
        text = coverage.coverage_json("arm64", "7.3.4", "/src/linux", {"suite": suite, "selftests": selftests},
                                      {"report": 1.25})
        doc = json.loads(text)
        self.assertEqual(doc["phases"]["suite"]["totals"],
                         {"functions": 4, "functions_hit": 2, "lines_hit": 4, "lines_total": 7,
                          "branches_hit": 2, "branches_total": 6})
        rows = coverage.table(doc, ["user_mem_abort", "kvm_prepare_*", "absent"])
        self.assertEqual(rows[2], "| user_mem_abort | arch/arm64/kvm/mmu.c:10 | 1/2 | 2/3 | 1/2 | 1/3 |")
        self.assertEqual(rows[3], "| kvm_prepare_memory_fault_exit | virt/kvm/kvm_main.c:5 | 0/0 | 0/1 | 0/0 | 0/1 |")
        self.assertEqual(len(rows), 4)

    def test_every_key_function_list_is_there_for_both_architectures(self) -> None:
        self.assertIn("kvm_handle_guest_abort", coverage.KEY_FUNCTIONS["arm64"])
        self.assertIn("kvm_mmu_page_fault", coverage.KEY_FUNCTIONS["x86_64"])


DIFF = """diff --git a/arch/arm64/kvm/mmu.c b/arch/arm64/kvm/mmu.c
index 1111111..2222222 100644
--- a/arch/arm64/kvm/mmu.c
+++ b/arch/arm64/kvm/mmu.c
@@ -11,0 +12,2 @@ static int user_mem_abort(void)
+	if (x)
+		y();
@@ -31 +33 @@ static int io_mem_abort(void)
-	old();
+	new();
@@ -40,3 +42,0 @@
-	gone();
diff --git a/virt/kvm/new.c b/virt/kvm/new.c
new file mode 100644
--- /dev/null
+++ b/virt/kvm/new.c
@@ -0,0 +1,2 @@
+int a;
+int b;
diff --git a/virt/kvm/old.c b/virt/kvm/old.c
deleted file mode 100644
--- a/virt/kvm/old.c
+++ /dev/null
@@ -1 +0,0 @@
-x
"""


class Patch(unittest.TestCase):
    def test_changed_lines_of_the_new_side(self) -> None:
        self.assertEqual(coverage.changed_lines(DIFF),
                         {"arch/arm64/kvm/mmu.c": {12, 13, 33}, "virt/kvm/new.c": {1, 2}})

    def test_patch_coverage_says_which_changed_lines_ran(self) -> None:
        files = coverage.parse_tracefile(TRACE.replace("DA:32,1", "DA:33,0"))
        rows = coverage.patch_coverage({"arch/arm64/kvm/mmu.c": {12, 13, 14, 33}, "mm/x.c": {1}},
                                       files, "/src/linux")
        self.assertEqual([(r.line, r.status, r.function) for r in rows],
                         [(12, "run", "user_mem_abort"), (13, "not run", "user_mem_abort"),
                          (14, "no code", "user_mem_abort"), (33, "not run", "io_mem_abort")])
        table = coverage.patch_table(rows, "v7.3")
        self.assertEqual(table[0], "patch coverage against v7.3: the suite ran 1 of 3 changed lines with code")
        self.assertRegex(table[2], r"arch/arm64/kvm/mmu.c:user_mem_abort +1 +2  13$")
        self.assertRegex(table[3], r"arch/arm64/kvm/mmu.c:io_mem_abort +0 +1  33$")
        page = coverage.patch_html(rows, "<b>", lambda f: ["x"] * 12 + ["\tif (a < b)"])
        self.assertIn("&lt;b&gt;", page)
        self.assertIn("if (a &lt; b)", page)
        self.assertNotIn("<b>", page)

    def test_no_change_in_the_profiled_directories(self) -> None:
        self.assertIn("no changed line", coverage.patch_table([], "HEAD")[0])

    def test_diff_base_is_checked_against_the_tree(self) -> None:
        if not shutil.which("git"):
            self.skipTest("git not installed")
        with tempfile.TemporaryDirectory() as d:
            env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
            self.assertIn("not a commit", coverage.check_base(d, "HEAD"))
            subprocess.run(["git", "init", "-q", d], check=True, env=env)
            Path(d, "virt/kvm").mkdir(parents=True)
            Path(d, "virt/kvm/a.c").write_text("a\nb\n")
            subprocess.run(["git", "-C", d, "add", "."], check=True, env=env)
            subprocess.run(["git", "-C", d, "commit", "-qm", "x"], check=True, env=env)
            self.assertEqual(coverage.check_base(d, "HEAD"), "")
            self.assertIn("not a commit", coverage.check_base(d, "--output=/tmp/x"))
            self.assertIn("not a commit", coverage.check_base(d, "nosuch"))
            Path(d, "virt/kvm/a.c").write_text("a\nB\nc\n")
            self.assertEqual(coverage.changed_lines(coverage.git_diff(d, "HEAD", ["arch/arm64/kvm"])),
                             {"virt/kvm/a.c": {2, 3}})


class Options(unittest.TestCase):
    def test_coverage_options_and_their_mistakes(self) -> None:
        o = parse_args(["--arch", "arm64", "--build", "/t", "--coverage", "--coverage-selftests",
                        "--coverage-diff", "-weird"], {})
        self.assertEqual((o.s.coverage, o.coverage_selftests, o.s.coverage_diff), (True, True, "-weird"))
        self.assertIn("KVMC_COVERAGE=1", run_config(CONFIGS["arm64"], o.s))
        for argv, why in ((["--arch", "arm64", "--coverage"], "goes with --build"),
                          (["--arch", "arm64", "--build", "/t", "--coverage-diff", "HEAD"], "go with --coverage"),
                          (["--arch", "arm64", "--build", "/t", "--coverage", "--native"], "in the test VM")):
            with self.assertRaisesRegex(UsageError, why):
                parse_args(argv, {})


class Placing(unittest.TestCase):
    def test_a_report_replaces_only_one_this_tool_made(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            made = coverage.new_dir(d)
            Path(made, "index.html").write_text("new")
            dest = os.path.join(d, "coverage")
            self.assertEqual(coverage.place(made, dest), dest)
            again = coverage.new_dir(d)
            self.assertEqual(coverage.place(again, dest), dest)
            self.assertFalse(Path(dest, "index.html").exists())
            foreign = os.path.join(d, "theirs")
            os.mkdir(foreign)
            Path(foreign, "keep").write_text("mine")
            third = coverage.new_dir(d)
            self.assertEqual(coverage.place(third, foreign), third)
            self.assertEqual(Path(foreign, "keep").read_text(), "mine")


if __name__ == "__main__":
    unittest.main()


class Reachable(unittest.TestCase):
    """What can be reached: the reasons file, and the reachable share."""

    def doc(self) -> dict[str, Any]:
        suite = coverage.functions(coverage.parse_tracefile(TRACE), "/src/linux")
        # The selftests take the other branch of line 12 as well.
        selftests = coverage.functions(coverage.parse_tracefile(TRACE.replace("BRDA:12,0,1,0", "BRDA:12,0,1,3")),
                                       "/src/linux")
        doc: dict[str, Any] = json.loads(coverage.coverage_json("arm64", "7.3.4", "/src/linux",
                                                                {"suite": suite, "selftests": selftests}, {}))
        return doc

    def test_untaken_branches_are_counted_per_line(self) -> None:
        fns = {f.name: f for f in coverage.functions(coverage.parse_tracefile(TRACE), "/src/linux")}
        self.assertEqual(fns["user_mem_abort"].missed_branch_counts, [[12, 1, 2]])
        self.assertEqual(fns["never_called"].missed_branch_counts, [[51, 2, 2]])
        self.assertEqual(fns["io_mem_abort"].missed_branch_counts, [[31, 1, 2]])

    def test_reasons_are_parsed_and_checked(self) -> None:
        rs = coverage.parse_reasons("# comment\n\narm64 gmem_abort 1599,1611-1613 bug KVM_BUG_ON on a bad slot\n",
                                    "r.txt")
        self.assertEqual((rs[0].function, sorted(rs[0].lines), rs[0].kind, rs[0].why, rs[0].where),
                         ("gmem_abort", [1599, 1611, 1612, 1613], "bug", "KVM_BUG_ON on a bad slot", "r.txt:3"))
        self.assertFalse(rs[0].reachable)
        self.assertTrue(coverage.parse_reasons("x86_64 f 1 gap no test yet\n", "r")[0].reachable)
        for bad, msg in (("arm64 f 12 nope why\n", "kind 'nope'"), ("arm64 f 12-3 bug why\n", "backwards"),
                         ("arm64 f twelve bug why\n", "not ARCH FUNCTION"), ("arm64 f 12 bug\n", "not ARCH")):
            with self.assertRaisesRegex(coverage.CoverageError, msg):
                coverage.parse_reasons(bad, "r")

    def test_unreachable_branches_leave_the_count(self) -> None:
        reasons = coverage.parse_reasons("arm64 io_mem_abort 31 hw TCG raises no such fault\n"
                                         "arm64 never_called 51 gap a test to write\n"
                                         "x86_64 user_mem_abort 12 bug another architecture's\n", "r")
        rows, problems = coverage.reach(self.doc(), reasons, ["user_mem_abort", "io_mem_abort", "never_called"])
        by = {r.function.name: r for r in rows}
        self.assertEqual((by["io_mem_abort"].unreachable, by["io_mem_abort"].reachable), (1, 1))
        self.assertEqual((by["never_called"].gaps, by["never_called"].reachable), ([51], 2))
        self.assertEqual(by["user_mem_abort"].unexplained, [12])
        self.assertEqual(problems, [])
        table = coverage.reach_table(rows)
        self.assertIn("| io_mem_abort | arch/arm64/kvm/mmu.c:30 | 2 | 1 | 1/1 (100%) | 1/1 (100%) |  |", table)
        self.assertIn("| user_mem_abort | arch/arm64/kvm/mmu.c:10 | 2 | 0 | 1/2 (50%) | 2/2 (100%) | 12? |", table)
        # 1 + 1 + 0 taken of 2 + 1 + 2 reachable
        self.assertEqual(table[-1], "| **all 3** | | 6 | 1 | **2/5 (40%)** | 3/5 (60%) | |")

    def test_a_wrong_or_stale_reason_is_said(self) -> None:
        reasons = coverage.parse_reasons("arm64 user_mem_abort 12 hw the selftests take it\n"
                                         "arm64 user_mem_abort 11 bug no branch there\n"
                                         "arm64 gone 5 bug not in the data\n", "r")
        _, problems = coverage.reach(self.doc(), reasons, ["user_mem_abort"])
        self.assertEqual(problems, ["r:1: user_mem_abort line 12 (hw): the selftests take 1 of its branches",
                                    "r:2: user_mem_abort line 11: no branch untaken there (stale)",
                                    "r:3: gone is not among the functions named, or not in the data"])

    def test_configurations_merge_into_their_architecture(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            plain, nested = Path(d, "arm64"), Path(d, "arm64-nested")
            for where, arch, trace in ((plain, "arm64", TRACE),
                                       (nested, "arm64-nested", TRACE.replace("BRDA:31,0,1,-", "BRDA:31,0,1,2"))):
                where.mkdir()
                (where / "suite.info").write_text(trace)
                (where / "coverage.json").write_text(json.dumps({"arch": arch, "kernel": "7.3.4",
                                                                 "tree": "/src/linux"}))
            doc = json.loads(coverage.merge([str(plain), str(nested)]))
            self.assertEqual((doc["arch"], doc["configs"], doc["tree"]), ("arm64", ["arm64", "arm64-nested"], "linux"))
            io = next(f for f in doc["phases"]["suite"]["functions"] if f["name"] == "io_mem_abort")
            self.assertEqual((io["branches_hit"], io["missed_branch_counts"]), (2, []))
            (nested / "coverage.json").write_text(json.dumps({"arch": "x86_64", "kernel": "7.3.4", "tree": "/src/linux"}))
            with self.assertRaisesRegex(coverage.CoverageError, "differ in their architecture"):
                coverage.merge([str(plain), str(nested)])

    def test_the_documented_reasons_fit_the_documented_data(self) -> None:
        """docs/coverage-reasons.txt gives a reason for every untaken
        branch of docs/coverage-<arch>.json's key functions, none stale,
        none contradicted by the selftests; the dump reads back."""
        reasons = coverage.read_reasons(os.path.join(TOP, "docs", "coverage-reasons.txt"))
        found = 0
        for arch in coverage.KEY_FUNCTIONS:
            path = os.path.join(TOP, "docs", f"coverage-{arch}.json")
            if not os.path.isfile(path):
                continue
            found += 1
            doc = json.loads(Path(path).read_text())
            rows, problems = coverage.reach(doc, reasons, coverage.KEY_FUNCTIONS[arch])
            self.assertEqual(problems, [], arch)
            self.assertEqual([(r.function.name, r.unexplained) for r in rows if r.unexplained], [], arch)
            self.assertEqual(json.loads(coverage.dump_by_function(doc)), doc)
        self.assertGreater(found, 0)

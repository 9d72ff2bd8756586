# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the host side, driven by recorded output in test_data/.

    PYTHONPATH=scripts python3 -m kvmc.test_kvmc [--ktap] [-v]

--ktap prints the results as KTAP (what make check reads).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

from . import TOP, baseline as bl, qemu, report, results
from .cli import UsageError, check_writable, parse_args
from .console import Console
from .ktap import Counts, Parser, Verdict, parse
from .runner import run_config
from .qemu_configs import CONFIGS
from .results import Run

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_data")


def data(name: str) -> list[str]:
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read().splitlines()


def run_of(ktap: str, arch: str = "x86_64", kernel: str = "7.3.4+deb13-amd64",
           observations: str = "") -> Run:
    r = Run(arch=arch, label=arch, doc=parse(data(ktap), arch), kernel=kernel)
    if observations:
        r.observations = results.read_observations(os.path.join(DATA, observations))
    return r


class KtapParser(unittest.TestCase):
    def test_crash_after_all_subtests_passed_is_a_failure(self) -> None:
        root = parse(data("crash_after_pass.ktap"))
        self.assertEqual([t.name for t in root.subtests], ["bad_memslot_test", "control_test"])
        c = root.counts()
        self.assertEqual((c.passed, c.failed, c.skipped), (3, 1, 0))
        r = Run(arch="arm64", label="arm64", doc=root)
        self.assertEqual(results.exit_code([r])[0], 1)
        # Every report says the same.
        suite = ET.fromstring(report.to_junit([r])).find("testsuite")
        assert suite is not None
        self.assertEqual(suite.get("failures"), "1")
        failure = suite.find("testcase[@name='bad_memslot_test']/failure")
        assert failure is not None
        self.assertIn("exit status 139", failure.get("message", ""))
        js = json.loads(report.to_json([r]))
        self.assertEqual(js["exit_code"], 1)
        self.assertEqual(js["summary"]["failed"], 1)
        self.assertIn("FAIL", report.to_html([r], "t"))

    def test_timeout_fails_the_test_that_was_running(self) -> None:
        root = parse(data("timeout.ktap"))
        binary = root.subtests[0]
        self.assertEqual([t.name for t in binary.subtests], ["slow.one", "slow.two"])
        self.assertTrue(binary.subtests[1].synthesized)
        self.assertEqual(binary.directive, "timeout")
        c = root.counts()
        self.assertEqual((c.passed, c.failed), (1, 1))
        self.assertIn("# slow_test: killed after 1 s (KVMC_BIN_TIMEOUT, --timeout)", binary.post)

    def test_cut_off_stream_fails_the_running_test(self) -> None:
        root = parse(data("vm_died.ktap"), why="the test VM crashed: kernel panic")
        binary = root.subtests[0]
        self.assertIsNone(binary.ok)
        self.assertEqual(binary.subtests[-1].name, "m1_no_memslot.w1.store")
        self.assertEqual(binary.subtests[-1].verdict, Verdict.FAIL)
        c = root.counts()
        self.assertEqual((c.passed, c.failed), (1, 1))
        lines = root.document()
        self.assertIn("    not ok 0 m1_no_memslot.w1.store # the test VM crashed: kernel panic", lines)

    def test_cut_off_between_tests_counts_what_ran(self) -> None:
        p = Parser()
        for line in data("vm_died.ktap")[:8]:
            p.feed(line)
        root = p.finish("the test VM stopped early")
        c = root.counts()
        self.assertEqual((c.passed, c.failed), (1, 0))

    def test_nested(self) -> None:
        root = parse(data("nested.ktap"))
        outer = root.subtests[0]
        self.assertEqual(outer.name, "outer")
        self.assertEqual([t.name for t in outer.subtests], ["inner", "sibling"])
        self.assertEqual([t.name for t in outer.subtests[0].subtests], ["leaf_a", "leaf_b"])
        c = root.counts()
        self.assertEqual((c.passed, c.failed, c.skipped), (1, 1, 1))
        self.assertEqual(outer.subtests[1].verdict, Verdict.SKIP)

    def test_malformed_lines_are_kept_as_diagnostics(self) -> None:
        root = parse(data("malformed.ktap"))
        self.assertEqual([t.name for t in root.subtests], ["x_test", "y_test"])
        self.assertEqual(root.counts().passed, 2)
        self.assertIn("this is not KTAP", root.malformed)
        for line in root.document():
            self.assertRegex(line.strip(), r"^(#|ok|not ok|TAP version|KTAP version|1\.\.)")

    def test_round_trip(self) -> None:
        for name in ("crash_after_pass.ktap", "timeout.ktap", "nested.ktap"):
            once = parse(data(name)).document()
            self.assertEqual(parse(once).document(), once, name)

    def test_directives(self) -> None:
        root = parse(["1..4", "ok 1 a # SKIP why", "not ok 2 b # TODO known", "ok 3 c # TODO listed",
                      "not ok 4 d # exit status 2"])
        self.assertEqual([t.verdict for t in root.subtests],
                         [Verdict.SKIP, Verdict.XFAIL, Verdict.XPASS, Verdict.FAIL])
        self.assertEqual(root.subtests[0].directive, "SKIP why")


class Baselines(unittest.TestCase):
    entries = bl.load(os.path.join(DATA, "baseline.txt"))

    def test_parse(self) -> None:
        (e,) = self.entries
        self.assertEqual((e.arch, e.kernel, e.test, e.rule, e.finding),
                         ("x86_64", "7.*", "m[456]_*.fault", "C4", "exit_reason=KVM_EXIT_UNKNOWN(0)"))
        self.assertTrue(e.reason.startswith("C4: x86"))

    def test_a_line_that_cannot_be_parsed_names_file_and_line(self) -> None:
        with self.assertRaisesRegex(bl.BaselineError, r"^f:2: 'C4:' is not a rule"):
            bl.parse("# ok\nx86_64 7.* m4_* C4:  reason without a key\n", "f")
        with self.assertRaisesRegex(bl.BaselineError, r"^f:1: 'reason' is not FIELD=VALUE"):
            bl.parse("x86_64 7.* m4_* C4 reason goes on\n", "f")

    def test_only_every_finding_listed_is_excused(self) -> None:
        r = run_of("baselined.ktap", observations="baselined.jsonl")
        results.apply_baseline(r, self.entries)
        m4, m5, m6 = r.doc.subtests[0].subtests
        self.assertEqual(m4.verdict, Verdict.XFAIL)
        self.assertEqual(m5.verdict, Verdict.FAIL)        # C2 is not listed
        self.assertIn("C2 memory_fault.size=0x0", " ".join(m5.post))
        self.assertEqual(m6.verdict, Verdict.XPASS)       # listed, passed: fixed
        self.assertEqual(r.counts().failed, 1)
        self.assertEqual(results.exit_code([r])[0], 1)

    def test_excused_deviation_is_todo_at_every_level(self) -> None:
        r = run_of("baselined.ktap", observations="baselined.jsonl")
        r.observations["m5_unmapped.load.fault"] = r.observations["m4_prot_none.load.fault"]
        results.apply_baseline(r, self.entries)
        binary = r.doc.subtests[0]
        self.assertEqual(binary.verdict, Verdict.XFAIL)
        self.assertEqual(results.exit_code([r])[0], 0)
        doc = "\n".join(results.whole_document([r]))
        self.assertIn("    not ok 1 bad_memslot_test # TODO", doc)
        self.assertIn("        not ok 1 m4_prot_none.load.fault # TODO known deviation: C4: x86", doc)
        self.assertIn("\nnot ok 1 x86_64 # TODO 2 known deviations", doc)
        suite = ET.fromstring(report.to_junit([r])).find("testsuite")
        assert suite is not None
        self.assertEqual(suite.get("failures"), "0")
        js = json.loads(report.to_json([r]))
        self.assertEqual(js["exit_code"], 0)
        self.assertEqual([t["result"] for t in js["runs"][0]["tests"]], ["xfail", "xfail", "xpass"])
        self.assertIn(">known<", report.to_html([r], "t"))

    def test_crash_or_missing_key_is_never_excused(self) -> None:
        for key in (None, "C4 exit_reason=KVM_EXIT_UNKNOWN(0)"):
            j = bl.judge(self.entries, "x86_64", "7.3.4", "m4_x.fault", True, key is not None,
                         [(key, "text")])
            self.assertFalse(j.excused)
        j = bl.judge(self.entries, "x86_64", "7.3.4", "m4_x.fault", True, False, [])
        self.assertFalse(j.excused)

    def test_an_architecture_entry_covers_its_configurations(self) -> None:
        r = run_of("baselined.ktap", arch="x86_64-shadow", observations="baselined.jsonl")
        results.apply_baseline(r, self.entries)
        self.assertEqual(r.doc.subtests[0].subtests[0].verdict, Verdict.XFAIL)
        (only,) = bl.parse("x86_64-shadow 7.* m4_* C4 exit_reason=KVM_EXIT_UNKNOWN(0) shadow only\n", "f")
        self.assertFalse(only.applies("x86_64", "7.3.4", "m4_x"))

    def test_arch_kernel_and_pattern_values(self) -> None:
        (e,) = bl.parse("x86_64* 6.1[2-9].* p2_* C8 si_addr_lsb=*  any lsb\n", "f")
        self.assertTrue(e.applies("x86_64-shadow", "6.12.57+deb13-amd64", "p2_x.load"))
        self.assertFalse(e.applies("x86_64", "6.1.0-30-amd64", "p2_x.load"))
        self.assertTrue(e.excuses("C8 si_addr_lsb=21"))
        self.assertFalse(e.excuses("C2 si_addr_lsb=21"))

    def test_crash_entries_skip_and_excuse_nothing(self) -> None:
        text = ("arm64-nested 7.* n_routed.* crash kernel=oops  it oopses [fix: 17-arm64-x]\n"
                "x86_64 7.* m4_* C4 exit_reason=KVM_EXIT_UNKNOWN(0)  a finding\n")
        crash, finding = bl.parse(text, "base.txt")
        self.assertTrue(crash.is_crash)
        self.assertFalse(finding.is_crash)
        self.assertEqual(crash.fix, "17-arm64-x")
        self.assertFalse(crash.excuses("crash kernel=oops"))
        # Never "fixed" for the skip it causes, never an excuse.
        j = bl.judge([crash], "arm64-nested/arm64", "7.3.4", "n_routed.a", False, False, [])
        self.assertEqual((j.listed, j.reason), (False, ""))
        j = bl.judge([crash], "arm64-nested/arm64", "7.3.4", "n_routed.a", True, True, [])
        self.assertFalse(j.excused)
        # One line per entry of the configuration: kernel, test, reason.
        self.assertEqual(bl.known_crashes([crash, finding], "arm64-nested/arm64"),
                         "7.* n_routed.* kernel=oops: it oopses [fix: 17-arm64-x] (base.txt:1)")
        self.assertEqual(bl.known_crashes([crash, finding], "arm64"), "")
        with self.assertRaisesRegex(bl.BaselineError, r"^f:1: a crash entry says how the kernel goes down"):
            bl.parse("arm64 7.* t crash kernel=slow  no\n", "f")

    def test_crash_entries_reach_the_vm(self) -> None:
        from .runner import Settings
        (crash,) = bl.parse("arm64-nested 7.* n_routed.* crash kernel=oops  it 'oopses'\n", "b")
        conf = run_config(CONFIGS["arm64-nested"], Settings(crashes=[crash]))
        self.assertIn("KVMC_KNOWN_CRASHES='7.* n_routed.* kernel=oops: it '\"'\"'oopses'\"'\"' (b:1)'", conf)
        self.assertIn("KVMC_KNOWN_CRASHES=''", run_config(CONFIGS["arm64"], Settings(crashes=[crash])))

    def test_written_baseline_reads_back_and_cuts_at_a_word(self) -> None:
        r = run_of("baselined.ktap", observations="baselined.jsonl")
        text = report.to_baseline([r])
        entries = bl.parse(text, "written")
        self.assertEqual({e.key for e in entries},
                         {"C4 exit_reason=KVM_EXIT_UNKNOWN(0)", "C2 memory_fault.size=0x0"})
        self.assertEqual(bl.cut("word " * 40, 22), "word word word word ...")


class Reports(unittest.TestCase):
    def test_junit_untestable_unique_names_and_control_characters(self) -> None:
        a = Run(arch="arm64", label="arm64@6.1", doc=parse(["1..1", "# \x1b[31mred\x1b[0m", "ok 1 t"]))
        b = Run(arch="arm64", label="arm64@7.3", untestable="the test VM crashed: kernel panic")
        xml = report.to_junit([a, b])
        root = ET.fromstring(xml)
        names = [s.get("name") for s in root.findall("testsuite")]
        self.assertEqual(len(set(names)), 2)
        error = root.find("testsuite[@name='kvm-contract.arm64@7.3']/testcase/error")
        assert error is not None
        self.assertEqual(error.get("message"), "the test VM crashed: kernel panic")

    def test_status_table(self) -> None:
        r = run_of("crash_after_pass.ktap", arch="arm64")
        table = report.status_table([r])
        self.assertIn("| M1 no memslot | pass 2 |", table)

    def test_counts_line(self) -> None:
        c = Counts(passed=3, failed=1, skipped=2, xfail=1)
        self.assertEqual(c.line(), "3 passed, 1 failed, 2 skipped (1 known deviations failing as listed, 0 fixed)")


class QemuArgv(unittest.TestCase):
    def test_arm64(self) -> None:
        argv = CONFIGS["arm64"].argv("K", "I", "", {})
        self.assertEqual(argv[:3], ["qemu-system-aarch64", "-M", "virt,virtualization=on,gic-version=3"])
        self.assertEqual(argv[-6:], ["-kernel", "K", "-initrd", "I", "-append",
                                     "console=ttyAMA0 rdinit=/init panic=-1 loglevel=1"])

    def test_environment_and_spaces_stay_one_argument(self) -> None:
        argv = CONFIGS["arm64"].argv("/a b/K", "I", "x=1 y=2",
                                     {"KVMC_ARM64_MACHINE": "virt,gic-version=3", "KVMC_ARM64_SMP": "2"})
        self.assertIn("virt,gic-version=3", argv)
        self.assertEqual(argv[argv.index("-smp") + 1], "2")
        self.assertEqual(argv[argv.index("-kernel") + 1], "/a b/K")
        self.assertTrue(argv[-1].endswith(" x=1 y=2"))

    def test_image_headers(self) -> None:
        d = tempfile.mkdtemp()
        try:
            def image(name: str, data: bytes) -> str:
                path = os.path.join(d, name)
                with open(path, "wb") as f:
                    f.write(data)
                return path
            arm = image("Image", bytes(56) + b"ARM\x64" + bytes(100))
            bz = image("bzImage", bytes(0x202) + b"HdrS" + bytes(100))
            junk = image("junk", b"\x55" * 5000)
            empty = image("empty", b"")
            a, x = CONFIGS["arm64"], CONFIGS["x86_64-shadow"]
            self.assertEqual((a.image_problem(arm), x.image_problem(bz)), ("", ""))
            self.assertIn("an x86 bzImage", a.image_problem(bz))
            self.assertIn("an arm64 Image", x.image_problem(arm))
            self.assertIn("not a kernel image", a.image_problem(junk))
            self.assertEqual(x.image_problem(empty), "it is empty")
        finally:
            shutil.rmtree(d)

    def test_shadow_is_x86_with_npt_off(self) -> None:
        x86, shadow = CONFIGS["x86_64"], CONFIGS["x86_64-shadow"]
        # The same VM; npt=0 also on the command line, for a kernel whose
        # kvm-amd is built in (a --build kernel).
        self.assertEqual(shadow.argv("K", "I", "", {})[:-1], x86.argv("K", "I", "", {})[:-1])
        self.assertEqual(shadow.argv("K", "I", "", {})[-1], x86.argv("K", "I", "", {})[-1] + " kvm_amd.npt=0")
        self.assertEqual(shadow.build_arch, "x86_64")
        self.assertEqual(shadow.module_params, {"kvm-amd": "npt=0"})
        from .runner import Settings, run_config
        self.assertIn("KVMC_MODULE_PARAMS_kvm_amd=npt=0", run_config(shadow, Settings()))


class DeviceTree(unittest.TestCase):
    @staticmethod
    def blob(free: int) -> bytes:
        rsv = b"\0" * 16
        structure = struct.pack(">I", 9)          # FDT_END
        strings = b"compatible\0"
        off_rsv, off_struct = 40, 56
        off_strings = off_struct + len(structure)
        used = off_strings + len(strings)
        header = struct.pack(">10I", 0xd00dfeed, used + free, off_struct, off_strings, off_rsv,
                             17, 16, 0, len(strings), len(structure))
        return header + rsv + structure + strings + b"\0" * free

    def test_pack_cuts_the_free_space(self) -> None:
        packed = qemu.pack_fdt(self.blob(1 << 20))
        self.assertEqual(packed, self.blob(0))
        self.assertEqual(struct.unpack(">I", packed[4:8])[0], len(packed))

    def test_pack_refuses_what_is_not_a_tree(self) -> None:
        with self.assertRaises(ValueError):
            qemu.pack_fdt(b"\0" * 64)
        broken = bytearray(self.blob(0))
        broken[4:8] = struct.pack(">I", 10)       # totalsize inside the header
        with self.assertRaises(ValueError):
            qemu.pack_fdt(bytes(broken))

    def test_a_qemu_that_dumps_no_tree_boots_without_one(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            argv = ["true", "-M", "virt", "-kernel", "K", "-initrd", "I", "-append", "x"]
            self.assertEqual(qemu.packed_dtb(argv, os.path.join(d, "dtb")), "")
            self.assertEqual(os.listdir(os.path.join(d, "dtb")), [])

    def test_machine_args_leave_out_the_boot(self) -> None:
        argv = CONFIGS["arm64"].argv("K", "I", "x=1", {})
        machine = qemu.machine_args([*argv, "-dtb", "D"])
        self.assertEqual(machine, argv[:argv.index("-kernel")])


class Initramfs(unittest.TestCase):
    def test_busybox_applets_from_its_table_of_names(self) -> None:
        from .runner import busybox_applets
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "busybox")
            with open(path, "wb") as f:
                f.write(b"\x7fELF code \x00\xae [\x00[[\x00acpid\x00ash\x00sh\x00zcat\x00\x00strings")
            self.assertEqual(busybox_applets(path), ["[", "[[", "acpid", "ash", "sh", "zcat"])
            # Not sorted, or no sh: not the table; /init makes the links.
            for junk in (b"[\x00[[\x00sh\x00ash\x00", b"[\x00[[\x00acpid\x00", b"no table"):
                with open(path, "wb") as f:
                    f.write(junk)
                self.assertEqual(busybox_applets(path), [])


class Console_(unittest.TestCase):
    def test_sections(self) -> None:
        c = Console("arm64")
        for line in ["boot noise", "@@KVMC-BEGIN guest 7.3.4+deb13-arm64 aarch64", "@@KVMC-BEGIN ktap",
                     "TAP version 13", "1..0", "@@KVMC-END ktap", "@@KVMC-BEGIN observations", "{}",
                     "@@KVMC-END observations", "@@KVMC-BEGIN dmesg", "[0.0] hello", "@@KVMC-END dmesg",
                     "\x1bc\x1b[?7l@@KVMC-NOTE kvm_amd.npt=0", "@@KVMC-DONE"]:
            c.feed(line + "\r\n")
        self.assertTrue(c.booted and c.done)
        self.assertEqual(c.release, "7.3.4+deb13-arm64")
        self.assertEqual(c.ktap_lines, ["TAP version 13", "1..0"])
        self.assertEqual((c.observations, c.dmesg), (["{}"], ["[0.0] hello"]))
        self.assertEqual(c.console[0], "boot noise")
        self.assertEqual(c.notes, ["kvm_amd.npt=0"])
        self.assertEqual(c.boot_health, "")

    def test_boot_health_reported_once(self) -> None:
        c = Console("x86_64")
        for line in ["@@KVMC-BEGIN guest 7.3.4 x86_64",
                     "@@KVMC-BOOTHEALTH tainted=512 [1.2] WARNING: CPU: 0 PID: 1 at mm/x.c:1",
                     "@@KVMC-BEGIN ktap", "TAP version 13", "1..0", "@@KVMC-END ktap", "@@KVMC-DONE"]:
            c.feed(line + "\n")
        self.assertEqual(c.boot_health, "tainted=512 [1.2] WARNING: CPU: 0 PID: 1 at mm/x.c:1")
        from .results import Run
        r = Run(arch="x86_64", label="x86_64", boot_health=c.boot_health)
        self.assertTrue(any("unhealthy before the first test" in x for x in r.as_test(1).pre))


class Cli(unittest.TestCase):
    def test_duplicate_arch_counts_once(self) -> None:
        o = parse_args(["--arch", "arm64", "--arch=arm64"], {})
        self.assertEqual(o.s.arches, ["arm64"])

    def test_usage_errors(self) -> None:
        for argv, msg in ((["--arch"], "option --arch needs a value"),
                          (["--arch", "sparc"], "not supported"),
                          (["--timeout", "0s"], "positive whole number, not '0s'"),
                          (["--debian", "a/b"], "neither a Debian suite"),
                          (["--arch", "arm64", "--kernel", "/k", "--modules", "/"], "built into the arm64")):
            with self.assertRaisesRegex(UsageError, msg):
                parse_args(argv, {})

    def test_strict_from_the_environment(self) -> None:
        self.assertTrue(parse_args([], {"KVMC_STRICT": "1"}).s.strict)
        self.assertFalse(parse_args([], {}).s.strict)

    def test_doc_fixes(self) -> None:
        name = "12-doc-pre-fault-memory-errors"
        self.assertEqual([name], parse_args(["--doc-fix", name], {}).s.doc_fixes)
        self.assertEqual([name], parse_args(["--doc-fix", name + ".patch"], {"KVMC_DOC_FIXES": name}).s.doc_fixes)
        self.assertEqual([], parse_args([], {}).s.doc_fixes)
        for bad, msg in (("01-x86-mmu-error-pfn-memory-fault", "named NN-doc-what"),
                         ("99-doc-nothing", "no such fix"), ("../x", "named NN-doc-what")):
            with self.assertRaisesRegex(UsageError, msg):
                parse_args(["--doc-fix", bad], {})
        cfg = run_config(CONFIGS["x86_64"], parse_args(["--doc-fix", name], {}).s)
        self.assertIn(f"KVMC_DOC_FIXES={name}\n", cfg)

    def test_unwritable_report_path(self) -> None:
        with self.assertRaisesRegex(UsageError, "no directory"):
            check_writable("--json", "/nonexistent-dir/x.json")
        d = tempfile.mkdtemp()
        try:
            with self.assertRaisesRegex(UsageError, "is a directory"):
                check_writable("--junit", d)
            check_writable("--junit", os.path.join(d, "ok.xml"))
        finally:
            shutil.rmtree(d)


    def test_build_needs_one_arch(self) -> None:
        with self.assertRaisesRegex(UsageError, "--build needs exactly one --arch"):
            parse_args(["--build", "/x"], {})
        with self.assertRaisesRegex(UsageError, "go with --build"):
            parse_args(["--arch", "arm64", "--kconfig-add", "CONFIG_X=y"], {})


class TypeCheck(unittest.TestCase):
    def test_mypy_clean(self) -> None:
        mypy = shutil.which("mypy")
        if not mypy:
            self.skipTest("mypy not installed: make deps")
        cache = os.path.join(TOP, "build", "mypy_cache")
        p = subprocess.run([mypy, "--cache-dir", cache, "--python-version", "3.11", "--strict",
                            "--no-error-summary", "-p", "kvmc"],
                           cwd=os.path.join(TOP, "scripts"), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)


# The other test modules main() runs along with this one's.
# Every scripts/kvmc/tests/test_*.py, found rather than listed, so that a
# module added there is never left out of make check.
OTHER_TEST_MODULES = ("kvmc.test_qemu_newer", *sorted(
    "kvmc.tests." + os.path.splitext(f)[0]
    for f in os.listdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))
    if f.startswith("test_") and f.endswith(".py")))
# Stripped from test ids in KTAP: this module's tests keep Class.test, the
# others keep module.Class.test (test_kbuild.BuildTest.test_timeout).
STRIP_PREFIXES = ("kvmc.test_kvmc.", "kvmc.tests.", "kvmc.")


class KtapResult(unittest.TextTestResult):
    """Results as KTAP lines (for make check)."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.n = 0

    def _line(self, test: unittest.TestCase, ok: bool, directive: str = "", text: str = "") -> None:
        self.n += 1
        for line in text.splitlines():
            print(f"# {line}")
        name = test.id().removeprefix("__main__.")
        for prefix in STRIP_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        print(f"{'ok' if ok else 'not ok'} {self.n} {name}" + (f" # {directive}" if directive else ""),
              flush=True)

    def addSuccess(self, test: unittest.TestCase) -> None:
        self._line(test, True)

    def addFailure(self, test: unittest.TestCase, err: object) -> None:
        super().addFailure(test, err)  # type: ignore[arg-type]
        self._line(test, False, text=self.failures[-1][1])

    def addError(self, test: unittest.TestCase, err: object) -> None:
        super().addError(test, err)  # type: ignore[arg-type]
        self._line(test, False, text=self.errors[-1][1])

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        self._line(test, True, f"SKIP {reason}")


def main() -> int:
    loader = unittest.defaultTestLoader
    suite = unittest.TestSuite([loader.loadTestsFromModule(sys.modules[__name__])]
                               + [loader.loadTestsFromName(name) for name in OTHER_TEST_MODULES])
    if "--ktap" not in sys.argv:
        ok = unittest.TextTestRunner(verbosity=2 if "-v" in sys.argv else 1).run(suite).wasSuccessful()
        return 0 if ok else 1
    print("TAP version 13")
    print(f"1..{suite.countTestCases()}")
    print("# kvm-contract: the host side's unit tests (scripts/kvmc)")
    with open(os.devnull, "w") as devnull:
        result = KtapResult(devnull, False, 0)
        suite.run(result)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-2.0
"""Unit tests of run_tests.sh's options (kvmc.cli): the one argparse
parser, and every mistake refused as usage (exit 2) before anything is
built or booted; the reports' exit status; the test names of a build.

    cd scripts && python3 -m unittest kvmc.tests.test_cli
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from kvmc import TOP, cli, testnames
from kvmc.cli import UsageError, parse_args
from kvmc.qemu_configs import CONFIGS
from kvmc.results import Run
from kvmc.ktap import parse


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


class Parser(unittest.TestCase):
    def test_every_flag_and_its_forms(self) -> None:
        env: dict[str, str] = {}
        o = parse_args(["--arch", "x86_64", "--arch=x86_64", "-t", "-odd-pattern", "-l", "-v",
                        "--strict", "--allow-destructive", "--unit", "--serial", "--kernel=/k", "--modules",
                        "/", "--timeout", "7", "--run-timeout=8", "--boot-timeout", "9", "-o", "r",
                        "--json", "j", "--junit=u", "--report", "h", "--baseline", "b",
                        "--write-baseline", "w", "--force"], env)
        s = o.s
        self.assertEqual(s.arches, ["x86_64"])
        self.assertEqual(s.pattern, "-odd-pattern")
        self.assertTrue(s.list_only and s.verbose and s.strict and s.destructive and o.unit and o.serial)
        self.assertEqual((s.kernel_image, s.modules_dir, s.where), ("/k", "/", "vm"))
        self.assertEqual((s.bin_timeout, s.run_timeout_ms, s.boot_timeout), (7, 8, 9))
        self.assertEqual(env["KVMC_RUN_TIMEOUT_MS"], "8")
        self.assertEqual(s.results, os.path.abspath("r"))
        self.assertEqual((o.json, o.junit, o.report, o.baseline, o.write_baseline),
                         tuple(os.path.abspath(x) for x in "juhbw"))
        self.assertTrue(o.force)
        o = parse_args(["--arch", "arm64", "--build", "/t", "--kconfig", "f", "--kconfig-add", "CONFIG_A=y",
                        "--kconfig-add=CONFIG_B=m"], {})
        self.assertEqual(o.kconfig_add, ["CONFIG_A=y", "CONFIG_B=m"])
        o = parse_args(["--matrix", "--kernels", "bookworm sid", "--arch", "arm64", "--arch=x86_64"], {})
        self.assertEqual((o.matrix, o.kernels), (True, "bookworm sid"))
        self.assertEqual(parse_args(["--native"], {}).s.where, "native")
        self.assertEqual(parse_args(["--vm", "--native"], {}).s.where, "native")
        self.assertEqual(parse_args(["--native", "--vm"], {}).s.where, "vm")
        self.assertEqual(parse_args(["--native", "--debian", "sid"], {}).s.where, "vm")
        self.assertEqual(parse_args([], {}).s.where, "auto")
        self.assertEqual(parse_args(["--kselftest"], {}).s.where, "vm")

    def test_help_lists_every_option(self) -> None:
        code, out, _ = run_main(["-h"])
        self.assertEqual(code, 0)
        for action in cli.make_parser()._actions:
            for flag in action.option_strings:
                self.assertIn(flag, out)
        for variable in ("KVMC_BIN_TIMEOUT", "KVMC_RUN_TIMEOUT_MS", "KVMC_VM_TIMEOUT", "--force"):
            self.assertIn(variable, out)

    def test_usage_errors_name_the_mistake(self) -> None:
        for argv, msg in ((["--bogus"], "unknown option '--bogus'"),
                          (["stray"], "unknown option 'stray'"),
                          (["--arc", "arm64"], "unknown option '--arc'"),
                          (["--arch"], "option --arch needs a value"),
                          (["--junit"], "option --junit needs a value"),
                          (["--arch", "sparc"], "not supported"),
                          (["--timeout", "0s"], "positive whole number, not '0s'"),
                          (["--kernel", "/boot/vmlinuz"], "--kernel needs exactly one --arch"),
                          (["--debian", "a/b"], "neither a Debian suite"),
                          (["--arch", "arm64", "--kernel", "/k", "--modules", "/"], "built into the arm64")):
            with self.subTest(argv=argv):
                code, out, err = run_main(argv)
                self.assertEqual(code, 2)
                self.assertTrue(err.startswith(f"run_tests.sh: {msg}") or msg in err.splitlines()[0], err)
                self.assertIn("usage: ./run_tests.sh", err)
                self.assertEqual(out, "")

    def test_limits_name_the_variable_and_never_wrap(self) -> None:
        cases: list[tuple[list[str], dict[str, str], str]] = [
            (["--timeout", "99999999999999999999"], {}, "KVMC_BIN_TIMEOUT"),
            ([], {"KVMC_RUN_TIMEOUT_MS": str(2**32)}, "KVMC_RUN_TIMEOUT_MS"),
            ([], {"KVMC_RUN_TIMEOUT_MS": str(2**32 - 1)}, "KVMC_RUN_TIMEOUT_MS"),
            (["--boot-timeout", "3601"], {}, "KVMC_BOOT_TIMEOUT"),
            ([], {"KVMC_VM_TIMEOUT": "86401"}, "KVMC_VM_TIMEOUT")]
        for argv, env, variable in cases:
            with self.subTest(argv=argv, env=env), self.assertRaisesRegex(UsageError, variable):
                parse_args(argv, dict(env))
        for lim in cli.LIMITS:
            self.assertLess(lim.most, 2**32)
            o = parse_args([], {lim.variable: str(lim.most)})
            self.assertIn(lim.most, (o.s.bin_timeout, o.s.run_timeout_ms, o.s.boot_timeout, o.s.vm_timeout))

    def test_build_with_matrix_is_refused(self) -> None:
        for argv in (["--arch", "arm64", "--build", "/t", "--matrix"],
                     ["--arch", "arm64", "--build", "/t", "--matrix", "--kernels", "bookworm sid"]):
            with self.subTest(argv=argv), self.assertRaisesRegex(UsageError, "--matrix"):
                parse_args(argv, {})

    def test_kselftest_with_a_pattern_is_refused(self) -> None:
        with self.assertRaisesRegex(UsageError, "--kselftest .* cannot select tests"):
            parse_args(["--kselftest", "-t", "m1_"], {})


class Preflight(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp())

    def tearDown(self) -> None:
        shutil.rmtree(self.dir)

    def test_the_baseline_being_read_is_never_written(self) -> None:
        b = self.dir / "baseline.txt"
        b.write_text("# curated\n")
        (self.dir / "link.txt").symlink_to(b)
        here = os.getcwd()
        os.chdir(self.dir)
        try:
            for write in (str(b), str(self.dir / "link.txt"), "baseline.txt", "./sub/../baseline.txt"):
                with self.subTest(write=write), self.assertRaisesRegex(UsageError, "the --baseline being read"):
                    parse_args(["--baseline", str(b), "--write-baseline", write], {})
        finally:
            os.chdir(here)
        code, _, err = run_main(["--baseline", str(b), "--write-baseline", str(self.dir / "link.txt")])
        self.assertEqual(code, 2, err)
        self.assertEqual(b.read_text(), "# curated\n")

    def test_results_directory_that_is_a_file(self) -> None:
        f = self.dir / "file"
        f.write_text("mine\n")
        with self.assertRaisesRegex(UsageError, f"-o {f}: not a directory"):
            cli.check_results_dir(str(f))
        code, _, err = run_main(["--arch", "arm64", "-o", str(f)])
        self.assertEqual(code, 2)
        self.assertIn(f"-o {f}: not a directory", err)
        self.assertEqual(f.read_text(), "mine\n")

    def test_results_directory_on_a_full_or_read_only_filesystem(self) -> None:
        for options, fill in (("size=64k", True), ("ro", False)):
            mnt = self.dir / f"mnt-{fill}"
            mnt.mkdir()
            if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "kvmc-test", str(mnt)],
                              stderr=subprocess.DEVNULL).returncode != 0:
                self.skipTest("cannot mount a tmpfs here (needs root)")
            try:
                if fill:
                    with contextlib.suppress(OSError), open(mnt / "fill", "wb") as f:
                        f.write(b"\0" * 200000)
                with self.subTest(options=options), \
                        self.assertRaisesRegex(UsageError, f"-o {mnt}/r: cannot .*(No space|Read-only)"):
                    cli.check_results_dir(str(mnt / "r") if fill else str(mnt / "r"))
                with self.assertRaisesRegex(UsageError, "--junit .*: cannot write there"):
                    cli.check_writable("--junit", str(mnt / "r.xml"))
                self.assertEqual([p.name for p in mnt.iterdir() if p.name.startswith(".")], [])
            finally:
                subprocess.run(["umount", str(mnt)])

    def test_report_path_that_is_a_device(self) -> None:
        with self.assertRaisesRegex(UsageError, "--json /dev/null: not a regular file"):
            cli.check_writable("--json", "/dev/null")

    def test_kernel_that_is_no_file(self) -> None:
        fifo = self.dir / "fifo"
        os.mkfifo(fifo)
        for path, what in ((str(self.dir), "a directory"), (str(fifo), "a FIFO"),
                           ("/dev/zero", "a character device")):
            with self.subTest(path=path), self.assertRaisesRegex(UsageError, f"--kernel {path}: {what}"):
                cli.check_kernel_file(path)
            code, _, err = run_main(["--arch", "arm64", "--kernel", path, "-o", str(self.dir / "r")])
            self.assertEqual(code, 2, err)
        cli.check_kernel_file(str(self.dir / "missing"))  # the run says so (125)

    def test_gzip_of_random_data_is_no_kernel(self) -> None:
        image = self.dir / "Image.gz"
        image.write_bytes(gzip.compress(os.urandom(100000)))
        for arch in ("arm64", "x86_64"):
            self.assertIn("not a kernel image", CONFIGS[arch].image_problem(str(image)))
        image.write_bytes(gzip.compress(bytes(56) + b"ARM\x64" + bytes(4000)))
        self.assertEqual(CONFIGS["arm64"].image_problem(str(image)), "")

    def test_build_tree_mistakes_are_usage(self) -> None:
        tree = self.dir / "linux"
        tree.mkdir()
        o = parse_args(["--arch", "arm64", "--build", str(self.dir / "nonexistent")], {})
        with self.assertRaisesRegex(UsageError, "--build: .*no such directory"):
            cli.check_build_tree(o)
        o = parse_args(["--arch", "arm64", "--build", str(tree)], {})
        with self.assertRaisesRegex(UsageError, "--build: .*is not a kernel source tree"):
            cli.check_build_tree(o)
        for need in ("Makefile", "Kconfig", "arch/arm64/x", "scripts/kconfig/merge_config.sh", ".config"):
            (tree / need).parent.mkdir(parents=True, exist_ok=True)
            (tree / need).write_text("")
        with self.assertRaisesRegex(UsageError, "--build: .*configured in place"):
            cli.check_build_tree(o)
        code, _, err = run_main(["--arch", "arm64", "--build", str(tree), "-o", str(self.dir / "r")])
        self.assertEqual(code, 2, err)


def a_run(directory: str, failed: bool) -> Run:
    doc = parse(["TAP version 13", "1..1", "# kvm-contract: b_test", "    TAP version 13", "    1..1",
                 f"    {'not ok' if failed else 'ok'} 1 m4_prot_none.load.fault",
                 f"{'not ok' if failed else 'ok'} 1 b_test"], "arm64")
    return Run(arch="arm64", label="arm64", doc=doc, kernel="7.3.0-fake", directory=directory)


class Reports(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp())

    def tearDown(self) -> None:
        shutil.rmtree(self.dir)

    def test_json_says_the_exit_status_when_a_report_fails(self) -> None:
        o = parse_args(["--json", str(self.dir / "r.json"), "--junit", str(self.dir / "gone" / "r.xml")], {})
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code, why = cli.write_reports(o, [a_run(str(self.dir), False)], 0, "")
        self.assertEqual(code, 125)
        self.assertIn("junit: could not write", err.getvalue())
        self.assertEqual(json.loads((self.dir / "r.json").read_text())["exit_code"], 125)
        self.assertEqual([p.name for p in self.dir.iterdir()], ["r.json"])

    def test_a_baseline_is_not_cut_short_without_force(self) -> None:
        w = self.dir / "curated.txt"
        w.write_text("# mine\narm64 7.* m4_* C4 exit_reason=KVM_EXIT_UNKNOWN(0)  curated reason\n")
        before = w.read_text()
        o = parse_args(["--write-baseline", str(w), "--json", str(self.dir / "r.json")], {})
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code, _ = cli.write_reports(o, [a_run(str(self.dir), True)], 1, "")
        self.assertEqual(code, 2)
        self.assertEqual(w.read_text(), before)
        self.assertIn("arm64 7.* m4_* C4 exit_reason=KVM_EXIT_UNKNOWN(0)  curated reason", err.getvalue())
        self.assertIn("--force", err.getvalue())
        self.assertEqual(json.loads((self.dir / "r.json").read_text())["exit_code"], 2)
        o.force = True
        with contextlib.redirect_stderr(err):
            code, _ = cli.write_reports(o, [a_run(str(self.dir), True)], 1, "")
        self.assertEqual(code, 1)
        self.assertNotEqual(w.read_text(), before)
        # Nothing lost: written without --force.
        o.force = False
        with contextlib.redirect_stderr(err):
            code, _ = cli.write_reports(o, [a_run(str(self.dir), True)], 1, "")
        self.assertEqual(code, 1)


class TestNames(unittest.TestCase):
    # The two forms the harness has used, as the preprocessor leaves them.
    PREPROCESSED = """
        struct __fixture_metadata { const char *name; } kvmc_fixture_global_a_test __attribute__((unused)) = {
         .name = "global", .prev = &kvmc_fixture_global_a_test, };
        static struct __fixture_metadata _m1_x_fixture_object = { .name = "m1_x", .prev = &_m1_x_fixture_object, };
        static struct __fixture_variant_metadata _m1_x_w1_object = { .name = "w1", .data = &_m1_x_w1_variant};
        static void _register_m1_x_w1(void) { __register_fixture_variant(&_m1_x_fixture_object, &_m1_x_w1_object); }
        static struct __fixture_variant_metadata _m1_x_w2_object = { .name = "w2", .data = &_m1_x_w2_variant};
        static void _register_m1_x_w2(void) { __register_fixture_variant(&_m1_x_fixture_object, &_m1_x_w2_object); }
        static void _register_m1_x_load(void) { struct __test_metadata *object = mmap(0);
         object->name = "load"; object->fn = &wrapper_m1_x_load; object->fixture = &_m1_x_fixture_object; }
        static struct __fixture_metadata _m2_y_fixture_object = { .name = "m2_y", };
        static void _register_m2_y_store(void) { struct __test_metadata *object = mmap(0);
         object->name = "store"; object->fn = &wrapper_m2_y_store; object->fixture = &_m2_y_fixture_object; }
        static struct __test_metadata _plain_object = { .name = "plain", .fn = &wrapper_plain,
         .fixture = &kvmc_fixture_global_a_test, .termsig = -1, };
    """

    def test_names_from_the_preprocessed_source(self) -> None:
        self.assertEqual(testnames.from_preprocessed(self.PREPROCESSED),
                         ["m1_x.w1.load", "m1_x.w2.load", "m2_y.store", "global.plain"])

    def test_selects_as_ktap_runner_does(self) -> None:
        self.assertTrue(testnames.selects("w1.lo", "m1_x.w1.load"))
        self.assertTrue(testnames.selects("m1_*", "m1_x.w1.load"))
        self.assertFalse(testnames.selects("m1_", "m2_y.store"))
        self.assertFalse(testnames.selects("load", "m1_x.w1.loa"))
        # Several, separated by commas: any of them.
        self.assertTrue(testnames.selects("m2_*,w1.lo", "m1_x.w1.load"))
        self.assertTrue(testnames.selects("nothing,m2_*", "m2_y.store"))
        self.assertFalse(testnames.selects("m2_*,,w2", "m1_x.w1.load"))

    def test_a_pattern_without_a_test_is_not_booted(self) -> None:
        real = testnames.read_names
        testnames.read_names = lambda arch: ["m1_x.w1.load"]
        try:
            cfg = CONFIGS["arm64"]
            s = parse_args(["-t", "no_such_test"], {}).s
            self.assertTrue(cli.selects_nothing(cfg, s))
            self.assertFalse(cli.selects_nothing(cfg, parse_args(["-t", "w1"], {}).s))
            self.assertFalse(cli.selects_nothing(cfg, parse_args([], {}).s))
            s.extra_tests = "/x"
            self.assertFalse(cli.selects_nothing(cfg, s))
        finally:
            testnames.read_names = real

    def test_the_build_lists_what_its_binaries_list(self) -> None:
        host = os.uname().machine.replace("aarch64", "arm64")
        tests = Path(TOP) / "build" / host / "tests"
        names = testnames.read_names(host)
        if names is None or not (tests / "kvm-contract-list.txt").exists():
            self.skipTest(f"no build of {host} here")
        listed = subprocess.run([str(Path(TOP) / "scripts" / "ktap-runner.sh"), "-l", str(tests)],
                                stdout=subprocess.PIPE, text=True).stdout.split()
        self.assertEqual(sorted(names), sorted(listed))


if __name__ == "__main__":
    unittest.main()

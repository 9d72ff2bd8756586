# SPDX-License-Identifier: GPL-2.0
"""Unit tests of kvmc.soak's pure parts: options, dealing runs to clones,
comparing verdicts, a run's reason and counts (from its results), finding
leftovers in a fake tree, and what the soak may remove in its --out.

    cd scripts && python3 -m unittest kvmc.tests.test_soak
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import tempfile
import unittest
from collections import Counter
from unittest import mock

from kvmc import common, soak
from kvmc.soak import Leftover, Outcome, Proc, RunSpec

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test_data")


class OptionsTest(unittest.TestCase):
    def test_own_options_and_the_rest_for_the_runs(self) -> None:
        o = soak.parse_args(["-n", "4", "--parallel=2", "--arch", "arm64", "-t", "m1_*", "--vm",
                             "--limit", "60"])
        self.assertEqual((o.n, o.parallel, o.clones, o.limit), (4, 2, 0, 60))
        self.assertEqual((o.cache, o.cold_cache, o.keep), ("", False, False))
        self.assertEqual(o.run_args, ["--arch", "arm64", "-t", "m1_*", "--vm"])

    def test_a_value_of_run_tests_is_not_taken_for_a_soak_option(self) -> None:
        o = soak.parse_args(["-t", "--keep"])
        self.assertEqual(o.run_args, ["-t", "--keep"])
        self.assertFalse(o.keep)

    def test_the_runs_arguments_keep_their_order(self) -> None:
        # run_tests.sh takes the last of --native and --kernel: the order
        # of its options with and without a value is theirs.
        o = soak.parse_args(["--kernel", "/k", "-n", "3", "--native", "--arch=arm64", "--keep",
                             "-t", "-n", "-v"])
        self.assertEqual(o.run_args, ["--kernel", "/k", "--native", "--arch", "arm64", "-t", "-n", "-v"])
        self.assertEqual((o.n, o.keep), (3, True))

    def test_help_exits_0(self) -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as cm:
            soak.parse_args(["-h"])
        self.assertEqual(cm.exception.code, 0)
        for flag in ("-n N", "--parallel P", "--clones C", "--cold-cache", "--cache DIR", "--out DIR",
                     "--limit S", "--keep"):
            self.assertIn(flag, out.getvalue())

    def test_usage_errors(self) -> None:
        for argv, text in ((["-n", "0"], "argument -n: needs a positive whole number, not '0'"),
                           (["--limit=1s"], "argument --limit: needs a positive whole number, not '1s'"),
                           (["--parallel"], "argument --parallel: expected one argument"),
                           (["-n", "1", "--clones", "2"], "-n 1 is fewer runs than --clones 2"),
                           (["-o", "x"], "each run's results go to OUT/<i>"),
                           (["-l"], "a soak runs the tests"),
                           (["--bogus"], "run_tests.sh: unknown option '--bogus'"),
                           (["--arch", "sparc"], "--arch sparc: not supported")):
            with self.subTest(argv=argv), self.assertRaises(soak.UsageError) as cm:
                soak.parse_args(argv)
            self.assertIn(text, str(cm.exception))

    def test_cold_cache_must_be_empty(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(soak.parse_args(["--cold-cache", "--cache", d]).cache, d)
            open(os.path.join(d, "x"), "w").close()
            with self.assertRaisesRegex(soak.UsageError, "not empty"):
                soak.parse_args(["--cold-cache", "--cache", d])
            self.assertEqual(soak.parse_args(["--cache", d]).cache, d)


class PlanTest(unittest.TestCase):
    def test_runs_dealt_to_the_clones_in_turn(self) -> None:
        specs = soak.plan(5, 2, "/o", ["/c1", "/c2"])
        self.assertEqual([(s.index, s.clone, s.top, s.out) for s in specs],
                         [(1, 1, "/c1", "/o/1"), (2, 2, "/c2", "/o/2"), (3, 1, "/c1", "/o/3"),
                          (4, 2, "/c2", "/o/4"), (5, 1, "/c1", "/o/5")])

    def test_without_clones_everything_in_this_one(self) -> None:
        self.assertEqual({(s.clone, s.top) for s in soak.plan(3, 0, "/o", ["/top"])}, {(0, "/top")})


class VerdictsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp)

    def run_dir(self, name: str, arches: dict[str, str], untestable: tuple[str, ...] = ()) -> str:
        d = os.path.join(self.tmp, name)
        for arch, ktap in arches.items():
            os.makedirs(os.path.join(d, arch))
            shutil.copy(os.path.join(DATA, ktap), os.path.join(d, arch, "results.ktap"))
            if arch in untestable:
                with open(os.path.join(d, arch, "untestable"), "w") as f:
                    f.write("the test VM stopped\n")
        return d

    def test_same_verdicts_nothing_changed(self) -> None:
        seen = [soak.verdicts(self.run_dir(str(i), {"arm64": "crash_after_pass.ktap"})) for i in (1, 2)]
        self.assertTrue(seen[0][0])
        self.assertEqual(seen[0][1], {"arm64"})
        self.assertEqual(soak.changed(seen), [])

    def test_a_verdict_that_changed_and_a_test_missing(self) -> None:
        seen = [soak.verdicts(self.run_dir("1", {"arm64": "vm_died.ktap"})),
                soak.verdicts(self.run_dir("2", {"arm64": "vm_died.ktap"})),
                soak.verdicts(self.run_dir("3", {"arm64": "timeout.ktap"}))]
        diffs = dict(soak.changed(seen))
        self.assertEqual(diffs[("arm64", "m1_no_memslot.w1.store")], Counter({"fail": 2, "missing": 1}))
        self.assertEqual(diffs[("arm64", "slow.two")], Counter({"fail": 1, "missing": 2}))
        self.assertEqual(soak.counts_text(diffs[("arm64", "slow.two")]), "fail x1, missing x2")

    def test_an_architecture_not_tested_is_left_out(self) -> None:
        seen = [soak.verdicts(self.run_dir("1", {"arm64": "vm_died.ktap", "x86_64": "timeout.ktap"})),
                soak.verdicts(self.run_dir("2", {"arm64": "vm_died.ktap", "x86_64": "nested.ktap"},
                                           untestable=("x86_64",)))]
        self.assertEqual(seen[1][1], {"arm64"})
        self.assertEqual(soak.changed(seen), [])

    def test_own_tests_are_not_a_configuration(self) -> None:
        v, tested = soak.verdicts(self.run_dir("1", {"runner": "timeout.ktap"}))
        self.assertEqual((v, tested), ({}, set()))


class ReasonTest(unittest.TestCase):
    """A run's counts and why it did not pass come from its results
    directory, not from run_tests.sh's messages."""

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp)

    def arch_dir(self, arch: str, ktap: str = "", untestable: str = "") -> str:
        d = os.path.join(self.tmp, "1", arch)
        os.makedirs(d)
        if ktap:
            shutil.copy(os.path.join(DATA, ktap), os.path.join(d, "results.ktap"))
        if untestable:
            with open(os.path.join(d, "untestable"), "w") as f:
                f.write(untestable + "\n")
        return os.path.join(self.tmp, "1")

    def test_counts_and_reason_from_the_results_not_the_messages(self) -> None:
        run = self.arch_dir("arm64", "vm_died.ktap", untestable="the test VM stopped")
        # Messages that would mislead a reader of stderr: neither counts
        # nor a reason are taken from them.
        err = "run_tests.sh: arm64: booting\n9 passed, 9 failed, 9 skipped\n"
        self.assertEqual(soak.summary_line(run), "1 passed, 1 failed, 0 skipped")
        self.assertEqual(soak.reason(run, err, 125), "arm64: not tested: the test VM stopped")
        self.assertEqual(soak.reason(run, err, 0), "")
        self.assertFalse(soak.crashed(err, 125, run))

    def test_the_tests_that_failed(self) -> None:
        run = self.arch_dir("arm64", "crash_after_pass.ktap")
        self.assertEqual(soak.summary_line(run), "3 passed, 1 failed, 0 skipped")
        self.assertEqual(soak.reason(run, "", 1), "failed: arm64 bad_memslot_test")
        self.assertFalse(soak.crashed("", 1, run))

    def test_no_results_no_summary(self) -> None:
        run = os.path.join(self.tmp, "1")
        self.assertEqual(soak.summary_line(run), "")
        self.assertEqual(soak.reason(run, "soak: x\nrun_tests.sh: unknown option '--bogus'\n", 2),
                         "run_tests.sh: unknown option '--bogus'")

    def test_a_traceback_is_a_crash(self) -> None:
        run = os.path.join(self.tmp, "1")
        err = "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'arm64'\n"
        self.assertEqual(soak.reason(run, err, 1), "crashed: KeyError: 'arm64'")
        self.assertTrue(soak.crashed(err, 1, run))

    def test_exit_1_without_a_failed_test_is_a_crash(self) -> None:
        passed = os.path.join(self.tmp, "1", "arm64")
        os.makedirs(passed)
        with open(os.path.join(passed, "results.ktap"), "w") as f:
            f.write("TAP version 13\n1..1\nok 1 control_test\n")
        self.assertTrue(soak.crashed("", 1, os.path.join(self.tmp, "1")))
        self.assertTrue(soak.crashed("", 1, os.path.join(self.tmp, "no-results")))
        self.assertFalse(soak.crashed("", 0, os.path.join(self.tmp, "1")))

    def test_soak_exit_status(self) -> None:
        def out(rc: int | None, crashed: bool = False) -> Outcome:
            return Outcome(RunSpec(1, 0, "/t", "/o/1"), rc=rc, crashed=crashed)
        self.assertEqual(soak.verdict_of_soak([out(0), out(1)], 0, 0)[0], 0)
        self.assertEqual(soak.verdict_of_soak([out(0), out(125)], 0, 0)[0], 125)
        self.assertEqual(soak.verdict_of_soak([out(0), out(125)], 1, 0), (1, "1 verdicts changed"))
        self.assertEqual(soak.verdict_of_soak([out(0)], 0, 2), (1, "2 things left behind"))
        self.assertEqual(soak.verdict_of_soak([out(None)], 0, 0)[0], 1)
        self.assertEqual(soak.verdict_of_soak([out(143)], 0, 0)[0], 1)
        self.assertEqual(soak.verdict_of_soak([out(1, crashed=True)], 0, 0)[0], 1)
        self.assertEqual(soak.verdict_of_soak([out(2), out(2)], 0, 0)[0], 2)


class LeftoversTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp)

    def path(self, *parts: str) -> str:
        p = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def test_a_clean_tree(self) -> None:
        os.makedirs(self.path("build", "arm64", "initramfs", "root"))
        open(self.path("build", "arm64", "initramfs", "base.cpio"), "w").close()
        open(self.path("results", "1", "arm64", "results.ktap"), "w").close()
        os.makedirs(self.path("tmp"))
        os.makedirs(self.path("cache", "kernels"))
        self.assertEqual(soak.stray_files([self.path("build")], [self.path("results", "1")],
                                          self.path("tmp"), self.path("cache")), [])

    def test_each_kind_of_leftover(self) -> None:
        os.mkfifo(self.path("build", "arm64", "console.fifo"))
        open(self.path("results", "1", "arm64", "qemu.pid"), "w").close()
        os.makedirs(self.path("build", "arm64", "run.arm64.4242", "root"))
        open(self.path("tmp", "kvmc-status.77"), "w").close()
        os.makedirs(self.path("cache", "dl.4242.abcd", "deb"))
        os.makedirs(self.path("cache", "kernels"))
        got = soak.stray_files([self.path("build")], [self.path("results", "1")],
                               self.path("tmp"), self.path("cache"))
        self.assertEqual(got, [
            Leftover("download dir", self.path("cache", "dl.4242.abcd")),
            Leftover("fifo", self.path("build", "arm64", "console.fifo")),
            Leftover("pid file", self.path("results", "1", "arm64", "qemu.pid")),
            Leftover("scratch dir", self.path("build", "arm64", "run.arm64.4242")),
            Leftover("temp file", self.path("tmp", "kvmc-status.77"))])

    def test_processes_of_the_runs(self) -> None:
        procs = [
            Proc(10, "qemu-system-aarch64 -initrd /top/build/arm64/run.arm64.500/initrd.cpio", ""),
            Proc(11, "qemu-system-aarch64 -initrd /top/build/arm64/run.arm64.999/initrd.cpio", ""),
            Proc(12, "sleep 300", "HOME=/root\0KVMC_SOAK=77.1\0PATH=/bin"),
            Proc(13, "sleep 300", "KVMC_SOAK=77.10"),
            Proc(14, "/tmp/kvmc-soak.x/clone1/run_tests.sh -o /o/30", ""),
            Proc(15, "bash", "HOME=/root"),
            Proc(16, "python3 -m kvmc.cli -o /o/3", ""),
            Proc(17, "python3 -m kvmc.cli -o /o/3 --arch arm64", ""),
            Proc(18, "python3 -m kvmc.cli -o /o/30", ""),
        ]
        got = soak.stray_processes(procs, "77.1", ["/tmp/kvmc-soak.x", "/o/3"], {500})
        self.assertEqual([x.pid for x in got], [10, 12, 14, 16, 17])
        self.assertEqual(got[0], Leftover(
            "process", "10 qemu-system-aarch64 -initrd /top/build/arm64/run.arm64.500/initrd.cpio", 10))


class OutDirTest(unittest.TestCase):
    """--out: the soak removes only what it made (issue 27 item 1)."""

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def tearDown(self) -> None:
        for sig, handler in self.handlers.items():
            signal.signal(sig, handler)
        shutil.rmtree(self.tmp)

    def soak(self, out: str) -> tuple[int, str]:
        """The soak's main with its runs left out (no run_tests.sh starts)."""
        err = io.StringIO()
        with mock.patch.object(soak.Soak, "run_all"), \
                mock.patch.object(soak.Soak, "leftovers", return_value=[]), \
                contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = soak.main(["-n", "1", "--out", out, "--arch", "arm64"])
        return rc, err.getvalue()

    def write(self, path: str, text: str = "x\n") -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def test_a_users_directory_is_refused_and_left_alone(self) -> None:
        mine = os.path.join(self.tmp, "home")
        self.write(os.path.join(mine, "thesis.tex"))
        self.write(os.path.join(mine, "1", "notes"))
        rc, err = self.soak(mine)
        self.assertEqual(rc, 2)
        self.assertIn(f"--out {mine}: a directory the soak did not make", err)
        self.assertEqual(sorted(os.listdir(mine)), ["1", "thesis.tex"])
        self.assertTrue(os.path.isfile(os.path.join(mine, "1", "notes")))

    def test_a_file_or_a_symlink_is_refused(self) -> None:
        self.write(os.path.join(self.tmp, "file"))
        os.symlink(self.tmp, os.path.join(self.tmp, "link"))
        for name, text in (("file", "not a directory"), ("link", "a symbolic link")):
            with self.subTest(name=name):
                rc, err = self.soak(os.path.join(self.tmp, name))
                self.assertEqual(rc, 2)
                self.assertIn(text, err)
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, "file")))

    def test_a_soaks_directory_is_reused_and_only_its_runs_removed(self) -> None:
        out = os.path.join(self.tmp, "new", "soak")
        self.assertEqual(self.soak(out)[0], 0)
        self.assertTrue(os.path.isfile(os.path.join(out, soak.MARKER)))
        # What an earlier soak's runs left, and a file of the user's.
        self.write(os.path.join(out, "1", "arm64", "results.ktap"))
        self.write(os.path.join(out, "7.log"))
        self.write(os.path.join(out, "readme.txt"))
        rc, err = self.soak(out)
        self.assertEqual(rc, 0)
        self.assertEqual(sorted(os.listdir(out)), [soak.MARKER, "readme.txt"])
        self.assertIn("left as it was (not a soak's): readme.txt", err)

    def test_an_empty_directory_is_taken(self) -> None:
        out = os.path.join(self.tmp, "empty")
        os.makedirs(out)
        self.assertEqual(self.soak(out)[0], 0)
        self.assertTrue(os.path.isfile(os.path.join(out, soak.MARKER)))


class ChildrenTest(unittest.TestCase):
    """The runs are kvmc.common's registered children, and its Interrupted
    is the soak's: every way out of the soak stops them."""

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()

    def tearDown(self) -> None:
        common.stop_all()
        shutil.rmtree(self.tmp)

    def test_no_interrupted_of_its_own(self) -> None:
        self.assertIs(getattr(soak, "Interrupted", common.Interrupted), common.Interrupted)

    def test_a_run_is_stopped_by_common_stop_all(self) -> None:
        top = os.path.join(self.tmp, "top")
        os.makedirs(top)
        script = os.path.join(top, "run_tests.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexec sleep 60\n")
        os.chmod(script, 0o755)
        o = soak.Options(n=1, out=os.path.join(self.tmp, "out"))
        os.makedirs(o.out)
        s = soak.Soak(o, self.tmp, [top], "")
        s.start(RunSpec(1, 0, top, os.path.join(o.out, "1")))
        p = s.running[1][1]
        self.assertIsNone(p.poll())
        common.stop_all()
        self.assertIsNotNone(p.poll(), "the run outlived kvmc.common.stop_all")


if __name__ == "__main__":
    unittest.main()

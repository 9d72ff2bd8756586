# SPDX-License-Identifier: GPL-2.0
"""Unit tests of kvmc.soak's pure parts: options, dealing runs to clones,
comparing verdicts, a run's reason, and finding leftovers in a fake tree.

    cd scripts && python3 -m unittest kvmc.tests.test_soak
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest
from collections import Counter

from kvmc import soak
from kvmc.soak import Leftover, Outcome, Proc, RunSpec

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test_data")


class OptionsTest(unittest.TestCase):
    def test_own_options_and_the_rest_for_the_runs(self) -> None:
        o = soak.parse_args(["-n", "4", "--parallel=2", "--arch", "arm64", "-t", "m1_*", "--vm",
                             "--limit", "60"])
        self.assertEqual((o.n, o.parallel, o.clones, o.limit), (4, 2, 0, 60))
        self.assertEqual(o.run_args, ["--arch", "arm64", "-t", "m1_*", "--vm"])

    def test_a_value_of_run_tests_is_not_taken_for_a_soak_option(self) -> None:
        o = soak.parse_args(["-t", "--keep"])
        self.assertEqual(o.run_args, ["-t", "--keep"])
        self.assertFalse(o.keep)

    def test_usage_errors(self) -> None:
        for argv, text in ((["-n", "0"], "-n needs a positive whole number, not '0'"),
                           (["--parallel"], "option --parallel needs a value"),
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
    def test_the_fetchers_message_and_the_runners_last_word(self) -> None:
        err = "\n".join(["run_tests.sh: building arm64 tests",
                         "debian.sh: updating private package lists for trixie-backports",
                         "debian.sh: could not download linux-image-7.3.4+deb13-arm64=7.3.4-1~bpo13+1",
                         "run_tests.sh: arm64: build failed (whole log: build/arm64.build.log)",
                         "run_tests.sh: arm64: 0 passed, 0 failed, 0 skipped (results in x)",
                         "0 passed, 0 failed, 0 skipped"])
        self.assertEqual(soak.reason(err, 125),
                         "debian.sh: could not download linux-image-7.3.4+deb13-arm64=7.3.4-1~bpo13+1; "
                         "run_tests.sh: arm64: build failed (whole log: build/arm64.build.log)")
        self.assertEqual(soak.reason(err, 0), "")
        self.assertEqual(soak.summary_line(err), "0 passed, 0 failed, 0 skipped")

    def test_a_traceback_is_a_crash(self) -> None:
        err = "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'arm64'\n"
        self.assertEqual(soak.reason(err, 1), "crashed: KeyError: 'arm64'")

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


if __name__ == "__main__":
    unittest.main()

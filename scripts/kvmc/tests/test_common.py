# SPDX-License-Identifier: GPL-2.0
"""kvmc.common: files written whole and never through a planted link,
children that end with their parent (issue 27 items 5, 8, 16)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from unittest import mock

from .. import common


class WriteAtomic(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_planted_links_at_predictable_names_are_never_followed(self) -> None:
        # Before issue 27 a report went through "<path>.tmp.<pid>": a local
        # user who plants that name as a link makes root write elsewhere.
        victim = self.dir / "victim"
        victim.write_text("keep")
        target = self.dir / "report.json"
        for name in (f"report.json.tmp.{os.getpid()}", "report.json.tmp", ".report.json.tmp"):
            (self.dir / name).symlink_to(victim)
        common.write_atomic(target, "new")
        self.assertEqual(victim.read_text(), "keep")
        self.assertEqual(target.read_text(), "new")

    def test_a_link_at_the_target_is_replaced_not_written_through(self) -> None:
        victim = self.dir / "victim"
        victim.write_text("keep")
        target = self.dir / "out.html"
        target.symlink_to(victim)
        common.write_atomic(target, "<p>")
        self.assertEqual(victim.read_text(), "keep")
        self.assertFalse(target.is_symlink())
        self.assertEqual(target.read_text(), "<p>")

    def test_a_failed_write_leaves_the_old_file_and_no_temporary(self) -> None:
        target = self.dir / "summary"
        target.write_text("old\n")
        real = os.fdopen

        def full_disk(fd: int, *a: object, **kw: object) -> object:
            f = real(fd, *a, **kw)  # type: ignore[call-overload]
            f.write = mock.Mock(side_effect=OSError(28, "No space left on device"))
            return f
        with mock.patch("os.fdopen", full_disk), self.assertRaises(OSError):
            common.write_atomic(target, "new\n")
        self.assertEqual(target.read_text(), "old\n")
        self.assertEqual(sorted(p.name for p in self.dir.iterdir()), ["summary"])

    def test_an_interrupt_while_writing_leaves_no_temporary(self) -> None:
        target = self.dir / "results.ktap"
        with mock.patch("os.replace", side_effect=common.Interrupted(signal.SIGTERM)), \
                self.assertRaises(common.Interrupted):
            common.write_atomic(target, "TAP version 13\n")
        self.assertEqual(list(self.dir.iterdir()), [])


class Children(unittest.TestCase):
    def test_a_child_dies_with_its_parent_even_by_sigkill(self) -> None:
        # A parent that starts a registered child (which starts a job of
        # its own) and is then killed outright: both must go.
        with tempfile.TemporaryDirectory() as tmp:
            pids = Path(tmp) / "pids"
            script = ("import sys, subprocess\n"
                      "from kvmc import common\n"
                      f"common.spawn(['sh', '-c', 'echo $$ >> {pids}; sleep 60 & echo $! >> {pids}; wait'],"
                      " pdeathsig='TERM')\n"
                      "print('ready', flush=True)\n"
                      "import time; time.sleep(60)\n")
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
            parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
            assert parent.stdout is not None
            self.assertEqual(parent.stdout.readline().strip(), b"ready")
            deadline = time.monotonic() + 5
            while (not pids.exists() or len(pids.read_text().split()) < 2) and time.monotonic() < deadline:
                time.sleep(0.05)
            children = [int(x) for x in pids.read_text().split()]
            parent.kill()
            parent.wait()
            parent.stdout.close()
            deadline = time.monotonic() + 5
            while _alive(children[0]) and time.monotonic() < deadline:
                time.sleep(0.05)
            for p in children:
                if _alive(p):
                    os.kill(p, signal.SIGKILL)
            # The shell goes by its parent-death signal; its job goes with
            # it only if something stops the group: the shell's TERM does
            # not, so only the registered child itself is promised here.
            self.assertFalse(_alive(children[0]), "the registered child outlived a SIGKILLed parent")

    def test_an_interrupted_call_lets_the_child_stop_its_own_children(self) -> None:
        # call() runs a child that, like run_tests.sh, starts a job in a
        # session of its own (make) and stops it on SIGTERM; when call()
        # is interrupted, that job must not outlive it.
        with tempfile.TemporaryDirectory() as tmp:
            pids = Path(tmp) / "pids"
            child = ("import time\n"
                     "from kvmc import common\n"
                     "common.exit_on_signals(lambda s: None)\n"
                     f"common.spawn(['sh', '-c', 'sleep 60 & echo $! >> {pids}; wait'], pdeathsig='TERM')\n"
                     "time.sleep(60)\n")
            parent = ("import signal, sys\n"
                      "from kvmc import common\n"
                      "common.raise_on_signals()\n"
                      f"try:\n    common.call([sys.executable, '-c', {child!r}])\n"
                      "except common.Interrupted:\n    sys.exit(3)\n")
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
            p = subprocess.Popen([sys.executable, "-c", parent], env=env)
            deadline = time.monotonic() + 10
            while not pids.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(pids.exists(), "the grandchild's job never started")
            job = int(pids.read_text().split()[0])
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=30), 3)
            deadline = time.monotonic() + 5
            while _alive(job) and time.monotonic() < deadline:
                time.sleep(0.05)
            alive = _alive(job)
            if alive:
                os.kill(job, signal.SIGKILL)
            self.assertFalse(alive, "a job in the child's own session outlived an interrupted call()")

    def test_stop_all_ends_each_childs_whole_group(self) -> None:
        p = common.spawn(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE)
        assert p.stdout is not None
        job = int(p.stdout.readline())
        common.stop_all()
        p.stdout.close()
        deadline = time.monotonic() + 5
        while _alive(job) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(_alive(job), "a child's job outlived stop_all")
        self.assertIsNotNone(p.poll())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()

# SPDX-License-Identifier: GPL-2.0
"""Nothing the mutation tool starts outlives it (issue 27 item 16): its
make, here a stand-in on PATH that starts a job of its own and writes both
pids, is stopped with its job when the tool gets SIGTERM or SIGINT (the
tool undoes its mutant and exits 128+N) and when the tool is killed with
SIGKILL (make's parent-death signal).

    cd scripts && python3 -m unittest kvmc.tests.test_mutation_children
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from kvmc import kbuild, mutation, qemu_configs
from kvmc.tests.test_kbuild import gone, wait_for

SCRIPTS = Path(__file__).resolve().parents[2]

# make as the tool sees it: it starts a job and waits for it; on SIGTERM
# it stops the job, as make does.
STAND_IN_MAKE = """#!/bin/sh
sleep 300 &
job=$!
trap 'kill $job 2>/dev/null; exit 143' TERM
echo "$$ $job" > "$KVMC_TEST_PIDS.tmp" && mv "$KVMC_TEST_PIDS.tmp" "$KVMC_TEST_PIDS"
wait
"""

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")


class Children(unittest.TestCase):
    def setUp(self) -> None:
        self.arch = qemu_configs.host_arch()
        if self.arch not in mutation.ARCHES:
            self.skipTest(f"no architecture of the suite is this machine's ({os.uname().machine})")
        self.m = next(m for m in mutation.load_catalog()
                      if self.arch in m.arches() and m.file.endswith(".c") and not m.equivalent)
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.tree, self.cache, bindir = root / "tree", root / "cache", root / "bin"
        self.src = self.tree / self.m.file
        self.src.parent.mkdir(parents=True)
        self.original = f"int {self.m.function}(void)\n{{\n{self.m.old}}}\n"
        self.src.write_text(self.original)
        for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "base"]):
            subprocess.run(["git", "-C", str(self.tree)] + cmd, check=True, env=GIT_ENV)
        build = kbuild.build_dir_for(str(self.tree), self.arch, str(self.cache))
        build.mkdir(parents=True)
        (build / ".config").write_text("CONFIG_KVM=y\n")
        bindir.mkdir()
        for name, text in (("make", STAND_IN_MAKE), ("gcc", "#!/bin/sh\nexit 0\n")):
            (bindir / name).write_text(text)
            (bindir / name).chmod(0o755)
        self.pids = root / "pids"
        self.env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", KVMC_CACHE=str(self.cache),
                        KVMC_TEST_PIDS=str(self.pids), PYTHONPATH=str(SCRIPTS))
        self.env.pop("CCACHE_DIR", None)
        self.started: list[int] = []
        self.saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def tearDown(self) -> None:
        for s, h in self.saved.items():
            signal.signal(s, h)
        for pid in self.started:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        self.tmp.cleanup()

    def start_tool(self) -> tuple[subprocess.Popen[bytes], list[int]]:
        tool = subprocess.Popen([sys.executable, "-m", "kvmc.mutation", "compile", "--arch", self.arch,
                                 "--tree", str(self.tree), "--mutants", self.m.id],
                                cwd=SCRIPTS, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.pids.exists():
            if tool.poll() is not None or time.monotonic() > deadline:
                tool.kill()
                out = tool.communicate()[0].decode(errors="replace")
                self.fail(f"the stand-in make never started (exit {tool.returncode}): {out}")
            time.sleep(0.05)
        pids = [int(p) for p in self.pids.read_text().split()]
        self.started += pids
        self.assertNotEqual(self.src.read_text(), self.original, "the mutant is applied while make runs")
        return tool, pids

    def assert_gone(self, pids: list[int], how: str) -> None:
        wait_for(lambda: all(gone(p) for p in pids), 5)
        self.assertEqual([p for p in pids if not gone(p)], [],
                         f"make (pid {pids[0]}) or its job (pid {pids[1]}) outlived the tool ({how})")

    def test_stopped_with_the_tool(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                self.pids.unlink(missing_ok=True)
                tool, pids = self.start_tool()
                tool.send_signal(sig)
                out = tool.communicate(timeout=20)[0].decode(errors="replace")
                self.assertEqual(tool.returncode, 128 + sig, out)
                self.assert_gone(pids, sig.name)
                self.assertEqual(self.src.read_text(), self.original, "the mutant is undone")

    def test_killed_tool_leaves_no_make(self) -> None:
        tool, pids = self.start_tool()
        tool.kill()
        tool.communicate(timeout=20)
        self.assert_gone(pids, "SIGKILL")
        # The mutant is still in the tree; restore knows it.
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(mutation.main(["restore", "--tree", str(self.tree)]), 0)
        self.assertEqual(self.src.read_text(), self.original)


class ScriptChildren(unittest.TestCase):
    """A script's own make (kernel-selftests.sh) ends with a killed tool."""

    def test_script_job_ends_with_a_killed_parent(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            pids = Path(d, "pids")
            script = f"sleep 300 & echo $$ $! > {pids}.tmp && mv {pids}.tmp {pids}; wait"
            driver = ("from kvmc import common, mutation\n"
                      f"common.call(mutation.group_stops_on_term(['sh', '-c', {script!r}]), pdeathsig='TERM')\n")
            parent = subprocess.Popen([sys.executable, "-c", driver], cwd=SCRIPTS,
                                      env=dict(os.environ, PYTHONPATH=str(SCRIPTS)))
            deadline = time.monotonic() + 20
            while not pids.exists() and time.monotonic() < deadline and parent.poll() is None:
                time.sleep(0.05)
            self.assertTrue(pids.exists(), "the script never started")
            started = [int(p) for p in pids.read_text().split()]
            try:
                parent.kill()
                parent.wait()
                wait_for(lambda: all(gone(p) for p in started), 5)
                self.assertEqual([p for p in started if not gone(p)], [], "the script or its job outlived the tool")
            finally:
                for pid in started:
                    if not gone(pid):
                        os.kill(pid, signal.SIGKILL)

    def test_exit_status_passes_through(self) -> None:
        from kvmc import common
        self.assertEqual(common.call(mutation.group_stops_on_term(["sh", "-c", "exit 3"])), 3)
        self.assertEqual(common.call(mutation.group_stops_on_term(["true"])), 0)


if __name__ == "__main__":
    unittest.main()

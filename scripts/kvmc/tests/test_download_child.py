# SPDX-License-Identifier: GPL-2.0
"""The Debian download child (debian._call runs python3 -m kvmc.debian)
does not outlive the runner that started it, however the runner ends.

    cd scripts && python3 -m unittest kvmc.tests.test_download_child

A stand-in for the child (sys.executable replaced by a script that
records its pid and sleeps) is started by a parent process, which is then
killed; no network, no cache.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

from kvmc.tests.test_kbuild import check_child_dies_with_parent

SCRIPTS = str(Path(__file__).resolve().parents[2])

# The runner's side: one download, as run_tests.sh does for --debian.
PARENT = textwrap.dedent("""\
    import sys
    from kvmc import common, debian
    common.raise_on_signals()
    sys.executable = sys.argv[1]
    try:
        debian.kernel("x86_64")
    except common.Interrupted as e:
        sys.exit(e.exit_code)
""")


class DownloadChildTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.pids = Path(self.tmp.name, "child.pids")
        child = Path(self.tmp.name, "python3")
        child.write_text(f"#!/bin/sh\necho $$ >> {self.pids}\nexec sleep 60\n")
        child.chmod(0o755)
        self.parent = subprocess.Popen([sys.executable, "-c", PARENT, str(child)],
                                       env={**os.environ, "PYTHONPATH": SCRIPTS})

    def tearDown(self) -> None:
        if self.parent.poll() is None:
            self.parent.kill()
            self.parent.wait()
        for pid in self.child_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.tmp.cleanup()

    def child_pids(self) -> list[int]:
        return [int(x) for x in (self.pids.read_text() if self.pids.exists() else "").split()]

    def parent_killed(self, sig: int) -> None:
        check_child_dies_with_parent(self, self.parent, self.pids, sig, "the download child")

    def test_sigterm(self) -> None:
        self.parent_killed(signal.SIGTERM)

    def test_sigkill(self) -> None:
        self.parent_killed(signal.SIGKILL)


if __name__ == "__main__":
    unittest.main()

# SPDX-License-Identifier: GPL-2.0
"""`python3 -m kvmc.mutation restore` undoes what the tool wrote and only
that (issue 27 item 2): a user's own uncommitted edits, in a mutated file
or in any other, survive it. A small git tree stands in for the kernel's,
holding every file the catalog mutates.

    cd scripts && python3 -m unittest kvmc.tests.test_mutation_restore
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import tempfile
import unittest
from pathlib import Path
from typing import Any

from kvmc import mutation

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")


class Restore(unittest.TestCase):
    def setUp(self) -> None:
        self.saved: dict[int, Any] = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        self.tmp = tempfile.TemporaryDirectory()
        self.tree = Path(self.tmp.name)
        catalog = mutation.load_catalog()
        self.m = next(m for m in catalog if not m.equivalent)
        self.a = self.tree / self.m.file
        self.committed_a = f"int {self.m.function}(void)\n{{\n{self.m.old}}}\n"
        for rel in sorted({m.file for m in catalog}):
            (self.tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.tree / rel).write_text(self.committed_a if rel == self.m.file else f"/* {rel} */\n")
        # Another file the catalog mutates, which the user is editing.
        self.b = self.tree / next(m.file for m in catalog if m.file != self.m.file)
        for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "base"]):
            subprocess.run(["git", "-C", str(self.tree)] + cmd, check=True, env=GIT_ENV)

    def tearDown(self) -> None:
        for s, h in self.saved.items():
            signal.signal(s, h)
        self.tmp.cleanup()

    def restore(self) -> tuple[int, str]:
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = mutation.main(["restore", "--tree", str(self.tree)])
        return rc, err.getvalue() + out.getvalue()

    def test_user_edit_in_another_file_survives(self) -> None:
        self.b.write_text("/* the user's own work */\n")
        mutation.apply_mutant(self.tree, self.m)   # a run killed with its mutant applied
        self.assertNotEqual(self.a.read_text(), self.committed_a)
        rc, said = self.restore()
        self.assertEqual(rc, 0, said)
        self.assertEqual(self.a.read_text(), self.committed_a)
        self.assertEqual(self.b.read_text(), "/* the user's own work */\n")
        self.assertIn(f"{self.b.relative_to(self.tree)}: left as it is: not written by this tool", said)
        self.assertEqual(mutation.read_ledger(self.tree), [])

    def test_mutated_file_edited_since_is_left_and_named(self) -> None:
        self.b.write_text("/* the user's own work */\n")
        mutation.apply_mutant(self.tree, self.m)
        edited = self.a.read_text() + "/* the user's line */\n"
        self.a.write_text(edited)
        rc, said = self.restore()
        self.assertEqual(rc, 1, said)
        self.assertEqual(self.a.read_text(), edited)
        self.assertEqual(self.b.read_text(), "/* the user's own work */\n")
        self.assertIn(f"{self.m.file}: left as it is: its content is not what the tool wrote", said)
        # Still recorded: once the user has put it right, restore says so.
        self.assertEqual([e.file for e in mutation.read_ledger(self.tree)], [self.m.file])
        subprocess.run(["git", "-C", str(self.tree), "checkout", "--", self.m.file], check=True)
        rc, said = self.restore()
        self.assertEqual(rc, 0, said)
        self.assertEqual(mutation.read_ledger(self.tree), [])

    def test_user_edit_made_before_the_mutant_comes_back(self) -> None:
        # compile does not ask for a clean tree: the mutant went into a
        # file the user had edited; undoing it gives the user's text back.
        mine = self.committed_a + "/* the user's line */\n"
        self.a.write_text(mine)
        mutation.apply_mutant(self.tree, self.m)
        rc, said = self.restore()
        self.assertEqual(rc, 0, said)
        self.assertEqual(self.a.read_text(), mine)

    def test_mutant_of_an_earlier_version_without_record(self) -> None:
        self.b.write_text("/* the user's own work */\n")
        self.a.write_text(mutation.mutate_text(self.committed_a, self.m))
        rc, said = self.restore()
        self.assertEqual(rc, 0, said)
        self.assertEqual(self.a.read_text(), self.committed_a)
        self.assertEqual(self.b.read_text(), "/* the user's own work */\n")

    def test_killed_before_writing_the_mutant(self) -> None:
        mutation.write_ledger(self.tree, [mutation.Applied(
            mutant=self.m.id, file=self.m.file, offset=0, old=self.m.old, new=self.m.new,
            original_sha256=mutation._sha256(self.a.read_bytes()), mutated_sha256="0" * 64)])
        rc, said = self.restore()
        self.assertEqual(rc, 0, said)
        self.assertIn("already as it was", said)
        self.assertEqual(self.a.read_text(), self.committed_a)
        self.assertEqual(mutation.read_ledger(self.tree), [])

    def test_a_second_mutant_in_a_file_still_mutated_is_refused(self) -> None:
        mutation.apply_mutant(self.tree, self.m)
        # Put back by hand, with an edit of the user's: not what the tool
        # knows, so its record stays and a new mutant waits for restore.
        self.a.write_text(self.committed_a + "/* edited */\n")
        with self.assertRaises(RuntimeError) as cm:
            mutation.apply_mutant(self.tree, self.m)
        self.assertIn("still holds mutant", str(cm.exception))
        self.assertEqual(self.a.read_text(), self.committed_a + "/* edited */\n")


if __name__ == "__main__":
    unittest.main()

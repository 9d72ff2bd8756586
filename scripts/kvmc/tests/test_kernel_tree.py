# SPDX-License-Identifier: GPL-2.0
"""Unit tests of kvmc.kernel_tree on a small stand-in for linux-source.

    cd scripts && python3 -m unittest kvmc.tests.test_kernel_tree
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import unittest
from unittest import mock
from pathlib import Path

from kvmc import kernel_tree


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()


class NamesTest(unittest.TestCase):
    def test_version_from_the_unpacked_tree(self) -> None:
        self.assertEqual(kernel_tree.source_version(Path("/c/linux-7.3.4-1~bpo13+1.full")), "7.3.4-1~bpo13+1")
        self.assertEqual(kernel_tree.source_version(Path("/c/linux-6.12.57-1")), "6.12.57-1")

    def test_tag_is_a_valid_ref_name(self) -> None:
        tag = kernel_tree.base_tag("7.3.4-1~bpo13+1")
        self.assertEqual(tag, "debian-7.3.4-1_bpo13+1")
        subprocess.run(["git", "check-ref-format", "refs/tags/" + tag], check=True)


class RepositoryTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.source = root / "linux-7.3.4-1~bpo13+1.full"
        (self.source / "virt" / "kvm").mkdir(parents=True)
        (self.source / "Makefile").write_text("# the top Makefile\n")
        (self.source / "virt" / "kvm" / "kvm_main.c").write_text("int kvm;\n")
        # Shipped files a .gitignore would hide are kept all the same.
        (self.source / ".gitignore").write_text("*.o\n")
        (self.source / "shipped.o").write_text("not really an object\n")
        self.cache = root / "cache"

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_base_commit_is_the_whole_tree_once(self) -> None:
        git_dir = kernel_tree.linux_git(self.cache, source=self.source)
        self.assertEqual(git_dir, self.cache / "linux-git" / "7.3.4-1~bpo13+1.git")
        files = git(git_dir, "ls-tree", "-r", "--name-only", "debian").split()
        self.assertEqual(sorted(files), [".gitignore", "Makefile", "shipped.o", "virt/kvm/kvm_main.c"])
        self.assertEqual(git(git_dir, "rev-parse", "debian"), git(git_dir, "rev-parse", "debian-7.3.4-1_bpo13+1^{commit}"))
        first = git(git_dir, "rev-parse", "debian")
        # Made once: a second call does not commit again.
        self.assertEqual(kernel_tree.linux_git(self.cache, source=self.source), git_dir)
        self.assertEqual(git(git_dir, "rev-parse", "debian"), first)

    def test_same_tree_same_commit_anywhere(self) -> None:
        a = git(kernel_tree.linux_git(self.cache, source=self.source), "rev-parse", "debian")
        b = git(kernel_tree.linux_git(self.cache / "other", source=self.source), "rev-parse", "debian")
        self.assertEqual(a, b)

    def test_worktree(self) -> None:
        path = kernel_tree.worktree("demo", self.cache, source=self.source)
        self.assertEqual(path, self.cache / "linux-git" / "7.3.4-1~bpo13+1" / "demo")
        self.assertEqual((path / "virt/kvm/kvm_main.c").read_text(), "int kvm;\n")
        (path / "virt/kvm/kvm_main.c").write_text("int kvm_changed;\n")
        # An existing worktree is the caller's: returned as it is.
        self.assertEqual(kernel_tree.worktree("demo", self.cache, source=self.source), path)
        self.assertEqual((path / "virt/kvm/kvm_main.c").read_text(), "int kvm_changed;\n")
        # The unpacked tree is never touched.
        self.assertEqual((self.source / "virt/kvm/kvm_main.c").read_text(), "int kvm;\n")

    # ---- item 17: no half worktree is ever reused -----------------------------
    def assert_whole(self, path: Path) -> None:
        self.assertEqual((path / "virt/kvm/kvm_main.c").read_text(), "int kvm;\n")
        self.assertEqual(kernel_tree.half_made(path), "")
        status = subprocess.run(["git", "-C", str(path), "status", "--porcelain"], check=True,
                                stdout=subprocess.PIPE, text=True).stdout
        self.assertEqual(status, "")
        listed = subprocess.run(["git", "-C", str(path), "worktree", "list", "--porcelain"], check=True,
                                stdout=subprocess.PIPE, text=True).stdout
        self.assertIn(f"worktree {path}\n", listed)
        # Nothing of the temporary checkout is left next to it.
        self.assertEqual([p.name for p in path.parent.iterdir() if kernel_tree.MAKING in p.name], [])

    def test_made_aside_and_moved_into_place(self) -> None:
        path = kernel_tree.worktree("demo", self.cache, source=self.source)
        self.assert_whole(path)
        admin = Path((path / ".git").read_text().split(":", 1)[1].strip())
        self.assertEqual(Path((admin / "gitdir").read_text().strip()), path / ".git")

    def test_half_worktree_without_git_file_is_made_again(self) -> None:
        git_dir = kernel_tree.linux_git(self.cache, source=self.source)
        path = git_dir.with_suffix("") / "demo"
        # git made the directory and checked out the first files, then died.
        path.mkdir(parents=True)
        (path / "Makefile").write_text("# the top Makefile\n")
        said: list[str] = []
        self.assertEqual(kernel_tree.worktree("demo", self.cache, source=self.source, log=said.append), path)
        self.assert_whole(path)
        # Not git's own half checkout: kept aside, not deleted, and said.
        (aside,) = path.parent.glob("demo.set-aside-*")
        self.assertEqual((aside / "Makefile").read_text(), "# the top Makefile\n")
        self.assertTrue(any(f"moved to {aside}" in m for m in said), said)

    def test_empty_directory_is_made_again(self) -> None:
        git_dir = kernel_tree.linux_git(self.cache, source=self.source)
        path = git_dir.with_suffix("") / "demo"
        path.mkdir(parents=True)
        self.assertEqual(kernel_tree.worktree("demo", self.cache, source=self.source), path)
        self.assert_whole(path)
        self.assertEqual(list(path.parent.glob("demo.set-aside-*")), [])

    def test_half_worktree_pointing_nowhere_is_made_again(self) -> None:
        path = kernel_tree.worktree("demo", self.cache, source=self.source)
        admin = Path((path / ".git").read_text().split(":", 1)[1].strip())
        subprocess.run(["rm", "-rf", str(admin)], check=True)
        (path / "virt/kvm/kvm_main.c").unlink()
        (path / "mine.c").write_text("the user's\n")
        self.assertEqual(kernel_tree.worktree("demo", self.cache, source=self.source), path)
        self.assert_whole(path)
        (aside,) = path.parent.glob("demo.set-aside-*")
        self.assertEqual((aside / "mine.c").read_text(), "the user's\n")

    def test_worktree_of_a_moved_cache_is_reconnected(self) -> None:
        path = kernel_tree.worktree("demo", self.cache, source=self.source)
        (path / "virt/kvm/kvm_main.c").write_text("int kvm_changed;\n")
        moved = self.cache.with_name("moved")
        self.cache.rename(moved)
        again = kernel_tree.worktree("demo", moved, source=self.source)
        self.assertEqual(again, moved / path.relative_to(self.cache))
        self.assertEqual((again / "virt/kvm/kvm_main.c").read_text(), "int kvm_changed;\n")
        self.assertEqual(kernel_tree.half_made(again), "")

    def test_interrupted_checkout_is_made_again(self) -> None:
        path = kernel_tree.worktree("demo", self.cache, source=self.source)
        admin = Path((path / ".git").read_text().split(":", 1)[1].strip())
        # What a killed `git worktree add` leaves: its lock, a partial checkout.
        (admin / "locked").write_text("initializing")
        (path / "virt/kvm/kvm_main.c").unlink()
        self.assertEqual(kernel_tree.worktree("demo", self.cache, source=self.source), path)
        self.assert_whole(path)

    def test_half_made_says_why(self) -> None:
        path = kernel_tree.worktree("demo", self.cache, source=self.source)
        admin = Path((path / ".git").read_text().split(":", 1)[1].strip())
        (admin / "locked").write_text("initializing")
        self.assertIn("did not finish (locked: initializing)", kernel_tree.half_made(path))
        subprocess.run(["rm", "-rf", str(admin)], check=True)
        self.assertIn("which does not exist", kernel_tree.half_made(path))
        (path / ".git").unlink()
        self.assertIn("no .git file", kernel_tree.half_made(path))

    def test_leftover_temporary_checkout_is_removed(self) -> None:
        git_dir = kernel_tree.linux_git(self.cache, source=self.source)
        left = git_dir.with_suffix("") / f".demo{kernel_tree.MAKING}abc123"
        left.mkdir(parents=True)
        (left / "Makefile").write_text("half\n")
        path = kernel_tree.worktree("demo", self.cache, source=self.source)
        self.assertFalse(left.exists())
        self.assert_whole(path)

    def test_cache_is_common_cache_root(self) -> None:
        # KVMC_CACHE=relative names the same place from anywhere (one
        # resolver, kvmc.common.cache_root, not a copy of it here).
        with mock.patch.dict(os.environ, {"KVMC_CACHE": "rel-cache"}):
            cwd = os.getcwd()
            os.chdir(self.tmp.name)
            try:
                git_dir = kernel_tree.linux_git(source=self.source)
            finally:
                os.chdir(cwd)
        self.assertEqual(git_dir, Path(self.tmp.name, "rel-cache", "linux-git", "7.3.4-1~bpo13+1.git"))
        self.assertFalse(hasattr(kernel_tree, "default_cache"))

    def test_name_stays_inside_the_cache(self) -> None:
        for bad in ("../x", ".hidden", ""):
            with self.assertRaises(kernel_tree.TreeError):
                kernel_tree.worktree(bad, self.cache, source=self.source)


if __name__ == "__main__":
    unittest.main()

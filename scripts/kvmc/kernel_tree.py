# SPDX-License-Identifier: GPL-2.0
"""Debian's linux-source as a git repository in the cache, for the
project's own builds, demos and mutations.

    python3 -m kvmc.kernel_tree                 # print the repository (git dir)
    python3 -m kvmc.kernel_tree --worktree demo # print a worktree of the base

`scripts/debian.sh linux-source` unpacks the whole tree once; this module
turns it into a bare repository, $CACHE/linux-git/<version>.git, with one
commit (branch `debian`, tag `debian-<version>`) holding the tree exactly as
Debian ships it (ignored files included). Demos and mutations work in
worktrees of it, $CACHE/linux-git/<version>/<name>: each is a checkout of
its own, so it needs one cold kernel build (ccache hits only for the same
source path), after which switching commits in it rebuilds only what the
commits changed.

Standard library only; commands are argument lists.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

TOP = Path(__file__).resolve().parents[2]

# Commits made here have a fixed author, so the base commit of a given
# Debian version is the same on every machine.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "kvm-contract",
    "GIT_AUTHOR_EMAIL": "kvm-contract@localhost",
    "GIT_COMMITTER_NAME": "kvm-contract",
    "GIT_COMMITTER_EMAIL": "kvm-contract@localhost",
}


class TreeError(Exception):
    """The source tree could not be had (download, unpack, git)."""


def default_cache() -> Path:
    cache = os.environ.get("KVMC_CACHE")
    if cache:
        return Path(cache)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kvm-contract"


def _git(args: list[str], git_dir: Path, work_tree: Path | None = None,
         date: str | None = None, capture: bool = True) -> str:
    env = dict(os.environ, **GIT_IDENTITY)
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    cmd = ["git", "--git-dir", str(git_dir)]
    if work_tree is not None:
        cmd += ["--work-tree", str(work_tree)]
    proc = subprocess.run(cmd + args, env=env, text=True,
                          stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise TreeError(f"git {' '.join(args)}: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip() if capture else ""


def unpacked_source(log: Callable[[str], None] | None = None) -> Path:
    """The whole linux-source tree as scripts/debian.sh unpacks it (the
    first time, it downloads about 170 MB and says so itself)."""
    proc = subprocess.run([str(TOP / "scripts" / "debian.sh"), "linux-source"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise TreeError("scripts/debian.sh linux-source failed: " + proc.stderr.strip()[-500:])
    return Path(proc.stdout.strip().splitlines()[-1])


def source_version(tree: Path) -> str:
    """7.3.4-1~bpo13+1 from .../linux-7.3.4-1~bpo13+1.full."""
    name = tree.name
    if name.endswith(".full"):
        name = name[: -len(".full")]
    return name[len("linux-"):] if name.startswith("linux-") else name


def base_tag(version: str) -> str:
    # A tag name cannot hold "~"; Debian's own convention turns it into "_".
    return "debian-" + version.replace("~", "_").replace(":", "%")


def linux_git(cache: Path | None = None, log: Callable[[str], None] | None = None,
              source: Path | None = None) -> Path:
    """The bare repository of Debian's linux-source, made once."""
    cache = cache or default_cache()
    source = source or unpacked_source(log)
    version = source_version(source)
    git_dir = cache / "linux-git" / f"{version}.git"
    tag = base_tag(version)
    if (git_dir / "kvmc-complete").exists():
        return git_dir
    part = git_dir.with_name(git_dir.name + ".part")
    if part.exists():
        subprocess.run(["rm", "-rf", str(part)], check=True)
    part.parent.mkdir(parents=True, exist_ok=True)
    if log:
        log(f"linux-git: committing {source} as {tag} (once; a few minutes)")
    _git(["init", "-q", "--bare", str(part)], part)
    # Loose objects at low compression: written once, read by checkouts.
    _git(["config", "core.compression", "1"], part)
    _git(["config", "gc.auto", "0"], part)
    _git(["add", "-A", "-f", "."], part, work_tree=source)
    _git(["commit", "-q", "-m", f"Debian linux-source {version}\n\n"
          f"The tree of Debian's linux-source package {version}, unpacked by\n"
          "scripts/debian.sh linux-source, as the base of the project's builds.",
          "--no-verify"], part, work_tree=source, date="2000-01-01T00:00:00Z")
    # Branch "debian", tag debian-<version>: one name for each, so that
    # neither is ambiguous.
    _git(["branch", "-m", "debian"], part)
    _git(["tag", tag], part)
    # The index of the import is not needed by worktrees.
    (part / "index").unlink(missing_ok=True)
    (part / "kvmc-complete").write_text(version + "\n")
    part.rename(git_dir)
    return git_dir


def worktree(name: str, cache: Path | None = None, commit: str | None = None,
             log: Callable[[str], None] | None = None, source: Path | None = None) -> Path:
    """A worktree of the base (or of COMMIT) named NAME, made once; an
    existing one is returned as it is (its checkout is the caller's)."""
    cache = cache or default_cache()
    git_dir = linux_git(cache, log, source)
    version = git_dir.name[: -len(".git")]
    path = cache / "linux-git" / version / name
    if (path / "Makefile").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if log:
        log(f"linux-git: checking out worktree {path}")
    _git(["worktree", "prune"], git_dir)
    _git(["worktree", "add", "-q", "-f", "--detach", str(path), commit or base_tag(version)], git_dir)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m kvmc.kernel_tree",
                                     description="Debian's linux-source as a git repository in the cache")
    parser.add_argument("--worktree", metavar="NAME", help="print (and make once) a worktree of the base")
    parser.add_argument("--commit", help="with --worktree: check out this commit when making it")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print("kernel_tree: " + msg, file=sys.stderr)

    try:
        if args.worktree:
            print(worktree(args.worktree, commit=args.commit, log=log))
        else:
            print(linux_git(log=log))
    except TreeError as e:
        log(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

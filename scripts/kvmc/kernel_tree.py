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

A worktree appears whole or not at all: it is checked out under a
temporary name next to its place and moved there (git worktree move, so
that git's own records follow) only when the checkout is complete. One
left half made by an interrupted `git worktree add` of an older version
is recognised and made again. Every git and script run here is a
registered child (kvmc.common): an interrupted or killed run stops it.

Standard library only; commands are argument lists.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from kvmc.common import Interrupted, Log, cache_root, capture, locked, raise_on_signals

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


def _git(args: list[str], git_dir: Path, work_tree: Path | None = None,
         date: str | None = None, capture_out: bool = True) -> str:
    env = dict(os.environ, **GIT_IDENTITY)
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    cmd = ["git", "--git-dir", str(git_dir)]
    if work_tree is not None:
        cmd += ["--work-tree", str(work_tree)]
    proc = capture(cmd + args, env=env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.PIPE if capture_out else subprocess.DEVNULL)
    if proc.returncode != 0:
        raise TreeError(f"git {' '.join(args)}: {_text(proc.stderr).strip()[-500:]}")
    return _text(proc.stdout).strip() if capture_out else ""


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def unpacked_source(log: Callable[[str], None] | None = None) -> Path:
    """The whole linux-source tree as scripts/debian.sh unpacks it (the
    first time, it downloads about 170 MB and says so itself)."""
    # TERM: the download stops its own children when this process dies.
    proc = capture([str(TOP / "scripts" / "debian.sh"), "linux-source"], pdeathsig="TERM",
                   stdin=subprocess.DEVNULL)
    out = _text(proc.stdout).strip()
    if proc.returncode != 0 or not out:
        raise TreeError("scripts/debian.sh linux-source failed: " + _text(proc.stderr).strip()[-500:])
    return Path(out.splitlines()[-1])


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
    cache = cache or cache_root()
    source = source or unpacked_source(log)
    version = source_version(source)
    git_dir = cache / "linux-git" / f"{version}.git"
    tag = base_tag(version)
    if (git_dir / "kvmc-complete").exists():
        return git_dir
    part = git_dir.with_name(git_dir.name + ".part")
    if part.exists():
        shutil.rmtree(part)
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


# A worktree being checked out is .<name>.making-XXXXXX next to its place.
MAKING = ".making-"


def _admin_dir(path: Path) -> Path | None:
    """The directory a worktree's .git file names (git's record of it)."""
    try:
        text = (path / ".git").read_text()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    admin = Path(text[len("gitdir:"):].strip())
    return admin if admin.is_absolute() else path / admin


def half_made(path: Path) -> str:
    """Why PATH is not a whole worktree, "" when it is one. What an
    interrupted `git worktree add` leaves: no .git file yet, a .git file
    naming a record git no longer has, or git's own "initializing" lock
    (removed only when the checkout is complete)."""
    if path.is_symlink() or not path.is_dir():
        return "it is not a directory"
    admin = _admin_dir(path)
    if admin is None:
        return "it has no .git file naming its repository"
    if not admin.is_dir():
        return f"its .git file names {admin}, which does not exist"
    if (admin / "locked").exists() and "initializing" in (admin / "locked").read_text(errors="replace"):
        return "git's checkout of it did not finish (locked: initializing)"
    return ""


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _set_aside(path: Path) -> Path:
    """PATH renamed to a free NAME.set-aside-<time> next to it (kept, not
    deleted: it may hold someone's work)."""
    stem = f"{path.name}.set-aside-{time.strftime('%Y%m%d-%H%M%S')}"
    aside = path.with_name(stem)
    n = 1
    while aside.exists() or aside.is_symlink():
        n += 1
        aside = path.with_name(f"{stem}.{n}")
    os.rename(path, aside)
    return aside


def worktree(name: str, cache: Path | None = None, commit: str | None = None,
             log: Callable[[str], None] | None = None, source: Path | None = None) -> Path:
    """A worktree of the base (or of COMMIT) named NAME, made once; an
    existing one is returned as it is (its checkout is the caller's).

    It is checked out under a temporary name and moved into place when
    whole, so an interrupted run leaves no half worktree at NAME; one left
    by an older version (see half_made) is made again: removed when git's
    own lock shows an interrupted checkout (or it is empty), otherwise set
    aside (it may hold someone's work). One whose repository moved with the
    cache is reconnected (git worktree repair)."""
    if not name or "/" in name or name.startswith("."):
        raise TreeError(f"worktree name '{name}': a plain name is wanted (no '/', no leading '.')")
    cache = cache or cache_root()
    git_dir = linux_git(cache, log, source)
    version = git_dir.name[: -len(".git")]
    path = cache / "linux-git" / version / name
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{name}.lock"

    def waiting() -> None:
        if log:
            log(f"linux-git: waiting for another run that holds {lock}")
    with locked(lock, waiting):
        if path.exists() or path.is_symlink():
            why = half_made(path)
            admin = _admin_dir(path)
            if why and admin is not None and not admin.is_dir():
                # The cache moved as a whole: git finds the record again.
                with contextlib.suppress(TreeError):
                    _git(["worktree", "repair", str(path)], git_dir)
                why = half_made(path)
                admin = _admin_dir(path)
            if not why:
                return path
            empty = path.is_dir() and not path.is_symlink() and not any(path.iterdir())
            if "initializing" in why or empty:
                if log:
                    log(f"linux-git: {path} is half made ({why}): making it again")
                # git's record of it too (a lock would keep prune from it).
                if admin and admin.is_dir() and admin.resolve().parent == (git_dir / "worktrees").resolve():
                    shutil.rmtree(admin)
                _remove(path)
            else:
                aside = _set_aside(path)
                if log:
                    log(f"linux-git: {path} is not a whole worktree ({why}): moved to {aside} "
                        "(remove it once nothing in it is wanted); making it again")
        # What an interrupted checkout under the temporary name left.
        for stale in path.parent.glob(f".{name}{MAKING}*"):
            _remove(stale)
        _git(["worktree", "prune"], git_dir)
        if log:
            log(f"linux-git: checking out worktree {path}")
        making = Path(tempfile.mkdtemp(prefix=f".{name}{MAKING}", dir=path.parent))
        try:
            _git(["worktree", "add", "-q", "-f", "--detach", str(making), commit or base_tag(version)],
                 git_dir)
            os.chmod(making, 0o755)
            _git(["worktree", "move", str(making), str(path)], git_dir)
        except BaseException:
            shutil.rmtree(making, ignore_errors=True)
            with contextlib.suppress(TreeError):
                _git(["worktree", "prune"], git_dir)
            raise
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m kvmc.kernel_tree",
                                     description="Debian's linux-source as a git repository in the cache")
    parser.add_argument("--worktree", metavar="NAME", help="print (and make once) a worktree of the base")
    parser.add_argument("--commit", help="with --worktree: check out this commit when making it")
    args = parser.parse_args(argv)

    log = Log("kernel_tree")
    raise_on_signals()
    try:
        if args.worktree:
            print(worktree(args.worktree, commit=args.commit, log=log))
        else:
            print(linux_git(log=log))
    except TreeError as e:
        log(str(e))
        return 1
    except Interrupted as e:
        log(f"interrupted (signal {e.signum})")
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

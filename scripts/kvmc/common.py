# SPDX-License-Identifier: GPL-2.0
"""What every module of the host side needs, kept once: where the cache
is, writing a file whole or not at all, reading a file that may be
missing, the log prefix, signals turned into an exception, and the
registry of child processes that every way out stops.

The host side runs as root on machines others share, so:
- files are written through a temporary file created exclusively
  (O_CREAT|O_EXCL, never through a planted symlink) in the target's own
  directory, then renamed over the target; a failure or a signal leaves
  no temporary file behind;
- scratch space is a directory made with mkdtemp (mode 0700), never a
  predictable name under /tmp;
- every child process runs in a session of its own with a parent-death
  signal, is registered here while it runs, and is killed (its whole
  process group) on every way out: a normal return, an exception, a
  signal, and, through the parent-death signal, SIGKILL of the parent.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO, Any, Callable, Iterator, Mapping, Sequence

# ---- the cache ------------------------------------------------------------------


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """$KVMC_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/kvm-contract; absolute,
    so that what is printed works from anywhere (KVMC_CACHE=copy names
    ./copy)."""
    env = os.environ if env is None else env
    if env.get("KVMC_CACHE"):
        return Path(os.path.abspath(env["KVMC_CACHE"]))
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or str(Path.home()), ".cache")
    return Path(os.path.abspath(os.path.join(base, "kvm-contract")))


# ---- files ---------------------------------------------------------------------
def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o644) -> None:
    """path holds data, whole, or is left as it was.

    The temporary file is created exclusively in path's own directory
    (mkstemp: O_CREAT|O_EXCL, a random name, so a symlink planted under a
    predictable name is never followed), then renamed over path (rename
    replaces a symlink at path, never writes through it). Any failure
    (ENOSPC, a signal raised as an exception) removes it."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_text(path: str | os.PathLike[str], default: str = "") -> str:
    """The file's text (undecodable bytes replaced), or default when it
    cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


@contextlib.contextmanager
def private_dir(prefix: str, parent: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """A new directory only this user can enter (mkdtemp), removed with
    what it holds when the block ends, however it ends."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- messages ------------------------------------------------------------------
_say_lock = threading.Lock()


class Log:
    """Messages to stderr under one prefix ("run_tests.sh: ..."), whole
    lines even from several threads."""

    def __init__(self, prefix: str, stream: IO[str] | None = None) -> None:
        self.prefix = prefix
        self.stream = stream

    def __call__(self, msg: str) -> None:
        out = self.stream or sys.stderr
        with _say_lock:
            try:
                print(f"{self.prefix}: {msg}", file=out, flush=True)
            except OSError:
                pass


# ---- signals -------------------------------------------------------------------
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """A stop signal arrived (the exit status is 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    # The first signal wins; the way out is not interrupted again.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


def raise_on_signals(signals: Sequence[int] = STOP_SIGNALS) -> None:
    """SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread, so
    that every finally block (temporary files, locks, children) runs."""
    for sig in signals:
        signal.signal(sig, _raise_interrupted)


def exit_on_signals(cleanup: Callable[[int], None], signals: Sequence[int] = STOP_SIGNALS) -> None:
    """For a program whose work runs in threads (run_tests.sh runs VMs side
    by side), where an exception in the main thread would not stop them:
    a stop signal runs cleanup(signum), stops every registered child and
    ends the process at once with 128 + signum."""
    def handler(signum: int, frame: FrameType | None) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        try:
            cleanup(signum)
        finally:
            stop_all()
            with contextlib.suppress(OSError):
                sys.stdout.flush()
            os._exit(128 + signum)
    for sig in signals:
        signal.signal(sig, handler)


# ---- child processes -----------------------------------------------------------
_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()


def with_pdeathsig(argv: Sequence[str], sig: str = "KILL") -> list[str]:
    """argv run so that it gets sig when its parent dies, even by SIGKILL
    (setpriv from util-linux, which every Debian system has)."""
    if shutil.which("setpriv"):
        return ["setpriv", "--pdeathsig", sig, "--", *argv]
    return list(argv)


def own(p: subprocess.Popen[bytes]) -> None:
    with _children_lock:
        _children.add(p)


def disown(p: subprocess.Popen[bytes]) -> None:
    with _children_lock:
        _children.discard(p)


def spawn(argv: Sequence[str], pdeathsig: str = "KILL", **kw: Any) -> subprocess.Popen[bytes]:
    """A registered child process in a session (and process group) of its
    own: a Ctrl-C at the terminal reaches only this process, which stops
    the child's whole group; pdeathsig is sent to it if this process dies
    ("TERM" for make, which then stops its own jobs). The caller waits for
    it and disowns it (or uses call())."""
    p: subprocess.Popen[bytes] = subprocess.Popen(with_pdeathsig(argv, pdeathsig), start_new_session=True, **kw)
    own(p)
    return p


# How long a child stopped by call() has to stop its own children.
GRACE = 15.0


def call(argv: Sequence[str], timeout: float | None = None, pdeathsig: str = "KILL", **kw: Any) -> int:
    """Run a registered child to its end; its exit status. On a timeout or
    any exception (Interrupted included) its process group is killed."""
    p = spawn(argv, pdeathsig=pdeathsig, **kw)
    try:
        return p.wait(timeout=timeout)
    except BaseException:
        # SIGTERM first: a child of this project (run_tests.sh, the
        # mutation tool) then stops its own children, which run in
        # sessions of their own (make, QEMU) where a SIGKILL of this group
        # does not reach and a parent-death signal reaches only the first
        # process (a sub-make outlived it). Then SIGKILL what is left.
        kill_group(p, signal.SIGTERM, wait=GRACE)
        kill_group(p)
        raise
    finally:
        disown(p)


def _own_group(p: subprocess.Popen[bytes]) -> bool:
    try:
        return os.getpgid(p.pid) == p.pid
    except OSError:
        return False


def kill_group(p: subprocess.Popen[bytes], sig: int = signal.SIGKILL, wait: float = 5) -> None:
    """Kill p and, when it leads its own group, every process in it."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig) if _own_group(p) else p.send_signal(sig)
        except OSError:
            pass
    try:
        p.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        pass


def stop_all() -> None:
    """Kill every registered child still running, each with its group:
    first SIGTERM (make stops its jobs), then SIGKILL."""
    with _children_lock:
        children = list(_children)
    for p in children:
        if p.poll() is None and _own_group(p):
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 2
    for p in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
    for p in children:
        kill_group(p, signal.SIGKILL, wait=5)
        disown(p)


atexit.register(stop_all)


# ---- locks ---------------------------------------------------------------------
@contextlib.contextmanager
def locked(path: str | os.PathLike[str], waiting: Callable[[], None]) -> Iterator[None]:
    """An exclusive flock on path (created 0644 when missing, never through
    a symlink) held for the block; waiting() is called once, before this
    process blocks, when another holder has it. The lock goes with the
    process: a run killed by SIGKILL leaves no stale lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def capture(argv: Sequence[str], timeout: float | None = None, pdeathsig: str = "KILL",
            input: bytes | None = None, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """call() for a child whose output is wanted: a registered child whose
    stdout and stderr are captured (bytes), killed with its group on a
    timeout (subprocess.TimeoutExpired) or any exception."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    if input is not None:
        kw["stdin"] = subprocess.PIPE
    p = spawn(argv, pdeathsig=pdeathsig, **kw)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except BaseException:
        kill_group(p)
        raise
    finally:
        disown(p)
    return subprocess.CompletedProcess(list(argv), p.returncode, out, err)

# SPDX-License-Identifier: GPL-2.0
"""Start QEMU from a configuration and follow its console under time limits.

QEMU runs in a session of its own (a Ctrl-C at the terminal reaches the
runner, which stops it) and with a parent-death signal (setpriv
--pdeathsig): if the runner is killed, even with SIGKILL, QEMU dies with it.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from .console import Console

# Every process this run started and still owns: an interrupt stops these,
# and nothing else (no pid files).
_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()


def own(p: subprocess.Popen[bytes]) -> None:
    with _children_lock:
        _children.add(p)


def disown(p: subprocess.Popen[bytes]) -> None:
    with _children_lock:
        _children.discard(p)


def stop_all() -> None:
    """Stop every child process still running (on an interrupt)."""
    with _children_lock:
        children = list(_children)
    for p in children:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL) if _own_group(p) else p.kill()
            except OSError:
                pass
    for p in children:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _own_group(p: subprocess.Popen[bytes]) -> bool:
    try:
        return os.getpgid(p.pid) == p.pid
    except OSError:
        return False


def with_pdeathsig(argv: list[str]) -> list[str]:
    if shutil.which("setpriv"):
        return ["setpriv", "--pdeathsig", "KILL", "--", *argv]
    return argv


@dataclass
class Limits:
    boot: int     # seconds from start until the guest's init runs
    vm: int       # seconds for the whole VM


@dataclass
class Outcome:
    timed_out_boot: bool
    timed_out_vm: bool
    seconds: float
    returncode: int | None


def run(argv: list[str], console: Console, limits: Limits) -> Outcome:
    """Run QEMU, feeding each console line to console, until it exits."""
    start = time.monotonic()
    p = subprocess.Popen(with_pdeathsig(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    own(p)
    boot_killed = vm_killed = False
    buf = b""
    assert p.stdout is not None
    fd = p.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    try:
        while True:
            now = time.monotonic() - start
            if not console.booted and now >= limits.boot and not boot_killed:
                boot_killed = True
                p.kill()
            if now >= limits.vm and not vm_killed:
                vm_killed = True
                p.kill()
            if not sel.select(timeout=0.5):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                console.feed(line.decode("utf-8", "replace"))
    finally:
        sel.close()
        if buf:
            console.feed(buf.decode("utf-8", "replace"))
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdout.close()
        disown(p)
    return Outcome(boot_killed, vm_killed, time.monotonic() - start, p.returncode)

# SPDX-License-Identifier: GPL-2.0
"""Start QEMU from a configuration and follow its console under time limits.

QEMU runs in a session of its own (a Ctrl-C at the terminal reaches the
runner, which stops it) and with a parent-death signal (setpriv
--pdeathsig): if the runner is killed, even with SIGKILL, QEMU dies with it.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass

from .common import disown, own, with_pdeathsig
from .console import Console

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


# ---- the device tree -------------------------------------------------------------
# QEMU's arm virt machine hands the kernel a flattened device tree of 1 MiB
# of which about 8 KiB is used, and the kernel checksums all of it
# (crc32_be over fdt_totalsize) early in boot, before the CRC instructions
# are enabled: 50-60 ms of the boot under emulation. The same tree, dumped
# by QEMU with the run's own machine arguments and cut to its used size,
# boots the same machine; QEMU still fills /chosen and /memory at each
# boot, and leaves room for them.

def pack_fdt(blob: bytes) -> bytes:
    """blob with its free space at the end cut off (as libfdt's fdt_pack
    for a tree whose strings block comes last)."""
    if len(blob) < 40 or blob[:4] != b"\xd0\x0d\xfe\xed":
        raise ValueError("not a flattened device tree")
    (magic, total, off_struct, off_strings, off_rsv, version, last_comp, cpu,
     size_strings, size_struct) = struct.unpack(">10I", blob[:40])
    end = max(off_struct + size_struct, off_strings + size_strings, off_rsv)
    if version < 17 or end > total or end > len(blob):
        raise ValueError("unexpected device tree layout")
    header = struct.pack(">10I", magic, end, off_struct, off_strings, off_rsv, version,
                         last_comp, cpu, size_strings, size_struct)
    return header + blob[40:end]


def machine_args(argv: list[str]) -> list[str]:
    """argv without what a boot adds to the machine: kernel, initrd, command line."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("-kernel", "-initrd", "-append", "-dtb"):
            skip = True
        else:
            out.append(a)
    return out


def packed_dtb(argv: list[str], directory: str, timeout: int = 20) -> str:
    """The packed device tree for the machine argv starts, dumped once per
    QEMU binary and machine arguments and kept in directory; "" when QEMU
    cannot dump one (the run then boots with QEMU's own)."""
    machine = with_pdeathsig(machine_args(argv))
    binary = shutil.which(argv[0]) or argv[0]
    try:
        st = os.stat(binary)
    except OSError:
        return ""
    key = hashlib.sha256("\0".join([*machine, str(st.st_size), str(st.st_mtime_ns)]).encode()).hexdigest()[:16]
    path = os.path.join(directory, f"{key}.dtb")
    if os.path.isfile(path):
        return path
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            dump = os.path.join(tmp, "qemu.dtb")
            subprocess.run([*machine, "-machine", f"dumpdtb={dump}"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
                           check=False)
            with open(dump, "rb") as f:
                packed = pack_fdt(f.read())
            out = os.path.join(tmp, "packed.dtb")
            with open(out, "wb") as f:
                f.write(packed)
            os.replace(out, path)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return ""
    return path

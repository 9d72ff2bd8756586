# SPDX-License-Identifier: GPL-2.0
"""Debian kernels, KVM modules and busybox, from the shared cache.

The archive work (private apt state per suite, resolving a suite or a
version to a kernel package, downloading and unpacking into the cache,
locks) is done by scripts/debian.sh, which the Makefile also calls; this
module is the runner's typed way in. Its messages go to stderr as they
come; a failure raises DebianError, which means the kernel could not be
tested (exit 125).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from . import TOP

SCRIPT = os.path.join(TOP, "scripts", "debian.sh")


class DebianError(Exception):
    pass


def _call(*args: str) -> str:
    p = subprocess.run([SCRIPT, *args], stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise DebianError(f"debian.sh {' '.join(args)} failed")
    return p.stdout.strip()


@dataclass
class Kernel:
    image: str
    version: str      # the ABI (uname -r), or a name until booted
    package: str      # "NAME=VERSION SUITE", for the results


def kernel(arch: str, spec: str = "") -> Kernel:
    image = _call("kernel", arch, *([spec] if spec else []))
    d = os.path.dirname(image)

    def read(name: str) -> str:
        try:
            with open(os.path.join(d, name), encoding="utf-8") as f:
                return f.read().strip()
        except OSError:
            return ""
    version = read("version") or os.path.basename(d)
    package = " ".join(x for x in (read("package"), read("suite")) if x)
    return Kernel(image, version, package)


def modules(arch: str, spec: str = "") -> str:
    """A directory of the x86 KVM modules and their load order."""
    return _call("modules", arch, *([spec] if spec else []))


def modules_tree(tree: str, dest: str) -> str:
    return _call("modules-tree", tree, dest)


def busybox(arch: str) -> str:
    return _call("busybox", arch)


def kernels(arch: str) -> list[tuple[str, str, str, str]]:
    """(suite, upstream, abi, version) of every kernel the archive has."""
    out = []
    for line in _call("kernels", arch).splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[0], parts[1], parts[2], parts[3]))
    return out


def newest_per_suite(arch: str) -> list[str]:
    """The newest kernel (ABI) of each suite, for --matrix."""
    newest: dict[str, str] = {}
    for suite, _, abi, _ in kernels(arch):
        newest[suite] = abi
    return sorted(set(newest.values()), key=_version_key)


def _version_key(v: str) -> list[object]:
    import re
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", v)]

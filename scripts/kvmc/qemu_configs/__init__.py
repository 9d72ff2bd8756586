# SPDX-License-Identifier: GPL-2.0
"""Every configuration --arch accepts, and every architecture, by name."""

from __future__ import annotations

import os

from ..qemu_config import Arch, QemuConfig
from .arm64 import ARCH as ARM64_ARCH
from .arm64 import CONFIG as ARM64
from .arm64_nested import CONFIG as ARM64_NESTED
from .x86_64 import ARCH as X86_64_ARCH
from .x86_64 import CONFIG as X86_64
from .x86_64_shadow import CONFIG as X86_64_SHADOW

CONFIGS: dict[str, QemuConfig] = {c.name: c for c in (ARM64, ARM64_NESTED, X86_64, X86_64_SHADOW)}

# What runs when no --arch is given.
DEFAULT = ("arm64", "x86_64")

ARCHES: dict[str, Arch] = {a.name: a for a in (ARM64_ARCH, X86_64_ARCH)}


def find_arch(name: str) -> Arch | None:
    """The architecture any of its names (arm64, aarch64, amd64, ...)
    means, or None."""
    return next((a for a in ARCHES.values() if name in a.names()), None)


def host_arch(machine: str | None = None) -> str:
    """The suite's name for this host's architecture (uname -m, or machine):
    arm64 on aarch64; an architecture the suite does not know keeps its
    uname -m."""
    machine = os.uname().machine if machine is None else machine
    found = find_arch(machine)
    return found.name if found else machine


def configs_of(arch: str) -> tuple[str, ...]:
    """Every configuration of the architecture ARCH (its suite name), in
    CONFIGS's order: arm64 and arm64-nested, x86_64 and x86_64-shadow,
    as make check runs them."""
    return tuple(c.name for c in CONFIGS.values() if c.arch.name == arch)

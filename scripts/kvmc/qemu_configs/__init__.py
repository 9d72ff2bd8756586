# SPDX-License-Identifier: GPL-2.0
"""Every configuration --arch accepts, by name."""

from __future__ import annotations

from ..qemu_config import QemuConfig
from .arm64 import CONFIG as ARM64
from .arm64_nested import CONFIG as ARM64_NESTED
from .x86_64 import CONFIG as X86_64
from .x86_64_shadow import CONFIG as X86_64_SHADOW

CONFIGS: dict[str, QemuConfig] = {c.name: c for c in (ARM64, ARM64_NESTED, X86_64, X86_64_SHADOW)}

# What runs when no --arch is given.
DEFAULT = ("arm64", "x86_64")

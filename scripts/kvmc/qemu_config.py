# SPDX-License-Identifier: GPL-2.0
"""What one test configuration needs from QEMU and the VM, as data.

A configuration is what --arch names: an architecture to build for plus
how its VM is made (QEMU's arguments, the console, the kernel modules and
their parameters). Another configuration of the same architecture (x86_64
with KVM's shadow MMU) is the same data with a field changed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field


@dataclass(frozen=True)
class QemuConfig:
    name: str                     # --arch value, results/<name>/
    build_arch: str               # make ARCH=..., the Debian kernel's architecture
    qemu: str                     # the emulator's binary
    # QEMU's arguments before -kernel/-initrd/-append; "${VAR}" is taken
    # from the environment, else from defaults.
    args: tuple[str, ...]
    console: str                  # the kernel's console device
    defaults: dict[str, str] = field(default_factory=dict)
    # KVM is built as modules: load kvm-amd (and what it needs) in the VM.
    kvm_modules: bool = False
    # Parameters of modules loaded in the VM, module name -> "param=value ...".
    module_params: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def argv(self, kernel: str, initrd: str, append: str, env: dict[str, str]) -> list[str]:
        """The whole QEMU command line, one argument per element."""
        values = dict(self.defaults)
        values.update({k: v for k, v in env.items() if k in self.defaults and v})
        args = [string.Template(a).substitute(values) for a in self.args]
        cmdline = f"console={self.console} rdinit=/init panic=-1 loglevel=1"
        if append:
            cmdline += " " + append
        return [self.qemu, *args, "-kernel", kernel, "-initrd", initrd, "-append", cmdline]

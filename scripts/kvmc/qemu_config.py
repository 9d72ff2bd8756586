# SPDX-License-Identifier: GPL-2.0
"""What one test configuration needs from QEMU and the VM, as data.

A configuration is what --arch names: an architecture to build for plus
how its VM is made (QEMU's arguments, the console, the kernel modules and
their parameters). Another configuration of the same architecture (x86_64
with KVM's shadow MMU) is the same data with a field changed.
"""

from __future__ import annotations

import string
import zlib
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
    # KVM is built as modules: the ones the VM's CPU needs, loaded in the VM
    # with what they depend on (kvm-amd for an AMD/SVM CPU, kvm-intel for
    # an Intel/VMX one); only these are required of a --modules tree.
    kvm_modules: tuple[str, ...] = ()
    # Parameters of modules loaded in the VM, module name -> "param=value ...".
    module_params: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # What a bootable kernel image for this machine looks like: (offset,
    # bytes) any of which must match, and the ELF machine number.
    image_magic: tuple[tuple[int, bytes], ...] = ()
    elf_machine: int = 0
    # Run under the newer QEMU unpacked into the cache (kvmc.qemu_newer)
    # instead of the system's, and these words on the kernel command line.
    newer_qemu: bool = False
    cmdline: str = ""
    # Boot with QEMU's device tree cut to its used size (qemu.packed_dtb).
    packed_dtb: bool = False

    def image_problem(self, path: str) -> str:
        """Why path is not a kernel this machine boots, or "" if it may be."""
        if not self.image_magic:
            return ""
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError as e:
            return f"cannot read it: {e.strerror}"
        if not head:
            return "it is empty"
        if head[:2] == b"\x1f\x8b":
            # A compressed Image (Image.gz) is judged by what it holds.
            head = gunzip_head(path)
            if not head:
                return f"a gzip file that does not decompress to a kernel: not a kernel image for {self.build_arch}"
            if head[:2] == b"\x1f\x8b":
                return f"a gzip file inside a gzip file: not a kernel image for {self.build_arch}"
        if any(head[off:off + len(magic)] == magic for off, magic in self.image_magic):
            return ""
        if head[:4] == b"\x7fELF" and len(head) >= 20:
            machine = int.from_bytes(head[18:20], "little")
            if machine == self.elf_machine:
                return ""
            return f"an ELF file for machine {machine}, not {self.build_arch}"
        for other, what in ((b"HdrS", "an x86 bzImage"), (b"ARM\x64", "an arm64 Image")):
            if other in head[:0x210]:
                return f"{what}, not a kernel for {self.build_arch}"
        return f"not a kernel image for {self.build_arch} (no {self.build_arch} boot header)"

    def argv(self, kernel: str, initrd: str, append: str, env: dict[str, str]) -> list[str]:
        """The whole QEMU command line, one argument per element."""
        values = dict(self.defaults)
        values.update({k: v for k, v in env.items() if k in self.defaults and v})
        args = [string.Template(a).substitute(values) for a in self.args]
        cmdline = f"console={self.console} rdinit=/init panic=-1 loglevel=1"
        if self.cmdline:
            cmdline += " " + self.cmdline
        # Module parameters on the command line too: a kernel built from a
        # tree has KVM built in, where guest-init.sh's insmod never runs.
        for module, params in self.module_params.items():
            for param in params.split():
                cmdline += f" {module.replace('-', '_')}.{param}"
        if append:
            cmdline += " " + append
        return [self.qemu, *args, "-kernel", kernel, "-initrd", initrd, "-append", cmdline]


def gunzip_head(path: str, size: int = 4096) -> bytes:
    """The first size bytes of a gzip file's content, or b"" when it does
    not decompress."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = b""
    try:
        with open(path, "rb") as f:
            while len(out) < size:
                chunk = f.read(65536)
                if not chunk:
                    break
                out += d.decompress(chunk, size - len(out))
                if d.eof:
                    break
    except (OSError, zlib.error):
        return b""
    return out[:size]

# SPDX-License-Identifier: GPL-2.0
"""What one test configuration needs from QEMU and the VM, as data.

An architecture (Arch) is every fact about one instruction set that the
host side needs, kept once: the kernel's and Debian's names for it, uname
-m, the image make builds and where it leaves it, the cross compiler,
QEMU's binary, what a bootable image looks like, the kernel's selftests
run next to the suite. qemu_configs/<arch>.py holds one of each, and
qemu_configs names them (ARCHES, host_arch()).

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
class Arch:
    name: str                     # the suite's name: build/<name>/, debian.sh kernel NAME
    karch: str                    # the kernel's make ARCH=
    srcarch: str                  # arch/<srcarch>/ of a kernel tree
    image_target: str             # make's target for the bootable image
    image_path: str               # where make leaves it, in the build directory
    triplet: str                  # GNU triplet of a cross compiler (<triplet>-gcc)
    machine: str                  # uname -m of a host of this architecture
    debarch: str                  # Debian's architecture (linux-image-*-<debarch>)
    qemu: str                     # the system emulator's binary
    # Debian's kernel has KVM as modules (linux-modules-ABI; x86_64's
    # vendor modules), not built in (arm64).
    debian_kvm_modules: bool = False
    # What a bootable kernel image looks like: (offset, bytes) any of which
    # must match (the first: the image's own header), the ELF machine
    # number, and what such an image is called in a message.
    image_magic: tuple[tuple[int, bytes], ...] = ()
    elf_machine: int = 0
    image_kind: str = ""
    # The kernel's own selftests run next to the suite (kvmc.mutation), with
    # the arguments that keep them inside an emulated VM's time, and those of
    # them beyond scripts/kernel-selftests.sh's default list (KVMC_KST_EXTRA).
    selftests: tuple[str, ...] = ()
    selftest_extra: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        """Every name this architecture goes by (the suite's, uname -m,
        Debian's)."""
        return tuple(dict.fromkeys((self.name, self.karch, self.machine, self.debarch)))


@dataclass(frozen=True)
class QemuConfig:
    name: str                     # --arch value, results/<name>/
    arch: Arch                    # what it builds for and boots
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
    # Run under the newer QEMU unpacked into the cache (kvmc.qemu_newer)
    # instead of the system's, and these words on the kernel command line.
    newer_qemu: bool = False
    cmdline: str = ""
    # Boot with QEMU's device tree cut to its used size (qemu.packed_dtb).
    packed_dtb: bool = False
    # The emulator's binary: the architecture's, unless a run names another
    # (the newer QEMU, runner.with_newer_qemu).
    qemu: str = ""

    def __post_init__(self) -> None:
        if not self.qemu:
            object.__setattr__(self, "qemu", self.arch.qemu)

    @property
    def build_arch(self) -> str:
        """make ARCH=..., build/<build_arch>/, the Debian kernel's architecture."""
        return self.arch.name

    @property
    def image_magic(self) -> tuple[tuple[int, bytes], ...]:
        return self.arch.image_magic

    @property
    def elf_machine(self) -> int:
        return self.arch.elf_machine

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
        from .qemu_configs import ARCHES
        for other in ARCHES.values():
            off, magic = other.image_magic[0]
            if other is not self.arch and head[off:off + len(magic)] == magic:
                return f"{other.image_kind}, not a kernel for {self.build_arch}"
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

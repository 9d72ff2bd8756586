# SPDX-License-Identifier: GPL-2.0
from ..qemu_config import QemuConfig

# TCG emulates AMD's SVM (nested paging included with -cpu max), not Intel's
# VMX: kvm-amd is the module that loads. One vCPU: with two, the guest
# kernel's live text patching (int3-based, when kvm flips static keys)
# sometimes oopses under QEMU 7.2's multi-threaded TCG.
CONFIG = QemuConfig(
    name="x86_64",
    build_arch="x86_64",
    qemu="qemu-system-x86_64",
    args=("-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "${KVMC_VM_MEMORY}",
          "-nographic", "-no-reboot"),
    console="ttyS0",
    defaults={"KVMC_VM_MEMORY": "1G"},
    kvm_modules=("kvm-amd",),
    # The bzImage setup header's magic.
    image_magic=((0x202, b"HdrS"),),
    elf_machine=62,
    description="x86_64, kvm-amd on QEMU's SVM with nested paging (NPT)",
)

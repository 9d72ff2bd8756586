# SPDX-License-Identifier: GPL-2.0
from ..qemu_config import Arch, QemuConfig

ARCH = Arch(
    name="x86_64", karch="x86_64", srcarch="x86",
    image_target="bzImage", image_path="arch/x86/boot/bzImage",
    triplet="x86_64-linux-gnu", machine="x86_64", debarch="amd64",
    qemu="qemu-system-x86_64", debian_kvm_modules=True,
    # The bzImage setup header's magic.
    image_magic=((0x202, b"HdrS"),),
    elf_machine=62, image_kind="an x86 bzImage",
    # set_memory_region_test: one iteration (as arm64's).
    selftests=("guest_memfd_test", "set_memory_region_test 1", "private_mem_kvm_exits_test",
               "private_mem_conversions_test", "smaller_maxphyaddr_emulation_test",
               "userspace_io_test"),
    selftest_extra=("private_mem_kvm_exits_test", "private_mem_conversions_test",
                    "smaller_maxphyaddr_emulation_test", "userspace_io_test"),
)

# TCG emulates AMD's SVM (nested paging included with -cpu max), not Intel's
# VMX: kvm-amd is the module that loads. One vCPU: with two, the guest
# kernel's live text patching (int3-based, when kvm flips static keys)
# sometimes oopses under QEMU 7.2's multi-threaded TCG.
CONFIG = QemuConfig(
    name="x86_64",
    arch=ARCH,
    args=("-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "${KVMC_VM_MEMORY}",
          "-nographic", "-no-reboot"),
    console="ttyS0",
    defaults={"KVMC_VM_MEMORY": "1G"},
    kvm_modules=("kvm-amd",),
    description="x86_64, kvm-amd on QEMU's SVM with nested paging (NPT)",
)

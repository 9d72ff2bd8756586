# SPDX-License-Identifier: GPL-2.0
from ..qemu_config import Arch, QemuConfig

ARCH = Arch(
    name="arm64", karch="arm64", srcarch="arm64",
    image_target="Image", image_path="arch/arm64/boot/Image",
    triplet="aarch64-linux-gnu", machine="aarch64", debarch="arm64",
    qemu="qemu-system-aarch64",
    # The Image header's magic, a gzip-compressed Image, an EFI zboot image.
    image_magic=((56, b"ARM\x64"), (0, b"\x1f\x8b"), (4, b"zimg")),
    elf_machine=183, image_kind="an arm64 Image",
    # With the arguments that keep them inside an emulated VM's time
    # (set_memory_region_test: one iteration; page_fault_test: one guest mode).
    selftests=("guest_memfd_test", "set_memory_region_test 1", "mmio_sign_ext",
               "external_aborts", "page_fault_test -m 6"),
    selftest_extra=("mmio_sign_ext",),
)

# pauth-impdef: QEMU's cheap pointer-auth algorithm; the architected one
# makes TCG twice as slow (ENVIRONMENT.md). One vCPU and no NIC: the kernel
# boots 0.7 s sooner and the suite, one test at a time, runs no slower.
# virtualization=on gives the guest EL2, where KVM runs. The device tree
# QEMU makes is 1 MiB, which the kernel checksums at boot; a packed copy
# boots 50 ms sooner (qemu.packed_dtb).
CONFIG = QemuConfig(
    name="arm64",
    arch=ARCH,
    args=("-M", "${KVMC_ARM64_MACHINE}", "-cpu", "max,pauth-impdef=on",
          "-smp", "${KVMC_ARM64_SMP}", "-nic", "none", "-m", "${KVMC_VM_MEMORY}",
          "-nographic", "-no-reboot"),
    console="ttyAMA0",
    defaults={"KVMC_ARM64_MACHINE": "virt,virtualization=on,gic-version=3",
              "KVMC_ARM64_SMP": "1", "KVMC_VM_MEMORY": "1G"},
    description="arm64, KVM built in, nested under QEMU's virtualization=on",
    packed_dtb=True,
)

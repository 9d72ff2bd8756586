# SPDX-License-Identifier: GPL-2.0
from dataclasses import replace

from .arm64 import CONFIG as ARM64

# arm64 with nested virtualization in the test VM's KVM, so a vCPU can be
# a guest hypervisor (KVM_ARM_VCPU_HAS_EL2, the N scenarios): QEMU 10.0
# from bookworm-backports (FEAT_NV2; bookworm's 7.2 lacks it), and
# kvm-arm.mode=nested. lpa2=off caps the IPA at 48 bits: with 52, every
# memslot change walks each nested stage-2 over the whole IPA space and a
# test takes over 30 s (docs/nested.md).
CONFIG = replace(ARM64, name="arm64-nested", newer_qemu=True,
                 args=tuple("max,pauth-impdef=on,lpa2=off" if a == "max,pauth-impdef=on" else a
                            for a in ARM64.args),
                 cmdline="kvm-arm.mode=nested",
                 description="arm64 under QEMU 10 with kvm-arm.mode=nested (guest hypervisors)")

# SPDX-License-Identifier: GPL-2.0
from dataclasses import replace

from .x86_64 import CONFIG as X86_64

# kvm_amd npt=0: KVM's shadow MMU instead of nested paging, another fault
# path (and KVM_CAP_SMALLER_MAXPHYADDR=1, so x86 M9 runs).
CONFIG = replace(X86_64, name="x86_64-shadow", module_params={"kvm-amd": "npt=0"},
                 description="x86_64, kvm-amd with npt=0 (KVM's shadow MMU)")

# SPDX-License-Identifier: GPL-2.0
"""kvm-contract's host side: build the tests, boot kernels under QEMU, run
the suite in them, parse the KTAP into one result tree and report it."""

import os

# The top of the source tree (scripts/kvmc/ is two levels down).
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# SPDX-License-Identifier: GPL-2.0
"""Unit tests of kvmc's build-side modules (kbuild, kernel_tree, mutation);
test_kvmc's main() runs them with its own."""

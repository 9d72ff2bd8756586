#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Fetch the Debian packages kvm-contract builds and boots with, into a cache
# that survives fresh clones on the same machine:
#
#   scripts/debian.sh build-deps        print UAPI=<dir>, HARNESS=<dir>, LINUX_SOURCE=<dir>
#   scripts/debian.sh kernel ARCH [SPEC]    print the path of a kernel image
#   scripts/debian.sh modules ARCH [SPEC]   print a directory with the KVM
#                                       modules of that kernel and their load
#                                       order (x86_64; arm64 builds KVM in)
#   scripts/debian.sh kernels ARCH      list the kernels the archive has for
#                                       ARCH: SUITE UPSTREAM ABI VERSION a line
#   scripts/debian.sh modules-tree DIR DEST [MODULE]  the same from a
#                                       modules_install tree
#   scripts/debian.sh busybox ARCH      print the path of a static busybox
#   scripts/debian.sh linux-source      print the path of the whole linux-source tree
#   scripts/debian.sh mirror            print the archive URI apt uses here
#
# The work is done by the Python module scripts/kvmc/debian.py, whose
# docstring says what SPEC may be, how the cache is laid out and which
# environment it reads (KVMC_CACHE, KVMC_SUITE, KVMC_SUITES, KVMC_OFFLINE).
# Exit status: 0, or 1 with the reason on stderr; 128+N on signal N.
TOP=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 > /dev/null || { echo "debian.sh: python3 not found: run 'make deps' as root" >&2; exit 1; }
PYTHONPATH="$TOP/scripts${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kvmc.debian "$@"

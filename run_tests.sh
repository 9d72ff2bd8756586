#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run the kvm-contract conformance tests against a real KVM.
#
# Where /dev/kvm is usable and the architecture is the host's, the tests run
# right here. Otherwise (a machine without KVM, or another architecture)
# they run inside a VM: QEMU boots the newest Debian kernel of
# trixie-backports with nested virtualization (arm64: virtualization=on;
# x86_64: TCG's AMD SVM, with kvm-amd loaded from the matching modules
# package), the tests run in its initramfs, and their KTAP streams back
# over the console.
#
# Results go to results/<arch>/ (results.ktap, kernel.log, console.log,
# observations.jsonl, timing, durations). stdout is one KTAP document for
# the whole run; messages and the closing summary go to stderr.
# Exit status: 0 no test failed, 1 a test failed, 2 bad usage,
# 125 the kernel could not be tested (no boot, no /dev/kvm, missing tool),
# 128+N on signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
#
# The work is done by the Python package scripts/kvmc (cli.py); ./run_tests.sh -h
# lists the options. Environment: KVMC_STRICT, KVMC_CACHE, KVMC_SUITE,
# KVMC_SUITES, KVMC_OFFLINE, KVMC_BIN_TIMEOUT, KVMC_RUN_TIMEOUT_MS,
# KVMC_BOOT_TIMEOUT, KVMC_VM_TIMEOUT, KVMC_VM_MEMORY, KVMC_ARM64_MACHINE,
# KVMC_ARM64_SMP, KVMC_APPEND, KVMC_UNPRIVILEGED, KVMC_EXTRA_TESTS, KVMC_DOC_FIXES
# (README).
TOP=$(cd "$(dirname "$0")" && pwd)
command -v python3 > /dev/null ||
	{ echo "run_tests.sh: python3 not found: run 'make deps' as root" >&2; exit 125; }
PYTHONPATH="$TOP/scripts${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m kvmc.cli "$@"

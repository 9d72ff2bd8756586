#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# git bisect on real kernel builds (issue 13): a history on top of Debian's
# linux-source with one real historical fault-reporting regression in it,
# found by `git bisect run ./run_tests.sh --build . --arch arm64 -t TEST`.
#
#   scripts/bisect-build-demo.sh
#
# The history (branch bisect-demo of the linux-source repository in the
# cache, made again on every run with fixed dates, so its commits have the
# same ids everywhere), on top of the tag debian-<version>:
#
#   1-3  harmless (comments, documentation)
#   4    does not build (a syntax error in arch/arm64/kvm/handle_exit.c):
#        the bisect must skip it (exit 125), never call it good or bad
#   5    repairs the build
#   6    THE REGRESSION: undoes upstream commit 85ea6b1ec915 ("KVM: arm64:
#        Inject exception on out-of-IPA-range translation fault", Marc
#        Zyngier, v5.18, merged through kvmarm-fixes-5.18-2). Without it a
#        stage-2 translation fault on an IPA beyond the VM's IPA size (but
#        within the host's PARange) is forwarded to userspace as MMIO
#        instead of being injected into the guest as an external abort.
#        M9 (m9_beyond_address_space.load) catches it: wanted a guest data
#        abort, got KVM_EXIT_MMIO. (The upstream fix carries no Fixes:
#        tag; it fixed behaviour present since KVM/arm64 began.)
#   7-8  harmless
#
# Good: the tag (Debian's 7.3.4); bad: the branch's tip. The bisect builds
# each step in the same worktree and build directory, so every step is an
# incremental build (only the files the checkout changed). The first step
# in a fresh cache is a cold build of the whole kernel (about 10 minutes
# on 2 idle cores).
#
# Each step runs ./run_tests.sh --build.
# Exit status: 0 when the bisect named commit 6, 1 otherwise.
set -eu -o pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
ARCH=arm64
TEST=m9_beyond_address_space.load
export PYTHONPATH=$TOP/scripts

say() { echo "bisect-build-demo: $*" >&2; }

runner=("$TOP/run_tests.sh")

tree=$(python3 -m kvmc.kernel_tree --worktree demo)
base=$(git -C "$tree" tag --list 'debian-*' | head -n 1)
[ -n "$base" ] || { say "no debian-* tag in $tree"; exit 1; }
git -C "$tree" bisect reset >/dev/null 2>&1 || true

# Commits with a fixed identity and date: the same ids on every machine.
n=0
commit() {
	n=$((n + 1))
	GIT_AUTHOR_NAME=kvm-contract GIT_AUTHOR_EMAIL=kvm-contract@localhost \
	GIT_COMMITTER_NAME=kvm-contract GIT_COMMITTER_EMAIL=kvm-contract@localhost \
	GIT_AUTHOR_DATE="2026-05-0${n}T12:00:00Z" GIT_COMMITTER_DATE="2026-05-0${n}T12:00:00Z" \
		git -C "$tree" commit -q -a -F -
}
# edit FILE PYTHON-EXPRESSION-OVER-s: rewrite a file of the tree; the
# expression must change it.
edit() {
	python3 - "$tree/$1" "$2" <<'EOF'
import sys
path, expr = sys.argv[1], sys.argv[2]
s = open(path).read()
new = eval(expr, {"s": s})
if new == s:
    sys.exit(f"edit of {path} changed nothing: {expr}")
open(path, "w").write(new)
EOF
}

say "making branch bisect-demo on $base in $tree"
git -C "$tree" checkout -q -f -B bisect-demo "$base"

edit Documentation/virt/kvm/api.rst 's + "\n.. kvm-contract bisect demo: a harmless documentation commit.\n"'
commit <<'EOF'
Documentation: KVM: a harmless commit (bisect demo 1/8)
EOF
edit arch/arm64/kvm/mmio.c 's + "\n/* kvm-contract bisect demo: a harmless comment (2/8). */\n"'
commit <<'EOF'
KVM: arm64: a harmless comment in mmio.c (bisect demo 2/8)
EOF
edit virt/kvm/kvm_main.c 's + "\n/* kvm-contract bisect demo: a harmless comment (3/8). */\n"'
commit <<'EOF'
KVM: a harmless comment in kvm_main.c (bisect demo 3/8)
EOF
edit arch/arm64/kvm/handle_exit.c 's + "\nstatic int kvmc_bisect_demo_does_not_build = ;\n"'
commit <<'EOF'
KVM: arm64: a commit that does not build (bisect demo 4/8)

A syntax error: git bisect run must skip this commit (the runner exits
125 when the tree does not build), not call it good or bad.
EOF
edit arch/arm64/kvm/handle_exit.c 's.replace("\nstatic int kvmc_bisect_demo_does_not_build = ;\n", "")'
commit <<'EOF'
KVM: arm64: repair the build (bisect demo 5/8)
EOF
edit arch/arm64/kvm/mmu.c 's.replace("""	if (esr_fsc_is_translation_fault(esr)) {
		/* Beyond sanitised PARange (which is the IPA limit) */
		if (fault_ipa >= BIT_ULL(get_kvm_ipa_limit())) {
			kvm_inject_size_fault(vcpu);
			return 1;
		}

		/* Falls between the IPA range and the PARange? */
		if (fault_ipa >= BIT_ULL(VTCR_EL2_IPA(vcpu->arch.hw_mmu->vtcr))) {
			fault_ipa |= FAR_TO_FIPA_OFFSET(kvm_vcpu_get_hfar(vcpu));

			return kvm_inject_sea(vcpu, is_iabt, fault_ipa);
		}
	}

""", "", 1)'
commit <<'EOF'
KVM: arm64: forward out-of-IPA-range faults to userspace (bisect demo 6/8)

The regression of the bisect demo: this undoes upstream commit
85ea6b1ec915 ("KVM: arm64: Inject exception on out-of-IPA-range
translation fault", v5.18). A stage-2 translation fault on an IPA beyond
the VM's IPA size, or beyond the host's PARange, no longer injects an
external abort (or an address size fault) into the guest: with no
memslot there, kvm_handle_guest_abort() sends it down the MMIO path and
userspace gets a KVM_EXIT_MMIO for an address the VM cannot have.
kvm-contract's M9 (m9_beyond_address_space.load) fails on it.
EOF
edit arch/arm64/kvm/guest.c 's + "\n/* kvm-contract bisect demo: a harmless comment (7/8). */\n"'
commit <<'EOF'
KVM: arm64: a harmless comment in guest.c (bisect demo 7/8)
EOF
edit arch/arm64/kvm/mmio.c 's + "/* kvm-contract bisect demo: another harmless comment (8/8). */\n"'
commit <<'EOF'
KVM: arm64: another harmless comment in mmio.c (bisect demo 8/8)
EOF

expected=$(git -C "$tree" rev-parse bisect-demo~2)
git -C "$tree" log --oneline "$base..bisect-demo" >&2
say "git bisect run ${runner[*]##*/} --build . --arch $ARCH -t $TEST"
mkdir -p "$TOP/results"
start=$SECONDS
git -C "$tree" bisect start bisect-demo "$base" >/dev/null
rc=0
(cd "$tree" && git bisect run "${runner[@]}" --build . --arch "$ARCH" -t "$TEST") > "$TOP/results/bisect-build-demo.log" 2>&1 || rc=$?
wall=$((SECONDS - start))
grep -E 'is the first bad commit|^running|exited with error|skip|Bisecting' "$TOP/results/bisect-build-demo.log" >&2 || true
found=$(git -C "$tree" rev-parse refs/bisect/bad 2>/dev/null || true)
skipped=$(git -C "$tree" for-each-ref --format='%(refname:short)' 'refs/bisect/skip-*' | wc -l)
git -C "$tree" bisect log > "$TOP/results/bisect-build-demo.bisect-log" 2>/dev/null || true
git -C "$tree" bisect reset "$base" >/dev/null 2>&1 || git -C "$tree" checkout -q -f "$base"
say "whole bisect: ${wall} s (log: results/bisect-build-demo.log), $skipped commit(s) skipped as unbuildable"
if [ "$rc" = 0 ] && [ "$found" = "$expected" ]; then
	say "found the regression: $(git -C "$tree" log -1 --format='%h %s' "$found")"
	exit 0
fi
say "FAILED: bisect ended with $rc and named ${found:-nothing}; expected $(git -C "$tree" log -1 --format='%h %s' "$expected")"
exit 1

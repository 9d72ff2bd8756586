#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# git bisect run between Debian kernel images, end to end: a throwaway git
# history where each commit names the kernel "built" at that point, one of
# them broken (an image QEMU cannot boot), and run_tests.sh as the bisect
# command. It finds the first kernel on which x86 M4 reports -EFAULT without
# the memory_fault payload KVM_CAP_MEMORY_FAULT_INFO promises (C4), skipping
# the untestable commit (exit 125).
#
#   scripts/bisect-demo.sh [TEST]     (default m4_prot_none.load.fault)
set -eu -o pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
test=${1:-m4_prot_none.load.fault}
work=$(mktemp -d "${TMPDIR:-/tmp}/kvmc-bisect.XXXXXX")
trap 'rm -rf "$work"' EXIT

cd "$work"
git init -q
git config user.email demo@kvm-contract.invalid
git config user.name "bisect demo"
# The history: Debian kernels by version, oldest first, one broken build.
for k in 6.1.0-47 6.1.0-50 6.12.43 broken 6.12.117 7.2.13 7.3.4; do
	echo "$k" > kernel
	git add kernel
	git commit -q -m "kernel $k"
done
first=$(git rev-list --max-parents=0 HEAD)

cat > test.sh <<TEST
#!/bin/sh
# The bisect command: the suite's verdict on this commit's kernel.
k=\$(cat kernel)
echo "=== commit \$(git log -1 --format=%s)" >&2
if [ "\$k" = broken ]; then
	head -c 1000000 /dev/zero > broken.img
	set -- --kernel "\$PWD/broken.img"
else
	set -- --debian "\$k"
fi
"$TOP/run_tests.sh" --arch x86_64 -t "$test" -o "$work/results" "\$@" > /dev/null
rc=\$?
echo "=== exit \$rc" >&2
exit \$rc
TEST
chmod +x test.sh
git bisect start HEAD "$first" > /dev/null
git bisect run ./test.sh 2>&1 | grep -E '^===|^run_tests.sh: (x86_64: (booting|the test VM|[0-9]+ passed)|no )|is the first bad commit|^    kernel|could be any of|^[0-9a-f]{40}$'
git bisect log | grep -E '^git bisect (good|bad|skip)|first bad' | sed 's/^/log: /'

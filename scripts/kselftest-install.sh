#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Lay out a kselftest install tree from the built tests:
#
#   scripts/kselftest-install.sh TESTDIR INSTALL_PATH HARNESS [STRIP]
#
# INSTALL_PATH gets the kernel's run_kselftest.sh and kselftest/ (from the
# HARNESS directory, tools/testing/selftests of the same linux-source), a
# kselftest-list.txt naming the collection "kvm-contract", and the
# collection itself: the binaries (stripped with STRIP when given), a
# settings file with the per-binary timeout, and ktap-runner.sh with its
# list, so either runner can drive it. Timestamps are kept, so a tree that
# did not change looks unchanged to whoever packs it.
set -eu

tests=${1:?usage: kselftest-install.sh TESTDIR INSTALL_PATH HARNESS [STRIP]}
dest=${2:?usage: kselftest-install.sh TESTDIR INSTALL_PATH HARNESS [STRIP]}
harness=${3:?usage: kselftest-install.sh TESTDIR INSTALL_PATH HARNESS [STRIP]}
strip=${4:-}
top=$(cd "$(dirname "$0")/.." && pwd)

[ -f "$harness/run_kselftest.sh" ] || { echo "kselftest-install.sh: no run_kselftest.sh in $harness" >&2; exit 1; }
col=$dest/kvm-contract
mkdir -p "$col" "$dest/kselftest"

# copy SRC DST: only when the content differs, keeping SRC's time.
copy() {
	cmp -s "$1" "$2" 2>/dev/null || cp -p "$1" "$2"
}

# New content goes to a temporary file beside its target, made by mktemp
# (a new file of its own, never a link someone planted at a name known in
# advance: INSTALL_PATH may be in a shared directory, and this runs as
# root), then renamed over the target. One at a time; gone on every way
# out.
tmp=
trap '[ -z "$tmp" ] || rm -f "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
# temp TARGET: a new temporary file for TARGET, in $tmp.
temp() {
	tmp=$(mktemp "$(dirname "$1")/.${1##*/}.XXXXXX")
}
# put TARGET TEXT: TEXT into TARGET, only when that changes it (an
# unchanged file keeps its time).
put() {
	temp "$1"
	printf '%s' "$2" > "$tmp"
	if cmp -s "$tmp" "$1"; then
		rm -f "$tmp"
	else
		chmod 644 "$tmp"
		mv -f "$tmp" "$1"
	fi
	tmp=
}

cp -p "$harness/run_kselftest.sh" "$dest/"
for f in "$harness"/kselftest/*; do copy "$f" "$dest/kselftest/${f##*/}"; done

# install NAME: the binary TESTDIR/NAME into the collection.
install_binary() {
	if [ -n "$strip" ]; then
		# Stripped copies: a fifth of the size, for a faster VM boot.
		if [ ! -f "$col/$1" ] || [ -L "$col/$1" ] || [ "$tests/$1" -nt "$col/$1" ]; then
			temp "$col/$1"
			"$strip" -o "$tmp" "$tests/$1"
			chmod 755 "$tmp"
			touch -r "$tests/$1" "$tmp"
			mv -f "$tmp" "$col/$1"
			tmp=
		fi
	else
		copy "$tests/$1" "$col/$1"
	fi
}

bins=$(cat "$tests/kvm-contract-list.txt")
keep=$bins
for b in $bins; do
	if [ -L "$tests/$b" ]; then
		# A test that is a name of the multi-call binary: the same link
		# here, and the binary once.
		real=$(readlink "$tests/$b")
		case $keep in *"$real"*) ;; *) install_binary "$real"; keep="$keep
$real" ;; esac
		[ "$(readlink "$col/$b" 2>/dev/null)" = "$real" ] || { rm -f "$col/$b"; ln -s "$real" "$col/$b"; }
	else
		install_binary "$b"
	fi
done
# Binaries of tests that no longer exist go.
for f in "$col"/*; do
	case $f in *.txt|*/settings|*/ktap-runner.sh) continue ;; esac
	echo "$keep" | grep -qx "${f##*/}" || rm -f "$f"
done
copy "$tests/kvm-contract-list.txt" "$col/kvm-contract-list.txt"
copy "$top/scripts/ktap-runner.sh" "$col/ktap-runner.sh"

# Whole binaries take seconds; the harness bounds each test inside them.
put "$col/settings" 'timeout=300
'
list=
for b in $bins; do list="${list}kvm-contract:$b
"; done
put "$dest/kselftest-list.txt" "$list"

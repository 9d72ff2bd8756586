#!/bin/bash
# Build the kernel's own KVM selftests that cover the ground kvm-contract
# covers (guest_memfd, memslot changes, MMU stress; on arm64 also external
# aborts and stage-2 fault handling), from the linux-source tree the suite's
# harness comes from, as static binaries a busybox initramfs can run:
#
#   scripts/kernel-selftests.sh ARCH OUTDIR      ARCH: arm64 or x86_64
#   KVMC_KST_EXTRA="name ..." scripts/kernel-selftests.sh ARCH OUTDIR
#
# OUTDIR receives the binaries, stripped, side by side (no arm64/ prefix) and
# list.txt naming them, one a line. The unstripped binaries, objects and the
# build log stay in build/kernel-selftests/ARCH (addr2line wants those).
# A second run with the same tree, headers, compiler and script does
# nothing; a change in any of them rebuilds from scratch.
#
# The source tree is only read: objects, arm64's generated sysreg header
# and the Makefile's compiler probes all go to the build directory. The UAPI
# headers are linux-libc-dev's of the same version (identical to what the
# tree's headers_install produces); when the two versions differ, or with
# KVMC_KST_HEADERS=tree, they are generated from the tree instead (slower).
set -eu -o pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
SELF=$TOP/scripts/kernel-selftests.sh

die() { echo "kernel-selftests.sh: $*" >&2; exit 1; }
log() { echo "kernel-selftests.sh: $*" >&2; }
usage() { echo "usage: scripts/kernel-selftests.sh arm64|x86_64 OUTDIR"; }

[ $# -eq 2 ] || { usage >&2; exit 2; }
case $1 in
arm64|aarch64) arch=arm64 triplet=aarch64-linux-gnu ;;
x86_64|amd64) arch=x86_64 triplet=x86_64-linux-gnu ;;
*) usage >&2; die "unsupported architecture '$1'" ;;
esac
[ -n "$2" ] || { usage >&2; exit 2; }
outdir=$(realpath -m "$2")

# The tests wanted, by their path under tools/testing/selftests/kvm without
# the architecture directory; those this tree lacks are skipped with a note.
want="guest_memfd_test set_memory_region_test mmu_stress_test"
[ $arch = arm64 ] && want="$want external_aborts page_fault_test"
# KVMC_KST_EXTRA: more tests by the same kind of name (the mutation study
# adds mmio_sign_ext on arm64 and x86's private memory and MMIO tests).
want="$want ${KVMC_KST_EXTRA:-}"

# Settings from the caller's environment (a parent make's jobserver, CFLAGS
# meant for something else) would leak into the selftests' Makefile.
unset CFLAGS CPPFLAGS LDFLAGS LDLIBS TARGET_ARCH MAKEFLAGS MFLAGS MAKELEVEL O OUTPUT

# Toolchain: native when the machine is ARCH, otherwise the cross gcc.
host=$(uname -m)
if [ "$host" = "${triplet%%-*}" ]; then cross=; else cross=$triplet-; fi
cc=${cross}gcc
command -v "$cc" >/dev/null ||
	die "$cc not found: building for $arch needs it (scripts/deps.sh installs it)"
command -v "${cross}strip" >/dev/null || die "${cross}strip not found (binutils for $arch)"
command -v make >/dev/null || die "make not found (scripts/deps.sh installs it)"
[ "$("$cc" -print-file-name=libc.a)" != libc.a ] ||
	die "$cc has no static C library (libc.a); install libc6-dev for $arch"

# The tree and the headers.
src=$("$TOP/scripts/debian.sh" linux-source) || die "could not get the linux-source tree"
deps=$("$TOP/scripts/debian.sh" build-deps) || die "could not get the UAPI headers"
uapi=$(echo "$deps" | sed -n 's/^UAPI=//p')
kvm=$src/tools/testing/selftests/kvm
[ -f "$kvm/Makefile" ] || die "$kvm/Makefile missing: is $src a whole linux-source tree?"
src_ver=${src##*/linux-}; src_ver=${src_ver%.full}
uapi_ver=${uapi%/usr/include}; uapi_ver=${uapi_ver##*/}
if [ "${KVMC_KST_HEADERS:-}" = tree ]; then
	headers=tree
elif [ -n "$uapi" ] && [ "$uapi_ver" = "$src_ver" ] && [ -f "$uapi/$triplet/asm/kvm.h" ]; then
	headers=$uapi
else
	log "linux-libc-dev ($uapi_ver) does not match linux-source ($src_ver): generating the headers from the tree"
	headers=tree
fi

# Which of the wanted tests this tree has for ARCH, with their paths there.
# Older trees name the directories aarch64 and x86_64.
case $arch in
arm64) dirs="arm64 aarch64" vars_re="COMMON|arm64|aarch64" ;;
x86_64) dirs="x86 x86_64" vars_re="COMMON|x86|x86_64" ;;
esac
tests=
for t in $want; do
	found=
	for rel in $t $(for d in $dirs; do echo "$d/$t"; done); do
		[ -f "$kvm/$rel.c" ] || continue
		if grep -Eqs "^TEST_GEN_PROGS_($vars_re)[[:space:]]*\+?=[[:space:]]*${rel}[[:space:]]*\$" \
			"$kvm"/Makefile*; then
			found=$rel; break
		fi
	done
	if [ -n "$found" ]; then tests="$tests $found"
	else log "note: this tree has no $t for $arch; skipped"; fi
done
tests=${tests# }
[ -n "$tests" ] || die "none of the wanted tests ($want) is built for $arch by $kvm"

# Everything the output depends on; equal keys mean nothing to do.
key=$(printf '%s\n' "script $(sha256sum < "$SELF" | cut -d' ' -f1)" "arch $arch" \
	"source $src" "headers $headers" "cc $("$cc" --version | head -n 1)" "tests $tests")

# The selftests' Makefile names its objects by their full path, which make
# splits at spaces: a clone whose path has one builds them in the cache.
builds=$TOP/build/kernel-selftests
case $TOP in
*[[:space:]]*) builds=${KVMC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-contract}/build/kernel-selftests-$(printf %s "$TOP" | sha256sum | cut -c1-16) ;;
esac
case $builds in
*[[:space:]]*) die "cannot build the selftests under $builds (make cannot handle the space): set KVMC_CACHE to a path without one" ;;
esac
build=$builds/$arch
mkdir -p "$builds" "$outdir"
# One build per ARCH at a time.
exec 9> "$builds/$arch.lock"
flock 9

up_to_date() {
	[ -f "$outdir/.kernel-selftests.key" ] && [ -f "$outdir/list.txt" ] || return 1
	[ "$(cat "$outdir/.kernel-selftests.key")" = "$key" ] || return 1
	while read -r name; do
		[ -x "$outdir/$name" ] || return 1
	done < "$outdir/list.txt"
}
if up_to_date; then
	log "$arch: $outdir is up to date"
	exit 0
fi

# make's dependency files name sources relative to the tree, so objects from
# another tree or compiler could pass for current ones: start clean then.
if [ ! -f "$build/.key" ] || [ "$(cat "$build/.key")" != "$key" ]; then
	rm -rf "$build"
fi
mkdir -p "$build/tools" "$build/tmp"
start=$SECONDS

if [ "$headers" = tree ]; then
	if [ ! -f "$build/headers/usr/include/linux/kvm.h" ]; then
		log "$arch: generating UAPI headers from $src"
		make -C "$src" O="$build/headers" ARCH=${arch%_64} CROSS_COMPILE="$cross" \
			headers > "$build/headers.log" 2>&1 || {
			tail -n 20 "$build/headers.log" >&2
			die "$arch: 'make headers' failed in $src (a tree configured in place needs 'make mrproper'); log: $build/headers.log"
		}
	fi
	khdr="-isystem $build/headers/usr/include"
else
	khdr="-isystem $uapi -isystem $uapi/$triplet"
fi

# How the selftests' Makefile is steered:
#   OUTPUT, abs_objdir  objects, binaries and arm64's sysreg-defs.h go to
#                       $build, not into the tree
#   TMPOUT              where the Makefile's compiler probes write
#   KHDR_INCLUDES       the UAPI headers chosen above; INSTALL_HDR_PATH points
#                       away from the tree's usr/, so headers someone
#                       installed there cannot take precedence
#   EXTRA_CFLAGS=-static  also reaches the link line, which keeps the
#                       Makefile's own LDFLAGS (-pthread, -no-pie)
#   LIBVFIO_O, LDLIBS   x86 links a VFIO library into every test for the
#                       sake of irq_test alone; leaving it out drops the
#                       need for a static libuuid (uuid-dev)
targets=
for rel in $tests; do targets="$targets $build/$rel"; done
log "$arch: building $(for rel in $tests; do printf '%s ' "${rel##*/}"; done)from $src"
# shellcheck disable=SC2086
if ! make -C "$kvm" -j"$(nproc)" ARCH=$arch CROSS_COMPILE="$cross" \
	OUTPUT="$build" abs_objdir="$build" TMPOUT="$build/tmp/probe" \
	INSTALL_HDR_PATH="$build/no-usr" KHDR_INCLUDES="$khdr" \
	EXTRA_CFLAGS=-static LIBVFIO_O= LDLIBS=-ldl \
	$targets > "$build/build.log" 2>&1; then
	errs=$(grep -E 'error:|undefined reference|\*\*\*' "$build/build.log" | head -n 20) || true
	if [ -n "$errs" ]; then echo "$errs" >&2; else tail -n 20 "$build/build.log" >&2; fi
	die "$arch: building the selftests failed; the whole log is $build/build.log"
fi
echo "$key" > "$build/.key"

# Static or nothing: the VM has no libc to load.
for rel in $tests; do
	[ -f "$build/$rel" ] || die "$arch: make succeeded but $build/$rel is missing"
	if LC_ALL=C readelf -lW "$build/$rel" | grep -q 'program interpreter'; then
		die "$arch: $build/$rel is dynamically linked; the static link flags did not take"
	fi
done

# Install: binaries first, then list.txt, then the key, each by rename, so
# an interrupted run never leaves a list naming missing files or a key
# vouching for a half-written OUTDIR. Each is written first to a new file
# of mktemp's beside it (never through a link planted at a name known in
# advance: this runs as root), which goes on any way out.
tmp=
trap '[ -z "$tmp" ] || rm -f "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
# install_as MODE TARGET: $tmp, with that mode, renamed to TARGET.
install_as() { chmod "$1" "$tmp"; mv -f "$tmp" "$2"; tmp=; }
new_list=
for rel in $tests; do
	name=${rel##*/}
	tmp=$(mktemp "$outdir/.$name.XXXXXX")
	"${cross}strip" -o "$tmp" "$build/$rel"
	install_as 755 "$outdir/$name"
	new_list="$new_list$name"$'\n'
done
if [ -f "$outdir/list.txt" ]; then
	while read -r old; do
		case $'\n'$new_list in *$'\n'"$old"$'\n'*) ;; *) [ -n "$old" ] && rm -f "$outdir/$old" ;; esac
	done < "$outdir/list.txt"
fi
tmp=$(mktemp "$outdir/.list.txt.XXXXXX")
printf '%s' "$new_list" > "$tmp"
install_as 644 "$outdir/list.txt"
tmp=$(mktemp "$outdir/.kernel-selftests.key.XXXXXX")
echo "$key" > "$tmp"
install_as 644 "$outdir/.kernel-selftests.key"
log "$arch: $(wc -l < "$outdir/list.txt") static tests in $outdir ($((SECONDS - start))s)"

#!/bin/sh
# Fetch the Debian packages kvm-contract builds and boots with, into a cache
# that survives fresh clones on the same machine:
#
#   scripts/debian.sh build-deps        print UAPI=<dir> and HARNESS=<dir>
#   scripts/debian.sh kernel ARCH [SPEC]    print the path of a kernel image
#   scripts/debian.sh modules ARCH [SPEC]   print a directory with the KVM
#                                       modules of that kernel and their load
#                                       order (x86_64; arm64 builds KVM in)
#   scripts/debian.sh kernels ARCH      list the kernels the archive has for
#                                       ARCH: SUITE UPSTREAM ABI VERSION a line
#   scripts/debian.sh modules-tree DIR DEST  the same from a modules_install tree
#   scripts/debian.sh busybox ARCH      print the path of a static busybox
#   scripts/debian.sh linux-source      print the path of the whole linux-source tree
#   scripts/debian.sh mirror            print the archive URI apt uses here
#
# SPEC names a kernel: a suite (bookworm, trixie-backports, sid or unstable,
# forky or testing, experimental, ...) means the kernel its linux-image-ARCH
# metapackage depends on (or, lacking one, its newest); anything starting
# with a digit is a version, looked for in every suite of KVMC_SUITES, the
# newest package matching winning (the same version in two suites: the one
# listed first). A version matches an upstream version (6.1 matches 6.1.x,
# not 6.12; 7.4 matches 7.4.1 and the release candidate 7.4~rc3, also
# written 7.4-rc3), an ABI (6.12.57+deb13-arm64, 6.12.57+deb13, 6.1.0-30)
# or a package version (6.12.57-1). Only the generic flavour (not rt, cloud,
# 16k...) is considered. Beside each vmlinuz are the files version (ABI),
# suite, and package (NAME=VERSION of the package the image came from).
#
# "kernels" prints one line per ABI (its newest package; a tie goes to the
# suite listed first), oldest package version first. Suites the archive
# does not have, or without a kernel for ARCH, are left out.
#
# Packages are reached through one private apt state per suite (sources
# list, lists, update stamp) under the cache, $CACHE/apt/SUITE, so the
# system's apt configuration is never touched and nothing foreign is
# installed: packages are downloaded and unpacked with dpkg -x only. The
# lists are refreshed once a day; busybox comes from the base suite of
# KVMC_SUITE (trixie for trixie-backports, sid for experimental).
#
# Environment: KVMC_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/kvm-contract),
# KVMC_SUITE (the default SPEC, trixie-backports; when a suite, also the
# one of build-deps and busybox), KVMC_SUITES (the suites a version is
# looked for in and "kernels" lists, default: bookworm bookworm-backports
# trixie trixie-backports forky sid experimental; to be updated when Debian
# releases), KVMC_OFFLINE=1 to never touch the network (use what the cache
# holds, package lists of any age included, or fail).
set -eu

CACHE=${KVMC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-contract}
SPEC=${KVMC_SUITE:-trixie-backports}
SUITES=${KVMC_SUITES:-bookworm bookworm-backports trixie trixie-backports forky sid experimental}
OFFLINE=${KVMC_OFFLINE:-0}

die() { echo "debian.sh: $*" >&2; exit 1; }
log() { echo "debian.sh: $*" >&2; }

# Note: much of what follows runs inside $(...) under "if" or "||", where
# set -e does not apply; failures are checked by hand.

is_version() { case $1 in [0-9]*) return 0 ;; *) return 1 ;; esac; }

# lock FILE: wait for other runs of this script that hold FILE, and hold it
# until exit (downloads into the same place would collide).
lock() {
	command -v flock >/dev/null || return 0
	exec 8>"$1"
	flock 8
}

# Whether FILE exists and is less than a day old.
fresh() { [ -f "$1" ] && [ -z "$(find "$1" -mmin +1440 2>/dev/null)" ]; }

# use_suite NAME: work with that suite's own private apt state.
use_suite() {
	case $1 in
	unstable) SUITE=sid ;;
	''|-*|*[!a-z0-9-]*) die "'$1' is neither a Debian suite nor a kernel version" ;;
	*) SUITE=$1 ;;
	esac
	APTDIR=$CACHE/apt/$SUITE
}

# The base suite: where busybox comes from.
base_suite() {
	case $1 in
	*-backports) echo "${1%-backports}" ;;
	experimental) echo sid ;;
	*) echo "$1" ;;
	esac
}

# build-deps, linux-source and busybox need a suite, even when KVMC_SUITE
# names a version.
default_suite() {
	if is_version "$SPEC"; then use_suite trixie-backports; else use_suite "$SPEC"; fi
}

# The archive URI from this machine's apt configuration: the first Debian
# main archive (not the security archive) listed in deb822 or one-line form.
mirror() {
	uri=
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f" |
			grep -v -e security -e '^#' | grep '/debian/*$' | head -n 1) || true
		[ -n "$uri" ] && break
	done
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' \
			/etc/apt/sources.list | grep -v security | grep '/debian/*$' | head -n 1) || true
	fi
	[ -n "$uri" ] || die "no Debian archive found in /etc/apt/sources.list{,.d}"
	echo "${uri%/}"
}

# The binary cache apt builds from the lists is kept (2 s saved per query;
# the machine's configuration may turn it off).
apt_opts() {
	echo "-q -o Dir::Etc::sourcelist=$APTDIR/sources.list -o Dir::Etc::sourceparts=-" \
	     "-o Dir::State::Lists=$APTDIR/lists -o Dir::Cache=$APTDIR/cache" \
	     "-o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=" \
	     "-o Dir::State::status=/dev/null -o Debug::NoLocking=1" \
	     "-o APT::Architectures=amd64,arm64 -o APT::Sandbox::User=root"
}

# Refresh the private package lists of $SUITE. A suite the archive does not
# have is remembered for a day (the file "missing"); with QUIET_MISSING=1
# that is exit status 3 and no message.
apt_update() {
	[ "$OFFLINE" = 1 ] && die "offline (KVMC_OFFLINE=1) and the cache lacks: $1"
	command -v apt-get >/dev/null || die "apt-get not found: this needs a Debian-based machine"
	# Earlier versions kept one state for all suites in $CACHE/apt itself.
	if [ -f "$CACHE/apt/sources.list" ]; then
		rm -rf "$CACHE/apt/lists" "$CACHE/apt/cache" "$CACHE/apt/sources.list" \
			"$CACHE/apt/updated" "$CACHE/apt/update.log"
	fi
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" || die "cannot create $APTDIR"
	m=$(mirror) || exit 1
	echo "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $m $SUITE main" \
		> "$APTDIR/sources.list"
	log "updating private package lists for $SUITE"
	rm -f "$APTDIR/missing"
	st=0
	# shellcheck disable=SC2046
	apt-get $(apt_opts) update >"$APTDIR/update.log" 2>&1 || st=$?
	if grep -q 'does not have a Release file' "$APTDIR/update.log" &&
	   grep -q ' 404 ' "$APTDIR/update.log"; then
		touch "$APTDIR/missing"
		[ "${QUIET_MISSING:-0}" = 1 ] && exit 3
		die "the archive $m has no suite $SUITE"
	fi
	[ "$st" = 0 ] || die "apt-get update failed (no network to the archive?); see $APTDIR/update.log"
	# apt-get update succeeds even when every fetch failed.
	if [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*_Packages*' -print -quit)" ] ||
	   grep -q '^[WE]: Failed to fetch' "$APTDIR/update.log"; then
		grep -m 1 -E '^[WE]: ' "$APTDIR/update.log" >&2
		die "could not fetch the package lists of $SUITE from $m (no network to the archive?); set KVMC_OFFLINE=1 to use only the cache"
	fi
	touch "$APTDIR/updated"
}

# Lists of $SUITE refreshed within a day; offline, of any age.
ensure_lists() {
	fresh "$APTDIR/updated" && return 0
	if [ "$OFFLINE" = 1 ]; then
		[ -f "$APTDIR/updated" ] && return 0
		die "offline (KVMC_OFFLINE=1) and the cache lacks the package lists of $SUITE, needed for $1"
	fi
	if fresh "$APTDIR/missing"; then
		[ "${QUIET_MISSING:-0}" = 1 ] && exit 3
		die "the archive has no suite $SUITE"
	fi
	# One update at a time per suite; the one that waited may find it done.
	mkdir -p "$APTDIR" || die "cannot create $APTDIR"
	if command -v flock >/dev/null; then
		exec 9>"$APTDIR/lock"
		flock 9
		fresh "$APTDIR/updated" && return 0
	fi
	apt_update "$1"
}

# The newest version a package (NAME:ARCH) has in the lists of $SUITE.
candidate() {
	# shellcheck disable=SC2046
	apt-cache $(apt_opts) madison "$1" 2>/dev/null |
		awk -F'|' -v s=" $SUITE/" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }'
}

# fetch PKG[:ARCH] VERSION: download the .deb into a new temporary
# directory under the cache and print that directory.
fetch() {
	[ "$OFFLINE" = 1 ] && die "offline (KVMC_OFFLINE=1) and the cache lacks $1=$2"
	tmp=$(mktemp -d "$CACHE/dl.XXXXXX") || die "cannot create a directory in $CACHE"
	# shellcheck disable=SC2046
	if ! (cd "$tmp" && apt-get $(apt_opts) download "$1=$2" >"$tmp/log" 2>&1); then
		cat "$tmp/log" >&2; rm -rf "$tmp"; die "could not download $1=$2"
	fi
	echo "$tmp"
}

# unpack PKG[:ARCH] VERSION DESTDIR: unpack the .deb into DESTDIR.
unpack() {
	tmp=$(fetch "$1" "$2") || exit 1
	rm -rf "$3.part"
	mkdir -p "$3.part"
	dpkg -x "$tmp"/*.deb "$3.part" || { rm -rf "$tmp" "$3.part"; die "could not unpack $1=$2"; }
	rm -rf "$tmp" "$3"
	mv "$3.part" "$3"
}

# Depends of a metapackage that match a pattern, e.g. linux-image-arm64 ->
# linux-image-7.3.4+deb13-arm64.
depends_matching() {
	# shellcheck disable=SC2046
	apt-cache $(apt_opts) show "$1=$2" 2>/dev/null |
		awk '/^Depends:/ { sub(/^Depends: /, ""); print; exit }' | tr ',' '\n' |
		sed 's/^ *//; s/ .*//; s/:.*//' | grep -E "$3" | head -n 1
}

# UAPI headers (linux-libc-dev, all architectures) and the kselftest harness
# (from linux-source-X.Y matching the headers' version).
build_deps() {
	default_suite
	mkdir -p "$CACHE"
	if [ -f "$CACHE/build-deps.env" ]; then cat "$CACHE/build-deps.env"; return; fi
	ensure_lists "UAPI headers and kselftest harness"
	ver=$(candidate linux-libc-dev)
	[ -n "$ver" ] || { apt_update "linux-libc-dev"; ver=$(candidate linux-libc-dev); }
	[ -n "$ver" ] || die "linux-libc-dev not found in $SUITE"
	log "linux-libc-dev $ver"
	unpack linux-libc-dev "$ver" "$CACHE/uapi/$ver"
	major=$(echo "$ver" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	src=linux-source-$major
	sver=$(candidate "$src")
	[ -n "$sver" ] || die "$src not found in $SUITE"
	log "$src $sver (about 170 MB, once)"
	unpack "$src" "$sver" "$CACHE/src.tmp"
	mkdir -p "$CACHE/linux-$sver"
	# Only the harness is needed to build; api.rst and the KVM sources come
	# along so failures can be read against the text they cite.
	tar -xJf "$CACHE/src.tmp/usr/src/$src.tar.xz" -C "$CACHE/linux-$sver" --strip-components=1 \
		--wildcards "$src/tools/testing/selftests/kselftest*.h" \
		"$src/tools/testing/selftests/run_kselftest.sh" \
		"$src/tools/testing/selftests/kselftest/*" \
		"$src/Documentation/virt/kvm/*" "$src/virt/kvm/*" \
		"$src/arch/arm64/kvm/*" "$src/arch/x86/kvm/*" "$src/include/linux/kvm_host.h"
	rm -rf "$CACHE/src.tmp"
	{
		echo "UAPI=$CACHE/uapi/$ver/usr/include"
		echo "HARNESS=$CACHE/linux-$sver/tools/testing/selftests"
		echo "LINUX_SOURCE=$CACHE/linux-$sver"
	} > "$CACHE/build-deps.env.tmp"
	mv "$CACHE/build-deps.env.tmp" "$CACHE/build-deps.env"
	cat "$CACHE/build-deps.env"
}

# The whole linux-source tree matching the harness (for building the
# kernel's own KVM selftests beside ours; about 1.5 GB unpacked, once).
linux_source() {
	default_suite
	. "$(build_deps_env)"
	full=$LINUX_SOURCE.full
	[ -f "$full/Makefile" ] && { echo "$full"; return; }
	sver=${LINUX_SOURCE##*/linux-}
	major=$(echo "$sver" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	ensure_lists "linux-source-$major"
	log "linux-source-$major $sver, whole tree"
	unpack "linux-source-$major" "$sver" "$CACHE/src-full.tmp"
	rm -rf "$full.part"
	mkdir -p "$full.part"
	tar -xJf "$CACHE/src-full.tmp/usr/src/linux-source-$major.tar.xz" -C "$full.part" --strip-components=1
	rm -rf "$CACHE/src-full.tmp"
	mv "$full.part" "$full"
	echo "$full"
}

build_deps_env() {
	build_deps > /dev/null
	echo "$CACHE/build-deps.env"
}

debarch() {
	case $1 in
	arm64|aarch64) echo arm64 ;;
	x86_64|amd64) echo amd64 ;;
	*) die "unsupported architecture '$1' (arm64 or x86_64)" ;;
	esac
}

# The generic-flavour kernels of DA in the lists of $SUITE, a line
# "SUITE UPSTREAM ABI VERSION" each, where ABI is as in linux-image-ABI:
# 6.1.0-30-amd64, 6.12.57+deb13-amd64, a release candidate's 7.4-rc3-amd64
# or 7.4-rc3+deb14-amd64 (not 6.12.57+deb13-rt-amd64, -cloud-, -arm64-16k).
suite_kernels() {
	# shellcheck disable=SC2046
	names=$(apt-cache $(apt_opts) pkgnames linux-image- 2>/dev/null |
		grep -E "^linux-image-[0-9][0-9.]*(-rc[0-9]+)?(-[0-9]+)?(\+[a-z0-9.]+)?-$1\$" |
		sed "s/\$/:$1/") || true
	[ -n "$names" ] || return 0
	# shellcheck disable=SC2046,SC2086
	apt-cache $(apt_opts) madison $names 2>/dev/null |
		awk -F'|' -v s=" $SUITE/" -v suite="$SUITE" '
			index($3, s) {
				gsub(/ /, "", $1); gsub(/ /, "", $2)
				abi = $1; sub(/^linux-image-/, "", abi); sub(/:.*/, "", abi)
				up = $2; sub(/^[0-9]+:/, "", up); sub(/-[^-]*$/, "", up)
				print suite, up, abi, $2
			}'
}

# kernel_lists DA: suite_kernels of every suite in $SUITES the archive has
# (offline: that the cache has lists of), in that order.
kernel_lists() {
	n=0
	for s in $SUITES; do
		st=0
		out=$(
			QUIET_MISSING=1
			use_suite "$s"
			[ "$OFFLINE" = 1 ] && [ ! -f "$APTDIR/updated" ] && exit 3
			ensure_lists "the $1 kernels"
			suite_kernels "$1"
		) || st=$?
		case $st in
		0) n=$((n + 1)); [ -z "$out" ] || echo "$out" ;;
		3) ;;
		*) exit "$st" ;;
		esac
	done
	if [ "$n" = 0 ]; then
		[ "$OFFLINE" = 1 ] && die "offline (KVMC_OFFLINE=1) and the cache lacks the package lists of every suite in: $SUITES"
		die "the archive has none of the suites: $SUITES"
	fi
}

# spec_matches SPEC UPSTREAM ABI VERSION
spec_matches() {
	case $1 in
	*-rc[0-9]*) up=$(echo "$1" | sed 's/-rc/~rc/') ;;
	*) up=$1 ;;
	esac
	case $2 in "$up"|"$up".*|"$up"~*) return 0 ;; esac
	case $3 in "$1"|"$1"-*|"$1"+*) return 0 ;; esac
	[ "$4" = "$1" ]
}

# resolve DA SPEC: print "SUITE ABI VERSION" (of linux-image-ABI) for the
# kernel SPEC names.
resolve() {
	if ! is_version "$2"; then
		use_suite "$2"
		ensure_lists "the $1 kernel"
		mver=$(candidate "linux-image-$1:$1")
		if [ -n "$mver" ]; then
			img=$(depends_matching "linux-image-$1:$1" "$mver" "^linux-image-[0-9]")
			[ -n "$img" ] || die "cannot resolve linux-image-$1 $mver to a kernel package"
			iver=$(candidate "$img:$1")
			[ -n "$iver" ] || die "$img (the kernel of linux-image-$1 $mver) not found in $SUITE"
			echo "$SUITE ${img#linux-image-} $iver"
			return
		fi
		# No metapackage (experimental may lack one): the newest kernel.
		best=$(suite_kernels "$1" | sort -s -k4,4V | tail -n 1)
		[ -n "$best" ] || die "no $1 kernel in $SUITE"
		echo "$best" | awk '{ print $1, $3, $4 }'
		return
	fi
	all=$(kernel_lists "$1") || exit 1
	best='' bestver=''
	while read -r s up abi ver; do
		[ -n "$s" ] || continue
		spec_matches "$2" "$up" "$abi" "$ver" || continue
		if [ -z "$best" ] || dpkg --compare-versions "$ver" gt "$bestver"; then
			best="$s $abi $ver" bestver=$ver
		fi
	done <<EOF
$all
EOF
	case $2 in
	*-amd64|*-arm64) [ "${2##*-}" = "$1" ] || die "'$2' is a kernel for ${2##*-}, not $1" ;;
	esac
	[ -n "$best" ] || die "no $1 kernel matches '$2' in: $SUITES (see: debian.sh kernels $1)"
	echo "$best"
}

# The kernel image SPEC names, for ARCH, kept in
# $CACHE/kernels/SUITE-ARCH/ABI/ with the files version, suite and package.
# What a SPEC resolves to is remembered for a day
# ($CACHE/kernels/resolved/ARCH/SPEC), and beyond that when offline or
# when the archive cannot be reached. The image is in linux-binary-ABI
# where the suite has that package (7.x; 6.19 already in backports), else
# in linux-image-ABI (/boot/vmlinuz-ABI), whose amd64 one also holds the
# modules.
kernel() {
	da=$(debarch "$1")
	spec=$2
	[ "$spec" = unstable ] && spec=sid
	case $spec in ''|*/*|.*) die "bad kernel name '$spec'" ;; esac
	memo=$CACHE/kernels/resolved/$da/$spec
	if [ -f "$memo" ] && [ -f "$(cat "$memo")" ]; then
		if fresh "$memo" || [ "$OFFLINE" = 1 ]; then cat "$memo"; return; fi
	fi
	if ! r=$(resolve "$da" "$spec"); then
		[ -f "$memo" ] && [ -f "$(cat "$memo")" ] || exit 1
		log "using the kernel '$spec' resolved to before: $(cat "$memo")"
		cat "$memo"; return
	fi
	# shellcheck disable=SC2086
	set -- $r
	ksuite=$1 abi=$2 iver=$3
	use_suite "$ksuite"
	bver=$(candidate "linux-binary-$abi:$da")
	if [ -n "$bver" ]; then pkg=linux-binary-$abi pver=$bver; else pkg=linux-image-$abi pver=$iver; fi
	is_version "$spec" && log "$spec: $abi from $ksuite ($pkg $pver)"
	dir=$CACHE/kernels/$ksuite-$da
	kpath=$dir/$abi/vmlinuz
	# The package file is written last: the mark of a complete download.
	current() { [ -f "$kpath" ] && [ "$(cat "$dir/$abi/package" 2>/dev/null)" = "$pkg=$pver" ]; }
	current || { mkdir -p "$dir"; lock "$dir/lock"; }
	if ! current; then
		log "kernel $abi ($pkg $pver, $ksuite)"
		rm -rf "${dir:?}/${abi:?}"
		unpack "$pkg:$da" "$pver" "$dir/$abi.deb"
		mkdir -p "$dir/$abi"
		for f in "usr/lib/modules/$abi/vmlinuz" "boot/vmlinuz-$abi" "lib/modules/$abi/vmlinuz"; do
			[ -f "$dir/$abi.deb/$f" ] && { mv "$dir/$abi.deb/$f" "$kpath"; break; }
		done
		[ -f "$kpath" ] || { rm -rf "$dir/$abi.deb" "${dir:?}/${abi:?}"; die "no vmlinuz in $pkg $pver"; }
		# Before linux-modules-ABI, the image package holds the modules:
		# the x86 KVM ones are taken now rather than downloaded again.
		if [ "$da" = amd64 ] && [ -n "$(find "$dir/$abi.deb" -name 'kvm-amd.ko*' -print -quit)" ]; then
			modules_tree "$dir/$abi.deb" "$dir/$abi/modules" > /dev/null
		fi
		rm -rf "$dir/$abi.deb"
		echo "$abi" > "$dir/$abi/version"
		echo "$ksuite" > "$dir/$abi/suite"
		echo "$pkg=$pver" > "$dir/$abi/package"
	fi
	mkdir -p "${memo%/*}"
	echo "$kpath" > "$memo"
	# Resolved offline, from lists of any age: not to be trusted online.
	[ "$OFFLINE" = 0 ] || touch -t 197001010000 "$memo"
	echo "$kpath"
}

# kernels ARCH: every kernel of the suites in $SUITES, one line per ABI
# (its newest package; a tie goes to the suite listed first), oldest first.
kernels() {
	da=$(debarch "$1")
	all=$(kernel_lists "$da") || exit 1
	[ -n "$all" ] || die "no $da kernel in any of: $SUITES"
	echo "$all" | sort -s -k4,4Vr | awk '!seen[$3]++' | sort -s -k4,4V
}

# The KVM modules of a "make modules_install" tree (INSTALL_MOD_PATH=DIR,
# or the lib/modules/<version> directory itself), or of an unpacked
# package, into DEST: the x86 KVM modules and those they depend on (each
# module's depends= field), decompressed, with a load-order file,
# dependencies first. kvm-intel comes along, where the tree has it, for
# real Intel hardware; under QEMU's emulation only kvm-amd (SVM) can load.
modules_tree() {
	src=$1 dest=$2
	[ -d "$src" ] || die "--modules $src: no such directory"
	rm -rf "$dest.part"
	mkdir -p "$dest.part"
	: > "$dest.part/load-order"
	add_module() {
		grep -qx "$1" "$dest.part/load-order" && return 0
		mpath=$(find "$src" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n 1)
		[ -n "$mpath" ] || die "module $1 not found in $src"
		case $mpath in
		*.xz) cp "$mpath" "$dest.part/$1.ko.xz"; xz -d -f "$dest.part/$1.ko.xz" ;;
		*.zst) cp "$mpath" "$dest.part/$1.ko.zst"; zstd -q -d --rm -f "$dest.part/$1.ko.zst" ;;
		*) cp "$mpath" "$dest.part/$1.ko" ;;
		esac
		for dep in $(strings "$dest.part/$1.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
			add_module "$dep"
		done
		echo "$1" >> "$dest.part/load-order"
	}
	add_module kvm-amd
	# kvm-intel where the tree has it (a kvm-amd-only build is fine).
	[ -z "$(find "$src" -name 'kvm-intel.ko*' -print -quit)" ] || add_module kvm-intel
	rm -rf "$dest"
	mv "$dest.part" "$dest"
	echo "$dest"
}

# The KVM modules of the kernel SPEC names, out of the (100 MB)
# linux-modules-ABI package, or before that split the image's package
# (done already when "kernel" downloaded it). The package is unpacked once
# and its modules taken as from a modules_install tree.
modules() {
	da=$(debarch "$1")
	[ "$da" = amd64 ] || die "no KVM modules needed for $da (KVM is built in)"
	kpath=$(kernel "$1" "$2")
	kdir=${kpath%/*}
	mdir=$kdir/modules
	[ -f "$mdir/load-order" ] && { echo "$mdir"; return; }
	lock "$kdir/lock"
	[ -f "$mdir/load-order" ] && { echo "$mdir"; return; }
	abi=$(cat "$kdir/version")
	use_suite "$(cat "$kdir/suite")"
	ensure_lists "KVM modules for $abi"
	pkg=linux-modules-$abi
	ver=$(candidate "$pkg:$da")
	if [ -z "$ver" ]; then
		pkg=$(sed 's/=.*//' "$kdir/package")
		ver=$(sed 's/^[^=]*=//' "$kdir/package")
	fi
	log "$pkg $ver (KVM modules only)"
	unpack "$pkg:$da" "$ver" "$kdir/modules.deb"
	if [ -z "$(find "$kdir/modules.deb" -name 'kvm-amd.ko*' -print -quit)" ]; then
		rm -rf "$kdir/modules.deb"
		die "no KVM modules in $pkg $ver"
	fi
	modules_tree "$kdir/modules.deb" "$mdir" > /dev/null
	rm -rf "$kdir/modules.deb"
	echo "$mdir"
}

# A static busybox for ARCH, from the base suite (busybox does not change
# with the kernel).
busybox() {
	da=$(debarch "$1")
	bb=$CACHE/busybox/$da/busybox
	[ -x "$bb" ] && { echo "$bb"; return; }
	default_suite
	use_suite "$(base_suite "$SUITE")"
	ensure_lists "busybox for $da"
	ver=$(candidate "busybox-static:$da")
	[ -n "$ver" ] || die "busybox-static:$da not found in $SUITE"
	unpack "busybox-static:$da" "$ver" "$CACHE/busybox/$da.deb"
	mkdir -p "$(dirname "$bb")"
	mv "$CACHE/busybox/$da.deb/bin/busybox" "$bb" 2>/dev/null ||
		mv "$CACHE/busybox/$da.deb/usr/bin/busybox" "$bb"
	rm -rf "$CACHE/busybox/$da.deb"
	echo "$bb"
}

case ${1:-} in
build-deps) build_deps ;;
kernel) [ $# -ge 2 ] || die "usage: debian.sh kernel ARCH [SPEC]"; kernel "$2" "${3:-$SPEC}" ;;
kernels) [ $# -ge 2 ] || die "usage: debian.sh kernels ARCH"; kernels "$2" ;;
modules) [ $# -ge 2 ] || die "usage: debian.sh modules ARCH [SPEC]"; modules "$2" "${3:-$SPEC}" ;;
modules-tree) [ $# -ge 3 ] || die "usage: debian.sh modules-tree DIR DEST"; modules_tree "$2" "$3" ;;
busybox) [ $# -ge 2 ] || die "usage: debian.sh busybox ARCH"; busybox "$2" ;;
mirror) mirror ;;
linux-source) linux_source ;;
*) die "usage: debian.sh build-deps | kernel ARCH [SPEC] | kernels ARCH | modules ARCH [SPEC] | modules-tree DIR DEST | busybox ARCH | linux-source | mirror" ;;
esac

#!/bin/sh
# Fetch the Debian packages kvm-contract builds and boots with, into a cache
# that survives fresh clones on the same machine:
#
#   scripts/debian.sh build-deps        print UAPI=<dir> and HARNESS=<dir>
#   scripts/debian.sh kernel ARCH [SUITE]   print the path of a kernel image
#   scripts/debian.sh modules ARCH [SUITE]  print a directory with the KVM
#                                       modules of that kernel and their load
#                                       order (x86_64; arm64 builds KVM in)
#   scripts/debian.sh modules-tree DIR DEST  the same from a modules_install tree
#   scripts/debian.sh busybox ARCH      print the path of a static busybox
#   scripts/debian.sh linux-source      print the path of the whole linux-source tree
#   scripts/debian.sh mirror            print the archive URI apt uses here
#
# Packages from suites other than the machine's own are reached through a
# private apt state (sources list, lists, archives) under the cache, so the
# system's apt configuration is never touched and nothing foreign is
# installed: packages are downloaded and unpacked with dpkg -x only.
#
# Environment: KVMC_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/kvm-contract),
# KVMC_SUITE (default trixie-backports), KVMC_OFFLINE=1 to never touch the
# network (use what the cache holds or fail).
set -eu

CACHE=${KVMC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-contract}
SUITE=${KVMC_SUITE:-trixie-backports}
APTDIR=$CACHE/apt

die() { echo "debian.sh: $*" >&2; exit 1; }
log() { echo "debian.sh: $*" >&2; }

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

apt_opts() {
	echo "-q -o Dir::Etc::sourcelist=$APTDIR/sources.list -o Dir::Etc::sourceparts=-" \
	     "-o Dir::State::Lists=$APTDIR/lists -o Dir::Cache=$APTDIR/cache" \
	     "-o Dir::State::status=/dev/null -o Debug::NoLocking=1" \
	     "-o APT::Architectures=amd64,arm64 -o APT::Sandbox::User=root"
}

# Refresh the private package lists once a day; a stale list only costs a
# failed download, which triggers a refresh and one retry.
apt_update() {
	[ "${KVMC_OFFLINE:-0}" = 1 ] && die "offline (KVMC_OFFLINE=1) and the cache lacks: $1"
	command -v apt-get >/dev/null || die "apt-get not found: this needs a Debian-based machine"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
	m=$(mirror)
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	{
		echo "deb [arch=amd64,arm64 signed-by=$keyring] $m $SUITE main"
		case $SUITE in
		*-backports) echo "deb [arch=amd64,arm64 signed-by=$keyring] $m ${SUITE%-backports} main" ;;
		esac
	} > "$APTDIR/sources.list"
	log "updating private package lists for $SUITE"
	# shellcheck disable=SC2046
	apt-get $(apt_opts) update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update failed (no network to the archive?); see $APTDIR/update.log"
	# apt-get update succeeds even when every fetch failed.
	if [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*_Packages*' -print -quit)" ] ||
	   grep -q '^[WE]: Failed to fetch' "$APTDIR/update.log"; then
		grep -m 1 -E '^[WE]: ' "$APTDIR/update.log" >&2
		die "could not fetch the package lists of $SUITE from $m (no network to the archive?); set KVMC_OFFLINE=1 to use only the cache"
	fi
	touch "$APTDIR/updated"
}

ensure_lists() {
	if [ ! -f "$APTDIR/updated" ] || [ -n "$(find "$APTDIR/updated" -mmin +1440 2>/dev/null)" ]; then
		apt_update "$1"
	fi
}

# The newest version a package has in the private lists, restricted to $SUITE.
candidate() {
	# shellcheck disable=SC2046
	apt-cache $(apt_opts) madison "$1" 2>/dev/null |
		awk -F'|' -v s="$SUITE/" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }'
}

# download PKG[:ARCH] VERSION DESTDIR: unpack the .deb into DESTDIR.
unpack() {
	tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
	# shellcheck disable=SC2046
	if ! (cd "$tmp" && apt-get $(apt_opts) download "$1=$2" >"$tmp/log" 2>&1); then
		cat "$tmp/log" >&2; rm -rf "$tmp"; die "could not download $1=$2"
	fi
	mkdir -p "$3.part"
	dpkg -x "$tmp"/*.deb "$3.part"
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

# The newest kernel image of $SUITE for ARCH. Resolved through the
# linux-image-<arch> metapackage; from 7.x the image is in linux-binary-*,
# before that in linux-image-* itself.
kernel() {
	da=$(debarch "$1")
	dir=$CACHE/kernels/$SUITE-$da
	if [ -f "$dir/current" ] && [ -z "$(find "$dir/current" -mmin +1440 2>/dev/null)" ]; then
		cat "$dir/current"; return
	fi
	if [ "${KVMC_OFFLINE:-0}" = 1 ] || ! (ensure_lists "kernel for $da") 2>/dev/null; then
		[ -f "$dir/current" ] && { cat "$dir/current"; return; }
		ensure_lists "kernel for $da"
	fi
	mver=$(candidate "linux-image-$da:$da")
	[ -n "$mver" ] || die "linux-image-$da not found in $SUITE"
	img=$(depends_matching "linux-image-$da:$da" "$mver" "^linux-image-[0-9]")
	[ -n "$img" ] || die "cannot resolve linux-image-$da $mver to a kernel package"
	abi=${img#linux-image-}
	kpath=$dir/$abi/vmlinuz
	if [ ! -f "$kpath" ]; then
		log "kernel $abi ($SUITE)"
		if [ -n "$(candidate "linux-binary-$abi:$da")" ]; then
			unpack "linux-binary-$abi:$da" "$(candidate "linux-binary-$abi:$da")" "$dir/$abi.deb"
			mkdir -p "$dir/$abi"
			mv "$dir/$abi.deb/usr/lib/modules/$abi/vmlinuz" "$kpath"
		else
			unpack "$img:$da" "$mver" "$dir/$abi.deb"
			mkdir -p "$dir/$abi"
			mv "$dir/$abi.deb/boot/vmlinuz-$abi" "$kpath"
		fi
		rm -rf "$dir/$abi.deb"
		echo "$abi" > "$dir/$abi/version"
	fi
	echo "$kpath" > "$dir/current"
	echo "$kpath"
}

# collect_kvm_modules DEST LOCATE EXTRACT: put the x86 KVM modules and
# those they depend on (each module's depends= field) into DEST,
# decompressed, with a load-order file, dependencies first. LOCATE NAME
# prints where module NAME is; EXTRACT PATH FILE copies it to FILE
# (compressed as found). kvm-intel comes along for real Intel hardware;
# under QEMU's emulation only kvm-amd (SVM) can load.
collect_kvm_modules() {
	dest=$1 locate=$2 extract=$3
	rm -rf "$dest.part"
	mkdir -p "$dest.part"
	: > "$dest.part/load-order"
	add_module() {
		grep -qx "$1" "$dest.part/load-order" && return 0
		mpath=$($locate "$1")
		[ -n "$mpath" ] || die "module $1 not found"
		case $mpath in
		*.xz) $extract "$mpath" "$dest.part/$1.ko.xz"; xz -d -f "$dest.part/$1.ko.xz" ;;
		*.zst) $extract "$mpath" "$dest.part/$1.ko.zst"; zstd -q -d --rm -f "$dest.part/$1.ko.zst" ;;
		*) $extract "$mpath" "$dest.part/$1.ko" ;;
		esac
		for dep in $(strings "$dest.part/$1.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
			add_module "$dep"
		done
		echo "$1" >> "$dest.part/load-order"
	}
	add_module kvm-amd
	add_module kvm-intel
	rm -rf "$dest"
	mv "$dest.part" "$dest"
}

# The KVM modules of the kernel "kernel" resolves, taken out of the
# (100 MB) linux-modules package: only the files needed.
modules() {
	da=$(debarch "$1")
	kpath=$(kernel "$1")
	abi=$(basename "$(dirname "$kpath")")
	mdir=$(dirname "$kpath")/modules
	[ -f "$mdir/load-order" ] && { echo "$mdir"; return; }
	[ "$da" = amd64 ] || die "no KVM modules needed for $da (KVM is built in)"
	ensure_lists "KVM modules for $abi"
	pkg=linux-modules-$abi
	ver=$(candidate "$pkg:$da")
	[ -n "$ver" ] || die "$pkg not found in $SUITE"
	log "$pkg (KVM modules only)"
	tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
	# shellcheck disable=SC2046
	(cd "$tmp" && apt-get $(apt_opts) download "$pkg:$da=$ver" >"$tmp/log" 2>&1) ||
		{ cat "$tmp/log" >&2; rm -rf "$tmp"; die "could not download $pkg"; }
	deb=$(ls "$tmp"/*.deb)
	dpkg-deb -c "$deb" | awk '{ print $NF }' | grep '\.ko' > "$tmp/listing"
	locate_in_deb() { grep -E "/$1\.ko(\.xz|\.zst)?\$" "$tmp/listing" | head -n 1; }
	extract_from_deb() {
		dpkg-deb --fsys-tarfile "$deb" | tar -x -O "$1" > "$2"
	}
	collect_kvm_modules "$mdir" locate_in_deb extract_from_deb
	rm -rf "$tmp"
	echo "$mdir"
}

# The KVM modules of a "make modules_install" tree (INSTALL_MOD_PATH=DIR,
# or the lib/modules/<version> directory itself), into DEST.
modules_tree() {
	src=$1 dest=$2
	[ -d "$src" ] || die "--modules $src: no such directory"
	locate_in_tree() { find "$src" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n 1; }
	extract_from_tree() { cp "$1" "$2"; }
	collect_kvm_modules "$dest" locate_in_tree extract_from_tree
	echo "$dest"
}

# A static busybox for ARCH, from the base suite (busybox does not change
# with the kernel).
busybox() {
	da=$(debarch "$1")
	bb=$CACHE/busybox/$da/busybox
	[ -x "$bb" ] && { echo "$bb"; return; }
	ensure_lists "busybox for $da"
	ver=$(candidate "busybox-static:$da")
	if [ -z "$ver" ]; then
		ver=$(apt-cache $(apt_opts) madison "busybox-static:$da" | awk -F'|' '{ gsub(/ /, "", $2); print $2; exit }')
	fi
	[ -n "$ver" ] || die "busybox-static:$da not found"
	unpack "busybox-static:$da" "$ver" "$CACHE/busybox/$da.deb"
	mkdir -p "$(dirname "$bb")"
	mv "$CACHE/busybox/$da.deb/bin/busybox" "$bb" 2>/dev/null ||
		mv "$CACHE/busybox/$da.deb/usr/bin/busybox" "$bb"
	rm -rf "$CACHE/busybox/$da.deb"
	echo "$bb"
}

case ${1:-} in
build-deps) build_deps ;;
kernel) [ $# -ge 2 ] || die "usage: debian.sh kernel ARCH [SUITE]"; [ $# -ge 3 ] && SUITE=$3; kernel "$2" ;;
modules) [ $# -ge 2 ] || die "usage: debian.sh modules ARCH [SUITE]"; [ $# -ge 3 ] && SUITE=$3; modules "$2" ;;
modules-tree) [ $# -ge 3 ] || die "usage: debian.sh modules-tree DIR DEST"; modules_tree "$2" "$3" ;;
busybox) [ $# -ge 2 ] || die "usage: debian.sh busybox ARCH"; busybox "$2" ;;
mirror) mirror ;;
linux-source) linux_source ;;
*) die "usage: debian.sh build-deps | kernel ARCH [SUITE] | modules ARCH [SUITE] | busybox ARCH | mirror" ;;
esac

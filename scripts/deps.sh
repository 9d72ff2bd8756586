#!/bin/sh
# Install the Debian packages kvm-contract needs on this machine, or say
# exactly which command would (when not root). Packages from other suites
# (kernels, UAPI headers, linux-source) are never installed: debian.sh
# downloads and unpacks those into the cache.
set -eu

PKGS="make g++ gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu
      qemu-system-arm qemu-system-x86 cpio xz-utils gzip ca-certificates python3 mypy perl util-linux
      flex bison bc libssl-dev libelf-dev ccache git lcov
      debian-archive-keyring"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run as root: $cmd" >&2
	exit 1
fi
echo "deps.sh: installing$missing" >&2
# apt-get update only when the lists are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
	apt-get update -q >&2
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A QEMU new enough for arm64 nested virtualization, unpacked into the cache.

Debian bookworm's QEMU (7.2) does not emulate FEAT_NV2; without it a KVM
booted under QEMU offers no KVM_CAP_ARM_EL2 and the nested scenarios (N1-)
can only skip. bookworm-backports carries QEMU 10.0, whose
qemu-system-aarch64 runs on bookworm's own libraries. It is reached the way
kvmc.debian reaches every other suite, through kvmc.apt: a private apt
state per suite under the cache ($CACHE/apt/SUITE: sources list, lists,
update stamp and lock), `apt-get download` (checked against the lists'
SHA256) and `dpkg -x`.
The system's apt configuration is never touched, nothing is installed, and
the archive's URI is read from the machine's apt configuration on every
run, never written anywhere but the private sources list.

    python3 scripts/kvmc/qemu_newer.py            # print binary and data dir
    python3 scripts/kvmc/qemu_newer.py --env      # KVMC_QEMU_ARM64=... lines

Environment: KVMC_CACHE, KVMC_OFFLINE=1 (use the cache only), as kvmc.debian.
Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):
    # Run as a script (python3 scripts/kvmc/qemu_newer.py): the package is
    # one level up.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kvmc import apt, common  # noqa: E402
from kvmc.qemu_configs import ARCHES  # noqa: E402

SUITE = "bookworm-backports"
# qemu-system-arm has the binary; -common its helpers and modules; -data
# the firmware and option ROMs -L points at.
PACKAGES = ("qemu-system-arm", "qemu-system-common", "qemu-system-data")
# FEAT_NV2 under -cpu max arrived in QEMU 9.0.
MIN_MAJOR = 9
LISTS_MAX_AGE_S = 24 * 3600
# The binary, as the unpacked packages hold it.
BINARY = Path("usr/bin") / ARCHES["arm64"].qemu

_log = common.Log("qemu_newer")


class QemuNewerError(Exception):
    """Why the newer QEMU could not be had (the message says what to do)."""


@dataclass(frozen=True)
class Qemu:
    binary: Path	# BINARY of the unpacked tree
    datadir: Path	# its firmware directory, for -L
    version: str	# the Debian package version

    def args(self) -> list[str]:
        """The command's start: binary and data directory."""
        return [str(self.binary), "-L", str(self.datadir)]


def offline() -> bool:
    return os.environ.get("KVMC_OFFLINE", "0") == "1"


def mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian archive this machine's apt configuration names (the first
    main archive, not the security one), as kvmc.debian reads it."""
    try:
        return apt.mirror(etc_apt)
    except apt.AptError as e:
        raise QemuNewerError(str(e)) from e


def _unpacked(root: Path) -> Qemu | None:
    binary = root / BINARY
    datadir = root / "usr" / "share" / "qemu"
    stamp = root / "version"
    if binary.is_file() and datadir.is_dir() and stamp.is_file():
        return Qemu(binary, datadir, stamp.read_text().strip())
    return None


def fetch(cache: Path | None = None) -> Qemu:
    """The newer QEMU, downloaded and unpacked into the cache once."""
    try:
        return _fetch(cache or common.cache_root())
    except apt.AptError as e:
        raise QemuNewerError(str(e)) from e


def _fetch(cache: Path) -> Qemu:
    suite = apt.PrivateApt(cache, SUITE, offline(), _log)
    current = cache / "qemu" / "current"
    # Lists are refreshed once a day; in between, and offline, what is
    # unpacked is used as it is.
    if (found := _unpacked(current)) and (offline() or apt.fresh(suite.dir / "updated")):
        return found
    suite.ensure_lists("a QEMU with FEAT_NV2")
    version = suite.candidate(PACKAGES[0])
    if not version:
        if found:
            return found
        raise QemuNewerError(f"{PACKAGES[0]} not found in {SUITE}")
    upstream = re.sub(r"^\d+:", "", version)
    if int(upstream.split(".")[0]) < MIN_MAJOR:
        raise QemuNewerError(f"{SUITE} has {PACKAGES[0]} {version}; FEAT_NV2 needs QEMU {MIN_MAJOR}.0 or newer")
    if found and found.version == version:
        return found
    root = cache / "qemu" / version.replace(":", "_")
    root.parent.mkdir(parents=True, exist_ok=True)
    if (have := _unpacked(root)) is None:
        _log(f"{', '.join(PACKAGES)} {version} from {SUITE}")
        with tempfile.TemporaryDirectory(dir=cache, prefix="qemu.") as tmp:
            part = Path(tmp) / "root"
            part.mkdir()
            for package in PACKAGES:
                # The three come from one source package: same version.
                deb = suite.download(package, version, Path(tmp))
                subprocess.run(["dpkg", "-x", str(deb), str(part)], check=True)
            (part / "version").write_text(version + "\n")
            shutil.rmtree(root, ignore_errors=True)
            part.rename(root)
        have = _unpacked(root)
        if have is None:
            raise QemuNewerError(f"{root}: no {BINARY} after unpacking")
    # "current" names the version in use, replaced by a rename: the new
    # link is made in a directory of this process's own (two runs never
    # meet on a name), beside it; its target is relative to where it lands.
    with tempfile.TemporaryDirectory(dir=current.parent, prefix=".current.") as tmp:
        link = Path(tmp) / "current"
        link.symlink_to(root.name)
        link.replace(current)
    return _unpacked(current) or have


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", action="store_true",
                   help="print KVMC_QEMU_ARM64=BINARY and KVMC_QEMU_ARM64_DATA=DIR")
    args = p.parse_args(argv)
    try:
        q = fetch()
    except (QemuNewerError, apt.AptError, OSError, subprocess.CalledProcessError) as e:
        _log(str(e))
        return 1
    if args.env:
        print(f"KVMC_QEMU_ARM64={q.binary}")
        print(f"KVMC_QEMU_ARM64_DATA={q.datadir}")
    else:
        print(q.binary)
        print(q.datadir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

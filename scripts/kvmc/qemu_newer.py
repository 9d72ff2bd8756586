#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A QEMU new enough for arm64 nested virtualization, unpacked into the cache.

Debian bookworm's QEMU (7.2) does not emulate FEAT_NV2; without it a KVM
booted under QEMU offers no KVM_CAP_ARM_EL2 and the nested scenarios (N1-)
can only skip. bookworm-backports carries QEMU 10.0, whose
qemu-system-aarch64 runs on bookworm's own libraries. It is reached the way
scripts/debian.sh reaches every other suite: a private apt state per suite
under the cache ($CACHE/apt/SUITE: sources list, lists, update stamp, the
same files and lock debian.sh uses), `apt-get download` and `dpkg -x`.
The system's apt configuration is never touched, nothing is installed, and
the archive's URI is read from the machine's apt configuration on every
run, never written anywhere but the private sources list.

    python3 scripts/kvmc/qemu_newer.py            # print binary and data dir
    python3 scripts/kvmc/qemu_newer.py --env      # KVMC_QEMU_ARM64=... lines

Environment: KVMC_CACHE, KVMC_OFFLINE=1 (use the cache only), as debian.sh.
Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

SUITE = "bookworm-backports"
# qemu-system-arm has the binary; -common its helpers and modules; -data
# the firmware and option ROMs -L points at.
PACKAGES = ("qemu-system-arm", "qemu-system-common", "qemu-system-data")
# FEAT_NV2 under -cpu max arrived in QEMU 9.0.
MIN_MAJOR = 9
LISTS_MAX_AGE_S = 24 * 3600


class QemuNewerError(Exception):
    """Why the newer QEMU could not be had (the message says what to do)."""


@dataclass(frozen=True)
class Qemu:
    binary: Path	# usr/bin/qemu-system-aarch64 of the unpacked tree
    datadir: Path	# its firmware directory, for -L
    version: str	# the Debian package version

    def args(self) -> list[str]:
        """The command's start: binary and data directory."""
        return [str(self.binary), "-L", str(self.datadir)]


def cache_dir() -> Path:
    if os.environ.get("KVMC_CACHE"):
        return Path(os.environ["KVMC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "kvm-contract"


def offline() -> bool:
    return os.environ.get("KVMC_OFFLINE", "0") == "1"


def mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian archive this machine's apt configuration names (the first
    main archive, not the security one), as debian.sh's mirror()."""
    candidates: list[str] = []
    for f in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        with contextlib.suppress(OSError):
            for line in f.read_text().splitlines():
                if line.startswith("URIs:"):
                    candidates += line.split()[1:]
        if any(_is_main_archive(u) for u in candidates):
            break
    if not any(_is_main_archive(u) for u in candidates):
        with contextlib.suppress(OSError):
            for line in (etc_apt / "sources.list").read_text().splitlines():
                words = line.split()
                if words and words[0] == "deb":
                    candidates += [w for w in words[1:] if re.match(r"^[a-z]+://", w)][:1]
    for uri in candidates:
        if _is_main_archive(uri):
            return uri.rstrip("/")
    raise QemuNewerError("no Debian archive found in /etc/apt/sources.list{,.d}")


def _is_main_archive(uri: str) -> bool:
    return "security" not in uri and not uri.startswith("#") and re.search(r"/debian/*$", uri) is not None


class PrivateApt:
    """One suite's private apt state, laid out as debian.sh lays it out."""

    def __init__(self, cache: Path, suite: str):
        self.suite = suite
        self.dir = cache / "apt" / suite

    def options(self) -> list[str]:
        d = self.dir
        return ["-q",
                "-o", f"Dir::Etc::sourcelist={d}/sources.list", "-o", "Dir::Etc::sourceparts=-",
                "-o", f"Dir::State::Lists={d}/lists", "-o", f"Dir::Cache={d}/cache",
                "-o", "Dir::Cache::pkgcache=pkgcache.bin", "-o", "Dir::Cache::srcpkgcache=",
                "-o", "Dir::State::status=/dev/null", "-o", "Debug::NoLocking=1",
                "-o", "APT::Architectures=amd64,arm64", "-o", "APT::Sandbox::User=root"]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The per-suite lock debian.sh's ensure_lists() takes."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _fresh(self) -> bool:
        stamp = self.dir / "updated"
        return stamp.exists() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE_S

    def ensure_lists(self) -> None:
        if self._fresh():
            return
        if offline():
            if (self.dir / "updated").exists():
                return
            raise QemuNewerError(f"offline (KVMC_OFFLINE=1) and the cache lacks the package lists of {self.suite}")
        with self._locked():
            if self._fresh():
                return
            self._update()

    def _update(self) -> None:
        if not shutil.which("apt-get"):
            raise QemuNewerError("apt-get not found: this needs a Debian-based machine")
        (self.dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (self.dir / "sources.list").write_text(
            "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
            f"{mirror()} {self.suite} main\n")
        print(f"qemu_newer: updating private package lists for {self.suite}", file=sys.stderr)
        log = self.dir / "update.log"
        with open(log, "w") as out:
            st = subprocess.run(["apt-get", *self.options(), "update"], stdout=out, stderr=subprocess.STDOUT).returncode
        text = log.read_text(errors="replace")
        if st != 0 or re.search(r"^[WE]: Failed to fetch", text, re.M) or not any((self.dir / "lists").glob("*_Packages*")):
            raise QemuNewerError(f"could not fetch the package lists of {self.suite} (see {log}); "
                                 "KVMC_OFFLINE=1 uses only the cache")
        (self.dir / "updated").touch()

    def candidate(self, package: str) -> str | None:
        """The newest version of package (host architecture) in this suite."""
        out = subprocess.run(["apt-cache", *self.options(), "madison", package],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            fields = [f.strip() for f in line.split("|")]
            if len(fields) >= 3 and f" {self.suite}/" in f" {fields[2]}":
                return fields[1]
        return None

    def download(self, package: str, version: str, dest: Path) -> Path:
        """apt-get download package=version into dest; the .deb's path."""
        st = subprocess.run(["apt-get", *self.options(), "download", f"{package}={version}"],
                            cwd=dest, capture_output=True, text=True)
        debs = list(dest.glob(f"{package}_*.deb"))
        if st.returncode != 0 or len(debs) != 1:
            raise QemuNewerError(f"could not download {package}={version}: {st.stderr.strip()}")
        return debs[0]


def _unpacked(root: Path) -> Qemu | None:
    binary = root / "usr" / "bin" / "qemu-system-aarch64"
    datadir = root / "usr" / "share" / "qemu"
    stamp = root / "version"
    if binary.is_file() and datadir.is_dir() and stamp.is_file():
        return Qemu(binary, datadir, stamp.read_text().strip())
    return None


def fetch(cache: Path | None = None) -> Qemu:
    """The newer QEMU, downloaded and unpacked into the cache once."""
    cache = cache or cache_dir()
    apt = PrivateApt(cache, SUITE)
    current = cache / "qemu" / "current"
    # Lists are refreshed once a day; in between, and offline, what is
    # unpacked is used as it is.
    if (found := _unpacked(current)) and (offline() or apt._fresh()):
        return found
    apt.ensure_lists()
    version = apt.candidate(PACKAGES[0])
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
        print(f"qemu_newer: {', '.join(PACKAGES)} {version} from {SUITE}", file=sys.stderr)
        with tempfile.TemporaryDirectory(dir=cache, prefix="qemu.") as tmp:
            part = Path(tmp) / "root"
            part.mkdir()
            for package in PACKAGES:
                # The three come from one source package: same version.
                deb = apt.download(package, version, Path(tmp))
                subprocess.run(["dpkg", "-x", str(deb), str(part)], check=True)
            (part / "version").write_text(version + "\n")
            shutil.rmtree(root, ignore_errors=True)
            part.rename(root)
        have = _unpacked(root)
        if have is None:
            raise QemuNewerError(f"{root}: no usr/bin/qemu-system-aarch64 after unpacking")
    # "current" names the version in use (atomically replaced).
    link = current.with_name("current.tmp")
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
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
    except (QemuNewerError, OSError, subprocess.CalledProcessError) as e:
        print(f"qemu_newer: {e}", file=sys.stderr)
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

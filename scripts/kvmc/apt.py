# SPDX-License-Identifier: GPL-2.0
"""One Debian suite's private apt state under the cache, and the pieces of
Debian's formats the fetcher reads (debian.py).

The archive's URI is read from this machine's apt configuration (deb822
.sources files or the one-line sources.list) every time the lists are
refreshed and written only into the private sources list, never anywhere
else. Nothing here installs anything: apt-get and apt-cache run with their
state, lists and cache redirected to $CACHE/apt/SUITE and an empty dpkg
status, so they can only read lists and download packages.

Commands are argument lists, never shell strings. Standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from . import common
from .qemu_configs import ARCHES

# Package lists are refreshed once a day; offline, lists of any age do.
LISTS_MAX_AGE_S = 24 * 3600
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# The architectures whose packages the lists hold.
DEBARCHES = ",".join(sorted(a.debarch for a in ARCHES.values()))


class AptError(Exception):
    """What could not be read or fetched (the message says what to do)."""


class SuiteMissing(AptError):
    """The archive has no such suite (remembered for a day)."""


# ---- the machine's archive ---------------------------------------------------
def is_main_archive(uri: str) -> bool:
    """A Debian main archive: not the security one, not a comment."""
    return "security" not in uri and not uri.startswith("#") and re.search(r"/debian/*$", uri) is not None


def deb822_uris(text: str) -> list[str]:
    """The URIs of a deb822 .sources file, in order."""
    uris: list[str] = []
    for line in text.splitlines():
        if line.startswith("URIs:"):
            uris += line.split()[1:]
    return uris


def one_line_uris(text: str) -> list[str]:
    """The URI of each "deb" line of a one-line sources.list."""
    uris: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == "deb":
            uris += [w for w in words[1:] if re.match(r"^[a-z]+://", w)][:1]
    return uris


def mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The first Debian main archive this machine's apt configuration
    names: deb822 files first, then the one-line sources.list."""
    for f in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        for uri in deb822_uris(common.read_text(f)):
            if is_main_archive(uri):
                return uri.rstrip("/")
    for uri in one_line_uris(common.read_text(etc_apt / "sources.list")):
        if is_main_archive(uri):
            return uri.rstrip("/")
    raise AptError("no Debian archive found in /etc/apt/sources.list{,.d}")


# ---- Debian's formats ------------------------------------------------------------
def stanzas(text: str) -> list[dict[str, str]]:
    """Paragraphs of a control-format text (apt-cache show, Packages):
    field -> value, continuation lines joined with newlines."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current, last = {}, ""
        elif line[0] in " \t" and last:
            current[last] += "\n" + line.strip()
        elif ":" in line:
            last, _, value = line.partition(":")
            current[last] = value.strip()
    if current:
        out.append(current)
    return out


def depends_names(depends: str) -> list[str]:
    """Package names of a Depends field, alternatives and versions dropped:
    "linux-image-7.3.4+deb13-arm64 (= 7.3.4-1~bpo13+1), foo:any" ->
    [linux-image-7.3.4+deb13-arm64, foo]."""
    names = []
    for part in depends.split(","):
        word = part.strip().split(" ")[0].split("|")[0]
        if word:
            names.append(word.split(":")[0])
    return names


@dataclass(frozen=True)
class Madison:
    """One line of apt-cache madison: a version of a package in a suite."""
    package: str
    version: str
    suite: str


def madison(text: str) -> list[Madison]:
    """ "linux-image-7.3.4+deb13-arm64 | 7.3.4-1~bpo13+1 | http://... trixie-backports/main arm64 Packages" """
    out = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) < 3:
            continue
        where = fields[2].split()
        suite = where[1].split("/")[0] if len(where) > 1 else ""
        out.append(Madison(fields[0].split(":")[0], fields[1], suite))
    return out


def _order(c: str) -> int:
    if c == "" or c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternating non-digit runs (letters before other
    characters, ~ before anything, even the end) and numbers."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i] if i < len(a) else "")
            bc = _order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        n = i
        while n < len(a) and a[n].isdigit():
            n += 1
        m = j
        while m < len(b) and b[m].isdigit():
            m += 1
        x, y = int(a[i:n] or "0"), int(b[j:m] or "0")
        if x != y:
            return -1 if x < y else 1
        i, j = n, m
    return 0


def compare_versions(a: str, b: str) -> int:
    """Debian version order (dpkg --compare-versions): <0, 0 or >0."""
    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or "0"), upstream, revision
    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on path (created if need be) until the block
    ends; other processes asking for it wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with common.locked(path, lambda: None):
        yield


def fresh(path: Path) -> bool:
    """Whether path exists and is less than a day old."""
    try:
        return time.time() - path.stat().st_mtime < LISTS_MAX_AGE_S
    except OSError:
        return False


# ---- one suite's private state -------------------------------------------------
class PrivateApt:
    """$CACHE/apt/SUITE: sources.list, lists/, cache/, the stamps "updated"
    (lists refreshed) and "missing" (the archive has no such suite), and
    "lock", held while the lists are refreshed."""

    def __init__(self, cache: Path, suite: str, offline: bool, log: Callable[[str], None]):
        self.suite = suite
        self.dir = cache / "apt" / suite
        self.cache = cache
        self.offline = offline
        self.log = log

    def options(self) -> list[str]:
        # The binary cache apt builds from the lists is kept (2 s saved per
        # query; the machine's configuration may turn it off).
        d = self.dir
        return ["-q",
                "-o", f"Dir::Etc::sourcelist={d}/sources.list", "-o", "Dir::Etc::sourceparts=-",
                "-o", f"Dir::State::Lists={d}/lists", "-o", f"Dir::Cache={d}/cache",
                "-o", "Dir::Cache::pkgcache=pkgcache.bin", "-o", "Dir::Cache::srcpkgcache=",
                "-o", "Dir::State::status=/dev/null", "-o", "Debug::NoLocking=1",
                "-o", f"APT::Architectures={DEBARCHES}", "-o", "APT::Sandbox::User=root"]

    def has_lists(self) -> bool:
        return (self.dir / "updated").is_file()

    def ensure_lists(self, purpose: str) -> None:
        """Lists refreshed within a day; offline, of any age."""
        if fresh(self.dir / "updated"):
            return
        if self.offline:
            if self.has_lists():
                return
            raise AptError(f"offline (KVMC_OFFLINE=1) and the cache lacks the package lists of "
                           f"{self.suite}, needed for {purpose}")
        if fresh(self.dir / "missing"):
            raise SuiteMissing(f"the archive has no suite {self.suite}")
        # One update at a time per suite; the one that waited may find it done.
        with locked(self.dir / "lock"):
            if not fresh(self.dir / "updated"):
                self.update(purpose)

    def update(self, purpose: str) -> None:
        if self.offline:
            raise AptError(f"offline (KVMC_OFFLINE=1) and the cache lacks: {purpose}")
        if not shutil.which("apt-get"):
            raise AptError("apt-get not found: this needs a Debian-based machine")
        # Earlier versions kept one state for all suites in $CACHE/apt itself.
        top = self.cache / "apt"
        if (top / "sources.list").is_file():
            for name in ("lists", "cache"):
                shutil.rmtree(top / name, ignore_errors=True)
            for name in ("sources.list", "updated", "update.log"):
                with contextlib.suppress(OSError):
                    (top / name).unlink()
        try:
            (self.dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
            (self.dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise AptError(f"cannot create {self.dir}: {e.strerror}") from e
        uri = mirror()
        common.write_atomic(self.dir / "sources.list",
                            f"deb [arch={DEBARCHES} signed-by={KEYRING}] {uri} {self.suite} main\n")
        self.log(f"updating private package lists for {self.suite}")
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "missing").unlink()
        log = self.dir / "update.log"
        with open(log, "w") as out:
            st = subprocess.run(["apt-get", *self.options(), "update"],
                                stdout=out, stderr=subprocess.STDOUT).returncode
        text = common.read_text(log)
        if "does not have a Release file" in text and " 404 " in text:
            (self.dir / "missing").touch()
            raise SuiteMissing(f"the archive {uri} has no suite {self.suite}")
        if st != 0:
            raise AptError(f"apt-get update failed (no network to the archive?); see {log}")
        # apt-get update succeeds even when every fetch failed.
        failed = re.search(r"^[WE]: Failed to fetch", text, re.M)
        if failed or not any((self.dir / "lists").glob("*_Packages*")):
            first = re.search(r"^[WE]: .*$", text, re.M)
            raise AptError((first.group(0) + "\n" if first else "") +
                           f"could not fetch the package lists of {self.suite} from {uri} "
                           "(no network to the archive?); set KVMC_OFFLINE=1 to use only the cache")
        (self.dir / "updated").touch()

    def _cache(self, *args: str) -> str:
        return subprocess.run(["apt-cache", *self.options(), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout

    def versions(self, *packages: str) -> list[Madison]:
        """Every version of these packages (NAME:ARCH) in this suite."""
        return [m for m in madison(self._cache("madison", *packages)) if m.suite == self.suite]

    def candidate(self, package: str) -> str:
        """The newest version package (NAME:ARCH) has in this suite, or ""."""
        found = self.versions(package)
        return found[0].version if found else ""

    def record(self, package: str, version: str) -> dict[str, str]:
        """The package list's paragraph of package=version (NAME:ARCH)."""
        for s in stanzas(self._cache("show", f"{package}={version}")):
            if s.get("Version") == version:
                return s
        return {}

    def names(self, prefix: str) -> list[str]:
        return self._cache("pkgnames", prefix).split()

    def download(self, package: str, version: str, dest: Path) -> Path:
        """apt-get download package=version into dest; the .deb, checked
        against the SHA256 and Size the package lists give it."""
        if self.offline:
            raise AptError(f"offline (KVMC_OFFLINE=1) and the cache lacks {package}={version}")
        record = self.record(package, version)
        p = subprocess.run(["apt-get", *self.options(), "download", f"{package}={version}"],
                           cwd=dest, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        name = package.split(":")[0]
        debs = sorted(dest.glob(f"{name}_*.deb"))
        if p.returncode != 0 or len(debs) != 1:
            raise AptError(p.stdout.strip() + f"\ncould not download {package}={version}")
        deb = debs[0]
        want = record.get("SHA256", "")
        if not want:
            raise AptError(f"{package}={version}: the package lists give no SHA256 to check it against")
        size = deb.stat().st_size
        if record.get("Size", str(size)) != str(size) or sha256(deb) != want:
            raise AptError(f"{package}={version}: the downloaded {deb.name} ({size} bytes) does not "
                           f"match the archive's SHA256 {want} (Size {record.get('Size', '?')}): "
                           "a damaged or truncated download")
        return deb

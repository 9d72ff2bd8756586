# SPDX-License-Identifier: GPL-2.0
"""The Debian packages kvm-contract builds and boots with, fetched into a
cache that survives fresh clones on the same machine:

    python3 -m kvmc.debian build-deps        print UAPI=<dir>, HARNESS=<dir>, LINUX_SOURCE=<dir>
    python3 -m kvmc.debian kernel ARCH [SPEC]   print the path of a kernel image
    python3 -m kvmc.debian modules ARCH [SPEC]  print a directory with the KVM modules
                                            of that kernel and their load order
                                            (x86_64; arm64 builds KVM in)
    python3 -m kvmc.debian kernels ARCH      the kernels the archive has for ARCH:
                                            SUITE UPSTREAM ABI VERSION a line
    python3 -m kvmc.debian modules-tree DIR DEST [MODULE]
                                            the KVM modules of a modules_install
                                            tree that MODULE (default: what the
                                            x86_64 test VM's CPU needs) needs
    python3 -m kvmc.debian busybox ARCH      print the path of a static busybox
    python3 -m kvmc.debian linux-source      print the path of the whole linux-source tree
    python3 -m kvmc.debian mirror            print the archive URI apt uses here

scripts/debian.sh runs this (the Makefile and the documentation use it);
the runner calls the functions at the end of this file, which run it too.

SPEC names a kernel: a suite (bookworm, trixie-backports, sid or unstable,
forky or testing, experimental, ...) means the kernel its linux-image-ARCH
metapackage depends on (or, lacking one, its newest); anything starting
with a digit is a version, looked for in every suite of KVMC_SUITES, the
newest package matching winning (the same version in two suites: the one
listed first). A version matches an upstream version (6.1 matches 6.1.x,
not 6.12; 7.4 matches 7.4.1 and the release candidate 7.4~rc3, also
written 7.4-rc3), an ABI (6.12.57+deb13-arm64, 6.12.57+deb13, 6.1.0-30)
or a package version (6.12.57-1). Only the generic flavour (not rt, cloud,
16k...) is considered. Beside each vmlinuz are the files version (ABI),
suite, and package (NAME=VERSION of the package the image came from).

"kernels" prints one line per ABI (its newest package; a tie goes to the
suite listed first), oldest package version first. Suites the archive
does not have, or without a kernel for ARCH, are left out.

The cache ($KVMC_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/kvm-contract):

- Packages are reached through one private apt state per suite,
  apt/SUITE (kvmc/apt.py), refreshed once a day; nothing is installed,
  packages are downloaded and unpacked with dpkg -x only. Busybox comes
  from the base suite of KVMC_SUITE (trixie for trixie-backports, sid for
  experimental).
- Every entry (a kernel, its modules, busybox, the UAPI headers, the
  harness, linux-source) is made in a directory of its own, dl.PID.XXXX,
  under the cache and renamed into place when complete, under a lock of
  its own: two runs sharing a cold cache wait for each other and download
  once, and a half-made entry is never seen. A downloaded package is
  checked against the SHA256 the package lists give it before it is
  unpacked. An interrupted run removes its dl.* directory (SIGINT,
  SIGTERM, SIGHUP too); one left by a process that is gone (killed) is
  removed by the next run.
- Kernels, modules and busybox carry a file "manifest" (SHA256, size and
  path of each file), written last and checked on every use: a damaged
  entry is fetched again, or offline named with what to do.
- Nothing in the cache holds an absolute path (what a kernel SPEC
  resolved to, kernels/resolved/ARCH/SPEC, and build-deps.paths are
  relative to the cache), so a copied cache (cp -a) is self-contained.

Environment: KVMC_CACHE, KVMC_SUITE (the default SPEC, trixie-backports;
when a suite, also the one of build-deps and busybox), KVMC_SUITES (the
suites a version is looked for in and "kernels" lists, default: bookworm
bookworm-backports trixie trixie-backports forky sid experimental; to be
updated when Debian releases), KVMC_OFFLINE=1 to never touch the network
(use what the cache holds, package lists of any age included, or fail).
Exit status: 0, or 1 with the reason on stderr; 128+N on signal N.
"""

from __future__ import annotations

import contextlib
import functools
import fcntl
import lzma
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from . import TOP, common
from .apt import (AptError, PrivateApt, SuiteMissing, compare_versions, depends_names, fresh, locked,
                  mirror, sha256)
from .common import Interrupted, write_atomic
from .qemu_config import Arch
from .qemu_configs import ARCHES, CONFIGS, find_arch

DEFAULT_SPEC = "trixie-backports"
DEFAULT_SUITES = "bookworm bookworm-backports trixie trixie-backports forky sid experimental"
# The module the x86_64 test VM's CPU needs: QEMU's TCG emulates AMD's SVM
# (qemu_configs/x86_64.py).
DEFAULT_VENDOR_MODULE = CONFIGS["x86_64"].kvm_modules[0]
PROG = "debian.sh"


class DebianError(Exception):
    """The packages could not be had; the message says why (and what to do)."""


log = common.Log(PROG)


# ---- kernel names -------------------------------------------------------------
def is_version(spec: str) -> bool:
    return spec[:1].isdigit()


def suite_name(name: str) -> str:
    if name == "unstable":
        return "sid"
    if not name or name.startswith("-") or not re.fullmatch(r"[a-z0-9-]+", name):
        raise DebianError(f"'{name}' is neither a Debian suite nor a kernel version")
    return name


def base_suite(suite: str) -> str:
    """Where busybox comes from."""
    if suite.endswith("-backports"):
        return suite[:-len("-backports")]
    return "sid" if suite == "experimental" else suite


def arch_of(name: str) -> Arch:
    """The architecture ARCH names (the suite's, uname -m or Debian's name)."""
    found = find_arch(name)
    if found is None:
        raise DebianError(f"unsupported architecture '{name}' ({' or '.join(ARCHES)})")
    return found


def image_package_re(da: str) -> re.Pattern[str]:
    """The generic flavour's linux-image-ABI: 6.1.0-30-amd64,
    6.12.57+deb13-amd64, a release candidate's 7.4-rc3-amd64 or
    7.4-rc3+deb14-amd64 (not 6.12.57+deb13-rt-amd64, -cloud-, -arm64-16k)."""
    return re.compile(rf"^linux-image-[0-9][0-9.]*(-rc[0-9]+)?(-[0-9]+)?(\+[a-z0-9.]+)?-{da}$")


@dataclass(frozen=True)
class KernelPackage:
    """One kernel of the archive: SUITE UPSTREAM ABI VERSION."""
    suite: str
    upstream: str
    abi: str
    version: str

    def line(self) -> str:
        return f"{self.suite} {self.upstream} {self.abi} {self.version}"


def upstream_of(version: str) -> str:
    """7.3.4-1~bpo13+1 -> 7.3.4 (epoch and Debian revision dropped)."""
    return re.sub(r"-[^-]*$", "", re.sub(r"^[0-9]+:", "", version))


def spec_matches(spec: str, k: KernelPackage) -> bool:
    """Whether a version SPEC names kernel k: its upstream version (6.1
    matches 6.1.x, not 6.12; 7.4 matches 7.4.1 and 7.4~rc3, also written
    7.4-rc3), its ABI (6.12.57+deb13-arm64, 6.12.57+deb13, 6.1.0-30) or its
    package version (6.12.57-1)."""
    up = re.sub(r"-rc(?=[0-9])", "~rc", spec)
    if k.upstream == up or k.upstream.startswith((up + ".", up + "~")):
        return True
    if k.abi == spec or k.abi.startswith((spec + "-", spec + "+")):
        return True
    return k.version == spec


def newest(kernels: Sequence[KernelPackage]) -> KernelPackage | None:
    """The newest package; of equal versions the first."""
    best: KernelPackage | None = None
    for k in kernels:
        if best is None or compare_versions(k.version, best.version) > 0:
            best = k
    return best


def one_per_abi(kernels: Sequence[KernelPackage]) -> list[KernelPackage]:
    """Each ABI once (its newest package; a tie goes to the one listed
    first), oldest package version first (equal versions: as listed)."""
    by_abi: dict[str, KernelPackage] = {}
    for k in kernels:
        have = by_abi.get(k.abi)
        if have is None or compare_versions(k.version, have.version) > 0:
            by_abi[k.abi] = k
    order = {k: i for i, k in enumerate(kernels)}

    def cmp(a: KernelPackage, b: KernelPackage) -> int:
        return compare_versions(a.version, b.version) or order[a] - order[b]
    return sorted(by_abi.values(), key=functools.cmp_to_key(cmp))


# ---- entries of the cache -------------------------------------------------------
MANIFEST = "manifest"
TREE_STAMP = ".kvmc-complete"
# A dl.* directory with an owner lock is abandoned as soon as no process
# holds that lock, but never in its first seconds (between mkdtemp and the
# lock). One without (made by an older version, whose downloads ran with
# the directory as their working directory) is abandoned when no process
# works in it or has a file of it open, ten minutes after its last change.
ABANDONED_UNOWNED_S = 600
ABANDONED_MIN_AGE_S = 10

# The dl.* directories this process has under way (removed on the way out,
# even on a signal).
_TEMPORARIES: set[Path] = set()


def read_text(path: Path) -> str:
    """A one-value file of the cache (version, suite, package...), without
    its newline; "" when it cannot be read."""
    return common.read_text(path).strip()


def write_manifest(entry: Path, files: Sequence[str]) -> None:
    """entry/manifest: "SHA256 SIZE PATH" of each file, written last."""
    lines = [f"{sha256(entry / f)} {(entry / f).stat().st_size} {f}\n" for f in sorted(files)]
    write_atomic(entry / MANIFEST, "".join(lines))


def verify(entry: Path) -> str | None:
    """What is wrong with a cache entry ("" if nothing); None when it has no
    manifest (made before entries were checked, or never finished)."""
    text = read_text(entry / MANIFEST) if (entry / MANIFEST).is_file() else None
    if text is None:
        return None
    if not text:
        return f"{entry / MANIFEST}: empty"
    for line in text.splitlines():
        digest, size, name = (line.split(" ", 2) + ["", ""])[:3]
        f = entry / name
        try:
            have = f.stat().st_size
        except OSError:
            return f"{f}: missing"
        if str(have) != size:
            return f"{f}: {have} bytes, the cache's manifest says {size} (truncated or damaged)"
        if sha256(f) != digest:
            return f"{f}: its SHA256 differs from the one the cache's manifest recorded (damaged)"
    return ""


def stamp_tree(tree: Path) -> None:
    """A tree's mark of completeness (file count and bytes), written last."""
    files = size = 0
    for d, _, names in os.walk(tree):
        for n in names:
            files += 1
            size += os.lstat(os.path.join(d, n)).st_size
    write_atomic(tree / TREE_STAMP, f"files {files} bytes {size}\n")


def place(new: Path, dest: Path, tmp: Path) -> None:
    """Rename a complete entry into place; what was there goes to tmp (and
    is removed with it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() or dest.is_symlink():
        dest.rename(tmp / f"old.{dest.name}")
    new.rename(dest)


def _depends(ko: Path) -> list[str]:
    """The depends= field of a module's .modinfo."""
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)", ko.read_bytes())
    return [d for d in m.group(1).decode(errors="replace").split(",") if d] if m else []


def dependency_order(need: Sequence[str], find: Callable[[str], Path]) -> list[str]:
    """The modules need names and those they depend on (each .ko's
    depends=), each after those it depends on. find(name) is the module's
    .ko (named as the module is), or raises DebianError."""
    order: list[str] = []

    def add(name: str) -> None:
        if name in order:
            return
        ko = find(name)
        name = ko.name.split(".ko")[0]
        for dep in _depends(ko):
            add(dep)
        if name not in order:
            order.append(name)
    for name in need:
        add(name)
    return order


def load_order(modules: Path, need: Sequence[str]) -> list[str]:
    """The modules of a modules directory (as modules_tree makes it) that
    need asks for, each after those it depends on."""
    def find(name: str) -> Path:
        ko = modules / f"{name}.ko"
        if not ko.is_file() and (modules / f"{name.replace('_', '-')}.ko").is_file():
            ko = modules / f"{name.replace('_', '-')}.ko"
        if not ko.is_file():
            raise DebianError(f"{ko}: no such module (needed for {', '.join(need)})")
        return ko
    return dependency_order(need, find)


def modules_tree(src: Path, out: Path, need: Sequence[str] | None = None) -> list[str]:
    """The KVM modules of a "make modules_install" tree (INSTALL_MOD_PATH=DIR,
    or lib/modules/<version> itself) or of an unpacked package, into the new
    directory out: the modules need names and those they depend on (each
    module's depends= field), decompressed, with a load-order file,
    dependencies first, and a manifest. need None (a Debian package): kvm-amd,
    and kvm-intel where the tree has it, for real Intel hardware."""
    if not src.is_dir():
        raise DebianError(f"--modules {src}: no such directory")
    found: dict[str, Path] = {}
    for d, dirs, names in os.walk(src):
        dirs.sort()
        for n in sorted(names):
            m = re.fullmatch(r"(.+)\.ko(\.xz|\.zst)?", n)
            if m:
                found.setdefault(m.group(1), Path(d) / n)
    wanted = list(need) if need is not None else \
        [DEFAULT_VENDOR_MODULE] + (["kvm-intel"] if "kvm-intel" in found else [])
    out.mkdir(parents=True)

    def take(name: str) -> Path:
        """The module, decompressed into out."""
        path = found.get(name) or found.get(name.replace("_", "-"))
        if path is None:
            raise DebianError(f"module {name} not found in {src}"
                              + (f" (the test VM's CPU needs {name})" if name in wanted else ""))
        name = path.name.split(".ko")[0]
        ko = out / f"{name}.ko"
        if path.name.endswith(".xz"):
            ko.write_bytes(lzma.decompress(path.read_bytes()))
        elif path.name.endswith(".zst"):
            with open(ko, "wb") as f:
                if subprocess.run(["zstd", "-q", "-d", "-c", str(path)], stdout=f).returncode != 0:
                    raise DebianError(f"{path}: cannot decompress (zstd)")
        else:
            shutil.copyfile(path, ko)
        return ko
    order = dependency_order(wanted, take)
    (out / "load-order").write_text("".join(m + "\n" for m in order))
    write_manifest(out, [f"{m}.ko" for m in order] + ["load-order"])
    return order


def _in_use(d: Path) -> bool:
    """Whether a process has its working directory or an open file in d."""
    inside = str(d.resolve())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            links = [os.readlink(f"/proc/{pid}/cwd")]
            with contextlib.suppress(OSError):
                links += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            if any(x == inside or x.startswith(inside + "/") for x in links):
                return True
    return False


class Debian:
    """The cache and the settings of one invocation (from the environment)."""

    def __init__(self, env: dict[str, str] | None = None):
        env = dict(os.environ if env is None else env)
        self.root = common.cache_root(env)
        self.spec = env.get("KVMC_SUITE") or DEFAULT_SPEC
        self.suites = (env.get("KVMC_SUITES") or DEFAULT_SUITES).split()
        self.offline = env.get("KVMC_OFFLINE", "0") == "1"
        self._said: set[Path] = set()		# entries a note was given about

    # ---- temporary directories ----------------------------------------------
    @contextlib.contextmanager
    def tempdir(self) -> Iterator[Path]:
        """dl.PID.XXXX under the cache, locked by its owner (this process)
        while it lives, removed when the block ends however it ends."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            d = Path(tempfile.mkdtemp(prefix=f"dl.{os.getpid()}.", dir=self.root))
        except OSError as e:
            raise DebianError(f"cannot create a directory in {self.root}: {e.strerror}") from e
        _TEMPORARIES.add(d)
        owner = open(d / ".owner", "w")
        try:
            fcntl.flock(owner, fcntl.LOCK_EX)
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)
            owner.close()
            _TEMPORARIES.discard(d)

    def remove_abandoned(self) -> None:
        """dl.* directories whose owner is gone (killed before it could
        clean up): their owner lock is free, or they have none and are a
        day old."""
        try:
            dirs = sorted(self.root.glob("dl.*"))
        except OSError:
            return
        now = time.time()
        for d in dirs:
            try:
                age = now - d.stat().st_mtime
            except OSError:
                continue
            if not d.is_dir() or d in _TEMPORARIES or age < ABANDONED_MIN_AGE_S:
                continue
            owner = d / ".owner"
            if not owner.exists():
                if age > ABANDONED_UNOWNED_S and not _in_use(d):
                    shutil.rmtree(d, ignore_errors=True)
                continue
            try:
                with open(owner, "a") as f:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    shutil.rmtree(d, ignore_errors=True)
            except BlockingIOError:
                pass		# its owner is at work
            except OSError:
                pass

    # ---- packages ----------------------------------------------------------
    def apt(self, suite: str) -> PrivateApt:
        return PrivateApt(self.root, suite_name(suite), self.offline, log)

    def default_suite(self) -> str:
        """build-deps, linux-source and busybox need a suite, even when
        KVMC_SUITE names a version."""
        return DEFAULT_SPEC if is_version(self.spec) else suite_name(self.spec)

    def unpack(self, apt: PrivateApt, package: str, version: str, tmp: Path, name: str) -> Path:
        """Download package=version into tmp (checked against the lists'
        SHA256) and unpack it into tmp/name."""
        (tmp / "deb").mkdir(exist_ok=True)
        deb = apt.download(package, version, tmp / "deb")
        out = tmp / name
        out.mkdir()
        p = subprocess.run(["dpkg", "-x", str(deb), str(out)], stderr=subprocess.PIPE, text=True)
        deb.unlink()
        if p.returncode != 0:
            raise DebianError(p.stderr.strip() + f"\ncould not unpack {package}={version}")
        return out

    def damaged(self, problem: str, entry: Path) -> DebianError:
        return DebianError(f"{problem}; offline (KVMC_OFFLINE=1) it cannot be fetched again: "
                           f"run without KVMC_OFFLINE=1, or remove {entry}")

    def usable(self, entry: Path, what: Path) -> bool:
        """Whether a cache entry can be used as it is. A damaged one is
        refetched online (False) and an error offline; one without a
        manifest is used offline as older versions did."""
        state = verify(entry)
        if state == "":
            return True
        if not self.offline:
            if state:
                log(f"{state}: fetching it again")
            elif what.exists() and what not in self._said:
                self._said.add(what)
                log(f"{what}: made by an older kvm-contract, without a manifest to check it by: "
                    "fetching it again")
            return False
        if state is None:
            if not what.exists():
                return False
            if what not in self._said:
                self._said.add(what)
                log(f"{what}: made by an older kvm-contract, without a manifest to check it by; "
                    "used as it is offline (an online run fetches it again)")
            return True
        raise self.damaged(state, entry)

    # ---- build-deps and linux-source ---------------------------------------
    def _build_deps_known(self) -> dict[str, Path] | None:
        """What build-deps.paths names, when every tree it names is complete."""
        text = read_text(self.root / "build-deps.paths")
        paths = {k: self.root / v for k, _, v in (x.partition("=") for x in text.splitlines()) if v}
        if set(paths) != {"UAPI", "HARNESS", "LINUX_SOURCE"}:
            return None
        uapi_tree = paths["UAPI"].parent.parent
        for tree in (uapi_tree, paths["LINUX_SOURCE"]):
            if not (tree / TREE_STAMP).is_file():
                return None
        return paths

    def _write_build_deps(self, uapi: Path, source: Path) -> dict[str, Path]:
        rel = {"UAPI": uapi / "usr" / "include",
               "HARNESS": source / "tools" / "testing" / "selftests",
               "LINUX_SOURCE": source}
        write_atomic(self.root / "build-deps.paths",
                     "".join(f"{k}={os.path.relpath(v, self.root)}\n" for k, v in rel.items()))
        return rel

    def _adopt_build_deps_env(self) -> dict[str, Path] | None:
        """build-deps.env of older versions (absolute paths, written last):
        its trees, found in this cache."""
        text = read_text(self.root / "build-deps.env")
        env = {k: v for k, _, v in (x.partition("=") for x in text.splitlines()) if v}
        uapi, source = env.get("UAPI", ""), env.get("LINUX_SOURCE", "")
        m = re.search(r"(?:^|/)(uapi/[^/]+)/usr/include$", uapi)
        if not m or not source:
            return None
        uapi_tree, source_tree = self.root / m.group(1), self.root / Path(source).name
        if not (uapi_tree / "usr" / "include").is_dir() or not (source_tree / "tools").is_dir():
            return None
        for tree in (uapi_tree, source_tree):
            if not (tree / TREE_STAMP).is_file():
                stamp_tree(tree)
        return self._write_build_deps(uapi_tree, source_tree)

    def _source_versions(self, apt: PrivateApt) -> tuple[str, str, str]:
        """linux-libc-dev's version, and the linux-source-X.Y package and
        version matching it."""
        apt.ensure_lists("UAPI headers and kselftest harness")
        ver = apt.candidate("linux-libc-dev")
        if not ver:
            apt.update("linux-libc-dev")
            ver = apt.candidate("linux-libc-dev")
        if not ver:
            raise DebianError(f"linux-libc-dev not found in {apt.suite}")
        src = "linux-source-" + re.sub(r"^([0-9]+\.[0-9]+).*", r"\1", ver)
        sver = apt.candidate(src)
        if not sver:
            raise DebianError(f"{src} not found in {apt.suite}")
        return ver, src, sver

    def build_deps(self) -> dict[str, Path]:
        """UAPI headers (linux-libc-dev, all architectures) and the
        kselftest harness (from linux-source-X.Y matching the headers'
        version; out of the whole tree when that is here already)."""
        if known := self._build_deps_known():
            return known
        with locked(self.root / "build-deps.lock"):
            if known := self._build_deps_known() or self._adopt_build_deps_env():
                return known
            apt = self.apt(self.default_suite())
            ver, src, sver = self._source_versions(apt)
            log(f"linux-libc-dev {ver}")
            uapi = self.root / "uapi" / ver
            source = self.root / f"linux-{sver}"
            full = self.root / f"linux-{sver}.full"
            with self.tempdir() as tmp:
                if not (uapi / TREE_STAMP).is_file():
                    x = self.unpack(apt, "linux-libc-dev", ver, tmp, "uapi")
                    stamp_tree(x)
                    place(x, uapi, tmp)
                if not (source / TREE_STAMP).is_file():
                    tree = tmp / "linux"
                    tree.mkdir()
                    # Only the harness is needed to build; api.rst and the
                    # KVM sources come along so failures can be read
                    # against the text they cite.
                    patterns = ["tools/testing/selftests/kselftest*.h",
                                "tools/testing/selftests/run_kselftest.sh",
                                "tools/testing/selftests/kselftest/*",
                                "Documentation/virt/kvm/*", "virt/kvm/*", "arch/arm64/kvm/*",
                                "arch/x86/kvm/*", "include/linux/kvm_host.h"]
                    if self._tree_complete(full):
                        for pattern in patterns:
                            for f in full.glob(pattern):
                                dest = tree / f.relative_to(full)
                                dest.parent.mkdir(parents=True, exist_ok=True)
                                if f.is_dir():
                                    shutil.copytree(f, dest, symlinks=True)
                                else:
                                    shutil.copy2(f, dest)
                    else:
                        log(f"{src} {sver} (about 170 MB, once)")
                        x = self.unpack(apt, src, sver, tmp, "src")
                        tar = ["tar", "-xJf", str(x / "usr" / "src" / f"{src}.tar.xz"), "-C", str(tree),
                               "--strip-components=1", "--wildcards", *[f"{src}/{p}" for p in patterns]]
                        if subprocess.run(tar).returncode != 0:
                            raise DebianError(f"could not unpack the harness from {src} {sver}")
                    stamp_tree(tree)
                    place(tree, source, tmp)
            return self._write_build_deps(uapi, source)

    @staticmethod
    def _tree_complete(full: Path) -> bool:
        # Older versions renamed the tree into place when complete too.
        return (full / TREE_STAMP).is_file() or (full / "Makefile").is_file()

    def linux_source(self) -> Path:
        """The whole linux-source tree matching the harness (for building
        kernels and the kernel's own KVM selftests; about 1.5 GB, once).
        Asked for first, it is downloaded once for both: the harness is
        then taken out of it."""
        known = self._build_deps_known()
        if known is None and (self.root / "build-deps.env").is_file():
            known = self.build_deps()	# that of an older version, adopted
        if known:
            sver = known["LINUX_SOURCE"].name[len("linux-"):]
            src = "linux-source-" + re.sub(r"^([0-9]+\.[0-9]+).*", r"\1", sver)
        else:
            _, src, sver = self._source_versions(self.apt(self.default_suite()))
        full = self.root / f"linux-{sver}.full"
        if not self._tree_complete(full):
            with locked(self.root / "linux-source.lock"):
                if not self._tree_complete(full):
                    apt = self.apt(self.default_suite())
                    apt.ensure_lists(src)
                    log(f"{src} {sver}, whole tree")
                    with self.tempdir() as tmp:
                        x = self.unpack(apt, src, sver, tmp, "src")
                        tree = tmp / "full"
                        tree.mkdir()
                        tar = ["tar", "-xJf", str(x / "usr" / "src" / f"{src}.tar.xz"),
                               "-C", str(tree), "--strip-components=1"]
                        if subprocess.run(tar).returncode != 0:
                            raise DebianError(f"could not unpack {src} {sver}")
                        shutil.rmtree(x)
                        stamp_tree(tree)
                        place(tree, full, tmp)
        if not known:
            self.build_deps()
        return full

    # ---- kernels -------------------------------------------------------------
    def suite_kernels(self, apt: PrivateApt, da: str) -> list[KernelPackage]:
        """The generic-flavour kernels of da in one suite's lists."""
        pattern = image_package_re(da)
        names = [n for n in apt.names("linux-image-") if pattern.match(n)]
        if not names:
            return []
        return [KernelPackage(apt.suite, upstream_of(m.version), m.package[len("linux-image-"):], m.version)
                for m in apt.versions(*[f"{n}:{da}" for n in names])]

    def kernel_lists(self, da: str) -> list[KernelPackage]:
        """suite_kernels of every suite in KVMC_SUITES the archive has
        (offline: that the cache has lists of), in that order."""
        out: list[KernelPackage] = []
        had = 0
        for s in self.suites:
            apt = self.apt(s)
            if self.offline and not apt.has_lists():
                continue
            try:
                apt.ensure_lists(f"the {da} kernels")
            except SuiteMissing:
                continue
            had += 1
            out += self.suite_kernels(apt, da)
        if had == 0:
            if self.offline:
                raise DebianError("offline (KVMC_OFFLINE=1) and the cache lacks the package lists "
                                  f"of every suite in: {' '.join(self.suites)}")
            raise DebianError(f"the archive has none of the suites: {' '.join(self.suites)}")
        return out

    def resolve(self, da: str, spec: str) -> KernelPackage:
        """The kernel (linux-image-ABI) SPEC names."""
        if not is_version(spec):
            apt = self.apt(spec)
            apt.ensure_lists(f"the {da} kernel")
            meta = f"linux-image-{da}:{da}"
            mver = apt.candidate(meta)
            if mver:
                depends = apt.record(meta, mver).get("Depends", "")
                img = next((n for n in depends_names(depends) if re.match(r"^linux-image-[0-9]", n)), "")
                if not img:
                    raise DebianError(f"cannot resolve linux-image-{da} {mver} to a kernel package")
                iver = apt.candidate(f"{img}:{da}")
                if not iver:
                    raise DebianError(f"{img} (the kernel of linux-image-{da} {mver}) not found in {apt.suite}")
                return KernelPackage(apt.suite, upstream_of(iver), img[len("linux-image-"):], iver)
            # No metapackage (experimental may lack one): the newest kernel.
            best = newest(self.suite_kernels(apt, da))
            if best is None:
                raise DebianError(f"no {da} kernel in {apt.suite}")
            return best
        found = newest([k for k in self.kernel_lists(da) if spec_matches(spec, k)])
        m = re.search(rf"-({'|'.join(a.debarch for a in ARCHES.values())})$", spec)
        if m and m.group(1) != da:
            raise DebianError(f"'{spec}' is a kernel for {m.group(1)}, not {da}")
        if found is None:
            raise DebianError(f"no {da} kernel matches '{spec}' in: {' '.join(self.suites)} "
                              f"(see: debian.sh kernels {da})")
        return found

    def _memo_entry(self, memo: Path) -> Path | None:
        """The kernel entry a memo names, in this cache. Older versions
        wrote an absolute path: its kernels/SUITE-ARCH/ABI/vmlinuz part is
        taken, in this cache (which may be a copy)."""
        text = read_text(memo)
        if not text:
            return None
        p = Path(text)
        if p.is_absolute():
            if len(p.parts) < 5 or p.parts[-4] != "kernels":
                return None
            p = Path(*p.parts[-4:])
        image = self.root / p
        return image.parent if image.is_file() else None

    def kernel(self, arch: str, spec: str) -> Path:
        """The kernel image SPEC names, for ARCH, kept in
        kernels/SUITE-ARCH/ABI/ with the files version, suite, package and
        manifest. What a SPEC resolves to is remembered for a day
        (kernels/resolved/ARCH/SPEC), and beyond that when offline or when
        the archive cannot be reached. The image is in linux-binary-ABI
        where the suite has that package (7.x; 6.19 already in backports),
        else in linux-image-ABI (/boot/vmlinuz-ABI), whose amd64 one also
        holds the modules."""
        da = arch_of(arch).debarch
        spec = "sid" if spec == "unstable" else spec
        if not spec or "/" in spec or spec.startswith("."):
            raise DebianError(f"bad kernel name '{spec}'")
        memo = self.root / "kernels" / "resolved" / da / spec
        before = self._memo_entry(memo)
        if before is not None and (fresh(memo) or self.offline) and self.usable(before, before / "vmlinuz"):
            return before / "vmlinuz"
        try:
            k = self.resolve(da, spec)
        except (DebianError, AptError) as e:
            if before is None or verify(before):
                raise
            log(str(e))
            log(f"using the kernel '{spec}' resolved to before: {before / 'vmlinuz'}")
            return before / "vmlinuz"
        apt = self.apt(k.suite)
        bver = apt.candidate(f"linux-binary-{k.abi}:{da}")
        pkg, pver = (f"linux-binary-{k.abi}", bver) if bver else (f"linux-image-{k.abi}", k.version)
        if is_version(spec):
            log(f"{spec}: {k.abi} from {k.suite} ({pkg} {pver})")
        group = self.root / "kernels" / f"{k.suite}-{da}"
        entry = group / k.abi

        def current() -> bool:
            return read_text(entry / "package") == f"{pkg}={pver}" and self.usable(entry, entry / "vmlinuz")
        if not current():
            with locked(group / "lock"):
                if not current():
                    log(f"kernel {k.abi} ({pkg} {pver}, {k.suite})")
                    with self.tempdir() as tmp:
                        self._fetch_kernel(apt, da, k, pkg, pver, tmp, entry)
        memo.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(memo, os.path.relpath(entry / "vmlinuz", self.root) + "\n")
        if self.offline:
            # Resolved offline, from lists of any age: not to be trusted online.
            os.utime(memo, (0, 0))
        return entry / "vmlinuz"

    def _fetch_kernel(self, apt: PrivateApt, da: str, k: KernelPackage, pkg: str, pver: str,
                      tmp: Path, entry: Path) -> None:
        x = self.unpack(apt, f"{pkg}:{da}", pver, tmp, "x")
        new = tmp / "entry"
        new.mkdir()
        for f in (f"usr/lib/modules/{k.abi}/vmlinuz", f"boot/vmlinuz-{k.abi}", f"lib/modules/{k.abi}/vmlinuz"):
            if (x / f).is_file():
                (x / f).rename(new / "vmlinuz")
                break
        else:
            raise DebianError(f"no vmlinuz in {pkg} {pver}")
        # Before linux-modules-ABI, the image package holds the modules:
        # the x86 KVM ones are taken now rather than downloaded again.
        if arch_of(da).debian_kvm_modules and any(x.rglob(f"{DEFAULT_VENDOR_MODULE}.ko*")):
            modules_tree(x, new / "modules")
        for name, text in (("version", k.abi), ("suite", k.suite), ("package", f"{pkg}={pver}")):
            (new / name).write_text(text + "\n")
        write_manifest(new, ["vmlinuz", "version", "suite", "package"])
        place(new, entry, tmp)

    def kernels(self, arch: str) -> list[KernelPackage]:
        da = arch_of(arch).debarch
        found = self.kernel_lists(da)
        if not found:
            raise DebianError(f"no {da} kernel in any of: {' '.join(self.suites)}")
        return one_per_abi(found)

    def modules(self, arch: str, spec: str) -> Path:
        """The KVM modules of the kernel SPEC names, out of the (100 MB)
        linux-modules-ABI package, or before that split the image's package
        (done already when "kernel" downloaded it). The package is unpacked
        once and its modules taken as from a modules_install tree."""
        da = arch_of(arch).debarch
        if not arch_of(arch).debian_kvm_modules:
            raise DebianError(f"no KVM modules needed for {da} (KVM is built in)")
        kdir = self.kernel(arch, spec).parent
        mdir = kdir / "modules"
        if self.usable(mdir, mdir / "load-order"):
            return mdir
        with locked(kdir.parent / "lock"):
            if self.usable(mdir, mdir / "load-order"):
                return mdir
            abi = read_text(kdir / "version")
            apt = self.apt(read_text(kdir / "suite"))
            apt.ensure_lists(f"KVM modules for {abi}")
            pkg = f"linux-modules-{abi}"
            ver = apt.candidate(f"{pkg}:{da}")
            if not ver:
                pkg, _, ver = read_text(kdir / "package").partition("=")
            log(f"{pkg} {ver} (KVM modules only)")
            with self.tempdir() as tmp:
                x = self.unpack(apt, f"{pkg}:{da}", ver, tmp, "x")
                if not any(x.rglob(f"{DEFAULT_VENDOR_MODULE}.ko*")):
                    raise DebianError(f"no KVM modules in {pkg} {ver}")
                modules_tree(x, tmp / "modules")
                place(tmp / "modules", mdir, tmp)
        return mdir

    def busybox(self, arch: str) -> Path:
        """A static busybox for ARCH, from the base suite (busybox does not
        change with the kernel)."""
        da = arch_of(arch).debarch
        entry = self.root / "busybox" / da
        bb = entry / "busybox"
        if self.usable(entry, bb):
            return bb
        with locked(self.root / "busybox" / f"{da}.lock"):
            if self.usable(entry, bb):
                return bb
            apt = self.apt(base_suite(self.default_suite()))
            apt.ensure_lists(f"busybox for {da}")
            ver = apt.candidate(f"busybox-static:{da}")
            if not ver:
                raise DebianError(f"busybox-static:{da} not found in {apt.suite}")
            with self.tempdir() as tmp:
                x = self.unpack(apt, f"busybox-static:{da}", ver, tmp, "x")
                new = tmp / "entry"
                new.mkdir()
                for f in ("bin/busybox", "usr/bin/busybox"):
                    if (x / f).is_file():
                        (x / f).rename(new / "busybox")
                        break
                else:
                    raise DebianError(f"no busybox in busybox-static:{da} {ver}")
                (new / "package").write_text(f"busybox-static={ver}\n")
                write_manifest(new, ["busybox", "package"])
                place(new, entry, tmp)
        return bb


# ---- the command ----------------------------------------------------------------
USAGE = ("usage: debian.sh build-deps | kernel ARCH [SPEC] | kernels ARCH | modules ARCH [SPEC] | "
         "modules-tree DIR DEST [MODULE] | busybox ARCH | linux-source | mirror")


def modules_tree_command(tree: str, dest: str, need: Sequence[str]) -> Path:
    """modules_tree into dest, replacing what is there only when complete."""
    out = Path(dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        modules_tree(Path(tree), tmp / "new", need)
        place(tmp / "new", out, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run(argv: Sequence[str], d: Debian) -> str:
    """One command; what it prints."""
    def need(n: int, usage: str) -> None:
        if len(argv) < n:
            raise DebianError(f"usage: debian.sh {usage}")
    cmd = argv[0] if argv else ""
    if cmd == "mirror":
        return mirror()
    if cmd == "modules-tree":
        need(3, "modules-tree DIR DEST [MODULE]")
        return str(modules_tree_command(argv[1], argv[2], argv[3:] or CONFIGS["x86_64"].kvm_modules))
    if cmd not in ("build-deps", "kernel", "kernels", "modules", "busybox", "linux-source"):
        raise DebianError(USAGE)
    d.remove_abandoned()
    if cmd == "build-deps":
        return "\n".join(f"{k}={v}" for k, v in d.build_deps().items())
    if cmd == "linux-source":
        return str(d.linux_source())
    need(2, f"{cmd} ARCH" + (" [SPEC]" if cmd in ("kernel", "modules") else ""))
    if cmd == "kernel":
        return str(d.kernel(argv[1], argv[2] if len(argv) > 2 else d.spec))
    if cmd == "modules":
        return str(d.modules(argv[1], argv[2] if len(argv) > 2 else d.spec))
    if cmd == "busybox":
        return str(d.busybox(argv[1]))
    return "\n".join(k.line() for k in d.kernels(argv[1]))


def main(argv: Sequence[str] | None = None) -> int:
    common.raise_on_signals()
    try:
        print(run(list(sys.argv[1:] if argv is None else argv), Debian()), flush=True)
        return 0
    except (DebianError, AptError) as e:
        log(str(e))
        return 1
    except OSError as e:
        log(f"{e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Interrupted as e:
        log("interrupted")
        return e.exit_code


# ---- the runner's way in ------------------------------------------------------------
# Each call runs the command in a process of its own (so a signal to the
# runner never leaves a download half-cleaned), registered with
# kvmc.common: its own process group, SIGTERM (on which it cleans up) when
# the runner dies, even by SIGKILL, and stopped, SIGTERM first, on a
# signal or an exception. Its messages go to stderr as they come; a
# failure raises DebianError, which means the kernel could not be tested
# (exit 125).
def _call(*args: str) -> str:
    from .common import disown, kill_group, spawn
    env = {**os.environ, "PYTHONPATH": os.path.join(TOP, "scripts")}
    p = spawn([sys.executable, "-m", "kvmc.debian", *args], pdeathsig="TERM",
              stdout=subprocess.PIPE, env=env)
    try:
        out, _ = p.communicate()
    except BaseException:
        kill_group(p, signal.SIGTERM)
        kill_group(p)
        raise
    finally:
        disown(p)
    if p.returncode != 0:
        raise DebianError(f"debian.sh {' '.join(args)} failed")
    return out.decode("utf-8", "replace").strip()


@dataclass
class Kernel:
    image: str
    version: str      # the ABI (uname -r), or a name until booted
    package: str      # "NAME=VERSION SUITE", for the results


def kernel(arch: str, spec: str = "") -> Kernel:
    image = _call("kernel", arch, *([spec] if spec else []))
    d = Path(image).parent
    version = read_text(d / "version") or d.name
    package = " ".join(x for x in (read_text(d / "package"), read_text(d / "suite")) if x)
    return Kernel(image, version, package)


def modules(arch: str, spec: str = "") -> str:
    """A directory of the x86 KVM modules and their load order."""
    return _call("modules", arch, *([spec] if spec else []))


def modules_tree_of(tree: str, dest: str, need: Sequence[str]) -> str:
    """The modules need names (and what they depend on) of a
    modules_install tree, in dest."""
    return _call("modules-tree", tree, dest, *need)


def busybox(arch: str) -> str:
    return _call("busybox", arch)


def kernels(arch: str) -> list[tuple[str, str, str, str]]:
    """(suite, upstream, abi, version) of every kernel the archive has."""
    out = []
    for line in _call("kernels", arch).splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[0], parts[1], parts[2], parts[3]))
    return out


def newest_per_suite(arch: str) -> list[str]:
    """The newest kernel (ABI) of each suite, for --matrix."""
    newest_abi: dict[str, str] = {}
    for suite, _, abi, _ in kernels(arch):
        newest_abi[suite] = abi
    return sorted(set(newest_abi.values()), key=_version_key)


def _version_key(v: str) -> list[object]:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", v)]


if __name__ == "__main__":
    sys.exit(main())

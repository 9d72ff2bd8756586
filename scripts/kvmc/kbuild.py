# SPDX-License-Identifier: GPL-2.0
"""Build a kernel for the test VM from a kernel source tree.

    python3 -m kvmc.kbuild --tree ~/linux --arch arm64 [--kconfig-add CONFIG_X=y]
                           [--kconfig FRAGMENT] [-j N] [--nice N]

prints the image's path on stdout (the times on stderr) and exits 0, or
exits 125 with the reason when the tree cannot be tested (not a kernel
tree, the build failed, the configuration lacks what the suite needs), as
`git bisect run` wants, or 2 on bad usage.

The configuration is `make allnoconfig`, then the suite's fragments (the
top-level `config`, configs/common and configs/<arch> next to this file),
then the user's fragment files and `--kconfig-add` options, merged with the
tree's scripts/kconfig/merge_config.sh -m and completed by `make
olddefconfig`. Every option the fragments ask for is then looked up in the
final .config: one the tree defines but that did not survive (a missing
dependency) is a BuildError naming it; one the tree does not define at all
(an older tree, without guest_memfd say) is only reported, and the tests
that need it skip. The error names the root of what went missing first:
CONFIG_KVM (without it there is nothing to test, whatever the user's
options say), then the suite's options the user's own fragments or
--kconfig-add turned off, then the user's own options the tree dropped,
then the suite's, in the suite's order (KVM before KVM_GUEST_MEMFD).

The build runs out of tree in $CACHE/build/<hash of the tree's real
path>-<arch>, under `nice`, with -j$(nproc) and ccache when installed
(ccache hits only for the same tree path and build directory, so both are
kept per tree). The configuration is redone only when the fragments'
content changed (a hash stamp in the build directory); otherwise `make`
alone rebuilds what the tree's changes touched. Two builds of one tree
for one architecture take turns: the second waits on a lock in the build
directory and says so.

make runs as a registered child (kvmc.common): in a process group of its
own, sent SIGTERM (on which make stops its jobs) when this process dies,
even by SIGKILL, and stopped on a signal, an exception or a timeout.

Standard library only; commands are argument lists.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from . import common
from .qemu_configs import ARCHES, host_arch

HERE = Path(__file__).resolve().parent
TOP = HERE.parents[1]
CONFIGS = HERE / "configs"

# Without these in the final .config there is nothing to test, whatever
# the user's own options asked for.
ESSENTIAL = ("CONFIG_KVM",)
DEFAULT_TIMEOUT = 3 * 3600.0
STAMP = "kvmc-config.stamp"
BUILD_LOG = "kvmc-build.log"
CONFIG_LOG = "kvmc-config.log"
LOCK = "kvmc-build.lock"
# The times of this build directory's last configure, cold build and
# build (key=value lines, seconds), for make bench: a cold build is not
# rerun to be measured.
TIMINGS = "kvmc-timings"

OPTION_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
NOT_SET_LINE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
# What a value can be: a tristate, a number, a hex number, a quoted string.
VALUE = re.compile(r'^(y|n|m|-?[0-9]+|0[xX][0-9a-fA-F]+|"([^"\\]|\\.)*")$')


class BuildError(Exception):
    """The tree cannot be tested: the run should end with 125 and this
    reason, one line (for reports); details, when there are some, are the
    lines that explain it (the end of a log). str(e) is both."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def __str__(self) -> str:
        return self.reason + (f"\n{self.details}" if self.details else "")


class FragmentError(ValueError):
    """A fragment or --kconfig-add option that is not kconfig: bad usage."""


@dataclasses.dataclass
class BuiltKernel:
    image: str                  # the bootable image (Image, bzImage)
    arch: str                   # arm64 or x86_64
    config: str                 # the final .config
    build_dir: str
    release: str                # make kernelrelease
    timings: dict[str, float]   # seconds: "configure" (0 when reused), "build"
    incremental: bool           # the build directory held an earlier build
    reconfigured: bool          # allnoconfig + merge + olddefconfig ran
    not_in_tree: list[str]      # asked-for options this tree does not define


# ---- fragments -------------------------------------------------------------

def parse_fragment(text: str, origin: str = "fragment") -> dict[str, str]:
    """CONFIG_X=v lines and "# CONFIG_X is not set" (as "n"); other
    comments and blank lines are ignored; anything else is an error."""
    options: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = NOT_SET_LINE.match(line)
        if m:
            options[m.group(1)] = "n"
            continue
        if line.startswith("#"):
            continue
        m = OPTION_LINE.match(line)
        if not m or not VALUE.match(m.group(2)):
            raise FragmentError(f"{origin}:{number}: not a kconfig line: {raw!r}")
        options[m.group(1)] = m.group(2)
    return options


def parse_option(text: str) -> tuple[str, str]:
    """One --kconfig-add: CONFIG_X=y, X=y or "# CONFIG_X is not set"."""
    given = text.strip()
    if re.match(r"^[A-Za-z0-9_]+=", given) and not given.startswith("CONFIG_"):
        given = "CONFIG_" + given
    try:
        options = parse_fragment(given, "--kconfig-add")
    except FragmentError:
        options = {}
    if len(options) != 1:
        raise FragmentError(f"--kconfig-add {text!r}: want one CONFIG_NAME=VALUE "
                            f"or '# CONFIG_NAME is not set'")
    return next(iter(options.items()))


def render_options(options: list[tuple[str, str]]) -> str:
    return "".join(f"# {k} is not set\n" if v == "n" else f"{k}={v}\n" for k, v in options)


def suite_fragments(arch: str, coverage: bool = False) -> list[Path]:
    """The repository's fragments for ARCH, in merge order (with
    coverage, configs/coverage last: gcov and debugfs)."""
    return [TOP / "config", CONFIGS / "common", CONFIGS / arch] + ([CONFIGS / "coverage"] if coverage else [])


def gcov_dirs(arch: str) -> list[str]:
    """The kbuild directories (obj) profiled with --coverage: the
    architecture's KVM directory, whose Makefile also builds virt/kvm
    (virt/kvm/Makefile.kvm); not its subdirectories (arm64's hyp/ runs
    at EL2, where gcov's counters cannot be written)."""
    return [f"arch/{ARCHES[arch].srcarch}/kvm"]


def gcov_make_vars(arch: str) -> list[str]:
    """make's command line for --coverage: GCOV_PROFILE (kbuild's
    per-directory switch, scripts/Makefile.lib) is y in gcov_dirs() only.
    A command-line variable reaches every sub-make unexpanded, so $(obj)
    is each directory's own; it also overrides the directories' own
    GCOV_PROFILE := n, which is harmless as it is empty (no profiling)
    everywhere else. The user's tree is not touched."""
    dirs = " ".join(gcov_dirs(arch))
    return [f"GCOV_PROFILE=$(if $(filter {dirs},$(obj)),y)"]


@dataclasses.dataclass
class ConfigPlan:
    """Every fragment of one build, in merge order, with its text: the
    suite's own first (the first `suite` of them; all when None), then
    the user's."""
    fragments: list[tuple[str, str]]   # (name, text)
    suite: int | None = None

    def wanted(self) -> dict[str, str]:
        """The options asked for; a later fragment wins, as in merge_config.sh."""
        merged: dict[str, str] = {}
        for name, text in self.fragments:
            merged.update(parse_fragment(text, name))
        return merged

    def suite_wants(self) -> dict[str, str]:
        """What the suite's own fragments ask for."""
        return ConfigPlan(self.fragments[:self.suite]).wanted()

    def user_asks(self) -> dict[str, str]:
        """Option -> the user's fragment (or --kconfig-add) that set it last."""
        origin: dict[str, str] = {}
        for name, text in [] if self.suite is None else self.fragments[self.suite:]:
            origin.update(dict.fromkeys(parse_fragment(text, name), name))
        return origin

    def stamp(self, arch: str, compiler: list[str]) -> str:
        h = hashlib.sha256()
        h.update(f"arch={arch}\ncc={' '.join(compiler)}\n".encode())
        for name, text in self.fragments:
            h.update(f"--- {Path(name).name}\n".encode())
            h.update(text.encode())
        return h.hexdigest()


def plan_config(arch: str, extra_options: list[str] = [], fragments: list[str] = [],
                coverage: bool = False) -> ConfigPlan:
    parts: list[tuple[str, str]] = []
    for path in suite_fragments(arch, coverage) + [Path(f) for f in fragments]:
        try:
            text = path.read_text()
        except OSError as e:
            raise FragmentError(f"cannot read kconfig fragment {path}: {e.strerror}") from e
        parse_fragment(text, str(path))
        parts.append((str(path), text))
    if extra_options:
        parts.append(("--kconfig-add", render_options([parse_option(o) for o in extra_options])))
    return ConfigPlan(parts, suite=len(suite_fragments(arch, coverage)))


def read_config(text: str) -> dict[str, str]:
    """A .config as the values kconfig gave: "n" for "is not set"."""
    return parse_fragment(text, ".config")


def config_mismatches(wanted: dict[str, str], actual: dict[str, str]) -> list[tuple[str, str, str]]:
    """(option, wanted, got) for every asked-for value the .config lacks;
    got is "not set" when the option is absent or n."""
    out = []
    for name, value in wanted.items():
        got = actual.get(name, "n")
        if got == value:
            continue
        if value == "n" and got == "n":
            continue
        out.append((name, value, "not set" if got == "n" else got))
    return out


KCONFIG_SYMBOL = re.compile(r"^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$", re.M)


def tree_symbols(tree: Path) -> set[str]:
    """Every symbol some Kconfig file of the tree defines."""
    symbols: set[str] = set()
    for root, dirs, files in os.walk(tree):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if f.startswith("Kconfig"):
                try:
                    text = Path(root, f).read_text(errors="replace")
                except OSError:
                    continue
                symbols.update(KCONFIG_SYMBOL.findall(text))
    return symbols


def judge_config(plan: ConfigPlan, actual: dict[str, str],
                 defined: Callable[[], set[str]]) -> tuple[list[str], list[str]]:
    """(lost, not_in_tree): what the .config lacks although the tree
    defines it ("CONFIG_X=y (got not set)"), root causes first, and the
    asked-for options the tree does not define at all.

    The order names the root of a dependency chain first, not an option
    that only followed it out (CONFIG_KVM_GUEST_MEMFD after CONFIG_KVM):
    an ESSENTIAL option; then, when anything is lost, each suite option
    the user's own fragments set otherwise ("... asked for that");
    then the user's own options the tree dropped; then the suite's, in the
    suite's order."""
    wanted, suite, user = plan.wanted(), plan.suite_wants(), plan.user_asks()
    bad = config_mismatches(wanted, actual)
    if not bad and all(actual.get(n, "n") != "n" for n in ESSENTIAL):
        return [], []
    symbols = defined()

    def known(name: str) -> bool:
        return name[len("CONFIG_"):] in symbols

    roots = [n for n in ESSENTIAL if known(n) and actual.get(n, "n") == "n"]
    lost_user = [n for n, _, _ in bad if n in user and known(n)]
    lost_suite = [n for n, _, _ in bad if n not in user and known(n)]
    # The suite's options the user set otherwise, as the .config has them.
    overridden = [n for n, v in suite.items()
                  if n in user and wanted.get(n) != v and actual.get(n, "n") != v and known(n)]
    if not roots and not lost_user and not lost_suite:
        overridden = []
    got = {n: g for n, _, g in bad}

    def line(name: str) -> str:
        if name in got:
            return f"{name}={wanted[name]} (got {got[name]})"
        # A root the .config has as asked: what the suite needs instead.
        have = "not set" if actual.get(name, "n") == "n" else actual[name]
        why = f": {user[name]} asked for that" if name in user else ""
        return f"{name}={suite.get(name, 'y')} (got {have}{why})"

    lost = [line(n) for n in dict.fromkeys(roots + overridden + lost_user + lost_suite)]
    absent = [n for n, _, _ in bad if not known(n)]
    return lost, absent


# ---- the build directory ---------------------------------------------------

def build_dir_for(tree: str, arch: str, cache: str, coverage: bool = False) -> Path:
    """One build directory per tree and architecture; a gcov build
    (--coverage) has its own, next to it, so neither rebuilds the other."""
    real = os.path.realpath(tree)
    digest = hashlib.sha256(real.encode()).hexdigest()[:16]
    return Path(cache) / "build" / f"{digest}-{arch}{'-gcov' if coverage else ''}"


# What the kernel's Makefile refuses in a source or output path.
UNSAFE_PATH = re.compile(r"[\s:]")


def make_path(src: Path, out: Path) -> tuple[Path, list[str]]:
    """The path make is given for the tree SRC, and the make variables
    that go with it. The kernel's Makefile refuses a source directory
    whose real path has a space or a colon; such a tree is built through
    a symbolic link next to its build directory, with abs_srctree (which
    the Makefile would otherwise set to the link's real path) set to the
    link on make's command line."""
    if UNSAFE_PATH.search(str(out)):
        raise BuildError(f"the kernel's build cannot use the build directory {out} (a space or a "
                         f"colon in its path): set KVMC_CACHE to a path without one")
    if not UNSAFE_PATH.search(str(src)):
        return src, []
    link = out.with_name(out.name + ".tree")
    if not (link.is_symlink() and os.readlink(link) == str(src)):
        tmp = link.with_name(link.name + f".{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(src, tmp)
        os.replace(tmp, link)
    return link, [f"abs_srctree={link}"]


def check_tree(tree: Path, arch: str) -> None:
    if not tree.is_dir():
        raise BuildError(f"{tree}: no such directory")
    for need in ("Makefile", "Kconfig", f"arch/{ARCHES[arch].srcarch}",
                 "scripts/kconfig/merge_config.sh"):
        if not (tree / need).exists():
            raise BuildError(f"{tree} is not a kernel source tree (no {need})")
    # An in-place build makes every O= build refuse to start.
    if (tree / ".config").exists() or (tree / "include" / "config").is_dir():
        raise BuildError(f"{tree} has been configured in place (.config): "
                         f"run 'make mrproper' there first (builds go to the cache)")


def compiler(arch: str) -> tuple[list[str], bool]:
    """make variables for the compiler, and whether ccache is used."""
    info = ARCHES[arch]
    cross = "" if host_arch() == info.name else info.triplet + "-"
    gcc = cross + "gcc"
    if not shutil.which(gcc):
        raise BuildError(f"{gcc} not found: install gcc{'-' + info.triplet if cross else ''}")
    variables = [f"ARCH={info.karch}"]
    if cross:
        variables.append(f"CROSS_COMPILE={cross}")
    use_ccache = shutil.which("ccache") is not None
    variables.append(f"CC=ccache {gcc}" if use_ccache else f"CC={gcc}")
    return variables, use_ccache


def _tail(path: Path) -> str:
    """The log's last error lines (or last lines), indented."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [l for l in text if re.search(r"error|\*\*\*|Error \d", l)]
    pick = errors[-15:] if errors else text[-15:]
    return "\n".join("  " + l for l in pick)


class Runner:
    """Runs make and friends niced, logged, bounded in time."""

    def __init__(self, tree: Path, out: Path, make_vars: list[str], nice: int,
                 deadline: float, env: dict[str, str]) -> None:
        self.tree, self.out, self.make_vars = tree, out, make_vars
        self.nice, self.deadline, self.env = nice, deadline, env

    def run(self, argv: list[str], log: Path, what: str) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise BuildError(f"{what}: out of time")
        cmd = (["nice", "-n", str(self.nice)] if self.nice else []) + argv
        with open(log, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            # SIGTERM if this process dies: make stops its jobs.
            proc = common.spawn(cmd, pdeathsig="TERM", stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT, env=self.env)
            try:
                rc = proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                common.kill_group(proc, signal.SIGTERM, wait=10)
                common.kill_group(proc)
                raise BuildError(f"{what}: timed out (log: {log})")
            except BaseException:
                common.kill_group(proc)
                raise
            finally:
                common.disown(proc)
        if rc != 0:
            raise BuildError(f"{what} failed (exit {rc}); log: {log}", f"the end of the log:\n{_tail(log)}")

    def make(self, targets: list[str], log: Path, what: str, jobs: int | None = None) -> None:
        argv = ["make", "-C", str(self.tree), f"O={self.out}"] + self.make_vars
        if jobs:
            argv.append(f"-j{jobs}")
        self.run(argv + targets, log, what)


def build_kernel(tree: str, arch: str, cache: str, extra_options: list[str] = [],
                 fragments: list[str] = [], log: Callable[[str], None] | None = None,
                 jobs: int | None = None, timeout: float = DEFAULT_TIMEOUT,
                 nice: int = 10, configure_only: bool = False, coverage: bool = False) -> BuiltKernel:
    """Configure (when the fragments changed) and build TREE for ARCH in
    the cache; BuildError when the tree cannot be tested, FragmentError
    (a ValueError) on bad fragments or options. configure_only stops
    after the configuration (BuiltKernel.image is then ""). coverage
    builds with gcov for the KVM directories (gcov_make_vars) in a build
    directory of its own."""
    say = log or (lambda msg: None)
    if arch not in ARCHES:
        raise FragmentError(f"unsupported architecture {arch!r} (one of {', '.join(ARCHES)})")
    src = Path(os.path.realpath(tree))
    plan = plan_config(arch, extra_options, fragments, coverage)
    check_tree(src, arch)
    out = build_dir_for(str(src), arch, cache, coverage)
    out.mkdir(parents=True, exist_ok=True)
    with common.locked(out / LOCK, lambda: say(f"waiting for another build of {src} in {out}")):
        return _build_locked(src, arch, cache, out, plan, say, jobs, timeout, nice, configure_only,
                             coverage)


def _build_locked(src: Path, arch: str, cache: str, out: Path, plan: ConfigPlan,
                  say: Callable[[str], None], jobs: int | None, timeout: float, nice: int,
                  configure_only: bool, coverage: bool = False) -> BuiltKernel:
    make_vars, use_ccache = compiler(arch)
    if coverage:
        make_vars += gcov_make_vars(arch)
    env = dict(os.environ)
    if use_ccache:
        env.setdefault("CCACHE_DIR", str(Path(cache) / "ccache"))
        env.setdefault("CCACHE_MAXSIZE", "8G")
    # A fixed build user and host keep init/version.c's object (and so
    # ccache) the same from one build to the next.
    env.setdefault("KBUILD_BUILD_USER", "kvm-contract")
    env.setdefault("KBUILD_BUILD_HOST", "kvm-contract")
    jobs = jobs or os.cpu_count() or 1
    tree_path, tree_vars = make_path(src, out)
    runner = Runner(tree_path, out, make_vars + tree_vars, nice, time.monotonic() + timeout, env)
    config = out / ".config"
    image = out / ARCHES[arch].image_path
    stamp = plan.stamp(arch, make_vars)
    timings = {"configure": 0.0, "build": 0.0}

    reconfigure = not config.exists() or _read(out / STAMP) != stamp
    if reconfigure:
        t = time.monotonic()
        say(f"{arch}: configuring {src} in {out} (allnoconfig + {len(plan.fragments)} fragments)")
        (out / STAMP).unlink(missing_ok=True)
        clog = out / CONFIG_LOG
        clog.write_text("")
        runner.make(["allnoconfig"], clog, "make allnoconfig")
        frag_files = []
        for i, (name, text) in enumerate(plan.fragments):
            f = out / f"kvmc-fragment-{i}-{Path(name).name.lstrip('-')}.config"
            f.write_text(text)
            frag_files.append(str(f))
        runner.run(["sh", str(tree_path / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(out),
                    str(config)] + frag_files, clog, "merge_config.sh")
        runner.make(["olddefconfig"], clog, "make olddefconfig")
        _verify(config, plan, src)
        (out / STAMP).write_text(stamp + "\n")
        timings["configure"] = time.monotonic() - t
        record_timings(out, {"configure_s": f"{timings['configure']:.1f}", "configure_date": _now()})

    release = _read(out / "include/config/kernel.release") or ""
    if configure_only:
        return BuiltKernel(image="", arch=arch, config=str(config), build_dir=str(out),
                           release=release, timings=timings, incremental=False,
                           reconfigured=reconfigure, not_in_tree=_verify(config, plan, src, say))

    incremental = image.exists()
    t = time.monotonic()
    say(f"{arch}: building {ARCHES[arch].image_target} ({'incremental' if incremental else 'cold'}, "
        f"-j{jobs}{', ccache' if use_ccache else ''}, nice {nice}; log {out / BUILD_LOG})")
    blog = out / BUILD_LOG
    blog.write_text("")
    runner.make([ARCHES[arch].image_target], blog, f"building {src} for {arch}", jobs=jobs)
    timings["build"] = time.monotonic() - t
    kind = "incremental" if incremental else "cold"
    record = {"build_s": f"{timings['build']:.1f}", "build_kind": kind, "build_date": _now()}
    if not incremental:
        record.update({"cold_build_s": record["build_s"], "cold_build_date": record["build_date"],
                       "cold_build_jobs": str(jobs)})
    record_timings(out, record)
    # make may have rerun kconfig (a commit that changed a Kconfig file):
    # the final .config is the one that counts.
    not_in_tree = _verify(config, plan, src, say)
    if not image.exists():
        raise BuildError(f"the build left no {image}")
    release = _read(out / "include/config/kernel.release") or ""
    return BuiltKernel(image=str(image), arch=arch, config=str(config), build_dir=str(out),
                       release=release, timings=timings, incremental=incremental,
                       reconfigured=reconfigure, not_in_tree=not_in_tree)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_timings(build_dir: Path) -> dict[str, str]:
    """What record_timings() left in BUILD_DIR ({} when nothing)."""
    out: dict[str, str] = {}
    for line in (_read(build_dir / TIMINGS) or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def record_timings(build_dir: Path, values: dict[str, str]) -> None:
    merged = {**read_timings(build_dir), **values}
    common.write_atomic(build_dir / TIMINGS, "".join(f"{k}={v}\n" for k, v in sorted(merged.items())))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _verify(config: Path, plan: ConfigPlan, tree: Path,
            say: Callable[[str], None] | None = None) -> list[str]:
    """The asked-for options the tree does not define; BuildError when one
    it defines is missing from the .config. say() reports the former."""
    actual = read_config(config.read_text())
    lost, absent = judge_config(plan, actual, lambda: tree_symbols(tree))
    if lost:
        also = f"; also missing: {', '.join(lost[1:])}" if lost[1:] else ""
        hint = "" if lost[0].endswith("asked for that)") else " (a dependency missing in this tree?)"
        raise BuildError(f"the kernel configuration lacks what the suite needs{hint}: {lost[0]}{also}")
    if absent and say:
        say("not defined by this tree (the tests that need them will skip): " + ", ".join(absent))
    return absent


# ---- command line ------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m kvmc.kbuild",
        description="Build a kernel for the test VM from a kernel source tree "
                    "(exit 125 when the tree cannot be tested).")
    parser.add_argument("--tree", required=True, help="the kernel source tree")
    parser.add_argument("--arch", required=True, choices=sorted(ARCHES))
    parser.add_argument("--kconfig-add", action="append", default=[], metavar="CONFIG_X=V",
                        help="one more kernel option (repeatable)")
    parser.add_argument("--kconfig", action="append", default=[], metavar="FRAGMENT",
                        help="a kconfig fragment file merged last (repeatable)")
    parser.add_argument("--cache", default=str(common.cache_root()),
                        help="the cache (default: $KVMC_CACHE or ~/.cache/kvm-contract)")
    parser.add_argument("-j", "--jobs", type=int, help="make -j (default: the number of CPUs)")
    parser.add_argument("--nice", type=int, default=10, help="nice level of the build (default 10)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for the whole build")
    parser.add_argument("--coverage", action="store_true",
                        help="gcov for the KVM directories (a build directory of its own)")
    parser.add_argument("--configure-only", action="store_true",
                        help="configure and check the configuration, do not build (prints the .config)")
    args = parser.parse_args(argv)

    log = common.Log("kbuild")
    # A signal ends the build through the way out that stops make.
    common.raise_on_signals()
    try:
        built = build_kernel(args.tree, args.arch, args.cache, args.kconfig_add, args.kconfig,
                             log=log, jobs=args.jobs, timeout=args.timeout, nice=args.nice,
                             configure_only=args.configure_only, coverage=args.coverage)
    except FragmentError as e:
        log(str(e))
        return 2
    except BuildError as e:
        log(f"{args.arch}: cannot test {args.tree}: {e}")
        return 125
    except common.Interrupted as e:
        log("interrupted")
        return e.exit_code
    if args.configure_only:
        log(f"{built.arch}: configure {built.timings['configure']:.1f} s"
            f"{'' if built.reconfigured else ' (unchanged)'}")
        print(built.config)
        return 0
    size = os.path.getsize(built.image) / 1e6
    log(f"{built.arch}: {built.release}: configure {built.timings['configure']:.1f} s"
        f"{'' if built.reconfigured else ' (unchanged)'}, build {built.timings['build']:.1f} s "
        f"({'incremental' if built.incremental else 'cold'}), image {size:.1f} MB")
    print(built.image)
    return 0


if __name__ == "__main__":
    sys.exit(main())

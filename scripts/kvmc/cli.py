# SPDX-License-Identifier: GPL-2.0
"""run_tests.sh: run the kvm-contract conformance tests against a real KVM.

Exit status: 0 no test failed, 1 a test failed, 2 bad usage, found
before anything is built or booted where it can be (an unknown option, a
time limit out of its range, a results directory or report path that
cannot be written, a baseline line that cannot be parsed, a --kernel that
is a directory or device, a --build directory that is no clean kernel
tree, a -t that matches no test of the build) and, after the run, a
--write-baseline that would drop lines of an existing baseline without
--force; 125 a kernel could not be tested (no boot, no /dev/kvm, a
missing tool, a file that is no kernel image, results or a report that
could not be written after all: the JSON report records the same
status), 128+N on signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn

from . import TOP, baseline as bl, common, debian, reference, report, results, testnames
from .ktap import Parser, Test
from .qemu_config import QemuConfig
from .qemu_configs import CONFIGS, DEFAULT, host_arch
from .results import Run
from .common import call, spawn
from .runner import (lock, Prepared, Settings, Untestable, clone_lock, deps, own_tests, prepare,
                     remove_scratch, run_native, run_vm, say)

SHORT_USAGE = """\
./run_tests.sh [--arch ARCH] [-t PATTERN] [-l] [-v] [--strict]
                      [--vm | --native] [-o DIR] [--unit] [--baseline FILE]
                      [--kernel IMAGE [--modules DIR]] [--timeout S]
                      [--run-timeout MS] [--boot-timeout S] [--allow-destructive]
                      [--debian SPEC | --matrix [--kernels "SPEC..."]]
                      [--build DIR [--kconfig FILE] [--kconfig-add CONFIG_X=y]...
                       [--coverage [--coverage-selftests] [--coverage-diff BASE]]]
                      [--json F] [--junit F] [--report F.html] [--write-baseline F [--force]]
                      [--reference DIR [--fail-on-change]] [--doc-fix NAME]..."""

EPILOG = """\
stdout is one KTAP document (each architecture a named subtest); messages
and the closing "N passed, N failed, N skipped" go to stderr.

Exit status: 0 no test failed, 1 a test failed, 2 bad usage (checked
before anything boots), 125 the kernel could not be tested (or a result
could not be written after all; the JSON report says the same code),
128+N on signal N."""


class UsageError(Exception):
    pass


# The time limits: option, environment variable, default, the most a
# user may ask for, unit. The upper bounds keep every value far below
# 2**32 (the guest's KVM_RUN watchdog is an unsigned int: a bigger value
# would wrap, to 0 = no watchdog at all) and catch a typo.
@dataclass(frozen=True)
class Limit:
    flag: str
    variable: str
    default: int
    most: int
    unit: str
    what: str


LIMITS = (
    Limit("--timeout", "KVMC_BIN_TIMEOUT", 600, 86400, "s", "one test binary"),
    Limit("--run-timeout", "KVMC_RUN_TIMEOUT_MS", 5000, 3_600_000, "ms", "one KVM_RUN"),
    Limit("--boot-timeout", "KVMC_BOOT_TIMEOUT", 120, 3600, "s",
          "from starting QEMU until the test VM's init runs"),
    Limit("", "KVMC_VM_TIMEOUT", 1800, 86400, "s", "the whole test VM"),
)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with every complaint a UsageError: main() prints it under
    the tool's own prefix with the short usage and exits 2, and soak.py
    reports a run_tests.sh option of its own the same way."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class _Where(argparse.Action):
    """An option that decides where the tests run, the last one given
    winning: --native, or --vm and every option that boots a kernel of
    its own choosing (--kernel, --debian, --build, --kselftest)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, "where", "native" if self.dest == "native" else "vm")
        if self.nargs == 0:
            setattr(namespace, self.dest, True)
        else:
            setattr(namespace, self.dest, values)


def make_parser() -> argparse.ArgumentParser:
    p = _ArgumentParser(prog="./run_tests.sh", usage=SHORT_USAGE, epilog=EPILOG, allow_abbrev=False,
                        exit_on_error=False, formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Run the kvm-contract conformance tests against a real KVM.",
                        add_help=False)
    p.add_argument("-h", "--help", action="help", help="this help")
    p.set_defaults(where="auto")
    what = p.add_argument_group("what to run")
    what.add_argument("--arch", action="append", default=[], metavar="ARCH",
                      help=f"configuration to test, repeatable (default: {' '.join(DEFAULT)}); one of: "
                      f"{', '.join(CONFIGS)} (x86_64-shadow: x86_64 with kvm_amd npt=0, KVM's shadow MMU)")
    what.add_argument("-t", dest="pattern", default="", metavar="PATTERN",
                      help="only tests whose name (fixture.variant.test) matches the shell pattern, or one "
                      "of several separated by commas; a "
                      "pattern without wildcards matches as a substring; one that matches no test of "
                      "the build is refused before anything boots")
    what.add_argument("-l", dest="list_only", action="store_true",
                      help="list the test names instead of running them (with several architectures, "
                      "each name after its architecture)")
    what.add_argument("-v", dest="verbose", action="store_true",
                      help="verbose: show build, boot and console output")
    what.add_argument("--strict", action="store_true",
                      help="strict mode (also KVMC_STRICT=1): C3 notes become failures")
    what.add_argument("--doc-fix", action="append", default=[], metavar="NAME",
                      help="judge as if the documentation fix NAME of scripts/kvmc/patches/fixes/ "
                      "(NN-doc-...) were in api.rst, repeatable (also KVMC_DOC_FIXES=NAME,...): the "
                      "tests its text changes say so and expect what it documents (scripts/fix-demo.sh)")
    what.add_argument("--allow-destructive", action="store_true",
                      help="run the poisoned-page tests (P1-P3) on this host's /dev/kvm: they poison "
                      "physical pages for good (in the VM they always run)")
    what.add_argument("--unit", action="store_true",
                      help="also run the project's own tests on this machine (make check): the oracle's "
                      "unit tests, the host side's Python tests and the runners' tests (tests/runner)")
    what.add_argument("--serial", action="store_true",
                      help="one architecture after the other (by default the architectures' VMs run "
                      "side by side)")
    where = p.add_argument_group("where and on which kernel")
    where.add_argument("--vm", action=_Where, nargs=0, help="run inside a VM even where /dev/kvm is usable")
    where.add_argument("--native", action=_Where, nargs=0,
                       help="run on this machine's /dev/kvm (fail if unusable)")
    where.add_argument("--kernel", action=_Where, default="", metavar="IMAGE",
                       help="boot this kernel image in the VM instead of Debian's (needs one --arch; "
                       "for git bisect run)")
    where.add_argument("--modules", default="", metavar="DIR",
                       help='x86: the kernel\'s "make modules_install" tree, for the KVM modules '
                       "(INSTALL_MOD_PATH or lib/modules/<version>)")
    where.add_argument("--debian", action=_Where, default="", metavar="SPEC",
                       help="boot a Debian kernel: a suite (bookworm, trixie, sid, trixie-backports, "
                       "experimental) or a version (6.1, 6.12, 7.3.4, or an ABI like "
                       "6.12.57+deb13-arm64), resolved from the archive at run time and cached")
    where.add_argument("--matrix", action="store_true",
                       help="run every architecture on every kernel of --kernels (default: the newest "
                       "kernel of each Debian suite), results under results/matrix/, and write an HTML "
                       "table (--report, default results/matrix/report.html)")
    where.add_argument("--kernels", default="", metavar='"SPEC..."', help="the kernels of --matrix")
    where.add_argument("--kselftest", action=_Where, nargs=0, default=False,
                       help='in the VM, run the "make install" tree with the kernel\'s own '
                       "run_kselftest.sh instead of ktap-runner.sh (counts binaries; no -t)")
    where.add_argument("--build", action=_Where, default="", metavar="DIR",
                       help="build the kernel tree DIR for the one --arch and boot it (not with "
                       "--kernel, --debian or --matrix)")
    where.add_argument("--kconfig", default="", metavar="FILE", help="--build: a kconfig fragment")
    where.add_argument("--kconfig-add", action="append", default=[], metavar="CONFIG_X=y",
                       help="--build: one more option, repeatable")
    where.add_argument("--coverage", action="store_true",
                       help="--build: build with gcov for arch/<arch>/kvm and virt/kvm only (a build "
                       "directory of its own), bring the counters out of the VM and write an lcov HTML "
                       "report and coverage.json (lines and branches per function) to "
                       "<results>/<arch>/coverage/")
    where.add_argument("--coverage-selftests", action="store_true",
                       help="--coverage: also run the kernel's own KVM selftests (scripts/kernel-selftests.sh) "
                       "in the same VM, their coverage counted apart (coverage/selftests/)")
    where.add_argument("--coverage-diff", default="", metavar="BASE",
                       help="--coverage: patch coverage: which lines of arch/<arch>/kvm and virt/kvm "
                       "changed since the commit BASE (git diff, uncommitted changes included) the "
                       "suite ran and which it did not: a table on stderr and coverage/patch.html")
    limits = p.add_argument_group("limits (a positive whole number, at most the value given)")
    for lim in LIMITS:
        if lim.flag:
            limits.add_argument(lim.flag, default=None, metavar=lim.unit.upper(),
                                help=f"limit of {lim.what} (also {lim.variable}; default {lim.default}, "
                                f"at most {lim.most} {lim.unit})")
    limits.description = ("KVMC_VM_TIMEOUT bounds the whole VM (default 1800 s, at most 86400 s)")
    out = p.add_argument_group("results and reports")
    out.add_argument("-o", dest="results", default="", metavar="DIR",
                     help="results directory (default: results/); one that cannot be written is "
                     "refused before anything boots")
    out.add_argument("--json", default="", metavar="F",
                     help="every test with its observations (triple, payload, rule, verdict), kernel and "
                     "architecture, and the run's exit status, as JSON")
    out.add_argument("--junit", default="", metavar="F",
                     help="JUnit XML, one testsuite per architecture (and kernel)")
    out.add_argument("--report", default="", metavar="F", help="an HTML table of test x (architecture, kernel)")
    out.add_argument("--baseline", default="", metavar="F",
                     help="known kernel deviations (see baselines/debian.txt), one exact finding per line: "
                     "a failed test whose every failing finding is listed is XFAIL (TAP \"# TODO\"), a "
                     "listed test that passes is reported as fixed; neither fails the run")
    out.add_argument("--write-baseline", default="", metavar="F",
                     help="write the failures of this run as a baseline (see --baseline); never the "
                     "--baseline file itself, and an existing F that has lines this run's baseline "
                     "would drop is left as it is (the lines are named, exit 2) unless --force")
    out.add_argument("--force", action="store_true",
                     help="--write-baseline may replace lines of an existing file")
    out.add_argument("--reference", default="", metavar="DIR",
                     help="compare every observation with an earlier run's (DIR: its -o directory, or "
                     "one results/<arch>): each value that differs for the same configuration, test and "
                     "step is reported as CHANGED with both values (KTAP, summary, JSON, JUnit, HTML), "
                     "tests it lacks as new, its tests this run lacks as gone; what varies between runs "
                     "of one kernel (host addresses) is left out (scripts/kvmc/reference.py)")
    out.add_argument("--fail-on-change", action="store_true",
                     help="--reference: any change fails the run (exit 1), for git bisect run")
    return p


# Options that take a value: the next argument is that value, whatever it
# looks like (a -t pattern or a path may start with "-").
VALUE_FLAGS: set[str] = {o for a in make_parser()._actions if a.nargs is None and a.option_strings
                         for o in a.option_strings}


@dataclass
class Options:
    s: Settings = field(default_factory=Settings)
    unit: bool = False
    matrix: bool = False
    kernels: str = ""
    serial: bool = False
    baseline: str = ""
    json: str = ""
    junit: str = ""
    report: str = ""
    write_baseline: str = ""
    force: bool = False
    build_tree: str = ""
    kconfig: str = ""
    kconfig_add: list[str] = field(default_factory=list)
    reference: str = ""
    fail_on_change: bool = False
    coverage_selftests: bool = False
    # The reference's runs, read before anything runs (-o may be DIR).
    refs: dict[str, Run] = field(default_factory=dict)


def _abspath(p: str) -> str:
    return os.path.abspath(os.path.expanduser(p)) if p else ""


def _limit(lim: Limit, value: str) -> int:
    name = f"{lim.flag} / {lim.variable}" if lim.flag else lim.variable
    if not re.fullmatch(r"[1-9][0-9]*", value):
        raise UsageError(f"{name}: a time limit must be a positive whole number, not '{value}'")
    if len(value) > 12 or int(value) > lim.most:
        raise UsageError(f"{name}: {value} {lim.unit} is more than the most allowed, "
                         f"{lim.most} {lim.unit} ({lim.what})")
    return int(value)


def _joined(argv: list[str]) -> list[str]:
    """A value flag and its value as one argument (--arch=arm64, -t=PATTERN:
    argparse splits at the first "="), so that argparse takes a value
    starting with "-" (or "=") as the value."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in VALUE_FLAGS and i + 1 < len(argv):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out



def doc_fixes(names: list[str]) -> list[str]:
    """The --doc-fix names, each a documentation fix that exists
    (scripts/kvmc/patches/fixes/NAME.patch), in order, once."""
    out: list[str] = []
    for name in names:
        name = name.strip().removesuffix(".patch")
        m = bl.FIX_NAME.match(name)
        if not m or m.group(2) != "doc":
            raise UsageError(f"--doc-fix {name}: a documentation fix is named NN-doc-what")
        if not os.path.isfile(os.path.join(bl.FIXES, name + ".patch")):
            raise UsageError(f"--doc-fix {name}: no such fix in scripts/kvmc/patches/fixes/")
        if name not in out:
            out.append(name)
    return out

def parse_args(argv: list[str], env: dict[str, str]) -> Options:
    """The options of run_tests.sh (and python3 -m kvmc run); env is the
    environment, the limits given as options written into it.
    UsageError on any mistake; -h prints every option and exits 0."""
    parser = make_parser()
    try:
        a, rest = parser.parse_known_args(_joined(argv))
    except argparse.ArgumentError as e:
        if e.message.startswith("expected one argument"):
            raise UsageError(f"option {e.argument_name} needs a value") from e
        raise UsageError(str(e)) from e
    if rest:
        raise UsageError(f"unknown option '{rest[0]}'")
    o = Options()
    s = o.s
    s.arches = list(dict.fromkeys(a.arch)) or list(DEFAULT)   # the same architecture twice runs once
    s.pattern, s.list_only, s.verbose = a.pattern, a.list_only, a.verbose
    s.strict, s.destructive, s.kselftest = a.strict, a.allow_destructive, a.kselftest
    s.kernel_image, s.modules_dir, s.debian_spec = _abspath(a.kernel), _abspath(a.modules), a.debian
    if a.results:
        s.results = _abspath(a.results)
    o.unit, o.matrix, o.kernels, o.serial = a.unit, a.matrix, a.kernels, a.serial
    o.baseline, o.json, o.junit = _abspath(a.baseline), _abspath(a.json), _abspath(a.junit)
    o.report, o.write_baseline, o.force = _abspath(a.report), _abspath(a.write_baseline), a.force
    o.build_tree, o.kconfig, o.kconfig_add = _abspath(a.build), _abspath(a.kconfig), list(a.kconfig_add)
    o.reference, o.fail_on_change = _abspath(a.reference), a.fail_on_change
    s.coverage, o.coverage_selftests, s.coverage_diff = a.coverage, a.coverage_selftests, a.coverage_diff
    s.where = a.where
    values = vars(a)
    for lim in LIMITS:
        given = values.get(lim.flag.lstrip("-").replace("-", "_")) if lim.flag else None
        if given is not None:
            env[lim.variable] = given
    s.bin_timeout, s.run_timeout_ms, s.boot_timeout, s.vm_timeout = (
        _limit(lim, env.get(lim.variable, str(lim.default))) for lim in LIMITS)
    if env.get("KVMC_STRICT", "0") not in ("", "0"):
        s.strict = True
    s.unprivileged = env.get("KVMC_UNPRIVILEGED", "0") == "1"
    s.append = env.get("KVMC_APPEND", "")
    s.extra_tests = env.get("KVMC_EXTRA_TESTS", "")
    s.doc_fixes = doc_fixes(list(a.doc_fix) + [n for n in env.get("KVMC_DOC_FIXES", "").split(",") if n])
    for arch in s.arches:
        if arch not in CONFIGS:
            raise UsageError(f"--arch {arch}: not supported (supported: {' '.join(CONFIGS)})")
    if s.kernel_image and len(s.arches) != 1:
        raise UsageError("--kernel needs exactly one --arch")
    if s.debian_spec and s.kernel_image:
        raise UsageError("--debian and --kernel exclude each other")
    if o.matrix and (s.debian_spec or s.kernel_image):
        raise UsageError("--matrix picks its kernels with --kernels, not --debian or --kernel")
    if o.kernels and not o.matrix:
        raise UsageError("--kernels goes with --matrix")
    if s.modules_dir and not s.kernel_image:
        raise UsageError("--modules goes with --kernel")
    if s.modules_dir:
        if not all(CONFIGS[arch].kvm_modules for arch in s.arches):
            raise UsageError("--modules: KVM is built into the arm64 kernel; there are no modules to load")
        if not os.path.isdir(s.modules_dir):
            raise UsageError(f"--modules {s.modules_dir}: no such directory")
    if s.debian_spec and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+~_-]*", s.debian_spec):
        raise UsageError(f"--debian '{s.debian_spec}': neither a Debian suite nor a kernel version")
    if o.build_tree and (s.kernel_image or s.debian_spec or len(s.arches) != 1):
        raise UsageError("--build needs exactly one --arch and excludes --kernel and --debian")
    if o.build_tree and o.matrix:
        raise UsageError("--build boots the kernel it built; --matrix boots Debian's kernels: "
                         "use one or the other")
    if (o.kconfig or o.kconfig_add) and not o.build_tree:
        raise UsageError("--kconfig and --kconfig-add go with --build")
    if (o.coverage_selftests or s.coverage_diff) and not s.coverage:
        raise UsageError("--coverage-selftests and --coverage-diff go with --coverage")
    if s.coverage and not o.build_tree:
        raise UsageError("--coverage goes with --build: the tree is built with gcov for KVM's directories")
    if s.coverage and (s.list_only or s.kselftest or s.where == "native"):
        raise UsageError("--coverage runs the suite in the test VM (not with -l, --kselftest or --native)")
    if s.kselftest and s.pattern:
        raise UsageError("--kselftest runs whole binaries with the kernel's run_kselftest.sh, which "
                         "cannot select tests: drop -t, or drop --kselftest to run the selected tests")
    if o.fail_on_change and not o.reference:
        raise UsageError("--fail-on-change goes with --reference")
    if o.force and not o.write_baseline:
        raise UsageError("--force goes with --write-baseline")
    if o.baseline and o.write_baseline and same_file(o.baseline, o.write_baseline):
        raise UsageError(f"--write-baseline {o.write_baseline} is the --baseline being read: this "
                         "run's failures would replace the curated list; write to another file and "
                         "compare")
    return o


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (through a link or a relative path
    too), existing or not."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def probe_directory(directory: str) -> str:
    """"" when a file can be made and written in directory, else why not
    (read-only, full, no permission), as the system says it."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".kvmc-probe.", dir=directory)
    except OSError as e:
        return e.strerror or str(e)
    try:
        # A full filesystem still makes an empty file; a block of data
        # does not fit.
        os.write(fd, b"\0" * 4096)
        return ""
    except OSError as e:
        return e.strerror or str(e)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def check_writable(flag: str, path: str) -> None:
    """A report path that cannot be written is refused before anything boots."""
    if not path:
        return
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory")
    if os.path.exists(path) and not os.path.isfile(path):
        # A report replaces its file whole (renamed over it): never a
        # device such as /dev/null or /dev/stdout.
        raise UsageError(f"{flag} {path}: not a regular file (a report replaces its file whole)")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path}: cannot write there: no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path}: cannot write there: permission denied")
    why = probe_directory(parent)
    if why:
        raise UsageError(f"{flag} {path}: cannot write there: {why}")


def check_results_dir(path: str) -> None:
    """-o DIR: made if need be, and written to once, before anything boots."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UsageError(f"-o {path}: not a directory (the results directory holds a directory per run)")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UsageError(f"-o {path}: cannot make the results directory: {e.strerror}") from e
    why = probe_directory(path)
    if why:
        raise UsageError(f"-o {path}: cannot write the results there: {why}")


def check_kernel_file(path: str) -> None:
    """--kernel: a directory, a FIFO or a device is the user's mistake
    (usage); a missing file or one whose content is no kernel is left to
    the run, which reports it as untestable (125: git bisect run skips a
    commit whose build left no usable image)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            raise UsageError(f"--kernel {path}: {what}, not a kernel image file")


def check_build_tree(o: Options) -> None:
    """--build DIR: no such directory, no kernel tree, a tree configured in
    place are the user's mistakes (usage), found before anything is built.
    kbuild.check_tree holds what a tree needs."""
    if not o.build_tree:
        return
    from . import kbuild
    from pathlib import Path
    try:
        kbuild.check_tree(Path(os.path.realpath(o.build_tree)), CONFIGS[o.s.arches[0]].build_arch)
    except kbuild.BuildError as e:
        raise UsageError(f"--build: {e}") from e


def preflight(o: Options) -> None:
    """Everything about the options that can be checked before anything
    is built or booted; UsageError (exit 2) on the first problem."""
    for flag, path in (("--json", o.json), ("--junit", o.junit), ("--report", o.report),
                       ("--write-baseline", o.write_baseline)):
        check_writable(flag, path)
    if o.s.kernel_image:
        check_kernel_file(o.s.kernel_image)
    check_build_tree(o)
    if o.s.coverage_diff:
        from . import coverage
        why = coverage.check_base(o.build_tree, o.s.coverage_diff)
        if why:
            raise UsageError(f"--coverage-diff: {why}")
    check_results_dir(o.s.results)
    if o.reference and not o.s.list_only:
        # Read now: this run's -o may be the reference's directory, and
        # a run removes its directory's old results before it starts.
        try:
            o.refs = reference.load(o.reference)
        except reference.ReferenceError as e:
            raise UsageError(str(e)) from e


# ---- signals ----------------------------------------------------------------
def on_signal(signum: int) -> None:
    """What a stop signal does before common.exit_on_signals ends the run."""
    say("interrupted: stopping")
    remove_scratch()
    for d in common_dirs:
        shutil.rmtree(d, ignore_errors=True)


# ---- output -----------------------------------------------------------------
class Output:
    """stdout: one KTAP document, each run a subtest, printed as it ends."""

    def __init__(self, planned: int) -> None:
        self.number = 0
        print("TAP version 13")
        print(f"1..{planned}", flush=True)

    def run(self, r: Run) -> None:
        self.number += 1
        print("\n".join(r.as_test(self.number).lines()), flush=True)


def finish_run(r: Run, entries: list[bl.Entry], out: Output | None, baseline_path: str,
               compare: Callable[[Run], None] | None = None) -> str:
    """After a run ended: the baseline, the reference (compare), its
    results directory, its block of the document, its line on stderr.
    Returns why its results directory could not be written, or ""."""
    results.apply_baseline(r, entries)
    if compare is not None:
        compare(r)
    unwritten = ""
    try:
        results.save_dir(r)
    except OSError as e:
        # The verdicts stand; what is missing is their record (exit 125).
        unwritten = f"{r.label}: could not write its results in {r.directory}: {e.strerror}"
        say(unwritten)
    if out is not None:
        out.run(r)
    rel = os.path.relpath(r.directory, TOP) if r.directory.startswith(TOP + os.sep) else r.directory
    c = r.counts()
    if r.untestable:
        if c.verdicts:
            say(f"{r.label}: before that: {c.line()}")
    else:
        say(f"{r.label}: {c.line()} (results in {rel})"
            + (" [kernel unhealthy before the first test: see above]" if r.boot_health else ""))
    if r.fixed:
        say(f"{r.label}: fixed deviations (now passing; remove them from {baseline_path}):")
        for name in r.fixed:
            print(f"  {name}", file=sys.stderr)
    for n in r.not_excused:
        say(f"{r.label}: listed in the baseline but failing otherwise: {n}")
    if r.reference is not None:
        say(f"{r.label}: {r.reference.summary()}")
        for line in reference.listing(r.reference):
            print(f"  {line}", file=sys.stderr)
    return unwritten


def new_run(arch: str, label: str, directory: str) -> Run:
    os.makedirs(directory, exist_ok=True)
    # Nothing from an earlier run may be counted as this run's.
    for f in results.FILES:
        try:
            os.unlink(os.path.join(directory, f))
        except FileNotFoundError:
            pass
    return Run(arch=arch, label=label, directory=directory)


def run_configs(pairs: list[tuple[str, str, Run]], s: Settings, serial: bool,
                done: Callable[[Run], None], names: dict[str, list[str]]) -> None:
    """Run (arch, debian spec, Run) triples: prepared one after the other
    (they share build/ and the cache), then the VMs side by side unless
    serial."""
    built: set[str] = set()
    ready: list[Prepared] = []

    def execute(p: Prepared, settings: Settings) -> None:
        try:
            (run_native if p.native else run_vm)(p, settings, names.setdefault(p.run.label, []))
        except Untestable as e:
            p.run.untestable = str(e)
        except OSError as e:
            # A full or read-only disk under the run: said, and the run
            # could not test (125), not a traceback.
            p.run.untestable = f"could not write {e.filename or 'its results in ' + p.run.directory}: {e.strerror}"
            say(f"{p.run.label}: {p.run.untestable}")

    for arch, spec, r in pairs:
        settings = dataclasses.replace(s, debian_spec=spec or s.debian_spec)
        try:
            p = prepare(CONFIGS[arch], settings, r, built)
        except Untestable as e:
            r.untestable = str(e)
            done(r)
            continue
        except OSError as e:
            r.untestable = f"could not write {e.filename or 'the build'}: {e.strerror}"
            say(f"{r.label}: {r.untestable}")
            done(r)
            continue
        if selects_nothing(p.cfg, settings):
            # Known from the build's list of names: not booted (when no
            # architecture has a match, the run ends with 2).
            say(f"{r.label}: no test matches -t '{s.pattern}': not booted")
            done(r)
            continue
        if serial:
            execute(p, settings)
            done(r)
        else:
            ready.append(p)
    if not ready:
        return
    if len(ready) == 1:
        execute(ready[0], s)
        done(ready[0].run)
        return
    say("running " + " ".join(p.cfg.name for p in ready) + " side by side")
    threads = [threading.Thread(target=execute, args=(p, s), daemon=True) for p in ready]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in ready:
        done(p.run)


def selects_nothing(cfg: QemuConfig, s: Settings) -> bool:
    """Whether -t matches no test of cfg's build (build/ARCH/tests'
    list of names, which the Makefile makes). Without such a list, with
    extra tests (KVMC_EXTRA_TESTS) or a pattern with a backslash (where
    Python's and the shell's matching differ) the VM decides."""
    if not s.pattern or s.extra_tests or "\\" in s.pattern:
        return False
    names = testnames.read_names(cfg.build_arch)
    return names is not None and not any(testnames.selects(s.pattern, n) for n in names)


# ---- the project's own tests (--unit) -----------------------------------------------
def unit_runs(o: Options, done: Callable[[Run], None]) -> None:
    s = o.s
    host = host_arch()
    out = os.path.join(TOP, "build", host)
    base = os.path.join(s.results, "unit")
    # The oracle's unit tests (C++).
    r = new_run("unit", "unit", base)
    try:
        deps(s.verbose)
        say("building the oracle's unit tests")
        quiet: dict[str, Any] = {} if s.verbose else {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        with clone_lock():
            # O relative to the clone, whose path may have a space.
            rc = call(["make", "-C", TOP, f"O={os.path.relpath(out, TOP)}", "unit-build"], **quiet)
        if rc != 0:
            say("unit test build failed; rerun with -v")
            r.untestable = "unit test build failed"
        else:
            r.doc = own_tests("unit", [os.path.join(TOP, "scripts", "ktap-runner.sh"),
                                       os.path.join(out, "unit")])
    except Untestable as e:
        r.untestable = str(e)
    done(r)
    # The host side's own tests (Python), mypy included.
    r = new_run("python", "python", os.path.join(s.results, "python"))
    env = {**os.environ, "PYTHONPATH": os.path.join(TOP, "scripts")}
    r.doc = own_tests("python", [sys.executable, "-m", "kvmc.test_kvmc", "--ktap"], env)
    done(r)
    # The runners' own tests: bad input, broken environments, clean-up.
    say("testing the runners (tests/runner/runner_test.sh)")
    r = new_run("runner", "runner", os.path.join(s.results, "runner"))
    r.doc = own_runner_tests()
    done(r)


def own_runner_tests() -> Test:
    """tests/runner/runner_test.sh as one binary's subtests; each case's
    result line goes to stderr as it comes (the whole takes minutes)."""
    parser = Parser("runner")
    for x in ("TAP version 13", "1..1", "# kvm-contract: runner_test"):
        parser.feed(x)
    p = spawn([os.path.join(TOP, "tests", "runner", "runner_test.sh")], stdout=subprocess.PIPE)
    assert p.stdout is not None
    for raw in p.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        parser.feed("    " + line)
        if re.match(r"(not )?ok \d", line):
            say(f"runner: {line}")
    rc = p.wait()
    common.disown(p)
    parser.feed("ok 1 runner_test" if rc == 0 else f"not ok 1 runner_test # exit status {rc}")
    return parser.finish()


# ---- main ---------------------------------------------------------------------
def main(argv: list[str]) -> int:
    common.exit_on_signals(on_signal)
    env = dict(os.environ)
    try:
        o = parse_args(argv, env)
        preflight(o)
        entries = bl.load(o.baseline) if o.baseline else []
    except UsageError as e:
        print(f"run_tests.sh: {e}", file=sys.stderr)
        print(make_parser().format_usage().rstrip() + "\n(./run_tests.sh -h: every option)", file=sys.stderr)
        return 2
    except bl.BaselineError as e:
        say(str(e))
        return 2
    s = o.s
    s.crashes = [e for e in entries if e.is_crash]
    for name in s.doc_fixes:
        say(f"judging as if the documentation fix {name} were in api.rst (--doc-fix): the tests it "
            "concerns say so in their output")
    if o.build_tree:
        code = build_kernel_tree(o)
        if code:
            return code
    os.makedirs(s.results, exist_ok=True)
    try:
        with lock(os.path.join(s.results, ".lock"), f"using {s.results} to finish"):
            return run_all(o, entries)
    finally:
        remove_scratch()
        for d in common_dirs:
            shutil.rmtree(d, ignore_errors=True)


def build_kernel_tree(o: Options) -> int:
    """--build DIR: build the kernel tree for the one architecture and boot
    what it made (scripts/kvmc/kbuild.py). 0, or the exit status: 2 for
    bad fragments; when the tree cannot be tested, 125 after the run's
    reports (results/<arch>/, --json, --junit, --report) say why, as for
    any kernel that cannot be tested."""
    from . import kbuild
    s = o.s
    cfg = CONFIGS[s.arches[0]]
    log = os.path.join(TOP, "build", f"{cfg.build_arch}.kernel-build.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    try:
        deps(False)  # the kernel's build tools (flex, bison, ccache, ...)
    except Untestable as e:
        return untestable_build(o, str(e))
    say(f"--build: building {o.build_tree} for {cfg.build_arch} (log: {log})")
    with open(log, "a", encoding="utf-8") as logf:
        def note(msg: str) -> None:
            logf.write(msg + "\n")
            logf.flush()
            say(f"--build: {msg}")
        try:
            built = kbuild.build_kernel(o.build_tree, cfg.build_arch, str(common.cache_root()),
                                        o.kconfig_add, [o.kconfig] if o.kconfig else [], note,
                                        coverage=s.coverage)
        except kbuild.FragmentError as e:
            say(f"--build: {e}")
            return 2
        except kbuild.BuildError as e:
            say(f"--build: {e}")
            return untestable_build(o, e.reason)
    s.kernel_image = built.image
    if s.coverage:
        s.coverage_tree, s.coverage_build_dir = os.path.realpath(o.build_tree), built.build_dir
        if o.coverage_selftests:
            return kernel_selftests(o)
    return 0


def kernel_selftests(o: Options) -> int:
    """--coverage-selftests: the kernel's own KVM selftests
    (scripts/kernel-selftests.sh, from Debian's linux-source) as the run's
    extra tests, with the settings the benchmark gives them; 0, or 125
    when they cannot be built."""
    from .bench import selftest_args
    s = o.s
    arch = CONFIGS[s.arches[0]].build_arch
    work = tempfile.mkdtemp(prefix="kvmc-selftests.")
    common_dirs.append(work)
    bins = os.path.join(work, "bin")
    log = os.path.join(TOP, "build", f"{arch}.kernel-selftests.log")
    say(f"--coverage-selftests: building the kernel's KVM selftests (log: {log})")
    with open(log, "w", encoding="utf-8") as f:
        try:
            rc = call([os.path.join(TOP, "scripts", "kernel-selftests.sh"), arch, bins],
                      stdout=f, stderr=subprocess.STDOUT, timeout=3600)
        except subprocess.TimeoutExpired:
            rc = -1
    if rc != 0:
        return untestable_build(o, f"the kernel's KVM selftests did not build (log: {log})")
    with open(os.path.join(bins, "list.txt"), encoding="utf-8") as f:
        names = f.read().split()
    with open(os.path.join(bins, "list.txt"), "w", encoding="utf-8") as f:
        f.writelines(selftest_args(arch, n) + "\n" for n in names)
    s.extra_tests = bins
    # As make bench runs them: mmu_stress_test wants the memory.
    s.env.setdefault("KVMC_VM_MEMORY", "2G")
    return 0


# Private directories of this run (mkdtemp), removed when it ends.
common_dirs: list[str] = []


def untestable_build(o: Options, reason: str) -> int:
    """The tree could not be built: the architecture's run, untestable for
    REASON, in every report; 125."""
    s = o.s
    os.makedirs(s.results, exist_ok=True)
    with lock(os.path.join(s.results, ".lock"), f"using {s.results} to finish"):
        return run_all(o, [], f"--build {o.build_tree}: {reason}")


def run_all(o: Options, entries: list[bl.Entry], untestable: str = "") -> int:
    """Every run, its reports and the closing line; the exit status.
    untestable: nothing can be tested, for this reason (a failed --build)."""
    s = o.s
    runs: list[Run] = []
    names: dict[str, list[str]] = {}
    pairs: list[tuple[str, str, Run]] = []
    if o.matrix:
        for arch in s.arches:
            try:
                specs = o.kernels.split() or debian.newest_per_suite(CONFIGS[arch].build_arch)
            except debian.DebianError:
                say(f"cannot list the archive's kernels for {arch}")
                return 125
            for spec in dict.fromkeys(specs):
                pairs.append((arch, spec, new_run(arch, f"{arch}@{spec}",
                                                  os.path.join(s.results, "matrix", spec, arch))))
    else:
        pairs = [(a, "", new_run(a, a, os.path.join(s.results, a))) for a in s.arches]
    unit = o.unit and not s.list_only and not untestable
    out = None if s.list_only else Output(len(pairs) + (3 if unit else 0))

    unwritten: list[str] = []

    def compare(r: Run) -> None:
        ref = reference.match(r, os.path.relpath(r.directory, s.results), o.refs, len(pairs) == 1)
        if ref is not None:
            reference.compare(r, ref, s.pattern)

    def done(r: Run) -> None:
        problem = finish_run(r, entries, out, o.baseline, compare if o.refs else None)
        if problem:
            unwritten.append(problem)
        runs.append(r)

    if unit:
        unit_runs(o, done)
    if untestable:
        for _, _, r in pairs:
            r.untestable = untestable
            done(r)
    else:
        run_configs(pairs, s, o.serial or o.matrix or s.list_only, done, names)

    if s.list_only:
        several = len(pairs) > 1
        listed = 0
        for _, _, r in pairs:
            for n in names.get(r.label, []):
                print(f"{r.label} {n}" if several else n)
                listed += 1
        if any(r.untestable for r in runs):
            return 125
        if listed == 0 and s.pattern:
            say(f"no test matches -t '{s.pattern}'")
            return 2
        return 0

    if o.matrix and not o.report:
        o.report = os.path.join(s.results, "matrix", "report.html")
    code, why = results.exit_code(runs, s.pattern)
    if unwritten and code == 0:
        code, why = 125, "the results could not be written (see above)"
    changed = results.changed(runs)
    if o.fail_on_change and changed and code == 0:
        code, why = 1, f"{changed} changed against the reference: --fail-on-change fails the run"
    code, why = write_reports(o, runs, code, why)
    c = results.total(runs)
    if o.baseline:
        rel = os.path.relpath(o.baseline, TOP) if o.baseline.startswith(TOP + os.sep) else o.baseline
        say(f"baseline {rel}: {c.xfail} known deviations failing as listed, {c.xpass} fixed")
    # What the failures have in common, and what baselines/ knows of them.
    for line in results.failure_summary(runs, c.failed, TOP, hint=not o.baseline):
        if line.startswith(" "):
            print(line, file=sys.stderr)
        else:
            say(line)
    if why:
        say(why)
    if o.refs:
        # Its own line, so that the closing line keeps its format.
        print(reference.closing(runs, o.reference), file=sys.stderr)
    print(results.closing_line(runs), file=sys.stderr, flush=True)
    return code


def write_reports(o: Options, runs: list[Run], code: int, why: str) -> tuple[int, str]:
    """Write the reports asked for; the exit status and why, as they stand
    once they are written. The baseline goes first (an existing file it
    would cut short is kept: exit 2), the JSON last, so that the exit
    status it records is the run's (a report that could not be written
    makes it 125, or keeps 1 or 2)."""
    title = "kvm-contract: architecture x kernel" if o.matrix else "kvm-contract results"
    for kind, path in (("baseline", o.write_baseline), ("junit", o.junit), ("html", o.report),
                       ("json", o.json)):
        if not path:
            continue
        text = report.render(kind, runs, title, o.s.pattern, code)
        if kind == "baseline" and not o.force:
            lost = baseline_lines_lost(path, text)
            if lost:
                say(f"--write-baseline {path}: not written: this run's baseline would drop "
                    f"{len(lost)} of its lines:")
                for x in lost:
                    print(f"  {x}", file=sys.stderr)
                say("write to another file and merge, or pass --force to replace it")
                if code != 125:
                    code, why = 2, why or "the baseline was not written"
                continue
        try:
            common.write_atomic(path, text)
            say(f"{kind} written to {path}")
        except OSError as e:
            say(f"{kind}: could not write {path}: {e.strerror}")
            if code == 0:
                code = 125
            why = why or "a report could not be written"
    return code, why


def baseline_lines_lost(path: str, new_text: str) -> list[str]:
    """The entry lines (not comments) of an existing baseline at path that
    new_text lacks, spacing aside."""
    if not os.path.isfile(path):
        return []
    keep = {" ".join(x.split()) for x in new_text.splitlines()}
    old = [x.strip() for x in common.read_text(path).splitlines()]
    return [x for x in old if x and not x.startswith("#") and " ".join(x.split()) not in keep]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

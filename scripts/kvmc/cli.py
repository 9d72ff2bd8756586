# SPDX-License-Identifier: GPL-2.0
"""run_tests.sh: run the kvm-contract conformance tests against a real KVM.

Exit status: 0 no test failed, 1 a test failed, 2 bad usage (a report
path that cannot be written, a baseline line that cannot be parsed),
125 a kernel could not be tested (no boot, no /dev/kvm, a missing tool, a
report that could not be written after all), 128+N on signal N (130
SIGINT, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable

from . import TOP, baseline as bl, common, debian, report, results
from .ktap import Parser, Test
from .qemu_configs import CONFIGS, DEFAULT, host_arch
from .results import Run
from .common import call, spawn
from .runner import (Lock, Prepared, Settings, Untestable, clone_lock, deps, own_tests, prepare,
                     remove_scratch, run_native, run_vm, say)

USAGE = f"""\
usage: ./run_tests.sh [--arch ARCH] [-t PATTERN] [-l] [-v] [--strict]
                      [--vm | --native] [-o DIR] [--unit] [--baseline FILE]
                      [--kernel IMAGE [--modules DIR]] [--timeout S]
                      [--run-timeout MS] [--boot-timeout S] [--allow-destructive]
                      [--debian SPEC | --matrix [--kernels "SPEC..."]]
                      [--build DIR [--kconfig FILE] [--kconfig-add CONFIG_X=y]...]
                      [--json F] [--junit F] [--report F.html] [--write-baseline F]

  --arch ARCH   configuration to test, repeatable (default: {' '.join(DEFAULT)});
                one of: {', '.join(CONFIGS)}
                (x86_64-shadow: x86_64 with kvm_amd npt=0, KVM's shadow MMU)
  -t PATTERN    only tests whose name (fixture.variant.test) matches the shell
                pattern; a pattern without wildcards matches as a substring
  -l            list the test names instead of running them (with several
                architectures, each name after its architecture)
  -v            verbose: show build, boot and console output
  --strict      strict mode (also KVMC_STRICT=1): C3 notes become failures
  --allow-destructive
                run the poisoned-page tests (P1-P3) on this host's /dev/kvm:
                they poison physical pages for good (in the VM they always run)
  --kernel IMG  boot this kernel image in the VM instead of Debian's (needs
                one --arch; for git bisect run)
  --modules DIR x86: the kernel's "make modules_install" tree, for the KVM
                modules (INSTALL_MOD_PATH or lib/modules/<version>)
  --build DIR   build the kernel tree DIR for the architecture and boot it
                (--kconfig FILE, --kconfig-add CONFIG_X=y: more options)
  --timeout S   limit of one test binary (default 600)
  --run-timeout MS
                limit of one KVM_RUN (default 5000)
  --boot-timeout S
                limit from starting QEMU until the test VM's init runs
                (default 120; KVMC_VM_TIMEOUT bounds the whole VM, default 1800)
  --debian SPEC boot a Debian kernel: a suite (bookworm, trixie, sid,
                trixie-backports, experimental) or a version (6.1, 6.12,
                7.3.4, or an ABI like 6.12.57+deb13-arm64), resolved from
                the archive at run time and cached
  --matrix      run every architecture on every kernel of --kernels (default:
                the newest kernel of each Debian suite), results under
                results/matrix/, and write an HTML table (--report, default
                results/matrix/report.html)
  --json F      every test with its observations (triple, payload, rule,
                verdict), kernel and architecture, as JSON
  --junit F     JUnit XML, one testsuite per architecture (and kernel)
  --report F    an HTML table of test x (architecture, kernel)
  --write-baseline F
                write the failures of this run as a baseline (see --baseline)
  --kselftest   in the VM, run the "make install" tree with the kernel's own
                run_kselftest.sh instead of ktap-runner.sh (counts binaries)
  --serial      one architecture after the other (by default the
                architectures' VMs run side by side)
  --vm          run inside a VM even where /dev/kvm is usable
  --native      run on this machine's /dev/kvm (fail if unusable)
  -o DIR        results directory (default: results/)
  --unit        also run the project's own tests on this machine (make check):
                the oracle's unit tests, the host side's Python tests and the
                runners' tests (tests/runner)
  --baseline F  known kernel deviations (see baselines/debian.txt), one exact
                finding per line: a failed test whose every failing finding is
                listed is XFAIL (TAP "# TODO"), a listed test that passes is
                reported as fixed; neither fails the run
  -h            this help

stdout is one KTAP document (each architecture a named subtest); messages
and the closing "N passed, N failed, N skipped" go to stderr."""

VALUE_FLAGS = {"--arch", "-t", "--kernel", "--modules", "--timeout", "--run-timeout",
               "--boot-timeout", "--baseline", "--debian", "--kernels", "--json", "--junit",
               "--report", "--write-baseline", "-o", "--build", "--kconfig", "--kconfig-add"}


class UsageError(Exception):
    pass


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
    build_tree: str = ""
    kconfig: str = ""
    kconfig_add: list[str] = field(default_factory=list)


def _abspath(p: str) -> str:
    return os.path.abspath(os.path.expanduser(p))


def _positive(name: str, value: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", value):
        raise UsageError(f"a time limit must be a positive whole number, not '{value}'")
    return int(value)


def parse_args(argv: list[str], env: dict[str, str]) -> Options:
    o = Options()
    s = o.s
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = ""
        if "=" in arg and arg.startswith("--") and arg.split("=", 1)[0] in VALUE_FLAGS:
            arg, value = arg.split("=", 1)
        elif arg in VALUE_FLAGS:
            if i + 1 >= len(argv):
                raise UsageError(f"option {arg} needs a value")
            i += 1
            value = argv[i]
        i += 1
        if arg == "--arch":
            if value not in s.arches:     # the same architecture twice runs once
                s.arches.append(value)
        elif arg == "-t":
            s.pattern = value
        elif arg == "-l":
            s.list_only = True
        elif arg == "-v":
            s.verbose = True
        elif arg == "--strict":
            s.strict = True
        elif arg == "--allow-destructive":
            s.destructive = True
        elif arg == "--vm":
            s.where = "vm"
        elif arg == "--native":
            s.where = "native"
        elif arg == "--unit":
            o.unit = True
        elif arg == "--kernel":
            s.kernel_image, s.where = _abspath(value), "vm"
        elif arg == "--modules":
            s.modules_dir = _abspath(value)
        elif arg == "--timeout":
            env["KVMC_BIN_TIMEOUT"] = value
        elif arg == "--run-timeout":
            env["KVMC_RUN_TIMEOUT_MS"] = value
        elif arg == "--boot-timeout":
            env["KVMC_BOOT_TIMEOUT"] = value
        elif arg == "--baseline":
            o.baseline = _abspath(value)
        elif arg == "--debian":
            s.debian_spec, s.where = value, "vm"
        elif arg == "--matrix":
            o.matrix = True
        elif arg == "--serial":
            o.serial = True
        elif arg == "--kselftest":
            s.kselftest, s.where = True, "vm"
        elif arg == "--kernels":
            o.kernels = value
        elif arg == "--json":
            o.json = _abspath(value)
        elif arg == "--junit":
            o.junit = _abspath(value)
        elif arg == "--report":
            o.report = _abspath(value)
        elif arg == "--write-baseline":
            o.write_baseline = _abspath(value)
        elif arg == "-o":
            s.results = _abspath(value)
        elif arg == "--build":
            o.build_tree, s.where = _abspath(value), "vm"
        elif arg == "--kconfig":
            o.kconfig = _abspath(value)
        elif arg == "--kconfig-add":
            o.kconfig_add.append(value)
        elif arg in ("-h", "--help"):
            print(USAGE)
            raise SystemExit(0)
        else:
            raise UsageError(f"unknown option '{arg}'")
    s.arches = s.arches or list(DEFAULT)
    s.bin_timeout = _positive("KVMC_BIN_TIMEOUT", env.get("KVMC_BIN_TIMEOUT", "600"))
    s.run_timeout_ms = _positive("KVMC_RUN_TIMEOUT_MS", env.get("KVMC_RUN_TIMEOUT_MS", "5000"))
    s.boot_timeout = _positive("KVMC_BOOT_TIMEOUT", env.get("KVMC_BOOT_TIMEOUT", "120"))
    s.vm_timeout = _positive("KVMC_VM_TIMEOUT", env.get("KVMC_VM_TIMEOUT", "1800"))
    if env.get("KVMC_STRICT", "0") not in ("", "0"):
        s.strict = True
    s.unprivileged = env.get("KVMC_UNPRIVILEGED", "0") == "1"
    s.append = env.get("KVMC_APPEND", "")
    s.extra_tests = env.get("KVMC_EXTRA_TESTS", "")
    for a in s.arches:
        if a not in CONFIGS:
            raise UsageError(f"--arch {a}: not supported (supported: {' '.join(CONFIGS)})")
    if s.kernel_image and len(s.arches) != 1:
        raise UsageError("--kernel needs exactly one --arch")
    if s.debian_spec and s.kernel_image:
        raise UsageError("--debian and --kernel exclude each other")
    if o.matrix and (s.debian_spec or s.kernel_image):
        raise UsageError("--matrix picks its kernels with --kernels, not --debian or --kernel")
    if s.modules_dir and not s.kernel_image:
        raise UsageError("--modules goes with --kernel")
    if s.modules_dir:
        if not all(CONFIGS[a].kvm_modules for a in s.arches):
            raise UsageError("--modules: KVM is built into the arm64 kernel; there are no modules to load")
        if not os.path.isdir(s.modules_dir):
            raise UsageError(f"--modules {s.modules_dir}: no such directory")
    if s.debian_spec and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+~_-]*", s.debian_spec):
        raise UsageError(f"--debian '{s.debian_spec}': neither a Debian suite nor a kernel version")
    if o.build_tree and (s.kernel_image or s.debian_spec or len(s.arches) != 1):
        raise UsageError("--build needs exactly one --arch and excludes --kernel and --debian")
    if (o.kconfig or o.kconfig_add) and not o.build_tree:
        raise UsageError("--kconfig and --kconfig-add go with --build")
    return o


def check_writable(flag: str, path: str) -> None:
    """A report path that cannot be written is refused before anything boots."""
    if not path:
        return
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path}: cannot write there: no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path}: cannot write there: permission denied")


# ---- signals ----------------------------------------------------------------
def on_signal(signum: int, frame: FrameType | None) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        say("interrupted: stopping")
    except OSError:
        pass
    common.stop_all()
    remove_scratch()
    try:
        sys.stdout.flush()
    except OSError:
        pass
    os._exit(128 + signum)


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


def finish_run(r: Run, entries: list[bl.Entry], out: Output | None, baseline_path: str) -> None:
    """After a run ended: the baseline, its results directory, its block
    of the document, its line on stderr."""
    results.apply_baseline(r, entries)
    results.save_dir(r)
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

    for arch, spec, r in pairs:
        settings = dataclasses.replace(s, debian_spec=spec or s.debian_spec)
        try:
            p = prepare(CONFIGS[arch], settings, r, built)
        except Untestable as e:
            r.untestable = str(e)
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
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    env = dict(os.environ)
    try:
        o = parse_args(argv, env)
        for flag, path in (("--json", o.json), ("--junit", o.junit), ("--report", o.report),
                           ("--write-baseline", o.write_baseline)):
            check_writable(flag, path)
        entries = bl.load(o.baseline) if o.baseline else []
    except UsageError as e:
        print(f"run_tests.sh: {e}", file=sys.stderr)
        print("\n".join(USAGE.splitlines()[:8]) + "\n(./run_tests.sh -h: every option)", file=sys.stderr)
        return 2
    except bl.BaselineError as e:
        say(str(e))
        return 2
    s = o.s
    if o.build_tree:
        code = build_kernel_tree(o)
        if code:
            return code
    os.makedirs(s.results, exist_ok=True)
    try:
        with Lock(os.path.join(s.results, ".lock"), f"using {s.results} to finish"):
            return run_all(o, entries)
    finally:
        remove_scratch()


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
                                        o.kconfig_add, [o.kconfig] if o.kconfig else [], note)
        except kbuild.FragmentError as e:
            say(f"--build: {e}")
            return 2
        except kbuild.BuildError as e:
            say(f"--build: {e}")
            return untestable_build(o, e.reason)
    s.kernel_image = built.image
    return 0


def untestable_build(o: Options, reason: str) -> int:
    """The tree could not be built: the architecture's run, untestable for
    REASON, in every report; 125."""
    s = o.s
    os.makedirs(s.results, exist_ok=True)
    with Lock(os.path.join(s.results, ".lock"), f"using {s.results} to finish"):
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

    def done(r: Run) -> None:
        finish_run(r, entries, out, o.baseline)
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
    title = "kvm-contract: architecture x kernel" if o.matrix else "kvm-contract results"
    writers = (("json", o.json), ("junit", o.junit), ("html", o.report), ("baseline", o.write_baseline))
    for kind, path in writers:
        if not path:
            continue
        try:
            common.write_atomic(path, report.render(kind, runs, title, s.pattern))
            say(f"{kind} written to {path}")
        except OSError as e:
            say(f"{kind}: could not write {path}: {e.strerror}")
            code = max(code, 125) if code != 1 else 1
            why = why or "a report could not be written"
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
    print(f"{c.passed} passed, {c.failed} failed, {c.skipped} skipped", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

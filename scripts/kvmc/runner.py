# SPDX-License-Identifier: GPL-2.0
"""Build the tests, make the test VM's initramfs, run the suite in a VM or
on this machine's /dev/kvm, and turn what came back into a Run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from . import TOP, baseline, debian, qemu, results
from .common import Log, call, capture, disown, locked, spawn, write_atomic
from .console import Console
from .ktap import Parser, Test
from .qemu_config import QemuConfig
from .qemu_configs import host_arch
from .results import Run, read_observations

say = Log("run_tests.sh")


class Untestable(Exception):
    """The kernel or architecture could not be tested (exit 125)."""


@dataclass
class Settings:
    arches: list[str] = field(default_factory=list)
    pattern: str = ""
    list_only: bool = False
    verbose: bool = False
    strict: bool = False
    destructive: bool = False
    where: str = "auto"               # auto, vm, native
    kernel_image: str = ""
    modules_dir: str = ""
    debian_spec: str = ""
    kselftest: bool = False
    results: str = os.path.join(TOP, "results")
    bin_timeout: int = 600
    run_timeout_ms: int = 5000
    boot_timeout: int = 120
    vm_timeout: int = 1800
    unprivileged: bool = False
    append: str = ""
    extra_tests: str = ""
    env: dict[str, str] = field(default_factory=dict)
    # --coverage: the gcov build (kbuild) whose counters the VM sends back.
    coverage: bool = False
    coverage_tree: str = ""
    coverage_build_dir: str = ""
    coverage_diff: str = ""
    # --doc-fix: documentation fixes the tests judge as if applied.
    doc_fixes: list[str] = field(default_factory=list)
    # --baseline's crash entries: tests not run where they apply.
    crashes: list[baseline.Entry] = field(default_factory=list)


# ---- locks and private scratch space -----------------------------------------------
@contextlib.contextmanager
def lock(path: str, what: str) -> Iterator[None]:
    """An exclusive lock on path for the block; says so when it must wait
    for another run (common.locked)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with locked(path, lambda: say(f"waiting for another run {what}")):
        yield


_scratch: set[str] = set()


def alive(pid: int) -> bool:
    """Whether a process with that pid exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scratch_dir(parent: str, name: str) -> str:
    """A directory private to this run, removed when it ends (and, should
    the run be killed outright, by the next run)."""
    for old in os.listdir(parent) if os.path.isdir(parent) else []:
        m = re.fullmatch(r"run\..+\.(\d+)", old)
        if m and not alive(int(m.group(1))):
            shutil.rmtree(os.path.join(parent, old), ignore_errors=True)
    d = os.path.join(parent, f"run.{name}.{os.getpid()}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    _scratch.add(d)
    return d


def remove_scratch() -> None:
    for d in list(_scratch):
        shutil.rmtree(d, ignore_errors=True)
        _scratch.discard(d)


def clone_lock() -> contextlib.AbstractContextManager[None]:
    return lock(os.path.join(TOP, "build", ".lock"), "in this clone to finish building")


# ---- build ------------------------------------------------------------------------
def deps(verbose: bool) -> None:
    script = os.path.join(TOP, "scripts", "deps.sh")
    out = None if verbose else subprocess.DEVNULL
    if call([script], stdout=out, stderr=out) != 0:
        call([script], stdout=sys.stderr)
        raise Untestable("missing packages (scripts/deps.sh)")


def build(arch: str, s: Settings) -> None:
    """make the tests and their kselftest install tree for arch."""
    deps(s.verbose)
    say(f"building {arch} tests")
    log = os.path.join(TOP, "build", f"{arch}.build.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    # O relative to the clone: make cannot name a file whose path has a
    # space, and the clone's path may have one.
    out = f"build/{arch}"
    with open(log, "wb") as f:
        rc = call(["make", "-C", TOP, f"ARCH={arch}", f"O={out}", "all", "install",
                   f"INSTALL_PATH={out}/kselftest_install"], stdout=f, stderr=subprocess.STDOUT)
    text = open(log, encoding="utf-8", errors="replace").read()
    if rc != 0:
        worth = [x for x in text.splitlines()
                 if re.search(r"error|\*\*\*|debian.sh:|cannot|failed", x)]
        for x in worth[-5:]:
            print(f"  {x}", file=sys.stderr)
        say(f"{arch}: build failed (whole log: build/{arch}.build.log)")
        raise Untestable("build failed")
    if s.verbose:
        sys.stderr.write(text)
    os.unlink(log)


# ---- the initramfs ----------------------------------------------------------------
def _files(paths: list[str]) -> Iterator[str]:
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    yield os.path.join(root, f)
        elif p:
            yield p


def _digest(paths: list[str]) -> str:
    h = hashlib.sha256()
    for f in _files(paths):
        h.update(f.encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def _cpio(root: str, dest: str) -> None:
    names = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        names.append(rel)
        names += [os.path.join(rel, f) for f in sorted(files)]
    p = capture(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root,
                input="\n".join(names).encode() + b"\n", stderr=None)
    if p.returncode != 0:
        raise Untestable(f"cpio failed making {dest}")
    write_atomic(dest, p.stdout)


def busybox_applets(busybox: str) -> list[str]:
    """The applets a busybox binary offers, read from its table of names
    (NUL-separated and sorted: "[", "[[", "acpid", ...), or [] when no such
    table is found (/init then makes the links itself)."""
    with open(busybox, "rb") as f:
        data = f.read()
    start = data.find(b"[\0[[\0")
    names: list[str] = []
    for raw in data[start:start + 65536].split(b"\0") if start >= 0 else []:
        if not re.fullmatch(rb"\[|\[\[|[a-z0-9][a-z0-9_.+-]*", raw):
            break
        names.append(raw.decode())
    return names if "sh" in names and names == sorted(names) else []


def base_initramfs(cfg: QemuConfig, busybox: str, modules: str) -> str:
    """The initramfs part shared by runs: busybox, /init, the tests, the
    modules. Rebuilt only when what goes into it changed (by content:
    make install copies the tests anew every time). Call under clone_lock()."""
    work = os.path.join(TOP, "build", cfg.build_arch, "initramfs")
    install = os.path.join(TOP, "build", cfg.build_arch, "kselftest_install")
    init = os.path.join(TOP, "scripts", "guest-init.sh")
    base = os.path.join(work, "base.cpio")
    # The modules loaded are chosen by the configuration: part of the stamp.
    stamp = _digest([install, init, busybox, modules]) + "".join(" " + m for m in cfg.kvm_modules)
    if os.path.exists(base) and _read(base + ".stamp") == stamp:
        return base
    root = os.path.join(work, "root")
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc"):
        os.makedirs(os.path.join(root, d))
    shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
    # The applets' links made here, not by "busybox --install" in the VM,
    # where creating 270 links one system call at a time under emulation
    # takes a twentieth of a second of every boot.
    for applet in busybox_applets(busybox):
        if applet != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", applet))
    shutil.copy2(init, os.path.join(root, "init"))
    shutil.copytree(install, os.path.join(root, "kvm-contract"), symlinks=True)
    if modules:
        # Only what the VM's CPU needs (a Debian package's kvm-intel stays
        # behind under QEMU's SVM): every insmod in the VM must succeed.
        dest = os.path.join(root, "lib", "modules", "kvm-contract")
        os.makedirs(dest)
        order = debian.load_order(Path(modules), cfg.kvm_modules)
        for m in order:
            shutil.copy2(os.path.join(modules, f"{m}.ko"), dest)
        write_atomic(os.path.join(dest, "load-order"), "".join(m + "\n" for m in order))
    _cpio(root, base)
    write_atomic(base + ".stamp", stamp)
    return base


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def known_crashes(cfg: QemuConfig, s: Settings) -> str:
    """KVMC_KNOWN_CRASHES for this configuration (baseline.known_crashes)."""
    return baseline.known_crashes(s.crashes, results.baseline_arch(cfg.name))


def run_config(cfg: QemuConfig, s: Settings) -> str:
    """The run's own settings, as /etc/kvmc.conf for guest-init.sh."""
    mode = "list" if s.list_only else "kselftest" if s.kselftest else "run"
    lines = [f"KVMC_MODE={mode}", f"KVMC_FILTER={shlex.quote(s.pattern)}",
             f"KVMC_STRICT={int(s.strict)}", f"KVMC_RUN_TIMEOUT_MS={s.run_timeout_ms}",
             f"KVMC_BIN_TIMEOUT={s.bin_timeout}", f"KVMC_UNPRIVILEGED={int(s.unprivileged)}",
             f"KVMC_COVERAGE={int(s.coverage)}", f"KVMC_DOC_FIXES={shlex.quote(','.join(s.doc_fixes))}",
             f"KVMC_KNOWN_CRASHES={shlex.quote(known_crashes(cfg, s))}"]
    for module, params in cfg.module_params.items():
        lines.append(f"KVMC_MODULE_PARAMS_{module.replace('-', '_')}={shlex.quote(params)}")
    return "\n".join(lines) + "\n"


def initrd(cfg: QemuConfig, s: Settings, base: str) -> str:
    """The base plus a small archive private to this run (its settings and
    any extra tests); the kernel unpacks concatenated archives in order."""
    work = scratch_dir(os.path.join(TOP, "build", cfg.build_arch), cfg.name)
    root = os.path.join(work, "root")
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(root, "etc", "kvmc.conf"), "w", encoding="utf-8") as f:
        f.write(run_config(cfg, s))
    if s.extra_tests:
        shutil.copytree(s.extra_tests, os.path.join(root, "extra"), symlinks=False)
    _cpio(root, os.path.join(work, "run.cpio"))
    path = os.path.join(work, "initrd.cpio")
    with open(path, "wb") as out:
        for part in (base, os.path.join(work, "run.cpio")):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    return path


# ---- preparing and running one configuration ----------------------------------------
@dataclass
class Prepared:
    cfg: QemuConfig
    run: Run
    native: bool = False
    kernel: debian.Kernel | None = None
    initrd: str = ""


def native_kvm_usable(cfg: QemuConfig) -> bool:
    return (cfg.build_arch == host_arch() and not cfg.module_params
            and os.access("/dev/kvm", os.R_OK | os.W_OK))


def with_newer_qemu(cfg: QemuConfig) -> QemuConfig:
    """cfg run by the QEMU that kvmc.qemu_newer unpacks into the cache
    (fetched once; KVMC_QEMU_ARM64 and KVMC_QEMU_ARM64_DATA name another)."""
    from dataclasses import replace
    from . import qemu_newer
    binary, data = os.environ.get("KVMC_QEMU_ARM64", ""), os.environ.get("KVMC_QEMU_ARM64_DATA", "")
    if not binary:
        try:
            q = qemu_newer.fetch()
        except qemu_newer.QemuNewerError as e:
            reason = f"{cfg.name} needs the newer QEMU (FEAT_NV2): {e}"
            say(reason)
            raise Untestable(reason) from e
        binary, data = str(q.binary), str(q.datadir)
    return replace(cfg, qemu=binary, args=(("-L", data) if data else ()) + cfg.args)


def prepare(cfg: QemuConfig, s: Settings, run: Run, built: set[str]) -> Prepared:
    """Build, fetch the kernel and make the initramfs (under the clone's
    lock: two runs in one clone share build/)."""
    native = s.where == "native" or (s.where == "auto" and native_kvm_usable(cfg))
    if native and not native_kvm_usable(cfg):
        reason = f"--native: /dev/kvm is not usable for {cfg.name} here"
        say(reason)
        raise Untestable(reason)
    with clone_lock():
        if cfg.build_arch not in built:
            build(cfg.build_arch, s)
            built.add(cfg.build_arch)
        if native:
            return Prepared(cfg, run, native=True)
        if cfg.newer_qemu:
            cfg = with_newer_qemu(cfg)
        for tool in (cfg.qemu, "cpio"):
            if not shutil.which(tool):
                say(f"{tool} not found: run 'make deps' as root")
                raise Untestable(f"{tool} not found")
        try:
            if s.kernel_image:
                if not os.path.isfile(s.kernel_image) or not os.access(s.kernel_image, os.R_OK):
                    say(f"--kernel {s.kernel_image}: no such file")
                    raise Untestable(f"--kernel {s.kernel_image}: no such file")
                problem = cfg.image_problem(s.kernel_image)
                if problem:
                    reason = f"--kernel {s.kernel_image}: {problem}"
                    say(reason)
                    raise Untestable(reason)
                kernel = debian.Kernel(s.kernel_image,
                                       f"{os.path.basename(s.kernel_image)} (version known once booted)", "")
            else:
                try:
                    kernel = debian.kernel(cfg.build_arch, s.debian_spec)
                except debian.DebianError:
                    reason = f"no Debian kernel for {cfg.build_arch}" + \
                        (f" matching '{s.debian_spec}'" if s.debian_spec else "")
                    say(reason)
                    raise Untestable(reason)
            busybox = debian.busybox(cfg.build_arch)
            modules = ""
            if s.modules_dir:
                modules = debian.modules_tree_of(
                    s.modules_dir, os.path.join(TOP, "build", cfg.build_arch, "initramfs", "user-modules"),
                    cfg.kvm_modules)
            elif cfg.kvm_modules and not s.kernel_image:
                modules = debian.modules(cfg.build_arch, s.debian_spec)
            base = base_initramfs(cfg, busybox, modules)
        except debian.DebianError as e:
            raise Untestable(str(e)) from e
    run.kernel = kernel.version
    run.package = kernel.package
    return Prepared(cfg, run, kernel=kernel, initrd=initrd(cfg, s, base))


def _write_lines(path: str, lines: list[str]) -> None:
    write_atomic(path, "".join(x + "\n" for x in lines))


def run_vm(p: Prepared, s: Settings, names: list[str]) -> None:
    """Boot the VM, run the suite in it, fill p.run from what came back.
    -l: the test names go to names."""
    cfg, run = p.cfg, p.run
    assert p.kernel is not None
    d = run.directory
    if not s.list_only:
        say(f"{cfg.name}: booting kernel {p.kernel.version} under QEMU"
            + (" (--kernel)" if s.kernel_image else ""))
    console = Console(cfg.name, verbose_sink=sys.stderr if s.verbose else None,
                      parser=Parser(cfg.name))
    env = {**os.environ, **s.env}
    argv = cfg.argv(p.kernel.image, p.initrd, s.append, env)
    if cfg.packed_dtb:
        dtb = qemu.packed_dtb(argv, os.path.join(TOP, "build", cfg.build_arch, "dtb"))
        if dtb:
            at = argv.index("-kernel")
            argv[at:at] = ["-dtb", dtb]
    outcome = qemu.run(argv, console, qemu.Limits(s.boot_timeout, s.vm_timeout))
    _write_lines(os.path.join(d, results.KERNEL_LOG), console.dmesg)
    _write_lines(os.path.join(d, results.CONSOLE_LOG), console.console)
    _write_lines(os.path.join(d, results.OBSERVATIONS), console.observations)
    run.observations = read_observations(os.path.join(d, results.OBSERVATIONS))
    _write_lines(os.path.join(d, results.DURATIONS), console.durations)
    if console.extra_durations:
        _write_lines(os.path.join(d, results.EXTRA_DURATIONS), console.extra_durations)
    results.write_timing(d, {"guest_init_ms": console.guest_ms, "first_ktap_ms": console.ktap_ms,
                             "total_ms": int(outcome.seconds * 1000)})
    if console.release:
        run.kernel = console.release
    write_atomic(os.path.join(d, results.KERNEL_VERSION), run.kernel + "\n")
    if s.coverage and console.booted and not console.nokvm:
        coverage_report(cfg, s, run, console)
    if run.package:
        write_atomic(os.path.join(d, results.KERNEL_PACKAGE), run.package + "\n")
    for note in console.notes:
        # Module parameters as the VM's kernel took them, and a module that
        # would not load (only those the VM's CPU needs are tried).
        if s.verbose or "=" in note or note.startswith("insmod "):
            say(f"{cfg.name}: in the VM: {note}")
    for module, params in cfg.module_params.items():
        for param in params.split():
            name, _, value = param.partition("=")
            got = next((n.partition("=")[2] for n in console.notes
                        if n.startswith(f"{module.replace('-', '_')}.{name}=")), None)
            if console.booted and not console.nokvm and got is None:
                say(f"{cfg.name}: the VM did not report {module} {name}; was {param} applied?")
    if console.boot_health:
        run.boot_health = console.boot_health
        say(f"{cfg.name}: the kernel was unhealthy before the first test (C13, no test's fault): "
            f"{console.boot_health}")
    if console.nokvm:
        failed = [n for n in console.notes if n.startswith("insmod ")]
        reason = console.nokvm + (f" ({'; '.join(failed)})" if failed else
                                  " (x86 KVM as modules: pass --modules)"
                                  if s.kernel_image and cfg.kvm_modules else "")
        say(f"{cfg.name}: {reason}")
        run.untestable = reason
        return
    run.kvm = configured_kvm(cfg)
    if s.list_only:
        names += [x.strip() for x in console.ktap_lines if x.strip()]
        if not console.done:
            run.untestable = "the test VM stopped before it listed the tests"
            say(f"{cfg.name}: {run.untestable}")
        return
    if console.done:
        run.doc = console.parser.finish()
        return
    panic = any("Kernel panic" in x for x in console.console + console.ktap_lines)
    if panic:
        why = "crashed: kernel panic"
    elif outcome.timed_out_boot:
        why = (f"did not reach its init within the boot limit of {s.boot_timeout} s"
               " (--boot-timeout): not a bootable kernel for this machine?")
    elif outcome.timed_out_vm:
        why = f"did not finish within {s.vm_timeout} s (KVMC_VM_TIMEOUT)"
    elif not console.booted:
        why = "stopped before its init ran (QEMU refused the kernel, or it did not boot)"
    else:
        why = "stopped early (QEMU exited)"
    rel = os.path.relpath(d, TOP) if d.startswith(TOP + os.sep) else d
    say(f"{cfg.name}: the test VM {why}; console in {rel}/{results.CONSOLE_LOG}")
    worth = [x for x in console.console + console.ktap_lines
             if re.search(r"Kernel panic|Oops|BUG:|RIP:|pc :", x)]
    for x in worth[:5]:
        print(f"  {x}", file=sys.stderr)
    for x in console.console[-5:]:
        print(f"  | {x}", file=sys.stderr)
    run.doc = console.parser.finish(why=f"the test VM {why}")
    running = [t.name for t in run.doc.walk() if t.synthesized and t.reason]
    if running:
        # The test that was running took the kernel down (or hung it):
        # that is the kernel's failure, counted as that test's.
        say(f"{cfg.name}: {running[0]} was running: counted as failed")
        return
    run.untestable = f"the test VM {why}"


def coverage_report(cfg: QemuConfig, s: Settings, run: Run, console: Console) -> None:
    """--coverage: the .gcda files the VM sent, as lcov HTML, coverage.json
    and (--coverage-diff) patch coverage in <results>/<arch>/coverage."""
    from . import coverage, kbuild
    from .qemu_configs import ARCHES
    for why in console.gcda.errors[:5]:
        say(f"{cfg.name}: coverage: dropped a file from the VM: {why}")
    got = {g.phase: 0 for g in console.gcda.files}
    for g in console.gcda.files:
        got[g.phase] += 1
    say(f"{cfg.name}: coverage: {', '.join(f'{n} .gcda files ({p})' for p, n in got.items()) or 'no .gcda files'}"
        " from the VM")
    arch = ARCHES[cfg.build_arch]
    made = coverage.new_dir(run.directory)
    try:
        tool = coverage.gcov_tool(arch.triplet, host_arch() == arch.name)
        rep = coverage.make_report(console.gcda.files, s.coverage_build_dir, s.coverage_tree,
                                   kbuild.gcov_dirs(cfg.build_arch), tool, made, cfg.build_arch,
                                   run.kernel, s.coverage_diff, config=cfg.name)
    except (coverage.CoverageError, OSError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(made, ignore_errors=True)
        say(f"{cfg.name}: coverage: no report: {e}")
        run.untestable = f"coverage report: {e}"
        return
    for note in rep.notes[:5]:
        say(f"{cfg.name}: coverage: {note}")
    where = coverage.place(made, os.path.join(run.directory, "coverage"))
    for phase, fns in rep.phases.items():
        t = coverage.totals(fns)
        say(f"{cfg.name}: coverage ({phase}): lines {t['lines_hit']}/{t['lines_total']}, branches "
            f"{t['branches_hit']}/{t['branches_total']}, functions {t['functions_hit']}/{t['functions']}")
    if s.coverage_diff:
        for line in coverage.patch_table(rep.patch, s.coverage_diff):
            say(f"{cfg.name}: {line}")
    say(f"{cfg.name}: coverage report in {where}/index.html (made in {rep.seconds:.1f} s)")


def ktap_runner_env(cfg: QemuConfig, s: Settings, observations: str) -> dict[str, str]:
    return {**os.environ, **s.env, "KVMC_STRICT": str(int(s.strict)),
            "KVMC_KNOWN_CRASHES": known_crashes(cfg, s),
            "KVMC_ALLOW_DESTRUCTIVE": str(int(s.destructive)),
            "KVMC_OBSERVATIONS": observations, "KVMC_DOC_FIXES": ",".join(s.doc_fixes),
            "KVMC_BIN_TIMEOUT": str(s.bin_timeout), "KVMC_RUN_TIMEOUT_MS": str(s.run_timeout_ms)}


def stream(argv: list[str], env: dict[str, str], parser: Parser) -> int:
    """Run a KTAP producer, parsing its output as it comes."""
    p = spawn(argv, env=env, stdout=subprocess.PIPE)
    assert p.stdout is not None
    try:
        for raw in p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            parser.feed(line)
        return p.wait()
    finally:
        disown(p)


def run_native(p: Prepared, s: Settings, names: list[str]) -> None:
    cfg, run = p.cfg, p.run
    tests = os.path.join(TOP, "build", cfg.build_arch, "tests")
    runner = os.path.join(TOP, "scripts", "ktap-runner.sh")
    args = ["-t", s.pattern] if s.pattern else []
    if s.list_only:
        out = subprocess.run([runner, "-l", *args, tests], stdout=subprocess.PIPE, text=True)
        names += out.stdout.split()
        return
    release = os.uname().release
    run.kvm = kvm_implementation("/sys/module")
    say(f"{cfg.name}: running on this machine's /dev/kvm ({release}, KVM {run.kvm or 'not named in /sys/module'})")
    if run.kvm and not results.kvm_upstream(run.kvm):
        say(f"{cfg.name}: {results.kvm_text(run.kvm)}")
    run.kernel = release
    write_atomic(os.path.join(run.directory, results.KERNEL_VERSION), release + "\n")
    obs = os.path.join(run.directory, results.OBSERVATIONS)
    parser = Parser(cfg.name)
    stream([runner, *args, tests], ktap_runner_env(cfg, s, obs), parser)
    run.doc = parser.finish()
    run.observations = read_observations(obs)


def own_tests(name: str, argv: list[str], env: dict[str, str] | None = None) -> Test:
    """A KTAP producer of the project's own tests, as a tree."""
    parser = Parser(name)
    stream(argv, env or dict(os.environ), parser)
    return parser.finish()


# ---- the KVM implementation judged ---------------------------------------------
def kvm_implementation(sys_module: str) -> str:
    """The KVM behind /dev/kvm, from a /sys/module directory: its vendor
    module (kvm_intel, kvm_amd, or another flavour such as kvm_pvm), or
    "kvm" where KVM has none (arm64 builds it in); "" when neither shows.
    Built-in modules show there too (by their parameters), loaded ones
    with an initstate: where several vendor modules show, the one loaded,
    else all of them joined by "+"."""
    try:
        names = sorted(os.listdir(sys_module))
    except OSError:
        return ""
    vendors = [n for n in names if n.startswith("kvm_")]
    if not vendors:
        return "kvm" if "kvm" in names else ""
    from .common import read_text
    live = [n for n in vendors if read_text(os.path.join(sys_module, n, "initstate")).strip() == "live"]
    return "+".join(live if len(live) == 1 else vendors)


def configured_kvm(cfg: QemuConfig) -> str:
    """The KVM a test VM's kernel uses: the vendor module the configuration
    loads (x86: kvm_amd, the one QEMU's SVM runs), else KVM built in (arm64)."""
    return "+".join(m.replace("-", "_") for m in cfg.kvm_modules) or "kvm"

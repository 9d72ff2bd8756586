# SPDX-License-Identifier: GPL-2.0
"""Flakiness and what a CI farm hits: run the suite N times, several runs at
a time and in several fresh clones sharing one cache, then report every
test whose verdict was not the same in all runs and everything the runs
left behind.

    scripts/soak.sh [-n N] [--parallel P] [--clones C] [--cold-cache]
                    [--cache DIR] [--out DIR] [--limit S] [--keep]
                    [RUN_TESTS_ARGS...]

Run i keeps its results in OUT/<i>/ (default OUT: results/soak), its
stdout (KTAP) in OUT/<i>.ktap and its stderr in OUT/<i>.log. A test's
verdict (pass, fail, skip, xfail, xpass) is read from each run's result
tree, per architecture; an architecture a run could not test is left out
of that run's comparison (and the run counts as untestable).

--parallel P runs P at a time in each clone. --clones C makes C fresh
clones of this repository at HEAD (git clone, in a temporary directory) and
runs in all of them at the same time, the runs dealt to the clones in turn.
--cold-cache gives every run one new, empty KVMC_CACHE (a temporary
directory, or --cache DIR, which must then be empty); --cache DIR alone
shares DIR as it is. Each run gets a private TMPDIR and the environment
variable KVMC_SOAK, by which its processes are recognised afterwards.

After the last run the soak looks for what the runs left behind: a process
started by them (KVMC_SOAK in its environment, or a clone's path or a
run's results or scratch directory on its command line; it is named, then
stopped), a FIFO or qemu.pid file in build/ or the results, a run's scratch
directory (build/<arch>/run.<config>.<pid>), anything in the runs' TMPDIR,
a download directory (dl.*) in the cache. What was there before the soak
started is named but not counted.

Exit 0 when every run tested its kernels, no verdict changed and nothing
was left behind; 1 when a verdict changed, something was left behind, or
a run crashed or was stopped at its time limit (--limit, default 3600 s);
125 when a run could not test a kernel (and nothing else went wrong); 2 on
bad usage; 128+N on signal N (the runs are stopped with it).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from types import FrameType
from typing import Iterable

from . import TOP, common, results
from .runner import alive
from .report import single_tests

USAGE = """\
usage: scripts/soak.sh [-n N] [--parallel P] [--clones C] [--cold-cache]
                       [--cache DIR] [--out DIR] [--limit S] [--keep]
                       [RUN_TESTS_ARGS...]

  -n N          runs in all (default 20)
  --parallel P  runs at a time in each clone (default 1)
  --clones C    run in C fresh clones of this repository at HEAD, all at
                the same time (default: in this clone)
  --cold-cache  one new, empty KVMC_CACHE shared by every run
  --cache DIR   the KVMC_CACHE of every run (empty, with --cold-cache)
  --out DIR     the soak's results (default results/soak; emptied first)
  --limit S     time limit of one run, in seconds (default 3600)
  --keep        keep the clones, the cold cache and the runs' TMPDIR
  -h            this help

Every other argument goes to each run_tests.sh (not -o or -l: each run's
results go to OUT/<i>). Exit 0 when all runs tested, no verdict changed
and nothing was left behind, 1 when not, 125 when a run could not test,
2 on bad usage."""

# run_tests.sh's result directories that are not a configuration's.
OWN_TESTS = ("unit", "python", "runner")
# How long the leftovers of a finished run get to go away on their own
# (QEMU dies with its runner, but not in the same instant).
SETTLE_SECONDS = 10
GIT_TIMEOUT = 300
# After SIGTERM, how long a run gets to stop its VMs before SIGKILL.
STOP_GRACE = 20


class UsageError(Exception):
    pass


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# ---- options ------------------------------------------------------------------
@dataclass
class Options:
    n: int = 20
    parallel: int = 1
    clones: int = 0
    cold_cache: bool = False
    cache: str = ""
    out: str = os.path.join(TOP, "results", "soak")
    limit: int = 3600
    keep: bool = False
    run_args: list[str] = field(default_factory=list)


def _count(flag: str, value: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", value):
        raise UsageError(f"{flag} needs a positive whole number, not '{value}'")
    return int(value)


def parse_args(argv: list[str]) -> Options:
    """The soak's own options; the rest is checked as run_tests.sh's."""
    from .cli import VALUE_FLAGS, UsageError as RunUsageError, parse_args as run_parse_args
    o = Options()
    own_values = {"-n", "--parallel", "--clones", "--cache", "--out", "--limit"}
    i = 0
    while i < len(argv):
        arg, value = argv[i], ""
        if arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in own_values | VALUE_FLAGS:
            arg, value = arg.split("=", 1)
        elif arg in own_values | VALUE_FLAGS:
            if i + 1 >= len(argv):
                raise UsageError(f"option {arg} needs a value")
            i += 1
            value = argv[i]
        i += 1
        if arg == "-n":
            o.n = _count("-n", value)
        elif arg == "--parallel":
            o.parallel = _count("--parallel", value)
        elif arg == "--clones":
            o.clones = _count("--clones", value)
        elif arg == "--limit":
            o.limit = _count("--limit", value)
        elif arg == "--cold-cache":
            o.cold_cache = True
        elif arg == "--cache":
            o.cache = os.path.abspath(os.path.expanduser(value))
        elif arg == "--out":
            o.out = os.path.abspath(os.path.expanduser(value))
        elif arg == "--keep":
            o.keep = True
        elif arg in ("-h", "--help"):
            print(USAGE)
            raise SystemExit(0)
        elif arg == "-o":
            raise UsageError("-o: each run's results go to OUT/<i> (--out DIR moves OUT)")
        elif arg == "-l":
            raise UsageError("-l: a soak runs the tests; list them with ./run_tests.sh -l")
        else:
            o.run_args += [arg, value] if arg in VALUE_FLAGS else [arg]
    if o.clones and o.n < o.clones:
        raise UsageError(f"-n {o.n} is fewer runs than --clones {o.clones}")
    if o.cold_cache and o.cache and os.path.isdir(o.cache) and os.listdir(o.cache):
        raise UsageError(f"--cold-cache --cache {o.cache}: not empty")
    if o.cache and os.path.exists(o.cache) and not os.path.isdir(o.cache):
        raise UsageError(f"--cache {o.cache}: not a directory")
    if os.path.realpath(o.out) in (os.path.realpath(TOP), os.path.realpath(os.path.join(TOP, "results"))):
        raise UsageError(f"--out {o.out}: the soak empties it first; give a directory of its own")
    try:
        run_parse_args(list(o.run_args), dict(os.environ))
    except RunUsageError as e:
        raise UsageError(f"run_tests.sh: {e}") from e
    return o


# ---- one run -----------------------------------------------------------------
@dataclass
class RunSpec:
    index: int          # 1..n
    clone: int          # 0: this clone, else 1..C
    top: str            # the checkout it runs in
    out: str            # its -o


@dataclass
class Outcome:
    spec: RunSpec
    rc: int | None = None       # None: stopped at the time limit
    seconds: float = 0.0
    summary: str = ""           # "N passed, N failed, N skipped"
    reason: str = ""            # why it did not pass, from its stderr
    pid: int = 0
    crashed: bool = False


def plan(n: int, clones: int, out: str, tops: list[str]) -> list[RunSpec]:
    """Runs 1..n, dealt to the clones in turn (tops[0] is clone 1; without
    clones everything runs in tops[0], 'clone 0')."""
    specs = []
    for i in range(1, n + 1):
        c = (i - 1) % clones + 1 if clones else 0
        specs.append(RunSpec(i, c, tops[c - 1] if clones else tops[0], os.path.join(out, str(i))))
    return specs


# Messages of a run that say what it is doing, not what went wrong.
_ROUTINE = re.compile(r"building |booting |running .* side by side|waiting for another run"
                      r"|\(results in |written to |^baseline |testing the runners|: in the VM: ")
_SUMMARY = re.compile(r"^\d+ passed, \d+ failed, \d+ skipped")


def summary_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if _SUMMARY.match(x)]
    return lines[-1] if lines else ""


def reason(stderr: str, rc: int | None) -> str:
    """Why a run did not pass, in its own words: a traceback's last line,
    the fetcher's last message, and the runner's last message that is not
    routine."""
    if rc == 0:
        return ""
    lines = [x.rstrip() for x in stderr.splitlines() if x.strip()]
    picks: list[str] = []
    if "Traceback (most recent call last):" in lines:
        after = lines[lines.index("Traceback (most recent call last):"):]
        last = [x for x in after if not x.startswith(" ")]
        picks.append("crashed: " + (last[-1] if last else "traceback"))
    # The fetcher's last word is its error (it stops at the first).
    picks += [x for x in lines if x.startswith("debian.sh: ")][-1:]
    said = [x for x in lines if x.startswith("run_tests.sh: ")
            and not _ROUTINE.search(x.removeprefix("run_tests.sh: "))]
    if said:
        picks.append(said[-1])
    if not picks:
        picks += [x for x in lines if not _SUMMARY.match(x)][-1:]
    return "; ".join(dict.fromkeys(picks))


# ---- verdicts ------------------------------------------------------------------
Key = tuple[str, str]      # (architecture, test)


def verdicts(run_dir: str) -> tuple[dict[Key, str], set[str]]:
    """A run's verdict of every test, and the architectures it tested (a
    result tree, and no 'untestable')."""
    out: dict[Key, str] = {}
    tested: set[str] = set()
    if not os.path.isdir(run_dir):
        return out, tested
    for arch in sorted(os.listdir(run_dir)):
        d = os.path.join(run_dir, arch)
        if arch in OWN_TESTS or not os.path.isfile(os.path.join(d, results.KTAP)):
            continue
        if os.path.exists(os.path.join(d, results.UNTESTABLE)):
            continue
        tested.add(arch)
        for t, _ in single_tests(results.load_dir(d)):
            out[(arch, t.name)] = t.verdict.value
    return out, tested


def changed(seen: list[tuple[dict[Key, str], set[str]]]) -> list[tuple[Key, Counter[str]]]:
    """Every test whose verdict was not the same in all runs that tested
    its architecture ('missing': such a run did not report it)."""
    keys = sorted({k for v, _ in seen for k in v})
    out = []
    for key in keys:
        c = Counter(v.get(key, "missing") for v, tested in seen if key[0] in tested)
        if len(c) > 1:
            out.append((key, c))
    return out


def failed_tests(v: dict[Key, str], most: int = 3) -> str:
    names = [f"{arch} {test}" for (arch, test), verdict in sorted(v.items()) if verdict == "fail"]
    if not names:
        return ""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return "failed: " + ", ".join(names[:most]) + more


def counts_text(c: Counter[str]) -> str:
    return ", ".join(f"{v} x{k}" for v, k in sorted(c.items()))


# ---- leftovers -----------------------------------------------------------------
@dataclass(frozen=True)
class Leftover:
    kind: str           # process, fifo, pid file, scratch dir, temp file, download dir
    what: str           # the path, or "PID COMMAND LINE"
    pid: int = 0


@dataclass
class Proc:
    pid: int
    cmdline: str
    environ: str


def read_procs() -> list[Proc]:
    """Every process of this machine we may look at (not this one)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    env = f.read().decode("utf-8", "replace")
            except OSError:
                env = ""
        except OSError:
            continue
        if cmd:
            out.append(Proc(int(name), cmd, env))
    return out


def stray_processes(procs: Iterable[Proc], token: str, paths: list[str], runners: set[int]) -> list[Leftover]:
    """The processes the runs started: the soak's token in their
    environment, one of the runs' directories (or a path in one) on their
    command line, or the
    scratch directory of one of its runners (build/<arch>/run.<config>.<pid>/,
    where QEMU's initramfs is)."""
    mark = f"KVMC_SOAK={token}"
    out = []
    for p in procs:
        scratch = {int(m) for m in re.findall(r"/build/[^/\s]+/run\.[^/\s]+\.(\d+)/", p.cmdline)}
        words = p.cmdline + " "
        if mark in p.environ.split("\0") or scratch & runners or \
                any(x + os.sep in words or x + " " in words for x in paths):
            out.append(Leftover("process", f"{p.pid} {p.cmdline[:200]}", p.pid))
    return out


def _walk(root: str) -> Iterable[tuple[str, os.stat_result]]:
    if not os.path.isdir(root):
        return
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(d, name)
            try:
                yield path, os.lstat(path)
            except OSError:
                continue


def stray_files(builds: list[str], result_dirs: list[str], tmpdir: str, cache: str) -> list[Leftover]:
    """What a run must not leave behind in the build directories, its
    results, its TMPDIR and the cache."""
    out = []
    for root in builds + result_dirs:
        for path, st in _walk(root):
            if stat.S_ISFIFO(st.st_mode):
                out.append(Leftover("fifo", path))
            elif os.path.basename(path) == "qemu.pid":
                out.append(Leftover("pid file", path))
    for build in builds:
        for arch in sorted(os.listdir(build)) if os.path.isdir(build) else []:
            d = os.path.join(build, arch)
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                if re.fullmatch(r"run\..+\.\d+", name):
                    out.append(Leftover("scratch dir", os.path.join(d, name)))
    if tmpdir and os.path.isdir(tmpdir):
        out += [Leftover("temp file", os.path.join(tmpdir, x)) for x in sorted(os.listdir(tmpdir))]
    if cache and os.path.isdir(cache):
        out += [Leftover("download dir", os.path.join(cache, x)) for x in sorted(os.listdir(cache))
                if x.startswith("dl.")]
    return sorted(out, key=lambda x: (x.kind, x.what))


# ---- the soak ------------------------------------------------------------------
def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _git(args: list[str], cwd: str | None = None) -> str:
    try:
        p = subprocess.run(["git", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=GIT_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"git {' '.join(args)}: no answer within {GIT_TIMEOUT} s") from e
    except OSError as e:
        raise RuntimeError(f"git: {e.strerror}") from e
    if p.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {p.stderr.strip() or f'exit status {p.returncode}'}")
    return p.stdout.strip()


def make_clones(count: int, where: str) -> list[str]:
    """count fresh clones of this repository at HEAD under where."""
    head = _git(["rev-parse", "HEAD"], cwd=TOP)
    if _git(["status", "--porcelain", "--untracked-files=no"], cwd=TOP):
        print("soak: this checkout has uncommitted changes; the clones run HEAD "
              f"({head[:12]}) without them", file=sys.stderr, flush=True)
    tops = []
    for c in range(1, count + 1):
        dest = os.path.join(where, f"clone{c}")
        _git(["clone", "--quiet", "--no-checkout", TOP, dest])
        _git(["checkout", "--quiet", "--detach", head], cwd=dest)
        tops.append(dest)
    return tops


class Soak:
    def __init__(self, o: Options, work: str, tops: list[str], cache: str) -> None:
        self.o = o
        self.work = work
        self.tops = tops
        self.cache = cache
        self.tmpdir = os.path.join(work, "tmp")
        self.token = f"{os.getpid()}.{int(time.time())}"
        self.running: dict[int, tuple[Outcome, subprocess.Popen[bytes], float]] = {}
        self.done: list[Outcome] = []

    def env(self) -> dict[str, str]:
        env = {**os.environ, "TMPDIR": self.tmpdir, "KVMC_SOAK": self.token}
        if self.cache:
            env["KVMC_CACHE"] = self.cache
        return env

    def start(self, spec: RunSpec) -> None:
        argv = [os.path.join(spec.top, "run_tests.sh"), "-o", spec.out, *self.o.run_args]
        if shutil.which("setpriv"):
            # Should the soak die, its runs stop (and stop their VMs).
            argv = ["setpriv", "--pdeathsig", "TERM", "--", *argv]
        base = os.path.join(self.o.out, str(spec.index))
        with open(base + ".ktap", "wb") as out, open(base + ".log", "wb") as err:
            p = subprocess.Popen(argv, cwd=spec.top, env=self.env(), stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err, start_new_session=True)
        self.running[spec.index] = (Outcome(spec, pid=p.pid), p, time.monotonic())

    def finish(self, index: int, rc: int | None) -> None:
        o, p, t0 = self.running.pop(index)
        o.rc, o.seconds = rc, time.monotonic() - t0
        err = common.read_text(os.path.join(self.o.out, f"{index}.log"))
        o.summary = summary_line(err)
        o.crashed = "Traceback (most recent call last):" in err
        if rc is None:
            o.reason = f"stopped at the time limit of {self.o.limit} s (--limit)"
        elif rc == 1 and not o.crashed:
            o.reason = failed_tests(verdicts(o.spec.out)[0]) or reason(err, rc)
        else:
            o.reason = reason(err, rc)
        self.done.append(o)
        print(f"soak: {describe(o, self.o.n)}", flush=True)

    def stop(self, index: int) -> int | None:
        """SIGTERM (the runner stops its VMs), then SIGKILL to its group."""
        _, p, _ = self.running[index]
        try:
            p.terminate()
        except OSError:
            pass
        return _wait_or_kill(p, STOP_GRACE)

    def run_all(self, specs: list[RunSpec]) -> None:
        pending = list(specs)
        while pending or self.running:
            for spec in list(pending):
                busy = sum(1 for o, _, _ in self.running.values() if o.spec.clone == spec.clone)
                if busy < self.o.parallel:
                    pending.remove(spec)
                    self.start(spec)
            for index, (o, p, t0) in list(self.running.items()):
                rc = p.poll()
                if rc is not None:
                    self.finish(index, rc)
                elif time.monotonic() - t0 > self.o.limit:
                    print(f"soak: run {index}: past its limit of {self.o.limit} s: stopping it",
                          file=sys.stderr, flush=True)
                    self.stop(index)
                    self.finish(index, None)
            time.sleep(0.2)

    def stop_all(self) -> None:
        """Every run at once: SIGTERM, then SIGKILL to those still there."""
        for _, p, _ in self.running.values():
            try:
                p.terminate()
            except OSError:
                pass
        deadline = time.monotonic() + STOP_GRACE
        for index in list(self.running):
            _, p, _ = self.running.pop(index)
            _wait_or_kill(p, max(0.1, deadline - time.monotonic()))

    def leftovers(self, specs: list[RunSpec], before: set[Leftover]) -> list[Leftover]:
        builds = [os.path.join(t, "build") for t in self.tops]
        result_dirs = [s.out for s in specs]
        # A clone, a run's results, the soak's temporary directory (the
        # runs' TMPDIR, a cold cache) on a command line.
        paths = [t for t in self.tops if t != TOP] + result_dirs + [self.work]
        runners = {o.pid for o in self.done if o.pid}

        def scan() -> list[Leftover]:
            files = []
            for x in stray_files(builds, result_dirs, self.tmpdir, self.cache):
                pid = int(x.what.rsplit(".", 1)[1]) if x.kind == "scratch dir" else 0
                if pid and pid not in runners and alive(pid):
                    continue    # a run's that is not the soak's, still under way
                files.append(x)
            found = stray_processes(read_procs(), self.token, paths, runners) + files
            return [x for x in found if x not in before]

        deadline = time.monotonic() + SETTLE_SECONDS
        found = scan()
        while found and time.monotonic() < deadline:
            time.sleep(0.5)
            found = scan()
        return found


def _wait_or_kill(p: subprocess.Popen[bytes], seconds: float) -> int | None:
    """The exit status, or None when it had to be killed (with its group)."""
    try:
        return p.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.wait()
        return None


def describe(o: Outcome, n: int) -> str:
    where = f" [clone {o.spec.clone}]" if o.spec.clone else ""
    rc = "stopped" if o.rc is None else f"exit {o.rc}"
    text = f"run {o.spec.index}/{n}{where}: {rc}, {o.summary or 'no summary'}, {int(o.seconds)} s"
    return text + (f"; {o.reason}" if o.reason else "")


def verdict_of_soak(outcomes: list[Outcome], n_changed: int, n_left: int) -> tuple[int, str]:
    """The soak's exit status and why."""
    hung = [o for o in outcomes if o.rc is None]
    crashed = [o for o in outcomes if o.crashed or (o.rc is not None and o.rc not in (0, 1, 2, 125))]
    problems = []
    if n_changed:
        problems.append(f"{n_changed} verdicts changed")
    if n_left:
        problems.append(f"{n_left} things left behind")
    if hung:
        problems.append(f"{len(hung)} runs stopped at the time limit")
    if crashed:
        problems.append(f"{len(crashed)} runs crashed or ended by a signal")
    if problems:
        return 1, ", ".join(problems)
    if outcomes and all(o.rc == 2 for o in outcomes):
        return 2, "every run refused its arguments (exit 2)"
    untestable = [o for o in outcomes if o.rc in (2, 125)]
    if untestable:
        return 125, f"{len(untestable)} runs could not test (exit {untestable[0].rc})"
    return 0, "every run tested, no verdict changed, nothing left behind"


def main(argv: list[str]) -> int:
    try:
        o = parse_args(argv)
    except UsageError as e:
        print(f"soak: {e}", file=sys.stderr)
        print("\n".join(USAGE.splitlines()[:3]) + "\n(scripts/soak.sh -h: every option)", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    start = time.monotonic()
    work = ""
    soak: Soak | None = None
    try:
        shutil.rmtree(o.out, ignore_errors=True)
        os.makedirs(o.out)
        work = tempfile.mkdtemp(prefix="kvmc-soak.")
        os.makedirs(os.path.join(work, "tmp"))
        cache = o.cache
        if o.cold_cache and not cache:
            cache = os.path.join(work, "cache")
        if cache:
            os.makedirs(cache, exist_ok=True)
        tops = [TOP]
        if o.cold_cache and not o.clones:
            print("soak: note: this clone's build keeps the headers and harness it found before "
                  "(build/<arch>/deps.mk); --clones builds from nothing", file=sys.stderr, flush=True)
        if o.clones:
            print(f"soak: making {o.clones} clones of {TOP} at HEAD in {work}", flush=True)
            tops = make_clones(o.clones, work)
        soak = Soak(o, work, tops, cache)
        specs = plan(o.n, o.clones, o.out, tops)
        before = set(stray_files([os.path.join(t, "build") for t in tops], [], "", cache))
        print(f"soak: {o.n} runs, {o.parallel} at a time in "
              + (f"each of {o.clones} clones" if o.clones else "this clone")
              + (f", cache {cache}" + (" (cold)" if o.cold_cache else "") if cache else "")
              + f": run_tests.sh {' '.join(o.run_args)}", flush=True)
        soak.run_all(specs)
        outcomes = sorted(soak.done, key=lambda x: x.spec.index)
        left = soak.leftovers(specs, before)
        seen = [verdicts(s.out) for s in specs]
        diffs = changed(seen)
        for x in left:
            if x.kind == "process" and x.pid:
                try:
                    os.kill(x.pid, signal.SIGKILL)
                except OSError:
                    pass
        print_summary(o, outcomes, seen, diffs, left, before, time.monotonic() - start)
        code, why = verdict_of_soak(outcomes, len(diffs), len(left))
        print(f"soak: {'PASS' if code == 0 else 'FAIL' if code == 1 else f'exit {code}'}: {why}", flush=True)
        return code
    except Interrupted as e:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        print("soak: interrupted: stopping the runs", file=sys.stderr, flush=True)
        if soak is not None:
            soak.stop_all()
        return 128 + e.signum
    except (OSError, RuntimeError) as e:
        print(f"soak: {e}", file=sys.stderr, flush=True)
        if soak is not None:
            soak.stop_all()
        return 125
    finally:
        if work and not o.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif work:
            print(f"soak: kept {work}", file=sys.stderr)


def print_summary(o: Options, outcomes: list[Outcome], seen: list[tuple[dict[Key, str], set[str]]],
                  diffs: list[tuple[Key, Counter[str]]], left: list[Leftover], before: set[Leftover],
                  seconds: float) -> None:
    print("soak: summary")
    rcs = Counter("stopped" if x.rc is None else f"exit {x.rc}" for x in outcomes)
    print(f"  runs: {len(outcomes)} ({', '.join(f'{k} x{v}' for k, v in sorted(rcs.items()))}), "
          f"{o.parallel} at a time in " + (f"each of {o.clones} clones" if o.clones else "this clone"))
    for x in outcomes:
        print(f"  {describe(x, o.n)}")
    tests = {k for v, _ in seen for k in v}
    arches = Counter(a for a, _ in tests)
    per_arch = ", ".join(f"{a} {k}" for a, k in sorted(arches.items()))
    print(f"  verdicts: {len(tests)} tests" + (f" ({per_arch})" if per_arch else "") + ","
          f" {len(diffs)} changed")
    for (arch, test), c in diffs:
        print(f"  CHANGED {arch} {test}: {counts_text(c)}")
    for lo in left:
        print(f"  left behind: {lo.kind} {lo.what}" + (" (stopped now)" if lo.kind == "process" else ""))
    if not left:
        print("  left behind: nothing")
    for lo in sorted(before, key=lambda b: (b.kind, b.what)):
        print(f"  (there before the soak, not counted: {lo.kind} {lo.what})")
    print(f"  wall time: {int(seconds)} s")

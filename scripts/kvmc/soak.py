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

OUT is the soak's own: a directory it makes carries the mark .kvmc-soak,
and only such a directory is used again, and only of what a soak writes
in it (N/, N.ktap, N.log) emptied first; an existing directory without
the mark (unless empty) is refused, exit 2. A run's closing counts and
why it did not pass are read from its results directory (results.py),
not from its messages.

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

import argparse
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
from typing import Any, Iterable, NoReturn, Sequence

from . import TOP, common, results
from .runner import alive
from .report import single_tests

# run_tests.sh's result directories that are not a configuration's.
OWN_TESTS = ("unit", "python", "runner")
# How long the leftovers of a finished run get to go away on their own
# (QEMU dies with its runner, but not in the same instant).
SETTLE_SECONDS = 10
GIT_TIMEOUT = 300
# After SIGTERM, how long a run gets to stop its VMs before SIGKILL.
STOP_GRACE = 20


# The mark of a directory the soak made (--out): only such a directory is
# emptied, and only of what a soak writes in it (run i's i/, i.ktap, i.log).
MARKER = ".kvmc-soak"
_OWN_ENTRY = re.compile(r"[0-9]+(\.ktap|\.log)?")


class UsageError(Exception):
    pass


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


def _count(value: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", value):
        raise argparse.ArgumentTypeError(f"needs a positive whole number, not '{value}'")
    return int(value)


def _path(value: str) -> str:
    return os.path.abspath(os.path.expanduser(value))


class _Parser(argparse.ArgumentParser):
    """Usage errors as UsageError (exit 2, with the soak's own words)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class _Refuse(argparse.Action):
    """run_tests.sh's options that a soak cannot pass on."""

    WHY = {"-o": "-o: each run's results go to OUT/<i> (--out DIR moves OUT)",
           "-l": "-l: a soak runs the tests; list them with ./run_tests.sh -l"}

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        raise UsageError(self.WHY[option_string or ""])


def parser() -> argparse.ArgumentParser:
    """The soak's options; every other argument is run_tests.sh's."""
    p = _Parser(prog="scripts/soak.sh", allow_abbrev=False,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                usage="%(prog)s [-n N] [--parallel P] [--clones C] [--cold-cache]\n"
                      "                       [--cache DIR] [--out DIR] [--limit S] [--keep]\n"
                      "                       [RUN_TESTS_ARGS...]",
                description="Run the suite N times, P at a time, in this clone or in C fresh clones;\n"
                            "report every test whose verdict changed and everything the runs left behind.",
                epilog="Every other argument goes to each run_tests.sh (not -o or -l: each run's\n"
                       "results go to OUT/<i>). Exit 0 when all runs tested, no verdict changed\n"
                       "and nothing was left behind, 1 when not, 125 when a run could not test,\n"
                       "2 on bad usage.")
    p.add_argument("-n", type=_count, default=Options.n, metavar="N", help="runs in all (default 20)")
    p.add_argument("--parallel", type=_count, default=Options.parallel, metavar="P",
                   help="runs at a time in each clone (default 1)")
    p.add_argument("--clones", type=_count, default=Options.clones, metavar="C",
                   help="run in C fresh clones of this repository at HEAD, all at the same time "
                        "(default: in this clone)")
    p.add_argument("--cold-cache", action="store_true",
                   help="one new, empty KVMC_CACHE shared by every run")
    # No type for a default: argparse would make "" the current directory.
    p.add_argument("--cache", type=_path, metavar="DIR",
                   help="the KVMC_CACHE of every run (empty, with --cold-cache)")
    p.add_argument("--out", type=_path, default=Options.out, metavar="DIR",
                   help="the soak's results (default results/soak): a new or empty directory, "
                        f"or one an earlier soak made (it holds {MARKER}; its runs' results are "
                        "removed first, nothing else)")
    p.add_argument("--limit", type=_count, default=Options.limit, metavar="S",
                   help="time limit of one run, in seconds (default 3600)")
    p.add_argument("--keep", action="store_true",
                   help="keep the clones, the cold cache and the runs' TMPDIR")
    p.add_argument("-o", "-l", nargs="?", action=_Refuse, help=argparse.SUPPRESS)
    return p


def _run_value_flags() -> set[str]:
    """run_tests.sh's options that take a value (-o is the soak's to refuse)."""
    from .cli import VALUE_FLAGS
    return VALUE_FLAGS - {"-o"}


def _joined(argv: Sequence[str], flags: set[str]) -> list[str]:
    """Each of run_tests.sh's options that take a value joined to its value
    (["-t", "--keep"]: ["-t=--keep"]), so that the parser passes it on
    whole and in its place, and a value that looks like an option is the
    value, as run_tests.sh takes it."""
    out = []
    it = iter(argv)
    for arg in it:
        value = next(it, None) if arg in flags else None
        out.append(arg if value is None else f"{arg}={value}")
    return out


def parse_args(argv: list[str]) -> Options:
    """The soak's own options; the rest is checked as run_tests.sh's."""
    from .cli import UsageError as RunUsageError, parse_args as run_parse_args
    flags = _run_value_flags()
    a, rest = parser().parse_known_args(_joined(argv, flags))
    run_args = [x for arg in rest
                for x in (arg.split("=", 1) if arg.split("=", 1)[0] in flags else [arg])]
    o = Options(n=a.n, parallel=a.parallel, clones=a.clones, cold_cache=a.cold_cache, cache=a.cache or "",
                out=a.out, limit=a.limit, keep=a.keep, run_args=run_args)
    if o.clones and o.n < o.clones:
        raise UsageError(f"-n {o.n} is fewer runs than --clones {o.clones}")
    if o.cold_cache and o.cache and os.path.isdir(o.cache) and os.listdir(o.cache):
        raise UsageError(f"--cold-cache --cache {o.cache}: not empty")
    if o.cache and os.path.exists(o.cache) and not os.path.isdir(o.cache):
        raise UsageError(f"--cache {o.cache}: not a directory")
    if os.path.realpath(o.out) in (os.path.realpath(TOP), os.path.realpath(os.path.join(TOP, "results"))):
        raise UsageError(f"--out {o.out}: the soak empties it first; give a directory of its own")
    check_out(o.out)
    try:
        run_parse_args(list(o.run_args), dict(os.environ))
    except RunUsageError as e:
        raise UsageError(f"run_tests.sh: {e}") from e
    return o


# ---- the soak's directory (--out) -------------------------------------------------
def check_out(out: str) -> None:
    """out is the soak's to use: missing, empty, or made by a soak."""
    if os.path.islink(out):
        raise UsageError(f"--out {out}: a symbolic link; give the directory itself")
    if not os.path.lexists(out):
        return
    if not os.path.isdir(out):
        raise UsageError(f"--out {out}: exists and is not a directory")
    if os.path.isfile(os.path.join(out, MARKER)) or not os.listdir(out):
        return
    raise UsageError(f"--out {out}: a directory the soak did not make (it has no {MARKER}), "
                     "and the soak empties its --out first: give a new or an empty directory")


def prepare_out(out: str) -> list[str]:
    """Make out (marked as the soak's) or, when a soak made it, remove
    the results of its earlier runs; what else it holds stays, named in
    the list returned."""
    check_out(out)
    os.makedirs(out, exist_ok=True)
    marker = os.path.join(out, MARKER)
    if not os.path.isfile(marker):
        common.write_atomic(marker, "Made by scripts/soak.sh (--out). A soak given this directory "
                                    "again removes the runs' results in it (N/, N.ktap, N.log), "
                                    "nothing else.\n")
    kept = []
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if name == MARKER:
            continue
        if not _OWN_ENTRY.fullmatch(name):
            kept.append(name)
        elif os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return kept


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


# The interpreter's first line of an uncaught exception (not the runner's).
TRACEBACK = "Traceback (most recent call last):"


def summary_line(run_dir: str) -> str:
    """run_tests.sh's closing counts, read from the run's results
    directory ('' when it holds none)."""
    runs = results.load_tree(run_dir)
    return results.closing_line(runs) if runs else ""


def crashed(stderr: str, rc: int | None, run_dir: str) -> bool:
    """A run that died of an exception: a Python traceback, or exit 1
    (which means a test failed) without a failed test in its results."""
    return TRACEBACK in stderr or (rc == 1 and results.total(results.load_tree(run_dir)).failed == 0)


def last_words(stderr: str) -> str:
    """The last thing a run said (for a run that left no results that say
    why: a usage error, a crash)."""
    lines = [x.rstrip() for x in stderr.splitlines() if x.strip()]
    return lines[-1] if lines else ""


def reason(run_dir: str, stderr: str, rc: int | None) -> str:
    """Why a run did not pass: the tests that failed, or why each
    architecture could not be tested, from its results; else its last
    message (a crash's exception, a usage error)."""
    if rc == 0:
        return ""
    runs = results.load_tree(run_dir)
    picks: list[str] = []
    if rc == 1:
        picks.append(failed_tests(verdicts(run_dir)[0]))
    picks += [f"{r.label}: not tested: {r.untestable}" for r in runs if r.untestable]
    if TRACEBACK in stderr:
        picks.append(f"crashed: {last_words(stderr) or 'traceback'}")
    picks = [x for x in picks if x]
    if not picks and last_words(stderr):
        picks.append(last_words(stderr))
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
        """A run as a registered child (kvmc.common): in a session of its
        own, stopped with the soak (SIGTERM should the soak die, so that it
        stops its VMs)."""
        argv = [os.path.join(spec.top, "run_tests.sh"), "-o", spec.out, *self.o.run_args]
        base = os.path.join(self.o.out, str(spec.index))
        with open(base + ".ktap", "wb") as out, open(base + ".log", "wb") as err:
            p = common.spawn(argv, pdeathsig="TERM", cwd=spec.top, env=self.env(),
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.running[spec.index] = (Outcome(spec, pid=p.pid), p, time.monotonic())

    def finish(self, index: int, rc: int | None) -> None:
        o, p, t0 = self.running.pop(index)
        common.disown(p)
        o.rc, o.seconds = rc, time.monotonic() - t0
        err = common.read_text(os.path.join(self.o.out, f"{index}.log"))
        o.summary = summary_line(o.spec.out)
        o.crashed = crashed(err, rc, o.spec.out)
        if rc is None:
            o.reason = f"stopped at the time limit of {self.o.limit} s (--limit)"
        else:
            o.reason = reason(o.spec.out, err, rc)
        self.done.append(o)
        print(f"soak: {describe(o, self.o.n)}", flush=True)

    def stop(self, index: int) -> None:
        """SIGTERM to the run's group (the runner stops its VMs), then
        SIGKILL to what is still there."""
        _, p, _ = self.running[index]
        common.kill_group(p, signal.SIGTERM, wait=STOP_GRACE)
        common.kill_group(p)

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

    def stop_runs(self) -> None:
        """Every run at once: SIGTERM to its group, STOP_GRACE seconds to
        stop its VMs, then kvmc.common's stop_all (SIGKILL to what is left)."""
        for _, p, _ in self.running.values():
            common.kill_group(p, signal.SIGTERM, wait=0)
        deadline = time.monotonic() + STOP_GRACE
        for _, p, _ in self.running.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        common.stop_all()
        self.running.clear()

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


def usage_error(e: UsageError) -> int:
    print(f"soak: {e}", file=sys.stderr)
    print(parser().format_usage().rstrip() + "\n(scripts/soak.sh -h: every option)", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    try:
        o = parse_args(argv)
    except UsageError as e:
        return usage_error(e)
    common.raise_on_signals()
    start = time.monotonic()
    work = ""
    soak: Soak | None = None
    try:
        try:
            kept = prepare_out(o.out)
        except UsageError as e:
            return usage_error(e)
        if kept:
            print(f"soak: {o.out}: left as it was (not a soak's): {', '.join(kept)}",
                  file=sys.stderr, flush=True)
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
    except common.Interrupted as e:
        # kvmc.common's handler ignores further signals from here on.
        print("soak: interrupted: stopping the runs", file=sys.stderr, flush=True)
        if soak is not None:
            soak.stop_runs()
        return e.exit_code
    except (OSError, RuntimeError) as e:
        print(f"soak: {e}", file=sys.stderr, flush=True)
        if soak is not None:
            soak.stop_runs()
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

# SPDX-License-Identifier: GPL-2.0
"""Time to verdict, measured the way users meet it, in one run on this
machine, against the targets of the project:

  cold    a fresh clone with an empty cache: downloads, build, boot, until
          the first test result and until the end (arm64) [--cold]
  warm    ./run_tests.sh --serial --arch ARCH, N times per architecture:
          wall time, QEMU start to the first KTAP line, and the median wall
          time of one test inside the VM (results/<arch>/durations)
  both    ./run_tests.sh (both architectures' VMs side by side), N times
  kernel  the kernel's own KVM selftests that cover the same ground, built
          from the same linux-source (scripts/kernel-selftests.sh), run in
          the same VM right after our suite; each of our scenarios (the sum
          of its tests) against the nearest selftest, as a ratio
          [skipped with --no-selftests]
  tree    a kernel tree, the way a KVM developer meets it (arm64, the
          cache's "demo" worktree of Debian's linux-source): configure in a
          fresh build directory, the cold build (as recorded by the build
          directory, or measured in a scratch one with --cold-kernel), then
          N times: touch arch/arm64/kvm/mmu.c and ./run_tests.sh --build,
          with the rebuild, QEMU start to first KTAP line and the whole
          suite in the VM; then the built kernel booted N times back to
          back (--kernel), after one boot not counted, for the boot on its
          own [skipped with --no-kernel-tree; --kernel-tree-only
          runs nothing else]. Where the tree or its build is missing it is
          made first (a download and minutes of import; a cold build of
          about 13 minutes on 2 idle cores).

    scripts/benchmark.sh [--cold] [--runs N] [--no-selftests]
                         [--no-kernel-tree | --kernel-tree-only] [--cold-kernel]
    make bench BENCH_ARGS="--cold"

Medians of N runs (default 3); every run's numbers are kept in
results/bench/.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from . import TOP, common
from .qemu_configs import ARCHES

RUN_TESTS = os.path.join(TOP, "run_tests.sh")


def median(values: list[int]) -> int:
    v = sorted(values)
    if not v:
        return 0
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) // 2


def sec(ms: int) -> str:
    return f"{ms / 1000:.1f}"


def verdict(measured: int, target: int) -> str:
    return "met" if measured <= target else f"missed by {sec(measured - target)} s"


def timed(argv: list[str], log: str, env: dict[str, str] | None = None) -> int:
    t0 = time.monotonic()
    with open(log, "w", encoding="utf-8") as f:
        subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return int((time.monotonic() - t0) * 1000)


def last_line(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().strip().splitlines()
    return lines[-1] if lines else ""


# What a run left in results/<arch>/ (kvmc.runner writes it): the VM's
# phases, "key=ms" lines, and each test's time, "name ms [status]" lines
# (extra-durations: the kernel's selftests, with their exit status). Read
# here only, until kvmc.results owns the reading (read_timing,
# read_durations).
def read_kv(path: str) -> dict[str, str]:
    out = {}
    for line in common.read_text(path).splitlines():
        k, _, v = line.strip().partition("=")
        out[k] = v
    return out


def durations(path: str) -> list[tuple[str, int, str]]:
    out = []
    for line in common.read_text(path).splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""))
    return out


def nearest(arch: str, scenario: str) -> str:
    """The kernel selftest nearest to one of our scenarios."""
    if scenario.startswith("g"):
        return "guest_memfd_test"
    if scenario in ("m1", "m7", "m8"):
        return "set_memory_region_test"
    if scenario in ("m4", "m5", "m6"):
        return "mmu_stress_test"
    if arch == "arm64" and scenario.startswith("p"):
        return "external_aborts"
    if arch == "arm64" and scenario in ("m2", "m3", "m9"):
        return "page_fault_test"
    return ""


def selftest_args(arch: str, name: str) -> str:
    # The smallest settings each takes, as the kernel's run would be too
    # long for an emulated VM (mmu_stress_test: 1 vCPU, 1 GiB).
    return {"mmu_stress_test": f"{name} -c 1 -s 1 -m 1", "page_fault_test": f"{name} -m 6",
            "set_memory_region_test": f"{name} 1" if arch == "x86_64" else name}.get(name, name)


# Targets of a kernel tree's edit-build-test loop (issue 13), in ms.
TREE_LOOP_TARGET = 20000
TREE_BOOT_TARGET = 1000
TREE_ARCH = "arm64"
TREE_TOUCHED = "arch/arm64/kvm/mmu.c"


def target_line(what: str, ms: int | None, target: int) -> str:
    if ms is None:
        return f"  {what}: not measured (target {sec(target)} s): missed"
    return f"  {what}: {ms / 1000:.2f} s (target {sec(target)} s): {verdict(ms, target)}"


def boots_alone(image: str, runs: int, out: str) -> list[int]:
    """QEMU start to first KTAP line (ms) of runs boots of image, whole
    suite each, back to back after one that is not counted: the boot on
    its own, with the host warmed up by the boot before it."""
    boots = []
    for i in range(runs + 1):
        d = os.path.join(out, f"tree-boot-{i}")
        timed([RUN_TESTS, "--kernel", image, "--arch", TREE_ARCH, "-o", d], f"{d}.log")
        ms = read_kv(os.path.join(d, TREE_ARCH, "timing")).get("first_ktap_ms")
        if i and ms:
            boots.append(int(ms))
    return boots


def kernel_tree_bench(runs: int, out: str, cold_kernel: bool) -> list[str]:
    """The tree section (see the module's help); prints as it goes and
    returns its lines for the targets."""
    from . import kbuild, kernel_tree

    cache = common.cache_root()
    print(f"kernel tree ({TREE_ARCH}, the demo worktree of Debian's linux-source in {cache}):")
    if not any(cache.glob("linux-git/*/demo")):
        print("  no demo tree yet: making it from linux-source (a download of about 170 MB and a git"
              " import of the whole tree: several minutes)", flush=True)
    try:
        tree = str(kernel_tree.worktree("demo"))
    except kernel_tree.TreeError as e:
        print(f"  could not make the demo tree: {e}")
        return [target_line("boot to first KTAP line, built kernel", None, TREE_BOOT_TARGET),
                target_line(f"touch {TREE_TOUCHED} + --build + whole suite", None, TREE_LOOP_TARGET)]
    build_dir = kbuild.build_dir_for(tree, TREE_ARCH, str(cache))
    print(f"  tree {tree}, build directory {build_dir}")
    log = os.path.join(out, "tree-build.log")

    def build(into: str) -> tuple[str, float]:
        """kbuild for TREE into the cache INTO; ("", seconds) or (reason, 0)."""
        t0 = time.monotonic()
        with open(log, "a", encoding="utf-8") as f:
            rc = subprocess.call([sys.executable, "-m", "kvmc.kbuild", "--tree", tree, "--arch", TREE_ARCH,
                                  "--cache", into], stdout=f, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=os.path.join(TOP, "scripts"))
        return ("", time.monotonic() - t0) if rc == 0 else (f"kbuild exited {rc}, see {log}", 0.0)

    cold_now = ""
    if not (build_dir / ARCHES[TREE_ARCH].image_path).exists():
        print("  no build of it yet: building it cold first (about 13 min on 2 idle cores,"
              " 50 on a busy machine; recorded for later runs)", flush=True)
        why, _ = build(str(cache))
        if why:
            print(f"  the cold build failed: {why}")
            return [target_line("boot to first KTAP line, built kernel", None, TREE_BOOT_TARGET),
                    target_line(f"touch {TREE_TOUCHED} + --build + whole suite", None, TREE_LOOP_TARGET)]
        cold_now = "measured now"

    with tempfile.TemporaryDirectory(prefix="kvmc-bench-") as scratch:
        t0 = time.monotonic()
        try:
            kbuild.build_kernel(tree, TREE_ARCH, scratch, configure_only=True)
            print(f"  configure (allnoconfig + fragments + olddefconfig, fresh build directory):"
                  f" {time.monotonic() - t0:.1f} s", flush=True)
        except (kbuild.BuildError, kbuild.FragmentError) as e:
            print(f"  configure failed: {e}")
        if cold_kernel:
            print("  --cold-kernel: a cold build in a scratch build directory (about 13 min on 2 idle cores)",
                  flush=True)
            why, seconds = build(scratch)
            print(f"  cold build: {why}" if why else f"  cold build: {seconds / 60:.1f} min (measured now,"
                  f" -j{os.cpu_count()}, scratch build directory; ccache misses there)")
    if not cold_kernel:
        rec = kbuild.read_timings(build_dir)
        if "cold_build_s" in rec:
            how = cold_now or (f"recorded {rec.get('cold_build_date', '?')} in {build_dir}/{kbuild.TIMINGS},"
                               " not rerun")
            print(f"  cold build: {float(rec['cold_build_s']) / 60:.1f} min"
                  f" (-j{rec.get('cold_build_jobs', '?')}; {how})")
        else:
            print("  cold build: not recorded (this build directory predates the record;"
                  " --cold-kernel measures one, about 13 min on 2 idle cores)")

    walls: list[int] = []
    rebuilds: list[int] = []
    boots: list[int] = []
    vms: list[int] = []
    last = ""
    for i in range(1, runs + 1):
        touched = os.path.join(tree, TREE_TOUCHED)
        os.utime(touched)
        d = os.path.join(out, f"tree-{i}")
        wlog = os.path.join(out, f"tree-{i}.log")
        walls.append(timed([RUN_TESTS, "--build", tree, "--arch", TREE_ARCH, "-o", d], wlog))
        last = last_line(wlog)
        rec = kbuild.read_timings(build_dir)
        if rec.get("build_kind") == "incremental" and rec.get("build_s"):
            rebuilds.append(int(float(rec["build_s"]) * 1000))
        timing = read_kv(os.path.join(d, TREE_ARCH, "timing"))
        if timing.get("first_ktap_ms"):
            boots.append(int(timing["first_ktap_ms"]))
        if timing.get("total_ms"):
            vms.append(int(timing["total_ms"]))
    print(f"  rebuild after touching {TREE_TOUCHED}: {sec(median(rebuilds))} s"
          f" (runs: {', '.join(sec(x) for x in rebuilds)})")
    print(f"  whole suite in the VM, boot included: {sec(median(vms))} s")
    print(f"  touch + ./run_tests.sh --build + whole suite: {sec(median(walls))} s"
          f" (runs: {', '.join(sec(x) for x in walls)}); {last}")
    alone = boots_alone(str(build_dir / ARCHES[TREE_ARCH].image_path), runs, out)
    print(f"  QEMU start to first KTAP line, the built kernel booted {len(alone)} times back to back"
          f" after one boot not counted: {median(alone) / 1000:.2f} s"
          f" (runs: {', '.join(f'{x / 1000:.2f}' for x in alone)})")
    print(f"  the same, in the runs right after each rebuild above: {median(boots) / 1000:.2f} s"
          f" (runs: {', '.join(f'{x / 1000:.2f}' for x in boots)}; see docs/kernel-builds.md"
          " on what a host that reclaims freed memory adds to a VM started after a build)")
    return [target_line("built kernel, QEMU start to first KTAP line", median(alone) if alone else None,
                        TREE_BOOT_TARGET),
            target_line(f"touch {TREE_TOUCHED} + --build + whole suite", median(walls) if walls else None,
                        TREE_LOOP_TARGET)]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="scripts/benchmark.sh", description="Time to verdict.")
    p.add_argument("--cold", action="store_true")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-selftests", dest="selftests", action="store_false")
    p.add_argument("--no-kernel-tree", dest="kernel_tree", action="store_false")
    p.add_argument("--kernel-tree-only", action="store_true")
    p.add_argument("--cold-kernel", action="store_true")
    a = p.parse_args(argv)
    runs: int = a.runs
    if runs < 1:
        p.error("--runs wants a positive number")
    if a.kernel_tree_only and not a.kernel_tree:
        p.error("--kernel-tree-only and --no-kernel-tree exclude each other")
    out = os.path.join(TOP, "results", "bench")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    qemu = subprocess.run([ARCHES["arm64"].qemu, "--version"], stdout=subprocess.PIPE, text=True,
                          check=False).stdout.splitlines()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 30)
    print(f"machine: {os.cpu_count()} cores, {mem} GiB, {platform.machine()},"
          f" /dev/kvm: {'yes' if os.path.exists('/dev/kvm') else 'no'}, {qemu[0] if qemu else 'no QEMU'}")
    print("method: wall clock of ./run_tests.sh as a user runs it; VM phases from the runner's")
    print(f"        timestamps of console lines (results/<arch>/timing, durations); medians of {runs} runs")
    print()

    if a.kernel_tree_only:
        lines = kernel_tree_bench(runs, out, a.cold_kernel)
        print()
        print("targets:")
        print("\n".join(lines))
        return 0

    if a.cold:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.check_call(["git", "clone", "-q", TOP, os.path.join(tmp, "clone")])
            env = {**os.environ, "KVMC_CACHE": os.path.join(tmp, "cache")}
            res = os.path.join(tmp, "results")
            total = timed([os.path.join(tmp, "clone", "run_tests.sh"), "--arch", "arm64", "-o", res],
                          os.path.join(out, "cold.log"), env)
            # stdout has an architecture's results once it is done: the
            # first verdict is dated from the VM's own timestamps.
            timing = read_kv(os.path.join(res, "arm64", "timing"))
            ran = durations(os.path.join(res, "arm64", "durations"))
            vm_total = int(timing.get("total_ms") or 0)
            first = total - vm_total + int(timing.get("first_ktap_ms") or vm_total) + (ran[0][1] if ran else 0)
            print(f"cold (arm64, fresh clone, empty cache): first verdict after {sec(first)} s,"
                  f" all after {sec(total)} s; {last_line(os.path.join(out, 'cold.log'))}")

    subprocess.call([RUN_TESTS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # build, fetch
    wall: dict[str, int] = {}
    boot: dict[str, int] = {}
    tmed: dict[str, int] = {}
    for arch in ("arm64", "x86_64"):
        walls: list[int] = []
        boots: list[int] = []
        tests: list[int] = []
        for i in range(1, runs + 1):
            d = os.path.join(out, f"warm-{i}")
            walls.append(timed([RUN_TESTS, "--serial", "--arch", arch, "-o", d],
                               os.path.join(out, f"warm-{arch}-{i}.log")))
            b = read_kv(os.path.join(d, arch, "timing")).get("first_ktap_ms", "")
            if b:
                boots.append(int(b))
            tests += [ms for _, ms, _ in durations(os.path.join(d, arch, "durations"))]
        wall[arch], boot[arch], tmed[arch] = median(walls), median(boots), median(tests)
        print(f"warm {arch}: {sec(wall[arch])} s (runs: {sec(min(walls))} to {sec(max(walls))} s),"
              f" QEMU start to first KTAP {sec(boot[arch])} s, per-test median {tmed[arch]} ms"
              f" ({len(tests)} tests); {last_line(os.path.join(out, f'warm-{arch}-1.log'))}")

    both = median([timed([RUN_TESTS, "-o", os.path.join(out, f"both-{i}")], os.path.join(out, f"both-{i}.log"))
                   for i in range(1, runs + 1)])
    print(f"warm both side by side: {sec(both)} s; {last_line(os.path.join(out, 'both-1.log'))}")

    worst: tuple[int, str] | None = None
    if a.selftests:
        print()
        for arch in ("arm64", "x86_64"):
            kst = os.path.join(out, f"kst-{arch}")
            with open(os.path.join(out, f"kst-{arch}.build.log"), "w", encoding="utf-8") as log:
                rc = subprocess.call([os.path.join(TOP, "scripts", "kernel-selftests.sh"), arch, kst + ".bin"],
                                     stdout=log, stderr=subprocess.STDOUT)
            if rc != 0:
                print(f"kernel selftests ({arch}): build failed, see {out}/kst-{arch}.build.log")
                continue
            shutil.copytree(kst + ".bin", kst)
            with open(os.path.join(kst + ".bin", "list.txt"), encoding="utf-8") as f:
                names = f.read().split()
            with open(os.path.join(kst, "list.txt"), "w", encoding="utf-8") as f:
                f.writelines(selftest_args(arch, n) + "\n" for n in names)
            env = {**os.environ, "KVMC_EXTRA_TESTS": kst, "KVMC_VM_MEMORY": "2G", "KVMC_BIN_TIMEOUT": "900"}
            timed([RUN_TESTS, "--serial", "--arch", arch, "-o", os.path.join(out, "kst-run")],
                  os.path.join(out, f"kst-{arch}.log"), env)
            ours_all = durations(os.path.join(out, "kst-run", arch, "durations"))
            theirs_all = {n: (ms, rc_) for n, ms, rc_ in durations(os.path.join(out, "kst-run", arch, "extra-durations"))}
            print(f"kernel selftests in the same {arch} VM (ms, exit status): "
                  + ", ".join(f"{n} {ms} ({st})" for n, (ms, st) in theirs_all.items()))
            print(f"  {'scenario':<6} {'ours (ms)':>10}  {'nearest selftest':<24} {'(ms)':>10} {'ratio':>8}")
            for s in sorted({n.split('_')[0] for n, _, _ in ours_all}):
                ours = sum(ms for n, ms, _ in ours_all if n.split("_")[0] == s)
                k = nearest(arch, s)
                if not k or k not in theirs_all:
                    print(f"  {s.upper():<6} {ours:>10}  {'(none covers it)':<24} {'-':>10} {'-':>8}")
                    continue
                ratio = round(theirs_all[k][0] / (ours or 1))
                print(f"  {s.upper():<6} {ours:>10}  {k:<24} {theirs_all[k][0]:>10} {ratio:>7}x")
                if worst is None or ratio < worst[0]:
                    worst = (ratio, f"{arch} {s.upper()} vs {k}")

    tree_lines: list[str] = []
    if a.kernel_tree:
        print()
        tree_lines = kernel_tree_bench(runs, out, a.cold_kernel)

    print()
    print("targets:")
    print(f"  warm arm64 <= 15 s:            {sec(wall['arm64'])} s, {verdict(wall['arm64'], 15000)}")
    print(f"  warm x86_64 <= 20 s:           {sec(wall['x86_64'])} s, {verdict(wall['x86_64'], 20000)}")
    print(f"  both side by side <= 20 s:     {sec(both)} s, {verdict(both, 20000)}")
    print(f"  arm64 boot to first test <= 3 s: {sec(boot['arm64'])} s, {verdict(boot['arm64'], 3000)}")
    met = tmed["arm64"] <= 100 and tmed["x86_64"] <= 100
    print(f"  per-test median <= 100 ms:     arm64 {tmed['arm64']} ms, x86_64 {tmed['x86_64']} ms,"
          f" {'met' if met else 'missed'}")
    if worst is not None:
        print(f"  each scenario >= 10x faster:   worst {worst[0]}x ({worst[1]}),"
              f" {'met' if worst[0] >= 10 else 'missed'}")
    for line in tree_lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

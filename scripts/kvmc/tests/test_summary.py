# SPDX-License-Identifier: GPL-2.0
"""Unit tests of what a run says about itself: the closing summary of its
failures by finding (issue 27 item 15), the KVM implementation it judged
(item 18) and the files of its results directory (results.py).

    cd scripts && python3 -m unittest kvmc.tests.test_summary
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import unittest
import xml.etree.ElementTree as ET

from kvmc import TOP, baseline as bl, cli, report, results, runner
from kvmc.ktap import parse
from kvmc.qemu_configs import CONFIGS
from kvmc.results import Run

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test_data")
C4 = "C4 exit_reason=KVM_EXIT_UNKNOWN(0)"


def recorded(arch: str = "x86_64", kernel: str = "7.3.4+deb13-amd64") -> Run:
    """The recorded run of test_data/baselined.*: m4 fails with C4, m5
    with C4 and C2, m6 passes."""
    with open(os.path.join(DATA, "baselined.ktap"), encoding="utf-8") as f:
        doc = parse(f.read().splitlines(), arch)
    return Run(arch=arch, label=arch, doc=doc, kernel=kernel,
               observations=results.read_observations(os.path.join(DATA, "baselined.jsonl")))


def first_run(n: int, key: str | None = C4, repeats: int = 1) -> Run:
    """A newcomer's first run on Debian's x86 kernel: n M4 tests failing
    with one finding (key None: a finding without a key), in repeats
    observations each (a fault, then the same fault on the rerun)."""
    lines = ["TAP version 13", "1..1", "# kvm-contract: bad_memslot_test", "    TAP version 13", f"    1..{n}"]
    observations: dict[str, list[dict[str, object]]] = {}
    for i in range(1, n + 1):
        name = f"m4_prot_none.v{i}.fault"
        lines.append(f"    not ok {i} {name}")
        finding: dict[str, object] = {"rule": "C4", "severity": "failure", "text": "no memory_fault"}
        if key:
            finding["key"] = key
        observations[name] = [{"test": name, "verdict": "fail", "findings": [finding]}] * repeats
    lines.append("not ok 1 bad_memslot_test # exit status 1")
    return Run(arch="x86_64", label="x86_64", doc=parse(lines, "x86_64"), kernel="7.3.4+deb13-amd64",
               observations=observations)


class FailureSummary(unittest.TestCase):
    def test_recorded_failures_grouped_by_finding_key(self) -> None:
        known = [("test_data/baseline.txt", bl.load(os.path.join(DATA, "baseline.txt")))]
        groups = results.failure_groups([recorded()], known)
        self.assertEqual([(g.what, g.tests, g.known) for g in groups],
                         [(C4, 2, 2), ("C2 memory_fault.size=0x0", 1, 0)])
        self.assertEqual(groups[0].files, ["test_data/baseline.txt"])
        self.assertEqual(results.failure_lines(groups, 2), [
            "2 failed: 2 findings:",
            f"  {C4} x 2 (known on x86_64 7.*: test_data/baseline.txt, C4: x86 kvm_handle_error_pfn()"
            " returns -EFAULT without filling memory_fault)",
            "  C2 memory_fault.size=0x0 x 1 (in no baseline)"])

    def test_a_finding_repeated_in_one_test_is_one_finding_with_its_key(self) -> None:
        # Debian's x86 kernel: M4-M6 fail the same C4 finding on the fault
        # and again on the rerun; none of them is a failure without a key.
        groups = results.failure_groups([first_run(3, repeats=2)], [])
        self.assertEqual([(g.what, g.tests) for g in groups], [(C4, 3)])
        self.assertEqual(results.failure_lines(groups, 3), [f"3 failed: 1 finding: {C4} x 3 (in no baseline)"])

    def test_a_baseline_for_another_arch_or_kernel_does_not_know_it(self) -> None:
        known = [("test_data/baseline.txt", bl.load(os.path.join(DATA, "baseline.txt")))]
        for run in (recorded(arch="arm64"), recorded(kernel="6.1.0-28-amd64")):
            groups = results.failure_groups([run], known)
            self.assertEqual([(g.what, g.known) for g in groups], [(C4, 0), ("C2 memory_fault.size=0x0", 0)])

    def test_first_run_on_debian_names_the_one_known_deviation(self) -> None:
        # Every baseline of baselines/, although --baseline was not given.
        lines = results.failure_summary([first_run(37)], 37, TOP, hint=True)
        self.assertEqual(lines, [
            f"37 failed: 1 finding: {C4} x 37 (known on x86_64 7.*: baselines/debian.txt,"
            " x86 kvm_handle_error_pfn() returns -EFAULT without filling memory_fault (mmu.c, 6.12-7.3);"
            " proposed fix: 01-x86-mmu-error-pfn-memory-fault)",
            "with --baseline baselines/debian.txt the known ones count as known deviations (XFAIL),"
            " not failures"])
        self.assertEqual(results.failure_summary([first_run(37)], 37, TOP, hint=False), lines[:1])

    def test_failures_without_key_and_crashes_apart(self) -> None:
        with open(os.path.join(DATA, "crash_after_pass.ktap"), encoding="utf-8") as f:
            crash = Run(arch="arm64", label="arm64", doc=parse(f.read().splitlines()))
        with open(os.path.join(DATA, "timeout.ktap"), encoding="utf-8") as f:
            timeout = Run(arch="arm64", label="t", doc=parse(f.read().splitlines()))
        runs = [first_run(2, key=None), crash, timeout, recorded(arch="arm64")]
        groups = results.failure_groups(runs, [])
        self.assertEqual([(g.what, g.tests) for g in groups],
                         [(C4, 2), ("C2 memory_fault.size=0x0", 1), (results.NO_KEY, 2),
                          (results.DID_NOT_FINISH, 2)])
        failed = results.total(runs).failed
        self.assertEqual(failed, 6)
        self.assertEqual(results.failure_lines(groups, failed), [
            "6 failed: 2 findings, 2 without a finding key (no baseline excuses it),"
            " 2 crashes or time limits (no baseline excuses it):",
            f"  {C4} x 2 (in no baseline)",
            "  C2 memory_fault.size=0x0 x 1 (in no baseline)"])
        self.assertEqual(results.failure_lines(results.failure_groups([crash], []), 1),
                         ["1 failed: 1 crash or time limit (no baseline excuses it)"])

    def test_excused_tests_are_no_failures(self) -> None:
        run = recorded()
        results.apply_baseline(run, bl.load(os.path.join(DATA, "baseline.txt")))
        # m4 is XFAIL; m5 still fails on its C2 finding.
        groups = results.failure_groups([run], [])
        self.assertEqual([(g.what, g.tests) for g in groups], [(C4, 1), ("C2 memory_fault.size=0x0", 1)])
        self.assertEqual(results.failure_lines([], 0), [])


def sys_module(tmp: str, modules: dict[str, str]) -> str:
    """A fake /sys/module: each module with a parameters directory and,
    when given one, its initstate (a loaded module; built-in ones have none)."""
    root = os.path.join(tmp, "module")
    shutil.rmtree(root, ignore_errors=True)
    for name, initstate in modules.items():
        os.makedirs(os.path.join(root, name, "parameters"))
        if initstate:
            with open(os.path.join(root, name, "initstate"), "w", encoding="utf-8") as f:
                f.write(initstate + "\n")
    return root


class KvmImplementation(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_detected_from_a_sys_module_tree(self) -> None:
        for modules, want in (
                ({"kvm": "live", "kvm_intel": "live", "irqbypass": "live"}, "kvm_intel"),
                ({"kvm": "live", "kvm_amd": "live", "ccp": "live"}, "kvm_amd"),
                ({"kvm": "", "kvm_pvm": ""}, "kvm_pvm"),                       # built in
                ({"kvm": "live", "kvm_pvm": "live", "kvm_amd": ""}, "kvm_pvm"),  # the one loaded
                ({"kvm": "", "kvm_amd": "", "kvm_intel": ""}, "kvm_amd+kvm_intel"),
                ({"kvm": "", "arm_smmu_v3": ""}, "kvm"),                       # arm64: built in
                ({"loop": ""}, "")):
            self.assertEqual(runner.kvm_implementation(sys_module(self.tmp, modules)), want, modules)
        self.assertEqual(runner.kvm_implementation(os.path.join(self.tmp, "none")), "")

    def test_upstream_or_not(self) -> None:
        for kvm in ("kvm_intel", "kvm_amd", "kvm", "kvm_amd+kvm_intel"):
            self.assertTrue(results.kvm_upstream(kvm), kvm)
            self.assertEqual(results.kvm_text(kvm), kvm)
        for kvm in ("kvm_pvm", "kvm_amd+kvm_pvm", ""):
            self.assertFalse(results.kvm_upstream(kvm), kvm)
        self.assertEqual(results.kvm_text("kvm_pvm"),
                         "kvm_pvm: not upstream KVM; verdicts are about this implementation")

    def test_a_vm_uses_what_its_configuration_loads(self) -> None:
        self.assertEqual({n: runner.configured_kvm(c) for n, c in CONFIGS.items()},
                         {"arm64": "kvm", "arm64-nested": "kvm", "x86_64": "kvm_amd",
                          "x86_64-shadow": "kvm_amd"})

    def test_header_json_and_junit_name_it(self) -> None:
        run = recorded()
        run.kvm = "kvm_pvm"
        self.assertEqual(run.as_test(1).pre[0], "# x86_64: kernel 7.3.4+deb13-amd64, KVM kvm_pvm:"
                         " not upstream KVM; verdicts are about this implementation")
        vm = recorded(arch="arm64")
        vm.kvm = "kvm"
        self.assertEqual(vm.as_test(2).pre[0], "# arm64: kernel 7.3.4+deb13-amd64, KVM kvm")
        js = json.loads(report.to_json([run, vm]))
        self.assertEqual([(r["kvm"], r["kvm_upstream"]) for r in js["runs"]],
                         [("kvm_pvm", False), ("kvm", True)])
        suites = ET.fromstring(report.to_junit([run, vm])).findall("testsuite")
        props = [{p.get("name"): p.get("value") for p in s.iter("property")} for s in suites]
        self.assertEqual([(p.get("kvm"), p.get("kvm_upstream")) for p in props],
                         [("kvm_pvm", "false"), ("kvm", "true")])
        # Not known (the project's own tests): no property, null in JSON.
        unit = Run(arch="unit", label="unit")
        self.assertIsNone(json.loads(report.to_json([unit]))["runs"][0]["kvm_upstream"])
        self.assertNotIn('name="kvm"', report.to_junit([unit]))

    def test_kept_in_the_results_directory(self) -> None:
        run = recorded()
        run.kvm, run.directory = "kvm_amd", os.path.join(self.tmp, "x86_64")
        results.save_dir(run)
        self.assertEqual(results.load_dir(run.directory).kvm, "kvm_amd")


class ResultsDirectory(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_a_new_run_removes_every_file_of_the_last(self) -> None:
        d = os.path.join(self.tmp, "arm64")
        os.makedirs(d)
        for f in results.FILES:
            open(os.path.join(d, f), "w").close()
        open(os.path.join(d, "mine"), "w").close()
        cli.new_run("arm64", "arm64", d)
        self.assertEqual(os.listdir(d), ["mine"])
        self.assertEqual(len(set(results.FILES)), len(results.FILES))

    def test_timing_read_as_written(self) -> None:
        self.assertEqual(results.read_timing(self.tmp), dict.fromkeys(results.TIMING_KEYS))
        results.write_timing(self.tmp, {"guest_init_ms": 812, "first_ktap_ms": None, "total_ms": 4210})
        with open(os.path.join(self.tmp, results.TIMING), encoding="utf-8") as f:
            self.assertEqual(f.read(), "guest_init_ms=812\nfirst_ktap_ms=\ntotal_ms=4210\n")
        self.assertEqual(results.read_timing(self.tmp),
                         {"guest_init_ms": 812, "first_ktap_ms": None, "total_ms": 4210})

    def test_durations(self) -> None:
        self.assertEqual(results.read_durations(self.tmp), [])
        with open(os.path.join(self.tmp, results.DURATIONS), "w", encoding="utf-8") as f:
            f.write("m1_no_memslot.w1.load 41\nm1_no_memslot.w1.store 38\ngarbage\n")
        with open(os.path.join(self.tmp, results.EXTRA_DURATIONS), "w", encoding="utf-8") as f:
            f.write("kvm:guest_memfd_test 1200 0\nkvm:set_memory_region_test 90 4\nbad line\n")
        self.assertEqual(results.read_durations(self.tmp),
                         [("m1_no_memslot.w1.load", 41), ("m1_no_memslot.w1.store", 38)])
        self.assertEqual(results.read_extra_durations(self.tmp),
                         [("kvm:guest_memfd_test", 1200, 0), ("kvm:set_memory_region_test", 90, 4)])


if __name__ == "__main__":
    unittest.main()

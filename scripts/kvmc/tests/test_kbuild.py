# SPDX-License-Identifier: GPL-2.0
"""Unit tests of kvmc.kbuild: fragments, the configuration stamp, the
verdict on a final .config, and the reasons a build ends with 125.

    cd scripts && python3 -m unittest kvmc.tests.test_kbuild

The build itself runs against a fake kernel tree whose Makefile stands in
for kconfig and the image target (no compiler is run), so these tests take
a second and need no kernel source.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import textwrap
import unittest
from pathlib import Path
from typing import Any

from kvmc import kbuild
from kvmc.kbuild import BuildError, FragmentError
from kvmc.qemu_configs import ARCHES

HOST_ARCH = "arm64" if os.uname().machine == "aarch64" else "x86_64"
SRCARCH = ARCHES[HOST_ARCH].srcarch
IMAGE = ARCHES[HOST_ARCH].image_path

# A stand-in for a kernel tree: allnoconfig writes a small .config,
# olddefconfig keeps each option's last value except those the fake
# Kconfig marks as unmet (UNMET_*) and, without CONFIG_KVM=y, the KVM_*
# options (which depend on it), the image target writes the image, or
# fails like a compiler when the tree holds a file BROKEN. Like the
# kernel's, it refuses a source path with a space or a colon.
FAKE_MAKEFILE = textwrap.dedent("""\
    O ?= .
    # As the kernel's Makefile: no spaces or colons in the source path.
    abs_srctree := $(realpath $(dir $(lastword $(MAKEFILE_LIST))))
    ifneq ($(words $(subst :, ,$(abs_srctree))), 1)
    $(error source directory cannot contain spaces or colons)
    endif
    allnoconfig:
    \tprintf 'CONFIG_BASE=y\\n# CONFIG_OTHER is not set\\n' > $(O)/.config
    \techo allnoconfig >> $(O)/calls
    olddefconfig:
    \tawk -F= '{ k = "" } /^CONFIG_/ { k = $$1 } /^# CONFIG_[A-Za-z0-9_]* is not set$$/ { split($$0, w, " "); k = w[2] } k == "" || k ~ /^CONFIG_UNMET_/ { next } { v[k] = $$0; if (!(k in seen)) { seen[k] = 1; order[n++] = k } } END { for (i = 0; i < n; i++) { k = order[i]; if (k ~ /^CONFIG_KVM_/ && v["CONFIG_KVM"] != "CONFIG_KVM=y") continue; print v[k] } }' $(O)/.config > $(O)/.config.new
    \tmv $(O)/.config.new $(O)/.config
    \techo olddefconfig >> $(O)/calls
    Image bzImage:
    \t@if [ -f BROKEN ]; then echo 'kernel/fork.c:42:1: error: expected ";" before "}"'; echo 'make[2]: *** [kernel/fork.o] Error 1'; exit 2; fi
    \tmkdir -p $(O)/include/config $(O)/$(dir {image})
    \techo 9.9.9-fake > $(O)/include/config/kernel.release
    \techo image > $(O)/{image}
    \techo build >> $(O)/calls
""").replace("{image}", IMAGE)

FAKE_MERGE = "#!/bin/sh\n# -m -O DIR BASE FRAGMENT...\nshift 3\nbase=$1; shift\ncat \"$@\" >> \"$base\"\n"


def fake_tree(root: Path, symbols: list[str]) -> Path:
    tree = root / "linux"
    (tree / "arch" / SRCARCH).mkdir(parents=True)
    (tree / "scripts" / "kconfig").mkdir(parents=True)
    (tree / "Makefile").write_text(FAKE_MAKEFILE)
    (tree / "scripts" / "kconfig" / "merge_config.sh").write_text(FAKE_MERGE)
    (tree / "Kconfig").write_text("".join(f"config {s}\n\tbool\n" for s in symbols))
    return tree


def suite_symbols() -> list[str]:
    names: set[str] = set()
    for path in kbuild.suite_fragments(HOST_ARCH):
        names.update(n[len("CONFIG_"):] for n in kbuild.parse_fragment(path.read_text()))
    return sorted(names)


class FragmentTest(unittest.TestCase):
    def test_options_not_set_and_comments(self) -> None:
        text = "# a comment\n\nCONFIG_KVM=y\n# CONFIG_MODULES is not set\nCONFIG_NR=64\nCONFIG_S=\"a b\"\nCONFIG_H=0x1f\n"
        self.assertEqual(kbuild.parse_fragment(text),
                         {"CONFIG_KVM": "y", "CONFIG_MODULES": "n", "CONFIG_NR": "64",
                          "CONFIG_S": '"a b"', "CONFIG_H": "0x1f"})

    def test_bad_line_names_file_and_line(self) -> None:
        with self.assertRaises(FragmentError) as e:
            kbuild.parse_fragment("CONFIG_A=y\nKVM=y\n", "frag.config")
        self.assertIn("frag.config:2", str(e.exception))
        with self.assertRaises(FragmentError):
            kbuild.parse_fragment("CONFIG_A=yes please\n")

    def test_kconfig_add_forms(self) -> None:
        self.assertEqual(kbuild.parse_option("CONFIG_X=y"), ("CONFIG_X", "y"))
        self.assertEqual(kbuild.parse_option("X=m"), ("CONFIG_X", "m"))
        self.assertEqual(kbuild.parse_option("# CONFIG_X is not set"), ("CONFIG_X", "n"))
        self.assertEqual(kbuild.parse_option("CONFIG_X=n"), ("CONFIG_X", "n"))
        for bad in ("", "CONFIG_X", "CONFIG_X=y CONFIG_Y=y", "# just a comment"):
            with self.assertRaises(FragmentError, msg=bad):
                kbuild.parse_option(bad)

    def test_render_round_trips(self) -> None:
        options = [("CONFIG_A", "y"), ("CONFIG_B", "n"), ("CONFIG_C", '"x"')]
        self.assertEqual(list(kbuild.parse_fragment(kbuild.render_options(options)).items()), options)

    def test_later_fragment_wins(self) -> None:
        plan = kbuild.ConfigPlan([("a", "CONFIG_X=y\nCONFIG_Y=y\n"), ("b", "# CONFIG_X is not set\n")])
        self.assertEqual(plan.wanted(), {"CONFIG_X": "n", "CONFIG_Y": "y"})

    def test_suite_fragments_parse_and_ask_for_the_scenarios_needs(self) -> None:
        for arch in ARCHES:
            wanted = kbuild.plan_config(arch).wanted()
            for need in ("CONFIG_KVM", "CONFIG_MEMCG", "CONFIG_HUGETLBFS", "CONFIG_MEMORY_FAILURE",
                         "CONFIG_USERFAULTFD", "CONFIG_DEVTMPFS", "CONFIG_BLK_DEV_INITRD",
                         "CONFIG_BINFMT_SCRIPT", "CONFIG_SWAP"):
                self.assertEqual(wanted.get(need), "y", f"{arch}: {need}")
            self.assertEqual(wanted.get("CONFIG_MODULES"), "n", arch)
        x86 = kbuild.plan_config("x86_64").wanted()
        self.assertEqual(x86["CONFIG_KVM_AMD"], "y")
        self.assertEqual(x86["CONFIG_KVM_SW_PROTECTED_VM"], "y")
        self.assertEqual(kbuild.plan_config("arm64").wanted()["CONFIG_SERIAL_AMBA_PL011_CONSOLE"], "y")

    def test_user_fragments_and_options_merge_last(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            frag = Path(d, "mine.config")
            frag.write_text("# CONFIG_KVM_AMD is not set\nCONFIG_DEBUG_X=y\n")
            plan = kbuild.plan_config("x86_64", ["CONFIG_DEBUG_X=n", "LOCKDEP=y"], [str(frag)])
            wanted = plan.wanted()
        self.assertEqual(wanted["CONFIG_KVM_AMD"], "n")
        self.assertEqual(wanted["CONFIG_DEBUG_X"], "n")
        self.assertEqual(wanted["CONFIG_LOCKDEP"], "y")
        self.assertEqual(plan.fragments[-1][0], "--kconfig-add")

    def test_unreadable_or_bad_fragment_is_usage_error(self) -> None:
        with self.assertRaises(FragmentError):
            kbuild.plan_config("arm64", fragments=["/nonexistent/frag.config"])
        with self.assertRaises(FragmentError):
            kbuild.plan_config("arm64", extra_options=["not an option"])


class StampTest(unittest.TestCase):
    def plan(self, *texts: str) -> kbuild.ConfigPlan:
        return kbuild.ConfigPlan([(f"f{i}", t) for i, t in enumerate(texts)])

    def test_same_content_same_stamp(self) -> None:
        a = self.plan("CONFIG_A=y\n").stamp("arm64", ["CC=gcc"])
        self.assertEqual(a, self.plan("CONFIG_A=y\n").stamp("arm64", ["CC=gcc"]))

    def test_anything_that_changes_the_config_changes_the_stamp(self) -> None:
        a = self.plan("CONFIG_A=y\n").stamp("arm64", ["CC=gcc"])
        self.assertNotEqual(a, self.plan("CONFIG_A=n\n").stamp("arm64", ["CC=gcc"]))
        self.assertNotEqual(a, self.plan("CONFIG_A=y\n", "CONFIG_B=y\n").stamp("arm64", ["CC=gcc"]))
        self.assertNotEqual(a, self.plan("CONFIG_A=y\n").stamp("x86_64", ["CC=gcc"]))
        self.assertNotEqual(a, self.plan("CONFIG_A=y\n").stamp("arm64", ["CC=ccache gcc"]))

    def test_fragment_boundaries_count(self) -> None:
        self.assertNotEqual(self.plan("CONFIG_A=y\n", "CONFIG_B=y\n").stamp("arm64", []),
                            self.plan("CONFIG_A=y\nCONFIG_B=y\n").stamp("arm64", []))

    def test_build_dir_per_tree_and_arch(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "t"))
            os.symlink(os.path.join(d, "t"), os.path.join(d, "link"))
            a = kbuild.build_dir_for(os.path.join(d, "t"), "arm64", "/c")
            self.assertEqual(a, kbuild.build_dir_for(os.path.join(d, "link"), "arm64", "/c"))
            self.assertNotEqual(a, kbuild.build_dir_for(os.path.join(d, "t"), "x86_64", "/c"))
            self.assertNotEqual(a, kbuild.build_dir_for(d, "arm64", "/c"))
            self.assertEqual(a.parent, Path("/c/build"))
            self.assertTrue(a.name.endswith("-arm64"))


class ConfigVerdictTest(unittest.TestCase):
    def test_mismatches(self) -> None:
        wanted = {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": "y", "CONFIG_D": '"x"', "CONFIG_E": "n"}
        actual = {"CONFIG_A": "y", "CONFIG_C": "m", "CONFIG_D": '"y"', "CONFIG_E": "y"}
        self.assertEqual(kbuild.config_mismatches(wanted, actual),
                         [("CONFIG_C", "y", "m"), ("CONFIG_D", '"x"', '"y"'), ("CONFIG_E", "n", "y")])
        self.assertEqual(kbuild.config_mismatches({"CONFIG_A": "y"}, {}), [("CONFIG_A", "y", "not set")])

    def test_lost_versus_not_in_tree(self) -> None:
        plan = kbuild.ConfigPlan([("f", "CONFIG_KVM=y\nCONFIG_OLDTREE=y\nCONFIG_OK=y\n")])
        lost, absent = kbuild.judge_config(plan, {"CONFIG_OK": "y"}, lambda: {"KVM", "OK"})
        self.assertEqual(lost, ["CONFIG_KVM=y (got not set)"])
        self.assertEqual(absent, ["CONFIG_OLDTREE"])

    def test_symbols_not_scanned_when_all_is_well(self) -> None:
        def boom() -> set[str]:
            raise AssertionError("scanned the tree for nothing")
        plan = kbuild.ConfigPlan([("f", "CONFIG_A=y\n")])
        self.assertEqual(kbuild.judge_config(plan, {"CONFIG_A": "y", "CONFIG_KVM": "y"}, boom), ([], []))

    # What kconfig makes of the suite's fragments when CONFIG_KVM is off:
    # every KVM_* option goes with it.
    def config_without_kvm(self, plan: kbuild.ConfigPlan) -> dict[str, str]:
        return {n: v for n, v in plan.suite_wants().items() if not n.startswith("CONFIG_KVM")}

    def all_defined(self) -> set[str]:
        return {n[len("CONFIG_"):] for n in kbuild.plan_config(HOST_ARCH).wanted()} | {"X", "LOCAL"}

    def test_kvm_lost_is_named_before_what_depends_on_it(self) -> None:
        plan = kbuild.plan_config(HOST_ARCH)
        lost, _ = kbuild.judge_config(plan, self.config_without_kvm(plan), self.all_defined)
        self.assertEqual(lost[0], "CONFIG_KVM=y (got not set)")
        self.assertIn("CONFIG_KVM_GUEST_MEMFD=y (got not set)", lost[1:])

    def test_kvm_turned_off_by_the_user_is_the_root(self) -> None:
        # Issue 27 item 9: this named CONFIG_KVM_GUEST_MEMFD, an option
        # that only followed KVM out.
        plan = kbuild.plan_config(HOST_ARCH, ["# CONFIG_KVM is not set"])
        lost, _ = kbuild.judge_config(plan, self.config_without_kvm(plan), self.all_defined)
        self.assertEqual(lost[0], "CONFIG_KVM=y (got not set: --kconfig-add asked for that)")
        self.assertIn("CONFIG_KVM_GUEST_MEMFD=y (got not set)", lost[1:])

    def test_no_kvm_is_never_testable(self) -> None:
        # Nothing else lost: still nothing to test.
        plan = kbuild.plan_config(HOST_ARCH, ["# CONFIG_KVM is not set"])
        actual = {**plan.suite_wants(), "CONFIG_KVM": "n"}
        lost, _ = kbuild.judge_config(plan, actual, self.all_defined)
        self.assertEqual(lost, ["CONFIG_KVM=y (got not set: --kconfig-add asked for that)"])

    def test_what_the_user_changed_comes_first(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            frag = Path(d, "local.config")
            frag.write_text("# CONFIG_CGROUPS is not set\n")
            plan = kbuild.plan_config(HOST_ARCH, ["CONFIG_X=y"], [str(frag)])
            actual = {n: v for n, v in plan.wanted().items() if n not in ("CONFIG_MEMCG", "CONFIG_X")}
            lost, _ = kbuild.judge_config(plan, actual, self.all_defined)
            self.assertEqual(lost, [f"CONFIG_CGROUPS=y (got not set: {frag} asked for that)",
                                    "CONFIG_X=y (got not set)", "CONFIG_MEMCG=y (got not set)"])
        # Without a loss, the user's own choices stand.
        lost, _ = kbuild.judge_config(plan, {**actual, "CONFIG_MEMCG": "y", "CONFIG_X": "y"}, self.all_defined)
        self.assertEqual(lost, [])

    def test_tree_symbols(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            Path(d, "Kconfig").write_text("menuconfig KVM\n\tbool \"x\"\nconfig  KVM_AMD \n# config NOT_ME\n")
            os.makedirs(os.path.join(d, "arch", "x86"))
            Path(d, "arch", "x86", "Kconfig.cpu").write_text("config CPU_SUP_AMD\n")
            Path(d, "arch", "x86", "other").write_text("config NOT_KCONFIG\n")
            self.assertEqual(kbuild.tree_symbols(Path(d)), {"KVM", "KVM_AMD", "CPU_SUP_AMD"})


class BuildTest(unittest.TestCase):
    """build_kernel() against the fake tree."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.cache = root / "cache"
        self.tree = fake_tree(root, suite_symbols() + ["UNMET_DEPENDENCY"])
        self.messages: list[str] = []

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def build(self, **kw: Any) -> kbuild.BuiltKernel:
        return kbuild.build_kernel(str(self.tree), HOST_ARCH, str(self.cache), log=self.messages.append,
                                   nice=0, timeout=60, **kw)

    def calls(self) -> list[str]:
        out = kbuild.build_dir_for(str(self.tree), HOST_ARCH, str(self.cache))
        return (out / "calls").read_text().split()

    def test_configure_once_then_incremental(self) -> None:
        first = self.build()
        self.assertTrue(first.reconfigured)
        self.assertFalse(first.incremental)
        self.assertEqual(Path(first.image).read_text(), "image\n")
        self.assertEqual(first.release, "9.9.9-fake")
        self.assertEqual(self.calls(), ["allnoconfig", "olddefconfig", "build"])
        config = kbuild.read_config(Path(first.config).read_text())
        self.assertEqual(config["CONFIG_KVM"], "y")
        second = self.build()
        self.assertFalse(second.reconfigured)
        self.assertTrue(second.incremental)
        self.assertEqual(second.timings["configure"], 0.0)
        self.assertEqual(self.calls(), ["allnoconfig", "olddefconfig", "build", "build"])
        # The times stay with the build directory: the cold build's are
        # kept when an incremental one follows.
        timings = kbuild.read_timings(Path(second.build_dir))
        self.assertEqual(timings["build_kind"], "incremental")
        self.assertEqual(timings["cold_build_s"], f"{first.timings['build']:.1f}")
        self.assertIn("configure_s", timings)

    def test_configure_only(self) -> None:
        built = self.build(configure_only=True)
        self.assertEqual(built.image, "")
        self.assertTrue(built.reconfigured)
        self.assertEqual(self.calls(), ["allnoconfig", "olddefconfig"])
        self.assertFalse(self.build(configure_only=True).reconfigured)
        self.assertEqual(self.calls(), ["allnoconfig", "olddefconfig"])

    def test_new_option_reconfigures(self) -> None:
        self.build()
        again = self.build(extra_options=["CONFIG_BASE=y"])
        self.assertTrue(again.reconfigured)
        self.assertTrue(again.incremental)
        self.assertEqual(self.calls().count("allnoconfig"), 2)

    def test_not_a_kernel_tree(self) -> None:
        for missing in ("Makefile", "scripts/kconfig/merge_config.sh"):
            (self.tree / missing).rename(self.tree / "moved")
            with self.assertRaises(BuildError) as e:
                self.build()
            self.assertIn("is not a kernel source tree", e.exception.reason)
            self.assertIn(missing, e.exception.reason)
            (self.tree / "moved").rename(self.tree / missing)
        with self.assertRaises(BuildError) as e:
            kbuild.build_kernel(str(self.tree / "nowhere"), HOST_ARCH, str(self.cache))
        self.assertIn("no such directory", e.exception.reason)

    def test_tree_path_with_space_or_colon(self) -> None:
        # The kernel's Makefile refuses such a source path: the build goes
        # through a link next to the build directory, keyed as before by
        # the tree's real path.
        moved = Path(self.tmp.name) / "a tree: here" / "linux"
        moved.parent.mkdir()
        self.tree.rename(moved)
        self.tree = moved
        first = self.build()
        self.assertEqual(Path(first.image).read_text(), "image\n")
        self.assertEqual(self.calls(), ["allnoconfig", "olddefconfig", "build"])
        out = kbuild.build_dir_for(str(moved), HOST_ARCH, str(self.cache))
        self.assertEqual(first.build_dir, str(out))
        self.assertEqual(os.readlink(out.with_name(out.name + ".tree")), str(moved))
        self.assertTrue(self.build().incremental)

    def test_cache_path_with_space_is_named(self) -> None:
        with self.assertRaises(BuildError) as e:
            kbuild.build_kernel(str(self.tree), HOST_ARCH, str(Path(self.tmp.name) / "a cache"), nice=0)
        self.assertIn("set KVMC_CACHE to a path without one", e.exception.reason)

    def test_tree_configured_in_place(self) -> None:
        (self.tree / ".config").write_text("CONFIG_A=y\n")
        with self.assertRaises(BuildError) as e:
            self.build()
        self.assertIn("make mrproper", e.exception.reason)

    def test_build_failure_names_log_and_error(self) -> None:
        (self.tree / "BROKEN").write_text("")
        with self.assertRaises(BuildError) as e:
            self.build()
        self.assertIn("failed", e.exception.reason)
        self.assertIn(kbuild.BUILD_LOG, e.exception.reason)
        self.assertIn("kernel/fork.c:42:1: error", str(e.exception))
        # The reason alone is one line, for the reports.
        self.assertNotIn("\n", e.exception.reason)

    def test_lost_option_is_named(self) -> None:
        with self.assertRaises(BuildError) as e:
            self.build(extra_options=["CONFIG_UNMET_DEPENDENCY=y"])
        self.assertIn("CONFIG_UNMET_DEPENDENCY=y (got not set)", e.exception.reason)
        # No stamp: the next build configures again instead of trusting it.
        out = kbuild.build_dir_for(str(self.tree), HOST_ARCH, str(self.cache))
        self.assertFalse((out / kbuild.STAMP).exists())

    def test_kvm_turned_off_names_kvm(self) -> None:
        # Issue 27 item 9: the error named CONFIG_KVM_GUEST_MEMFD.
        with self.assertRaises(BuildError) as e:
            self.build(extra_options=["# CONFIG_KVM is not set"])
        self.assertIn("lacks what the suite needs: CONFIG_KVM=y (got not set: --kconfig-add asked for that)",
                      e.exception.reason)

    def test_option_the_tree_lacks_is_only_reported(self) -> None:
        built = self.build(extra_options=["CONFIG_UNMET_OLD_FEATURE=y"])
        self.assertEqual(built.not_in_tree, ["CONFIG_UNMET_OLD_FEATURE"])
        self.assertTrue(any("CONFIG_UNMET_OLD_FEATURE" in m for m in self.messages))

    def test_timeout(self) -> None:
        with self.assertRaises(BuildError) as e:
            kbuild.build_kernel(str(self.tree), HOST_ARCH, str(self.cache), timeout=0.0, nice=0)
        self.assertIn("out of time", e.exception.reason)

    def test_cli_exit_codes(self) -> None:
        with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()) as out:
            self.cli_exit_codes()
        self.assertIn(IMAGE, out.getvalue())
        self.assertIn("cannot test", err.getvalue())
        self.assertIn("want one CONFIG_NAME=VALUE", err.getvalue())

    def cli_exit_codes(self) -> None:
        env_cache = ["--cache", str(self.cache)]
        self.assertEqual(kbuild.main(["--tree", str(self.tree), "--arch", HOST_ARCH, "--nice", "0"] + env_cache), 0)
        (self.tree / "BROKEN").write_text("")
        self.assertEqual(kbuild.main(["--tree", str(self.tree), "--arch", HOST_ARCH, "--nice", "0"] + env_cache), 125)
        self.assertEqual(kbuild.main(["--tree", str(self.tree), "--arch", HOST_ARCH,
                                      "--kconfig-add", "bad line"] + env_cache), 2)


def gone(pid: int) -> bool:
    """pid has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def wait_for(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def check_child_dies_with_parent(test: unittest.TestCase, parent: subprocess.Popen[bytes],
                                 pids_file: Path, sig: int, what: str) -> None:
    """Once the child (which writes its pid to pids_file) runs, send sig
    to parent: the child must be gone within 5 s."""
    def pids() -> list[int]:
        return [int(x) for x in (pids_file.read_text() if pids_file.exists() else "").split()]
    test.assertTrue(wait_for(pids, 20), f"{what} never started")
    child = pids()[0]
    parent.send_signal(sig)
    parent.wait(timeout=20)
    test.assertTrue(wait_for(lambda: gone(child), 5),
                    f"{what} (pid {child}) still running 5 s after its parent got signal {sig}")


class MakeChildTest(unittest.TestCase):
    """python3 -m kvmc.kbuild with a stand-in make on PATH that records
    its pid and sleeps: make must not outlive the build, however it ends,
    and two builds of one tree take turns."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.tree = fake_tree(root, suite_symbols())
        self.pids = root / "make.pids"
        bin_dir = root / "bin"
        bin_dir.mkdir()
        # Sleeps for a minute, or as long as the test says and then fails
        # (the build ends there).
        make = bin_dir / "make"
        make.write_text(f'#!/bin/sh\necho $$ >> {self.pids}\n'
                        f'[ -z "$FAKE_MAKE_SLEEP" ] || {{ sleep "$FAKE_MAKE_SLEEP"; exit 2; }}\n'
                        f'exec sleep 60\n')
        make.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                    "PYTHONPATH": str(kbuild.HERE.parent)}
        self.argv = [sys.executable, "-m", "kvmc.kbuild", "--tree", str(self.tree), "--arch", HOST_ARCH,
                     "--nice", "0", "--cache", str(root / "cache")]
        self.started: list[subprocess.Popen[bytes]] = []

    def tearDown(self) -> None:
        for p in self.started:
            if p.poll() is None:
                p.kill()
                p.wait()
            if p.stderr:
                p.stderr.close()
        for pid in self.make_pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.tmp.cleanup()

    def make_pids(self) -> list[int]:
        text = self.pids.read_text() if self.pids.exists() else ""
        return [int(x) for x in text.split()]

    def start(self, sleep: str = "") -> subprocess.Popen[bytes]:
        p = subprocess.Popen(self.argv, env={**self.env, "FAKE_MAKE_SLEEP": sleep},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.started.append(p)
        return p

    def killed_parent_leaves_no_make(self, sig: int) -> None:
        check_child_dies_with_parent(self, self.start(), self.pids, sig, "make")

    def test_sigterm_stops_make(self) -> None:
        self.killed_parent_leaves_no_make(signal.SIGTERM)

    def test_sigkill_stops_make(self) -> None:
        # Through the parent-death signal: nothing of the build runs then.
        self.killed_parent_leaves_no_make(signal.SIGKILL)

    def test_second_build_of_a_tree_waits_and_says_so(self) -> None:
        first = self.start("2")
        self.assertTrue(wait_for(lambda: self.make_pids(), 20), "make never started")
        second = self.start("0")
        _, err = second.communicate(timeout=60)
        first.communicate(timeout=60)
        out = kbuild.build_dir_for(str(self.tree), HOST_ARCH, str(Path(self.tmp.name) / "cache"))
        self.assertIn(f"waiting for another build of {self.tree} in {out}", err.decode())
        # One after the other, each ending with its make's failure.
        self.assertEqual((first.returncode, second.returncode), (125, 125))
        self.assertEqual(len(self.make_pids()), 2)


if __name__ == "__main__":
    unittest.main()

# SPDX-License-Identifier: GPL-2.0
"""One place for each fact: every architecture's facts live in
qemu_configs (an Arch per architecture) and the other modules look them up
there; the cache path, atomic writes, the log prefix and signals are
kvmc.common's.

    cd scripts && python3 -m unittest kvmc.tests.test_facts
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from .. import TOP, apt, bench, debian, kbuild, mutation, qemu_newer, runner
from ..qemu_config import Arch, QemuConfig
from ..qemu_configs import ARCHES, CONFIGS, find_arch, host_arch

PACKAGE = Path(__file__).resolve().parents[1]


class ArchRecords(unittest.TestCase):
    def test_every_configuration_boots_a_known_architecture(self) -> None:
        for name, cfg in CONFIGS.items():
            self.assertIsInstance(cfg, QemuConfig)
            self.assertIs(ARCHES[cfg.build_arch], cfg.arch, name)
            self.assertEqual(cfg.qemu, cfg.arch.qemu, name)
            self.assertTrue(cfg.image_magic and cfg.elf_machine, name)

    def test_records_are_consistent(self) -> None:
        for name, a in ARCHES.items():
            self.assertIsInstance(a, Arch)
            self.assertEqual(a.name, name)
            self.assertTrue(a.image_path.startswith(f"arch/{a.srcarch}/boot/"), name)
            self.assertTrue(a.image_path.endswith("/" + a.image_target), name)
            self.assertTrue(a.triplet.startswith(a.machine + "-linux-"), name)
            self.assertTrue(a.qemu.startswith("qemu-system-"), name)
            self.assertTrue(set(a.selftest_extra) <= {s.split()[0] for s in a.selftests}, name)

    def test_names_are_those_of_the_kernel_debian_and_uname(self) -> None:
        self.assertEqual({n: (a.machine, a.debarch, a.karch, a.srcarch) for n, a in ARCHES.items()},
                         {"arm64": ("aarch64", "arm64", "arm64", "arm64"),
                          "x86_64": ("x86_64", "amd64", "x86_64", "x86")})

    def test_every_name_finds_its_architecture(self) -> None:
        for a in ARCHES.values():
            for name in a.names():
                self.assertIs(find_arch(name), a, name)
        self.assertIsNone(find_arch("riscv64"))

    def test_machine_mapping_round_trips(self) -> None:
        for a in ARCHES.values():
            self.assertEqual(host_arch(a.machine), a.name)
            self.assertEqual(ARCHES[host_arch(a.machine)].machine, a.machine)
        self.assertEqual(host_arch("riscv64"), "riscv64")
        with mock.patch("os.uname", return_value=os.uname_result(("Linux", "h", "6", "#1", "aarch64"))):
            self.assertEqual(host_arch(), "arm64")


class LookedUpNotCopied(unittest.TestCase):
    """The modules that used to keep their own copy ask the records."""

    def test_debian_architecture(self) -> None:
        for a in ARCHES.values():
            for name in a.names():
                self.assertEqual(debian.arch_of(name).debarch, a.debarch)
        with self.assertRaisesRegex(debian.DebianError, "unsupported architecture 'riscv64'"):
            debian.arch_of("riscv64")

    def test_kbuild_compiler_from_the_record(self) -> None:
        other = next(a for a in ARCHES.values() if a.name != host_arch())
        with mock.patch("shutil.which", return_value="/usr/bin/x"):
            variables, _ = kbuild.compiler(other.name)
        self.assertIn(f"ARCH={other.karch}", variables)
        self.assertIn(f"CROSS_COMPILE={other.triplet}-", variables)

    def test_native_kvm_wants_the_hosts_architecture(self) -> None:
        for cfg in (CONFIGS["arm64"], CONFIGS["x86_64"]):
            for machine in ("aarch64", "x86_64"):
                with mock.patch("os.uname", return_value=os.uname_result(("Linux", "h", "6", "#1", machine))), \
                        mock.patch("os.access", return_value=True):
                    self.assertEqual(runner.native_kvm_usable(cfg), cfg.arch.machine == machine,
                                     (cfg.name, machine))

    def test_mutation_selftests(self) -> None:
        self.assertEqual(tuple(mutation.ARCHES), tuple(ARCHES))
        for a in ARCHES.values():
            self.assertEqual(mutation.SELFTESTS[a.name], list(a.selftests))
            self.assertEqual(mutation.SELFTEST_EXTRA[a.name].split(), list(a.selftest_extra))

    def test_apt_lists_every_debian_architecture(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            suite = apt.PrivateApt(Path(tmp), "sid", False, lambda _: None)
            with mock.patch("shutil.which", return_value="/usr/bin/apt-get"), \
                    mock.patch.object(apt, "mirror", return_value="http://archive.example/debian"), \
                    mock.patch("subprocess.run", side_effect=OSError("no apt here")):
                with self.assertRaises(OSError):
                    suite.update("a test")
            text = (Path(tmp) / "apt" / "sid" / "sources.list").read_text()
        self.assertIn("[arch=" + ",".join(sorted(a.debarch for a in ARCHES.values())) + " ", text)

    # The values that name an architecture, written anywhere but in its record.
    FACTS = ("aarch64", "amd64", "bzImage", "arch/arm64/boot", "arch/x86/boot", "-linux-gnu",
             "qemu-system-aarch64", "qemu-system-x86_64")

    def test_no_module_spells_an_architecture_fact(self) -> None:
        found = []
        for path in sorted(PACKAGE.rglob("*.py")):
            rel = path.relative_to(PACKAGE)
            if rel.parts[0] in ("qemu_configs", "tests") or rel.name.startswith("test_"):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                          if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))
                          and n.body and isinstance(n.body[0], ast.Expr)
                          and isinstance(n.body[0].value, ast.Constant)}
            for n in ast.walk(tree):
                if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings:
                    found += [f"{rel}:{n.lineno}: {fact}" for fact in self.FACTS if fact in n.value]
        self.assertEqual(found, [])


class CommonNotCopied(unittest.TestCase):
    def test_cache_root_is_common(self) -> None:
        env = {"HOME": "/home/u", "KVMC_CACHE": "rel"}
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(debian.Debian(env).root, Path(os.path.abspath("rel")))
            with mock.patch.object(qemu_newer, "_fetch") as fetch:
                qemu_newer.fetch()
            fetch.assert_called_once_with(Path(os.path.abspath("rel")))

    def test_debian_writes_through_no_planted_link(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            entry = Path(tmp) / "entry"
            entry.mkdir()
            (entry / "vmlinuz").write_text("k")
            victim = Path(tmp) / "victim"
            victim.write_text("keep")
            # A name the old writer would have used.
            (entry / f"manifest.tmp.{os.getpid()}").symlink_to(victim)
            debian.write_manifest(entry, ["vmlinuz"])
            self.assertEqual(victim.read_text(), "keep")
            self.assertEqual(debian.verify(entry), "")

    def test_debian_read_text_strips(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "version"
            p.write_bytes(b"6.12.57+deb13-arm64\n\xff")
            self.assertEqual(debian.read_text(p), "6.12.57+deb13-arm64\n\ufffd")
            self.assertEqual(debian.read_text(Path(tmp) / "none"), "")

    def test_log_prefixes(self) -> None:
        for log, prefix in ((debian.log, "debian.sh: "), (qemu_newer._log, "qemu_newer: ")):
            with contextlib.redirect_stderr(io.StringIO()) as err:
                log("hello")
            self.assertEqual(err.getvalue(), prefix + "hello\n")

    def test_bench_reads_what_the_runner_wrote(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "timing").write_text("guest_init_ms=\nfirst_ktap_ms=812\ntotal_ms=9000\n")
            (Path(tmp) / "durations").write_text("g1_a 12\ng1_b 30 0\n")
            self.assertEqual(bench.read_kv(os.path.join(tmp, "timing"))["first_ktap_ms"], "812")
            self.assertEqual(bench.durations(os.path.join(tmp, "durations")),
                             [("g1_a", 12, ""), ("g1_b", 30, "0")])
            self.assertEqual(bench.durations(os.path.join(tmp, "none")), [])


class DebianSignals(unittest.TestCase):
    """debian.sh's exit status: 130 on Ctrl-C, 128+N on signal N, through
    common.Interrupted."""

    def status_on(self, sig: int) -> tuple[int, str]:
        code = ("import os, signal, sys, time\n"
                "from kvmc import debian\n"
                "def slow(argv, d):\n"
                "    print('ready', flush=True)\n"
                "    time.sleep(30)\n"
                "    return ''\n"
                "debian.run = slow\n"
                "sys.exit(debian.main(['mirror']))\n")
        env = {**os.environ, "PYTHONPATH": os.path.join(TOP, "scripts")}
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, text=True)
        assert p.stdout is not None
        self.assertEqual(p.stdout.readline().strip(), "ready")
        p.send_signal(sig)
        _, err = p.communicate(timeout=20)
        return p.returncode, err

    def test_sigint_is_130(self) -> None:
        rc, err = self.status_on(signal.SIGINT)
        self.assertEqual(rc, 130)
        self.assertIn("debian.sh: interrupted", err)

    def test_sigterm_and_sighup_are_128_plus_n(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            rc, err = self.status_on(sig)
            self.assertEqual(rc, 128 + sig, sig)
            self.assertIn("debian.sh: interrupted", err)


if __name__ == "__main__":
    unittest.main()

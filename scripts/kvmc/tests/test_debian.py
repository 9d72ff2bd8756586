# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the Debian fetcher (kvmc.debian, kvmc.apt): kernel names,
the machine's archive, Debian's formats and the cache's entries. No
network and no apt: what apt would print is given as text.

    cd scripts && python3 -m unittest kvmc.tests.test_debian
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from .. import TOP
from ..apt import (compare_versions, deb822_uris, depends_names, is_main_archive, madison, mirror,
                   one_line_uris, stanzas)
from ..debian import (Debian, DebianError, KernelPackage, load_order, modules_tree, newest, one_per_abi,
                      spec_matches, suite_name, upstream_of, verify, write_manifest)


def k(version: str, abi: str, suite: str = "trixie-backports") -> KernelPackage:
    return KernelPackage(suite, upstream_of(version), abi, version)


K6_1 = k("6.1.176-1", "6.1.0-50-arm64", "bookworm")
K6_12 = k("6.12.57-1", "6.12.57+deb13-arm64", "trixie")
K7_3 = k("7.3.4-1~bpo13+1", "7.3.4+deb13-arm64")
K7_4RC = k("7.4~rc3-1~exp1", "7.4-rc3-arm64", "experimental")
K7_4 = k("7.4.1-1", "7.4.1+deb14-arm64", "sid")


class SpecMatching(unittest.TestCase):
    def test_upstream_version_matches_whole_components(self) -> None:
        self.assertTrue(spec_matches("6.1", K6_1))
        self.assertFalse(spec_matches("6.1", K6_12), "6.1 must not match 6.12")
        self.assertTrue(spec_matches("6.12", K6_12))
        self.assertTrue(spec_matches("6.12.57", K6_12))
        self.assertFalse(spec_matches("6.12.5", K6_12))
        self.assertTrue(spec_matches("7", K7_3))

    def test_release_candidates(self) -> None:
        self.assertTrue(spec_matches("7.4", K7_4RC))
        self.assertTrue(spec_matches("7.4-rc3", K7_4RC), "7.4-rc3 is written 7.4~rc3 in the version")
        self.assertTrue(spec_matches("7.4~rc3", K7_4RC))
        self.assertFalse(spec_matches("7.4-rc2", K7_4RC))
        self.assertTrue(spec_matches("7.4", K7_4))
        self.assertFalse(spec_matches("7.4-rc3", K7_4))

    def test_abi(self) -> None:
        self.assertTrue(spec_matches("6.12.57+deb13-arm64", K6_12))
        self.assertTrue(spec_matches("6.12.57+deb13", K6_12))
        self.assertTrue(spec_matches("6.1.0-50", K6_1))
        self.assertFalse(spec_matches("6.1.0-5", K6_1))
        self.assertTrue(spec_matches("7.4-rc3", K7_4RC))

    def test_package_version(self) -> None:
        self.assertTrue(spec_matches("6.12.57-1", K6_12))
        self.assertTrue(spec_matches("7.3.4-1~bpo13+1", K7_3))
        self.assertFalse(spec_matches("6.12.57-2", K6_12))

    def test_newest_wins_and_ties_go_to_the_first_listed(self) -> None:
        a = k("6.12.57-1", "6.12.57+deb13-arm64", "trixie")
        b = k("6.12.57-1", "6.12.57+deb13-arm64", "trixie-backports")
        c = k("6.12.43-1", "6.12.43+deb13-arm64", "trixie")
        self.assertIs(newest([c, a, b]), a)
        self.assertIsNone(newest([]))

    def test_kernels_list_one_per_abi_oldest_first(self) -> None:
        old = k("6.12.57-1", "6.12.57+deb13-arm64", "trixie")
        rebuilt = k("6.12.57-1~bpo12+1", "6.12.57+deb13-arm64", "bookworm-backports")
        lines = [x.line() for x in one_per_abi([K7_3, old, rebuilt, K6_1, K7_4RC, K7_4])]
        self.assertEqual(lines, [K6_1.line(), old.line(), K7_3.line(), K7_4RC.line(), K7_4.line()])

    def test_upstream_of(self) -> None:
        self.assertEqual(upstream_of("7.3.4-1~bpo13+1"), "7.3.4")
        self.assertEqual(upstream_of("1:7.4~rc3-1~exp1"), "7.4~rc3")

    def test_suite_names(self) -> None:
        self.assertEqual(suite_name("unstable"), "sid")
        for bad in ("", "-x", "Trixie", "a b", "../x"):
            with self.assertRaises(DebianError):
                suite_name(bad)


class DebianVersions(unittest.TestCase):
    def test_order(self) -> None:
        ordered = ["6.1.170-3", "6.1.176-1", "6.12.9-1", "6.12.43-1~bpo12+1", "6.12.43-1",
                   "7.3~rc7-1~exp1", "7.3-1", "7.3.4-1~bpo13+1", "7.3.4-1", "1:0.1-1"]
        for a, b in zip(ordered, ordered[1:]):
            self.assertLess(compare_versions(a, b), 0, f"{a} < {b}")
            self.assertGreater(compare_versions(b, a), 0, f"{b} > {a}")
        self.assertEqual(compare_versions("6.1.0-1", "6.1.0-1"), 0)
        self.assertEqual(compare_versions("6.01", "6.1"), 0)


class MachineArchive(unittest.TestCase):
    def test_deb822_first_main_archive(self) -> None:
        text = ("Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
                "URIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n\n"
                "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n")
        uris = deb822_uris(text)
        self.assertEqual(uris, ["http://mirror.example/debian/", "http://mirror.example/debian-security"])
        self.assertEqual([u for u in uris if is_main_archive(u)], ["http://mirror.example/debian/"])

    def test_one_line_sources(self) -> None:
        text = ("# deb http://old.example/debian bookworm main\n"
                "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
                "deb http://security.example/debian-security bookworm-security main\n"
                "deb-src http://src.example/debian bookworm main\n")
        self.assertEqual(one_line_uris(text), ["http://mirror.example/debian",
                                               "http://security.example/debian-security"])

    def test_mirror_prefers_deb822_then_one_line(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            etc = Path(d)
            (etc / "sources.list.d").mkdir()
            (etc / "sources.list").write_text("deb http://one.example/debian/ trixie main\n")
            self.assertEqual(mirror(etc), "http://one.example/debian")
            (etc / "sources.list.d" / "debian.sources").write_text(
                "Types: deb\nURIs: http://security.example/debian-security\n\n"
                "Types: deb\nURIs: http://two.example/debian\n")
            self.assertEqual(mirror(etc), "http://two.example/debian")
            (etc / "sources.list").write_text("")
            (etc / "sources.list.d" / "debian.sources").write_text("URIs: http://x.example/ubuntu\n")
            with self.assertRaisesRegex(Exception, "no Debian archive found"):
                mirror(etc)


class PackageLists(unittest.TestCase):
    SHOW = ("Package: linux-image-arm64\nVersion: 7.3.4-1~bpo13+1\nArchitecture: arm64\n"
            "Depends: linux-image-7.3.4+deb13-arm64 (= 7.3.4-1~bpo13+1), foo:any | bar\n"
            "Description: Linux for 64-bit ARMv8 machines (meta-package)\n"
            " This package depends on the latest Linux kernel\n"
            "Filename: pool/main/l/linux-signed-arm64/linux-image-arm64_7.3.4-1~bpo13+1_arm64.deb\n"
            "Size: 1234\nSHA256: " + "ab" * 32 + "\n\n"
            "Package: linux-image-arm64\nVersion: 6.12.57-1\nSize: 99\n")

    def test_stanzas(self) -> None:
        s = stanzas(self.SHOW)
        self.assertEqual(len(s), 2)
        self.assertEqual(s[0]["SHA256"], "ab" * 32)
        self.assertEqual(s[0]["Size"], "1234")
        self.assertIn("latest Linux kernel", s[0]["Description"])
        self.assertEqual(s[1]["Version"], "6.12.57-1")

    def test_depends(self) -> None:
        self.assertEqual(depends_names(stanzas(self.SHOW)[0]["Depends"]),
                         ["linux-image-7.3.4+deb13-arm64", "foo"])

    def test_madison(self) -> None:
        text = (" linux-image-7.3.4+deb13-arm64:arm64 | 7.3.4-1~bpo13+1 | "
                "http://deb.example/debian trixie-backports/main arm64 Packages\n"
                "busybox-static | 1:1.37.0-6 | http://deb.example/debian trixie/main amd64 Packages\n")
        m = madison(text)
        self.assertEqual([(x.package, x.version, x.suite) for x in m],
                         [("linux-image-7.3.4+deb13-arm64", "7.3.4-1~bpo13+1", "trixie-backports"),
                          ("busybox-static", "1:1.37.0-6", "trixie")])


def module(path: Path, name: str, depends: str) -> None:
    """A stand-in .ko: just the .modinfo strings modules_tree reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF" + f"\0name={name}\0depends={depends}\0".encode())


class CacheEntries(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_manifest_finds_truncation(self) -> None:
        e = self.root / "entry"
        e.mkdir()
        (e / "vmlinuz").write_bytes(b"x" * 1000)
        self.assertIsNone(verify(e), "no manifest: an entry of an older version")
        write_manifest(e, ["vmlinuz"])
        self.assertEqual(verify(e), "")
        (e / "vmlinuz").write_bytes(b"x" * 999)
        self.assertRegex(verify(e) or "", r"vmlinuz: 999 bytes, the cache's manifest says 1000")
        (e / "vmlinuz").write_bytes(b"y" * 1000)
        self.assertRegex(verify(e) or "", r"vmlinuz: its SHA256 differs")

    def test_modules_tree_takes_what_the_cpu_needs(self) -> None:
        """Issue 16 item 14: a kvm-amd-only tree is enough, and kvm-intel
        is not loaded where the VM's CPU is AMD's."""
        kvm = self.root / "mods/lib/modules/7.3.0/kernel/arch/x86/kvm"
        module(kvm / "kvm.ko", "kvm", "irqbypass")
        module(kvm / "kvm-amd.ko", "kvm_amd", "kvm")
        module(self.root / "mods/lib/modules/7.3.0/kernel/virt/lib/irqbypass.ko", "irqbypass", "")
        self.assertEqual(modules_tree(self.root / "mods", self.root / "a", ["kvm-amd"]),
                         ["irqbypass", "kvm", "kvm-amd"])
        self.assertEqual(verify(self.root / "a"), "")
        module(kvm / "kvm-intel.ko", "kvm_intel", "kvm")
        self.assertEqual(modules_tree(self.root / "mods", self.root / "b", ["kvm-amd"]),
                         ["irqbypass", "kvm", "kvm-amd"])
        self.assertFalse((self.root / "b" / "kvm-intel.ko").exists())
        # A Debian package: both vendors kept, each loaded only where needed.
        self.assertEqual(modules_tree(self.root / "mods", self.root / "c"),
                         ["irqbypass", "kvm", "kvm-amd", "kvm-intel"])
        self.assertEqual(load_order(self.root / "c", ["kvm-amd"]), ["irqbypass", "kvm", "kvm-amd"])
        (kvm / "kvm-amd.ko").unlink()
        with self.assertRaisesRegex(DebianError, "module kvm-amd not found .* CPU needs kvm-amd"):
            modules_tree(self.root / "mods", self.root / "d", ["kvm-amd"])

    def test_memo_is_relative_and_legacy_paths_are_read_in_this_cache(self) -> None:
        """Issue 16 item 9: a copied cache uses its own entries."""
        d = Debian({"KVMC_CACHE": str(self.root / "copy"), "KVMC_OFFLINE": "1"})
        entry = self.root / "copy/kernels/trixie-backports-arm64/7.3.4+deb13-arm64"
        entry.mkdir(parents=True)
        (entry / "vmlinuz").write_bytes(b"image")
        write_manifest(entry, ["vmlinuz"])
        memo = self.root / "copy/kernels/resolved/arm64/trixie-backports"
        memo.parent.mkdir(parents=True)
        memo.write_text("/elsewhere/cache/kernels/trixie-backports-arm64/7.3.4+deb13-arm64/vmlinuz\n")
        self.assertEqual(d.kernel("arm64", "trixie-backports"), entry / "vmlinuz")
        memo.write_text("kernels/trixie-backports-arm64/7.3.4+deb13-arm64/vmlinuz\n")
        self.assertEqual(d.kernel("arm64", "trixie-backports"), entry / "vmlinuz")

    def test_damaged_entry_offline_is_named(self) -> None:
        d = Debian({"KVMC_CACHE": str(self.root), "KVMC_OFFLINE": "1"})
        entry = self.root / "busybox" / "arm64"
        entry.mkdir(parents=True)
        (entry / "busybox").write_bytes(b"b" * 100)
        write_manifest(entry, ["busybox"])
        self.assertEqual(d.busybox("arm64"), entry / "busybox")
        with open(entry / "busybox", "r+b") as f:
            f.truncate(10)
        with self.assertRaisesRegex(DebianError, r"busybox/arm64/busybox: 10 bytes.*offline .*remove"):
            d.busybox("arm64")

    def test_abandoned_download_directories_are_removed(self) -> None:
        """Issue 16 item 10: dl.* of a process that is gone go; those of a
        live owner stay."""
        d = Debian({"KVMC_CACHE": str(self.root)})
        old = self.root / "dl.abc123"
        old.mkdir()
        os.utime(old, (time.time() - 3600,) * 2)
        # One of an older version whose download is under way: its
        # apt-get works in it.
        busy = self.root / "dl.busy12"
        busy.mkdir()
        worker = subprocess.Popen(["sleep", "30"], cwd=busy)
        os.utime(busy, (time.time() - 3600,) * 2)
        dead = self.root / "dl.1.xyz"
        dead.mkdir()
        (dead / ".owner").touch()
        os.utime(dead, (time.time() - 60,) * 2)
        with d.tempdir() as mine:
            os.utime(mine, (time.time() - 60,) * 2)
            # A live owner in another process.
            live = self.root / "dl.2.live"
            live.mkdir()
            holder = subprocess.Popen([sys.executable, "-c",
                                       "import fcntl, sys, time\n"
                                       f"f = open({str(live / '.owner')!r}, 'w')\n"
                                       "fcntl.flock(f, fcntl.LOCK_EX); print(flush=True); time.sleep(30)"],
                                      stdout=subprocess.PIPE)
            try:
                assert holder.stdout is not None
                holder.stdout.readline()
                os.utime(live, (time.time() - 60,) * 2)
                d.remove_abandoned()
                self.assertFalse(old.exists())
                self.assertTrue(busy.exists(), "removed under a running download")
                self.assertFalse(dead.exists())
                self.assertTrue(live.exists())
                self.assertTrue(mine.exists())
            finally:
                holder.kill()
                holder.communicate()
                worker.kill()
                worker.wait()
        self.assertFalse(mine.exists())
        d.remove_abandoned()
        self.assertFalse(live.exists())

    def test_shim_keeps_usage_and_status(self) -> None:
        p = subprocess.run([os.path.join(TOP, "scripts", "debian.sh"), "bogus"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("debian.sh: usage: debian.sh build-deps", p.stderr)


if __name__ == "__main__":
    unittest.main()

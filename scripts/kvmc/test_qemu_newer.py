#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of kvmc.qemu_newer (no network, no apt):

    python3 scripts/kvmc/test_qemu_newer.py
    cd scripts && python3 -m unittest kvmc.test_qemu_newer
"""

import os
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kvmc import qemu_newer  # noqa: E402


class MirrorTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.etc = Path(self.tmp.name)
        (self.etc / "sources.list.d").mkdir()

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_deb822_main_archive_not_security(self) -> None:
        (self.etc / "sources.list.d" / "debian.sources").write_text(
            "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
            "Types: deb\nURIs: http://archive.example/debian/\nSuites: bookworm\n")
        self.assertEqual(qemu_newer.mirror(self.etc), "http://archive.example/debian")

    def test_one_line_form(self) -> None:
        (self.etc / "sources.list").write_text(
            "# comment\ndeb [arch=amd64] http://archive.example/debian bookworm main\n")
        self.assertEqual(qemu_newer.mirror(self.etc), "http://archive.example/debian")

    def test_nothing_configured(self) -> None:
        with self.assertRaises(qemu_newer.QemuNewerError):
            qemu_newer.mirror(self.etc)


class FetchOfflineTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.cache = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def unpack_fake(self, version: str) -> Path:
        root = self.cache / "qemu" / version
        (root / "usr" / "bin").mkdir(parents=True)
        (root / "usr" / "share" / "qemu").mkdir(parents=True)
        (root / "usr" / "bin" / "qemu-system-aarch64").write_text("")
        (root / "version").write_text(version + "\n")
        (self.cache / "qemu" / "current").symlink_to(version)
        return root

    def test_offline_uses_what_is_unpacked(self) -> None:
        self.unpack_fake("1_10.0.2")
        with mock.patch.dict(os.environ, {"KVMC_OFFLINE": "1"}):
            q = qemu_newer.fetch(self.cache)
        self.assertEqual(q.version, "1_10.0.2")
        self.assertEqual(q.args()[1:], ["-L", str(self.cache / "qemu" / "current" / "usr" / "share" / "qemu")])

    def test_offline_without_cache_says_so(self) -> None:
        with mock.patch.dict(os.environ, {"KVMC_OFFLINE": "1"}):
            with self.assertRaisesRegex(qemu_newer.QemuNewerError, "offline"):
                qemu_newer.fetch(self.cache)


class FetchTest(unittest.TestCase):
    """An update, with apt and dpkg stood in for."""

    def test_current_is_replaced_whatever_lies_about(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp)
            (cache / "qemu" / "current.tmp").mkdir(parents=True)   # a name the old code took as its own
            suite = mock.Mock(dir=cache / "apt" / qemu_newer.SUITE)
            suite.candidate.return_value = "1:10.0.2"
            suite.download.side_effect = lambda package, version, dest: dest / f"{package}.deb"

            binary = Path("usr/bin/qemu-system-aarch64")

            def dpkg_x(argv: list[str], check: bool) -> None:
                root = Path(argv[3])
                (root / binary).parent.mkdir(parents=True, exist_ok=True)
                (root / binary).write_text("")
                (root / "usr" / "share" / "qemu").mkdir(parents=True, exist_ok=True)
            with mock.patch("kvmc.apt.PrivateApt", return_value=suite), \
                    mock.patch("subprocess.run", side_effect=dpkg_x), \
                    mock.patch.dict(os.environ, {"KVMC_OFFLINE": "0"}):
                q = qemu_newer.fetch(cache)
            self.assertEqual(q.version, "1:10.0.2")
            self.assertEqual(os.readlink(cache / "qemu" / "current"), "1_10.0.2")
            self.assertEqual(q.binary, cache / "qemu" / "current" / binary)
            self.assertEqual(sorted(p.name for p in (cache / "qemu").iterdir()),
                             ["1_10.0.2", "current", "current.tmp"])

    def test_binary_is_the_arm64_records(self) -> None:
        from kvmc.qemu_configs import ARCHES
        self.assertEqual(qemu_newer.BINARY, Path("usr/bin") / ARCHES["arm64"].qemu)


if __name__ == "__main__":
    unittest.main()

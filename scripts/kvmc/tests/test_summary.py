# SPDX-License-Identifier: GPL-2.0
"""Unit tests of what a run says about itself: the files of its results
directory (results.py).

    cd scripts && python3 -m unittest kvmc.tests.test_summary
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

from kvmc import cli, results


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

# SPDX-License-Identifier: GPL-2.0
"""python3 -m kvmc: one argparse parser, a subcommand per tool."""

from __future__ import annotations

import contextlib
import io
import unittest
from unittest import mock

from .. import tools


class Tools(unittest.TestCase):
    def test_report_and_status_table_are_subcommands(self) -> None:
        a = tools.parser().parse_args(["report", "junit", "-o", "out.xml", "results/arm64"])
        self.assertEqual((a.command, a.format, a.output, a.dirs), ("report", "junit", "out.xml", ["results/arm64"]))
        a = tools.parser().parse_args(["status-table", "--update", "README.md"])
        self.assertEqual((a.command, a.update), ("status-table", "README.md"))

    def test_mistakes_are_usage(self) -> None:
        cases: list[list[str]] = [[], ["bogus"], ["report", "yaml", "-o", "x", "d"]]
        for argv in cases:
            with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as e:
                tools.main(argv)
            self.assertEqual(e.exception.code, 2, argv)

    def test_run_and_soak_get_every_word_after_their_name(self) -> None:
        with mock.patch("kvmc.cli.main", return_value=7) as run:
            self.assertEqual(tools.main(["run", "-h", "--arch", "arm64"]), 7)
        run.assert_called_once_with(["-h", "--arch", "arm64"])
        with mock.patch("kvmc.soak.main", return_value=3) as soak:
            self.assertEqual(tools.main(["soak", "-n", "2", "-t", "--x"]), 3)
        soak.assert_called_once_with(["-n", "2", "-t", "--x"])


if __name__ == "__main__":
    unittest.main()

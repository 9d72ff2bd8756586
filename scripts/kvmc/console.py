# SPDX-License-Identifier: GPL-2.0
"""The console protocol between the test VM's /init (guest-init.sh) and
the host: marker lines starting "@@KVMC-" split the console into the KTAP
stream, the observations, the kernel log and everything else.

    @@KVMC-BEGIN guest RELEASE MACHINE   init runs (the boot is over)
    @@KVMC-NOKVM REASON                  no /dev/kvm in the VM
    @@KVMC-NOTE TEXT                     something the host should say
    @@KVMC-BOOTHEALTH TEXT               taint or WARN before the first test
    @@KVMC-BEGIN ktap|observations|dmesg|extra ... @@KVMC-END ...
    @@KVMC-EXTRA-START NAME / @@KVMC-EXTRA-END NAME STATUS
    @@KVMC-GCDA PHASE SIZE SHA256 PATH ... @@KVMC-GCDA-END
                                         a .gcda file, base64 (--coverage; kvmc.coverage)
    @@KVMC-DONE                          everything was sent
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .coverage import END as GCDA_END, MARK as GCDA_MARK, GcdaReceiver
from .ktap import Parser


@dataclass
class Console:
    arch: str
    verbose_sink: object = None           # a file for -v, or None
    started: float = field(default_factory=time.monotonic)
    section: str = "console"
    booted: bool = False
    done: bool = False
    release: str = ""
    nokvm: str = ""
    notes: list[str] = field(default_factory=list)
    boot_health: str = ""
    ktap_lines: list[str] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    dmesg: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    durations: list[str] = field(default_factory=list)         # "test ms"
    extra_durations: list[str] = field(default_factory=list)   # "name ms status"
    guest_ms: int | None = None
    ktap_ms: int | None = None
    parser: Parser = field(default_factory=Parser)
    gcda: GcdaReceiver = field(default_factory=GcdaReceiver)
    _test: str = ""
    _test_t: float = 0.0

    def ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        # A marker may follow terminal control output on the same line.
        at = line.find("@@KVMC-")
        if at > 0 and self.section == "console":
            self.console.append(line[:at])
            line = line[at:]
        if line.startswith("@@KVMC-"):
            self._marker(line)
            return
        if self.gcda.active:
            self.gcda.feed(line)
            return
        if self.section == "ktap":
            if self.ktap_ms is None:
                self.ktap_ms = self.ms()
            stripped = line.strip()
            if stripped.startswith("#  RUN "):
                self._test, self._test_t = stripped.split()[2], time.monotonic()
            elif line.startswith(("    ok ", "    not ok ")) and self._test:
                self.durations.append(f"{self._test} {int((time.monotonic() - self._test_t) * 1000)}")
                self._test = ""
            self.ktap_lines.append(line)
            self.parser.feed(line)
        elif self.section == "observations":
            self.observations.append(line)
        elif self.section == "dmesg":
            self.dmesg.append(line)
        else:
            self.console.append(line)
            if self.verbose_sink is not None:
                print(line, file=self.verbose_sink, flush=True)  # type: ignore[call-overload]

    def _marker(self, line: str) -> None:
        words = line.split()
        tag = words[0]
        if tag == "@@KVMC-BEGIN" and len(words) > 1:
            what = words[1]
            if what == "guest":
                self.booted = True
                self.guest_ms = self.ms()
                self.release = words[2] if len(words) > 2 else ""
            elif what == "extra":
                self.section = "console"
            else:
                self.section = what
        elif tag == "@@KVMC-END":
            self.section = "console"
        elif tag == "@@KVMC-NOKVM":
            self.nokvm = line.partition(" ")[2]
        elif tag == "@@KVMC-NOTE":
            self.notes.append(line.partition(" ")[2])
        elif tag == "@@KVMC-BOOTHEALTH":
            self.boot_health = line.partition(" ")[2].strip()
        elif tag == "@@KVMC-DONE":
            self.gcda.finish()
            self.done = True
        elif tag == GCDA_MARK:
            self.gcda.begin(line)
        elif tag == GCDA_END:
            self.gcda.end()
        elif tag == "@@KVMC-EXTRA-START":
            self._test_t = time.monotonic()
        elif tag == "@@KVMC-EXTRA-END" and len(words) >= 3:
            self.extra_durations.append(
                f"{words[1]} {int((time.monotonic() - self._test_t) * 1000)} {words[2]}")

# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034  # RC: read by expect_rc
# Cases of tests/runner/runner_test.sh (sourced there): what the reports
# and the baselines take from outside.

# Issue 27 item 13: a baseline that is no text file is refused at once,
# exit 2, saying what it is (/dev/zero filled the memory until a
# MemoryError, a FIFO hung the run). Bounded in time and memory, so that
# the old behaviour fails the case instead of the machine.
case_baseline_not_a_file() {
	mkfifo "$WORK/fifo"
	local what path
	for what in "/dev/zero:a character device" "$WORK/fifo:a FIFO" "$WORK:a directory"; do
		path=${what%%:*}
		rm -rf "$WORK/results"
		(ulimit -v 2000000; exec timeout 60 "$TOP/run_tests.sh" -o "$WORK/results" --arch arm64 \
			--baseline "$path") > "$LOG" 2>&1 < /dev/null
		RC=$?
		expect_rc 2; expect_out "baseline $path: is ${what#*:}"
		grep -q booting "$LOG" && complain "booted with the baseline $path"
	done
	rm -f "$WORK/fifo"
}

# Issue 27 items 4 and 6: test names, a kernel version, diagnostics and
# findings from the console of the kernel under test reach every report
# as text: no element or event handler in the HTML, JUnit that parses, a
# baseline with no line a name wrote, JSON that reads back.
case_hostile_console_escaped_everywhere() {
	fake_qemu
	cat > "$WORK/fake/qemu-system-aarch64" <<-'FAKE'
	#!/bin/sh
	initrd= prev=
	for a; do
		[ "$prev" = -initrd ] && initrd=$a
		prev=$a
	done
	echo "@@KVMC-BEGIN guest 7.3.0-<img/src=x/onerror=alert(1)> aarch64"
	echo "@@KVMC-BEGIN ktap"
	if grep -a -q 'KVMC_MODE=list' "$initrd"; then
		echo "<script>alert(1)</script>.w1.load"
	else
		echo "TAP version 13"; echo "1..1"; echo "# kvm-contract: bad_memslot_test"
		echo "    TAP version 13"; echo "    1..3"
		printf '    # FAIL C4 \357\277\276 \001 <b>bold</b> [key: C4 x=<script>]\n'
		echo "    not ok 1 <script>alert(1)</script>.w1.load"
		echo "    not ok 2 <img src=x onerror=alert(1)>.w1.store"
		printf "    ok 3 q'uo\"te|pi|pe\357\277\277.w1.x\n"
		echo "not ok 1 bad_memslot_test # exit status 1"
	fi
	echo "@@KVMC-END ktap"
	echo "@@KVMC-BEGIN observations"
	echo '{"test":"<script>alert(1)</script>.w1.load","rule":"C4","verdict":"fail","observed":"<svg onload=alert(1)>","findings":[{"rule":"C4","severity":"failure","text":"<svg onload=alert(1)>\u0000","key":"C4 x=<script>"}]}'
	echo '{"test":"<img src=x onerror=alert(1)>.w1.store","rule":"C4","verdict":"fail","findings":[{"rule":"C4","severity":"failure","text":"t","key":"C4 x=1\nx86_64 * * C4 exit_reason=KVM_EXIT_UNKNOWN(0) injected"}]}'
	echo "@@KVMC-END observations"
	echo "@@KVMC-DONE"
	FAKE
	chmod +x "$WORK/fake/qemu-system-aarch64"
	run PATH="$WORK/fake:$PATH" -- --arch arm64 --junit "$WORK/r.xml" --json "$WORK/r.json" \
		--report "$WORK/r.html" --write-baseline "$WORK/hostile-baseline.txt"
	expect_rc 1
	PYTHONPATH="$TOP/scripts" python3 - "$WORK" >> "$WORK/why" 2>&1 <<-'PY' || complain "a report took the console as markup"
	import json, os, sys, xml.etree.ElementTree as ET
	from html.parser import HTMLParser
	from kvmc import baseline as bl
	work = sys.argv[1]
	class Page(HTMLParser):
	    tags, attrs, text = set(), [], []
	    def handle_starttag(self, tag, attrs):
	        self.tags.add(tag); self.attrs.extend(attrs)
	    def handle_data(self, data):
	        self.text.append(data)
	page = Page()
	page.feed(open(os.path.join(work, "r.html"), encoding="utf-8").read())
	extra = page.tags - {"html", "head", "meta", "title", "style", "body", "h1", "p", "span",
	                     "table", "tr", "th", "td", "br", "i"}
	assert not extra, f"HTML elements from the console: {extra}"
	assert not [k for k, _ in page.attrs if k.startswith("on")], "an event handler in the HTML"
	assert "<script>alert(1)</script>" in "".join(page.text), "the name is not shown as text"
	root = ET.parse(os.path.join(work, "r.xml")).getroot()
	names = {c.get("name") for c in root.iter("testcase")}
	assert "q'uo\"te|pi|pe\\uffff.w1.x" in names, names
	js = json.load(open(os.path.join(work, "r.json"), encoding="utf-8"))
	assert "<img src=x onerror=alert(1)>.w1.store" in {t["name"] for r in js["runs"] for t in r["tests"]}
	entries = bl.load(os.path.join(work, "hostile-baseline.txt"))
	assert not [e for e in entries if e.test == "*"], "a finding key wrote a baseline line"
	assert [e.test for e in entries] == ["<script>alert(1)</script>.w1.load"], entries
	PY
}

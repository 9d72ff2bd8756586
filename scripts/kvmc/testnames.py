# SPDX-License-Identifier: GPL-2.0
"""The full name of every test of a build (fixture.variant.test, or
fixture.test), as the test binaries' --names prints them, read from the
preprocessed test sources rather than from the binaries: a host cannot run
another architecture's binaries, and run_tests.sh refuses a -t that
matches no test before it boots anything.

    cc -E -P ... a_test.cpp; echo '// kvmc-testnames: next file'; cc -E -P ... b_test.cpp
        | python3 -m kvmc.testnames > build/ARCH/tests/kvm-contract-names.txt

(the Makefile's rule). The kselftest harness registers each test,
variant and fixture under an object whose name field is a string literal;
the preprocessed text names the fixture of each test and each variant, in
either form the harness has used (a static initializer, or assignments to
an object made at run time).
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys

from . import TOP

SEPARATOR = "// kvmc-testnames: next file"
NAMES_FILE = "kvm-contract-names.txt"

# SYMBOL [__attribute__((...))] = { .name = "NAME": a fixture, a variant, a
# test in the static form.
_OBJECT = re.compile(r'(\w+)\s*(?:__attribute__\s*\(\([^)]*\)\)\s*)?=\s*\{\s*\.name\s*=\s*"([^"]*)"')
# A test and its fixture: .name = "T", .fn = &..., .fixture = &F (static),
# or object->name = "T"; object->fn = &...; object->fixture = &F.
_TEST = re.compile(r'(?:\.|\w+->)name\s*=\s*"([^"]*)"\s*[,;]\s*(?:\.|\w+->)fn\s*=\s*&?\s*\w+\s*[,;]\s*'
                   r'(?:\.|\w+->)fixture\s*=\s*&\s*(\w+)')
_VARIANT = re.compile(r'__register_fixture_variant\s*\(\s*&\s*(\w+)\s*,\s*&\s*(\w+)\s*\)')


def from_preprocessed(text: str) -> list[str]:
    """Every test name of one preprocessed test source, in the order its
    binary lists them."""
    names_of = {sym: name for sym, name in _OBJECT.findall(text)}
    variants: dict[str, list[str]] = {}
    for fixture, variant in _VARIANT.findall(text):
        variants.setdefault(fixture, []).append(names_of.get(variant, variant))
    tests: dict[str, list[str]] = {}
    for test, fixture in _TEST.findall(text):
        tests.setdefault(fixture, []).append(test)
    out: list[str] = []
    for fixture, names in tests.items():
        f = names_of.get(fixture, fixture)
        for v in variants.get(fixture) or [""]:
            out += [f"{f}.{v}.{t}" if v else f"{f}.{t}" for t in names]
    return out


def read_names(build_arch: str) -> list[str] | None:
    """The test names of build/ARCH, or None where the build made no list."""
    path = os.path.join(TOP, "build", build_arch, "tests", NAMES_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return [x.strip() for x in f if x.strip()]
    except OSError:
        return None


def selects(pattern: str, name: str) -> bool:
    """ktap-runner.sh's -t: shell patterns separated by commas (no test
    name has one), one without wildcards matching as a substring."""
    for alt in pattern.split(","):
        if not alt:
            continue
        if not any(c in alt for c in "*?["):
            if alt in name:
                return True
        elif fnmatch.fnmatchcase(name, alt):
            return True
    return False


def main() -> int:
    for part in sys.stdin.read().split(SEPARATOR):
        for name in from_preprocessed(part):
            print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

// SPDX-License-Identifier: GPL-2.0
/*
 * The entry point of the suite's multi-call test binary: every test file
 * (tests/NAME.cpp, tests/ARCH/NAME.cpp) is linked in with its KVMC_TEST_MAIN
 * renamed to kvmc_test_NAME, and the binary runs the one its own name
 * names (build/ARCH/tests/NAME are links to it). multicall.def, made by
 * the Makefile, lists the files as KVMC_TEST(NAME) lines.
 *
 * Under its own name with --boot-health it is the test VM's check of the
 * kernel before the first test (C13): a kernel that warned or was tainted
 * while it booted is reported once, as no test's fault, on the marker
 * line run_tests.sh reads (one program, where a shell pipeline of dmesg
 * and grep costs a tenth of a second of every boot under emulation).
 */
#include <cstdio>
#include <cstring>
#include <string>

#include "health.h"

#define KVMC_TEST(name) int kvmc_test_##name(int argc, char **argv);
#include "multicall.def"
#undef KVMC_TEST

namespace {

struct Entry {
	const char *name;
	int (*run)(int argc, char **argv);
};

const Entry entries[] = {
#define KVMC_TEST(name) {#name, kvmc_test_##name},
#include "multicall.def"
#undef KVMC_TEST
};

int boot_health()
{
	std::vector<std::string> problems = kvmc::health_problems_since_boot();
	if (problems.empty())
		return 0;
	std::string line = "@@KVMC-BOOTHEALTH tainted=" + std::to_string(kvmc::kernel_taint());
	for (size_t i = 0; i < problems.size() && i < 3; i++)
		line += " " + problems[i];
	printf("%s\n", line.c_str());
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	const char *self = argc > 0 ? argv[0] : "";
	const char *slash = strrchr(self, '/');
	const char *name = slash ? slash + 1 : self;
	if (strcmp(name, "kvm-contract-tests") == 0 && argc == 2 && strcmp(argv[1], "--boot-health") == 0)
		return boot_health();
	for (const Entry &e : entries)
		if (strcmp(name, e.name) == 0)
			return e.run(argc, argv);
	fprintf(stderr, "%s: run me by a test's name (a link named after it), one of:", name);
	for (const Entry &e : entries)
		fprintf(stderr, " %s", e.name);
	fprintf(stderr, "\n");
	return 2;
}

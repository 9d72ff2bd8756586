// SPDX-License-Identifier: GPL-2.0
/*
 * The entry point of the suite's multi-call test binary: every test file
 * (tests/NAME.cpp, tests/ARCH/NAME.cpp) is linked in with its KVMC_TEST_MAIN
 * renamed to kvmc_test_NAME, and the binary runs the one its own name
 * names (build/ARCH/tests/NAME are links to it). multicall.def, made by
 * the Makefile, lists the files as KVMC_TEST(NAME) lines.
 */
#include <cstdio>
#include <cstring>

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

} // namespace

int main(int argc, char **argv)
{
	const char *self = argc > 0 ? argv[0] : "";
	const char *slash = strrchr(self, '/');
	const char *name = slash ? slash + 1 : self;
	for (const Entry &e : entries)
		if (strcmp(name, e.name) == 0)
			return e.run(argc, argv);
	fprintf(stderr, "%s: run me by a test's name (a link named after it), one of:", name);
	for (const Entry &e : entries)
		fprintf(stderr, " %s", e.name);
	fprintf(stderr, "\n");
	return 2;
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's kselftest harness, from linux-source or KDIR (never copied
 * here). It is C: g++ accepts it only with -fpermissive, which the Makefile
 * gives to test sources alone; marking this wrapper a system header keeps
 * the harness's own permissive diagnostics out of the build log.
 */
#pragma once
#pragma GCC system_header

#include "kselftest_harness.h"

#include <cstring>

/*
 * Print every test's full name, "fixture.variant.test" (or
 * "fixture.test"), one per line, as the harness's KTAP names them: the
 * runner selects tests with -r by these names.
 */
static inline int kvmc_print_test_names(void)
{
	for (struct __fixture_metadata *f = __fixture_list; f; f = f->next) {
		struct __fixture_variant_metadata no_variant = {.name = ""};
		for (struct __fixture_variant_metadata *v = f->variant ? f->variant : &no_variant; v;
		     v = v->next)
			for (struct __test_metadata *t = f->tests; t; t = t->next)
				printf("%s.%s%s%s\n", f->name, v->name, *v->name ? "." : "", t->name);
	}
	return 0;
}

/*
 * TEST_HARNESS_MAIN plus --names. The suite's tests are one multi-call
 * binary (see the Makefile): there each test file's entry point is
 * renamed to kvmc_test_<file> by -DKVMC_TEST_ENTRY. The harness's state is
 * static, so every test file keeps its own list of tests.
 */
#ifndef KVMC_TEST_ENTRY
#define KVMC_TEST_ENTRY main
#endif
#define KVMC_TEST_MAIN                                                             \
	int KVMC_TEST_ENTRY(int argc, char **argv)                                 \
	{                                                                          \
		/* Line-buffered, so KTAP and diagnostics keep their order     \
		 * when the output is a pipe. */                              \
		setvbuf(stdout, NULL, _IOLBF, 0);                              \
		if (argc == 2 && strcmp(argv[1], "--names") == 0)                  \
			return kvmc_print_test_names();                            \
		return test_harness_run(argc, argv);                               \
	}

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

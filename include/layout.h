/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest physical layout, per architecture. Plain #defines so that host
 * C++, guest C++, assembler and the guest's linker script share them.
 */
#pragma once

#if defined(__aarch64__)
#include "arm64/layout.h"
#elif defined(__x86_64__)
#include "x86_64/layout.h"
#else
#error "kvm-contract supports arm64 and x86_64"
#endif

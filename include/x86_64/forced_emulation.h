/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64: KVM's forced-emulation prefix (the guest's UD2 "kvm" before an
 * instruction, arch/x86/kvm/x86.c handle_ud()), which KVM honours only
 * with the kvm module parameter force_emulation_prefix set. The suite's
 * test VM sets it (scripts/guest-init.sh); elsewhere the tests that need
 * it skip.
 */
#pragma once

#include <cstdio>
#include <string>

namespace kvmc::x86 {

inline bool forced_emulation_enabled(std::string *why)
{
	const char *param = "/sys/module/kvm/parameters/force_emulation_prefix";
	FILE *f = fopen(param, "r");
	if (!f) {
		*why = std::string(param) + " is not readable: a kernel without the forced-emulation prefix";
		return false;
	}
	int value = 0;
	const bool read = fscanf(f, "%d", &value) == 1;
	fclose(f);
	if (!read || value == 0) {
		*why = std::string(param) + " is 0: KVM ignores the forced-emulation prefix (set it to 1 to run this)";
		return false;
	}
	return true;
}

} /* namespace kvmc::x86 */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64: KVM's forced-emulation prefix (the guest's UD2 "kvm" before an
 * instruction, arch/x86/kvm/x86.c handle_ud()), which KVM honours only
 * with the kvm module parameter force_emulation_prefix set. The suite's
 * test VM sets it (scripts/guest-init.sh); elsewhere the tests that need
 * it skip.
 */
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

#include "kvm.h"

namespace kvmc::x86 {

inline bool forced_emulation_enabled(std::string *why)
{
	const std::optional<std::string> value = module_param("kvm", "force_emulation_prefix");
	if (!value) {
		*why = "kvm.force_emulation_prefix is not readable: a kernel without the forced-emulation prefix";
		return false;
	}
	if (strtol(value->c_str(), nullptr, 10) == 0) {
		*why = "kvm.force_emulation_prefix is 0: KVM ignores the forced-emulation prefix (set it to 1 to run this)";
		return false;
	}
	return true;
}

} /* namespace kvmc::x86 */

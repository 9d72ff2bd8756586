// SPDX-License-Identifier: GPL-2.0
/*
 * L (arm64): the 64-byte single-copy atomic accesses of FEAT_LS64
 * (LD64B, ST64B, ST64BV, ST64BV0) at a GPA outside every memslot
 * (api.rst 5 "KVM_EXIT_ARM_LDST64B"): KVM_RUN returns 0 with
 * KVM_EXIT_ARM_LDST64B, the ESR and fault IPA in arm_nisv as for NISV,
 * the PC not advanced; userspace emulates the whole instruction.
 *
 * Only a vCPU with FEAT_LS64 can execute them (ID_AA64ISAR1_EL1.LS64:
 * 1 LD64B/ST64B, 2 also ST64BV, 3 also ST64BV0); KVM offers it where the
 * CPU has it. QEMU's TCG (7.2, 10.0) does not implement FEAT_LS64, so
 * under emulation these tests skip with the register's value.
 */
#include "test_util.h"

#include <sys/auxv.h>

using namespace kvmc;

#ifndef AT_HWCAP3
#define AT_HWCAP3 29
#endif
#ifndef HWCAP3_LS64
#define HWCAP3_LS64 (1UL << 3)
#endif

KVM_FIXTURE(l1_ldst64b);
FIXTURE_VARIANT(l1_ldst64b) { const char *insn; unsigned ls64; };
FIXTURE_VARIANT_ADD(l1_ldst64b, ld64b) { .insn = "LD64B", .ls64 = 1 };
FIXTURE_VARIANT_ADD(l1_ldst64b, st64b) { .insn = "ST64B", .ls64 = 1 };
FIXTURE_VARIANT_ADD(l1_ldst64b, st64bv) { .insn = "ST64BV", .ls64 = 2 };
FIXTURE_VARIANT_ADD(l1_ldst64b, st64bv0) { .insn = "ST64BV0", .ls64 = 3 };

TEST_F(l1_ldst64b, outside_memslots)
{
	Kvm kvm;
	GuestVm g(kvm);
	/* ID_AA64ISAR1_EL1 as the vCPU sees it. */
	const uint64_t isar1 = g.vcpu().get_one_reg(ARM64_SYS_REG(3, 0, 0, 6, 1));
	const unsigned ls64 = isar1 >> 60;
	const bool host_ls64 = getauxval(AT_HWCAP3) & HWCAP3_LS64;
	if (ls64 < variant->ls64)
		SKIP(return, "%s needs FEAT_LS64 level %u; the vCPU's ID_AA64ISAR1_EL1 is %#llx (LS64 = %u) "
			     "and the host's HWCAP3_LS64 is %s: this CPU has no FEAT_LS64 (QEMU's TCG does not "
			     "implement it)", variant->insn, variant->ls64, (unsigned long long)isar1, ls64,
		     host_ls64 ? "set" : "clear");
	/* Reached only on a CPU with FEAT_LS64. */
	SKIP(return, "the vCPU has FEAT_LS64 (LS64 = %u), but the fault program has no %s step yet: "
		     "the exit cannot be provoked", ls64, variant->insn);
}

KVMC_TEST_MAIN

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 accesses of the fault program. Each is one hand-picked instruction
 * in inline assembly, so the syndrome KVM sees is exactly the one the
 * scenario asks for (the compiler may neither merge nor split it).
 */
#pragma once

#include <stdint.h>

#include "guest.h"
#include "layout.h"

/*
 * One access instruction, recorded first (guest.h Access, C14): the
 * addresses of the instruction (label 1) and the next one (label 2), and
 * the flags, then a barrier so the record is in memory before the access
 * can exit. x16 and x17 are the scratch registers; a load's destination
 * is x9, preset to dest_canary.
 */
#define ARCH_ACCESS(flags, insn)                                                   \
	"adr x16, 1f\n\tadr x17, 2f\n\tstp x16, x17, [%[acc]]\n\t"                 \
	"mov x16, #" flags "\n\tstr x16, [%[acc], #16]\n\tdsb sy\n"                \
	"1:\t" insn "\n2:"
#define ARCH_LOAD(insn)                                                            \
	asm volatile(ARCH_ACCESS("1", insn)                                        \
		     : [v] "+r"(v)                                                 \
		     : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa)            \
		     : "x16", "x17", "memory")
#define ARCH_STORE(insn)                                                           \
	asm volatile(ARCH_ACCESS("0", insn)                                        \
		     :                                                             \
		     : [v] "r"(v), [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa) \
		     : "x16", "x17", "memory")

static inline uint64_t arch_load(uint64_t gpa, uint32_t width)
{
	register uint64_t v asm("x9") = kvmc::guest::dest_canary;
	switch (width) {
	case 1: ARCH_LOAD("ldrb %w[v], [%[a]]"); break;
	case 2: ARCH_LOAD("ldrh %w[v], [%[a]]"); break;
	case 4: ARCH_LOAD("ldr %w[v], [%[a]]"); break;
	default: ARCH_LOAD("ldr %[v], [%[a]]"); break;
	}
	return v;
}

/* Sign-extending loads. Into a W register the architecture zeroes bits
 * [63:32], so the whole X register shows whether the extension stopped at
 * bit 31 (ESR_EL2.SF = 0) or went to bit 63. */
static inline uint64_t arch_load_signed(uint64_t gpa, uint32_t width, uint64_t reg_bytes)
{
	register uint64_t v asm("x9") = kvmc::guest::dest_canary;
	if (reg_bytes == 4) {
		switch (width) {
		case 1: ARCH_LOAD("ldrsb %w[v], [%[a]]"); break;
		default: ARCH_LOAD("ldrsh %w[v], [%[a]]"); break;
		}
	} else {
		switch (width) {
		case 1: ARCH_LOAD("ldrsb %[v], [%[a]]"); break;
		case 2: ARCH_LOAD("ldrsh %[v], [%[a]]"); break;
		default: ARCH_LOAD("ldrsw %[v], [%[a]]"); break;
		}
	}
	return v;
}

static inline void arch_store(uint64_t gpa, uint32_t width, uint64_t v)
{
	switch (width) {
	case 1: ARCH_STORE("strb %w[v], [%[a]]"); break;
	case 2: ARCH_STORE("strh %w[v], [%[a]]"); break;
	case 4: ARCH_STORE("str %w[v], [%[a]]"); break;
	default: ARCH_STORE("str %[v], [%[a]]"); break;
	}
}

/* LDP/STP report no valid instruction syndrome (ISV=0) on a stage-2
 * abort: the access KVM cannot emulate for userspace (C6). */
static inline uint64_t arch_load_pair(uint64_t gpa)
{
	uint64_t a, b;
	asm volatile(ARCH_ACCESS("0", "ldp %[x], %[y], [%[a]]")
		     : [x] "=&r"(a), [y] "=&r"(b)
		     : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa)
		     : "x16", "x17", "memory");
	return a ^ b;
}

static inline void arch_store_pair(uint64_t gpa, uint64_t v)
{
	ARCH_STORE("stp %[v], %[v], [%[a]]");
}

/* A load with writeback (post-index) reports no valid syndrome either. */
static inline uint64_t arch_load_writeback(uint64_t gpa)
{
	uint64_t v;
	asm volatile(ARCH_ACCESS("0", "ldr %[x], [%[a]], #8")
		     : [x] "=&r"(v), [a] "+r"(gpa)
		     : [acc] "r"(kvmc::guest::access_gpa)
		     : "x16", "x17", "memory");
	return v;
}

/* Data cache maintenance by VA: a data abort with ESR_EL2.CM set and no
 * valid syndrome when stage-2 has nothing there. */
static inline void arch_clean_cache(uint64_t gpa)
{
	asm volatile(ARCH_ACCESS("0", "dc civac, %[a]")
		     :
		     : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa)
		     : "x16", "x17", "memory");
}

static inline void arch_fetch(uint64_t gpa)
{
	asm volatile("blr %0" : : "r"(gpa) : "x30", "memory");
}

/* The ucall doorbell: one 64-bit store to a GPA without a memslot. */
static inline void arch_ucall(uint64_t block_gpa)
{
	asm volatile("dsb sy\n\tstr %0, [%1]" : : "r"(block_gpa), "r"((uint64_t)ARCH_UCALL_GPA) : "memory");
}

/*
 * The guest as a hypervisor (only with KVM_ARM_VCPU_HAS_EL2: the guest
 * runs at EL2). One access by a nested context (EL1), run through
 * nested_enter in start.S; what it loaded is returned. A nested run that
 * ends in anything but its HVC (an abort KVM injected into the guest
 * hypervisor) is reported as the exception the guest hypervisor took.
 */
#define ARCH_HAS_NESTED 1

struct NestedExit {
	uint64_t x0, esr, far, elr, spsr, hpfar;
};

extern "C" void nested_enter(uint64_t hcr, uint64_t entry, uint64_t gpa, uint64_t value, NestedExit *exit);
extern "C" char nested_l2_load[], nested_l2_store[], nested_l2_load_pair[], nested_l2_vncr_load[],
	nested_l2_vncr_store[], nested_l2_fetch[], nested_l2_vectors[];
extern "C" [[noreturn]] void guest_exception(uint64_t vector, uint64_t syndrome, uint64_t addr, uint64_t pc,
					      uint64_t pstate, uint64_t hpfar);

/* HCR_EL2 bits. */
constexpr uint64_t hcr_vm = 1ull << 0;
constexpr uint64_t hcr_rw = 1ull << 31;
constexpr uint64_t hcr_tea = 1ull << 37; /* external aborts from EL1 go to EL2 */
constexpr uint64_t hcr_amo = 1ull << 5;	  /* SErrors from EL1 go to EL2 */
constexpr uint64_t hcr_fmo = 1ull << 3;	  /* FIQs from EL1 go to EL2 */
constexpr uint64_t hcr_imo = 1ull << 4;	  /* IRQs from EL1 go to EL2 */
constexpr uint64_t hcr_e2h = 1ull << 34;
constexpr uint64_t hcr_nv = 1ull << 42;
constexpr uint64_t hcr_nv2 = 1ull << 45;
/* VTCR_EL2 for the stage-2 table the host prepared (include/arm64/layout.h):
 * T0SZ=25 (39-bit IPA) with the walk starting at level 1 (SL0=1),
 * write-back inner/outer, inner shareable, 4 KiB granule, 40-bit PA,
 * and bit 31 (RES1). */
constexpr uint64_t vtcr_value = 25 | (1 << 6) | (1 << 8) | (1 << 10) | (3 << 12) | (2 << 16) | (1ull << 31);
constexpr uint64_t esr_ec_hvc64 = 0x16;
constexpr uint64_t vector_lower_sync = 0x400;

enum class NestedAccess { load, store, load_pair, fetch, load_s1, store_s1, vncr_load, vncr_store };

/* The nested context's EL1 stage-1 for NestedAccess::load_s1 and
 * store_s1, set through the _EL12 names (S3_5_...: binutils 2.40 lacks
 * them): TCR as the guest's own (start.S: 39-bit VA, walk from level 1,
 * 4 KiB), SCTLR with its RES1 bits and M. */
constexpr uint64_t nested_tcr = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2ull << 32);
constexpr uint64_t nested_sctlr_mmu_on = 0x30d00801;

static inline uint64_t nested_stage1_on(uint64_t table_ipa)
{
	uint64_t old;
	asm volatile("mrs %0, S3_5_C1_C0_0" : "=r"(old));
	asm volatile("msr S3_5_C2_C0_2, %0\n\tmsr S3_5_C2_C0_0, %1\n\tmsr S3_5_C10_C2_0, %2\n\t"
		     "msr S3_5_C1_C0_0, %3\n\tisb"
		     : : "r"(nested_tcr), "r"(table_ipa), "r"(0x04ffull), "r"(nested_sctlr_mmu_on) : "memory");
	return old;
}

static inline uint64_t arch_nested(NestedAccess what, uint64_t gpa, uint64_t value)
{
	uint64_t hcr = hcr_rw | hcr_e2h;
	char *entry;
	switch (what) {
	case NestedAccess::load:
	case NestedAccess::store:
	case NestedAccess::load_pair:
	case NestedAccess::fetch:
	case NestedAccess::load_s1:
	case NestedAccess::store_s1:
		/* Through the guest hypervisor's own stage-2 (VMID 1). */
		asm volatile("msr vtcr_el2, %0\n\tmsr vttbr_el2, %1\n\tisb"
			     : : "r"(vtcr_value), "r"((1ull << 48) | (ARCH_RAM_GPA + ARCH_S2_PGTABLE_OFFSET)) : "memory");
		hcr |= hcr_vm;
		entry = what == NestedAccess::load || what == NestedAccess::load_s1 ? nested_l2_load :
			what == NestedAccess::load_pair ? nested_l2_load_pair :
			what == NestedAccess::fetch	 ? nested_l2_fetch :
							  nested_l2_store;
		/* An external abort the nested context takes comes to the
		 * guest hypervisor, not to the context's own (unset)
		 * vectors: a fetch from nowhere would loop there. */
		if (what == NestedAccess::fetch || what == NestedAccess::load_s1 || what == NestedAccess::store_s1)
			hcr |= hcr_tea;
		/* A plain load's value: what else the guest hypervisor
		 * routes to itself (guest.h nested_route_*). */
		if (what == NestedAccess::load) {
			if (value & kvmc::guest::nested_route_serror)
				hcr |= hcr_amo;
			if (value & kvmc::guest::nested_route_abort)
				hcr |= hcr_tea;
			if (value & kvmc::guest::nested_route_irq)
				hcr |= hcr_imo;
			if (value & kvmc::guest::nested_route_interrupts)
				hcr |= hcr_imo | hcr_fmo;
			if (value & kvmc::guest::nested_own_vectors)
				asm volatile("msr S3_5_C12_C0_0, %0\n\tisb" /* VBAR_EL12 */
					     : : "r"(reinterpret_cast<uint64_t>(nested_l2_vectors)) : "memory");
		}
		break;
	default:
		/* VNCR_EL2 (S3_4_C2_C2_0: binutils 2.40 lacks the name) = the
		 * page gpa is in, a virtual address of the guest hypervisor's
		 * EL2 stage-1 (start.S): in its identity map (VA == IPA) or
		 * in the stage-1 window (VA != IPA, N23-N30). */
		asm volatile("msr S3_4_C2_C2_0, %0\n\tisb" : : "r"(gpa & ~0xfffull) : "memory");
		hcr |= hcr_nv | hcr_nv2;
		entry = what == NestedAccess::vncr_load ? nested_l2_vncr_load : nested_l2_vncr_store;
		break;
	}
	/* C14: the nested context's access is its program's first
	 * instruction (start.S); a fetch is judged by its target. */
	volatile kvmc::guest::Access *access = reinterpret_cast<volatile kvmc::guest::Access *>(kvmc::guest::access_gpa);
	if (what != NestedAccess::fetch) {
		access->pc = reinterpret_cast<uint64_t>(entry);
		access->next_pc = reinterpret_cast<uint64_t>(entry) + 4;
		access->flags = 0;
		asm volatile("dsb sy" ::: "memory");
	}
	const bool s1 = what == NestedAccess::load_s1 || what == NestedAccess::store_s1;
	uint64_t sctlr = s1 ? nested_stage1_on(value) : 0;
	NestedExit exit {};
	nested_enter(hcr, reinterpret_cast<uint64_t>(entry), gpa, value, &exit);
	if (s1)
		asm volatile("msr S3_5_C1_C0_0, %0\n\tisb" : : "r"(sctlr) : "memory");
	if ((exit.esr >> 26) != esr_ec_hvc64)
		guest_exception(vector_lower_sync, exit.esr, exit.far, exit.elr, exit.spsr, exit.hpfar);
	return exit.x0;
}

/* The guest hypervisor's stage-1 TLB maintenance for one VA of its EL2&0
 * regime (with E2H: TLBI VAE2IS, every ASID: the window's entries are
 * global), after the table writes before it. From the guest's EL2 (an
 * EL1 in hardware) KVM traps it and must drop what it caches of the VA
 * too (nested.c invalidate_vncr_va()). */
#define ARCH_HAS_EL2_TLBI 1

static inline void arch_tlbi_el2(uint64_t va, bool all, bool tge)
{
	/* tge: HCR_EL2.TGE (bit 27) set around it, the guest hypervisor "in
	 * host" as a VHE host runs; its EL2&0 regime is the same either
	 * way. */
	uint64_t hcr;
	asm volatile("mrs %0, hcr_el2" : "=r"(hcr));
	if (tge)
		asm volatile("msr hcr_el2, %0\n\tisb" : : "r"(hcr | (1ull << 27)) : "memory");
	if (all)
		asm volatile("dsb ishst\n\ttlbi alle2is\n\tdsb ish\n\tisb" ::: "memory");
	else
		asm volatile("dsb ishst\n\ttlbi vae2is, %0\n\tdsb ish\n\tisb"
			     : : "r"((va >> 12) & ((1ull << 44) - 1)) : "memory");
	if (tge)
		asm volatile("msr hcr_el2, %0\n\tisb" : : "r"(hcr) : "memory");
}

/* The exception level the program runs at (CurrentEL.EL). */
static inline uint64_t arch_level(void)
{
	uint64_t el;
	asm volatile("mrs %0, CurrentEL" : "=r"(el));
	return (el >> 2) & 3;
}

/* A loop that never exits to the host: the watchdog's self-test. */
[[noreturn]] static inline void arch_spin(void)
{
	for (;;)
		asm volatile("1: b 1b" ::: "memory");
}

/*
 * One 8-byte access at EL0 through el0_enter in start.S: the access is
 * recorded (guest.h Access) as the EL0 stub's instruction.
 */
#define ARCH_HAS_EL0 1

extern "C" uint64_t el0_enter(uint64_t entry, uint64_t addr, uint64_t value, uint64_t dest);
extern "C" char el0_load[], el0_store[];

static inline uint64_t arch_el0_access(bool is_store, uint64_t gva, uint64_t value)
{
	char *entry = is_store ? el0_store : el0_load;
	auto *acc = reinterpret_cast<volatile kvmc::guest::Access *>(kvmc::guest::access_gpa);
	acc->pc = reinterpret_cast<uint64_t>(entry);
	acc->next_pc = reinterpret_cast<uint64_t>(entry) + 4;
	acc->flags = is_store ? 0 : kvmc::guest::access_load;
	asm volatile("dsb sy" ::: "memory");
	return el0_enter(reinterpret_cast<uint64_t>(entry), gva, value, kvmc::guest::dest_canary);
}

/*
 * Hardware Access flag updates (FEAT_HAFDBS, ID_AA64MMFR1_EL1.HAFDBS >= 1):
 * with TCR_EL1.HA the walk writes AF into a descriptor that lacks it,
 * instead of an Access flag fault. Every descriptor the host wrote but
 * the window's has AF set, so nothing else changes. Returns whether the
 * CPU can.
 */
#define ARCH_HAS_HW_ACCESS_FLAG 1

static inline uint64_t arch_hw_access_flag(void)
{
	uint64_t mmfr1, tcr;
	asm volatile("mrs %0, id_aa64mmfr1_el1" : "=r"(mmfr1));
	if ((mmfr1 & 0xf) == 0)
		return 0;
	asm volatile("mrs %0, tcr_el1\n\torr %0, %0, %1\n\tmsr tcr_el1, %0\n\tisb\n\t"
		     "tlbi vmalle1\n\tdsb nsh\n\tisb"
		     : "=&r"(tcr)
		     : "r"(1ull << 39)
		     : "memory");
	return 1;
}

/*
 * SErrors become deliverable: PSTATE.A cleared (the program keeps D, I
 * and F masked). flags (guest.h serror_*): serror_route_el2, the guest
 * hypervisor first sets its HCR_EL2.AMO, so that an SError targets its
 * own EL2 (without it an SError targets EL1 and is not taken while the
 * program runs at EL2); serror_keep_masked, only that, PSTATE.A stays
 * set.
 * The ISB makes one pending now be taken here.
 */
#define ARCH_HAS_SERROR 1

static inline void arch_serror_unmask(uint64_t flags)
{
	if (flags & kvmc::guest::serror_route_el2) {
		uint64_t hcr;
		asm volatile("mrs %0, hcr_el2" : "=r"(hcr));
		asm volatile("msr hcr_el2, %0\n\tisb" : : "r"(hcr | hcr_amo) : "memory");
	}
	if (!(flags & kvmc::guest::serror_keep_masked))
		asm volatile("msr daifclr, #4\n\tisb" ::: "memory");
}

/*
 * An instruction the guest's CPU leaves UNDEFINED and that KVM traps: an
 * MRS of an IMPLEMENTATION DEFINED register (op0 3, CRn 15), which KVM's
 * HCR_EL2.TIDCP sends to EL2 and KVM has no handler for, so it must
 * inject the UNDEF the CPU would have raised (arch/arm64/kvm/sys_regs.c,
 * kvm_inject_undefined()). Recorded as the step's access.
 */
#define ARCH_HAS_UNDEFINED 1

static inline void arch_undefined(void)
{
	uint64_t v = 0;
	asm volatile(ARCH_ACCESS("0", "mrs %[x], S3_0_C15_C0_0")
		     : [x] "+r"(v)
		     : [acc] "r"(kvmc::guest::access_gpa)
		     : "x16", "x17", "memory");
}

/*
 * The guest hypervisor's GICv3 (its VM's in-kernel one): one SPI made
 * deliverable to this CPU, as a driver would, through the distributor's
 * registers (GICD_IGROUPR, IPRIORITYR, IROUTER, ISENABLER, CTLR with
 * ARE and EnableGrp1) and the CPU interface's (ICC_PMR_EL1,
 * ICC_IGRPEN1_EL1; S3_0_... as binutils 2.40 names no ICC registers).
 */
#define ARCH_HAS_GIC 1

static inline void arch_gic_enable_spi(uint64_t intid)
{
	volatile uint32_t *gicd = reinterpret_cast<volatile uint32_t *>(ARCH_GIC_DIST_GPA);
	const uint32_t group = gicd[0x80 / 4 + intid / 32];
	gicd[0x80 / 4 + intid / 32] = group | 1u << (intid % 32);
	reinterpret_cast<volatile uint8_t *>(ARCH_GIC_DIST_GPA)[0x400 + intid] = 0xa0;
	*reinterpret_cast<volatile uint64_t *>(ARCH_GIC_DIST_GPA + 0x6000 + 8 * intid) = 0;
	gicd[0x100 / 4 + intid / 32] = 1u << (intid % 32);
	gicd[0] = (1u << 4) | (1u << 1);
	asm volatile("dsb sy\n\tmsr S3_0_C4_C6_0, %0\n\tmsr S3_0_C12_C12_7, %1\n\tisb"
		     : : "r"(0xffull), "r"(1ull) : "memory");
}

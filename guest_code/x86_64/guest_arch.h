/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64 accesses of the fault program: one hand-picked instruction each,
 * so KVM's instruction emulator sees exactly the access the scenario asks
 * for (the compiler may neither merge nor split it).
 */
#pragma once

#include <stdint.h>

#include "guest.h"
#include "layout.h"

/*
 * One access instruction, recorded first (guest.h Access, C14): the
 * addresses of the instruction (label 1) and the next one (label 2), and
 * the flags. R10 is the scratch register; a load's destination is RAX,
 * preset to dest_canary.
 */
#define ARCH_RECORD(flags)                                                         \
	"lea 1f(%%rip), %%r10\n\tmov %%r10, (%[acc])\n\t"                          \
	"lea 2f(%%rip), %%r10\n\tmov %%r10, 8(%[acc])\n\t"                         \
	"movq $" flags ", 16(%[acc])\n"
#define ARCH_ACCESS(flags, insn) ARCH_RECORD(flags) "1:\t" insn "\n2:"
#define ARCH_LOAD(insn)                                                            \
	asm volatile(ARCH_ACCESS("1", insn)                                        \
		     : [v] "+a"(v)                                                 \
		     : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa)            \
		     : "r10", "memory")
#define ARCH_STORE(insn)                                                           \
	asm volatile(ARCH_ACCESS("0", insn)                                        \
		     :                                                             \
		     : [v] "r"(v), [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa) \
		     : "r10", "memory")

static inline uint64_t arch_load(uint64_t gpa, uint32_t width)
{
	uint64_t v = kvmc::guest::dest_canary;
	switch (width) {
	case 1: ARCH_LOAD("movzbl (%[a]), %k[v]"); break;
	case 2: ARCH_LOAD("movzwl (%[a]), %k[v]"); break;
	case 4: ARCH_LOAD("movl (%[a]), %k[v]"); break;
	default: ARCH_LOAD("movq (%[a]), %[v]"); break;
	}
	return v;
}

/* Sign-extending loads (MOVSX/MOVSXD), decoded by KVM's emulator. A
 * 32-bit destination zeroes bits [63:32] of the register. */
static inline uint64_t arch_load_signed(uint64_t gpa, uint32_t width, uint64_t reg_bytes)
{
	uint64_t v = kvmc::guest::dest_canary;
	if (reg_bytes == 4) {
		switch (width) {
		case 1: ARCH_LOAD("movsbl (%[a]), %k[v]"); break;
		default: ARCH_LOAD("movswl (%[a]), %k[v]"); break;
		}
	} else {
		switch (width) {
		case 1: ARCH_LOAD("movsbq (%[a]), %[v]"); break;
		case 2: ARCH_LOAD("movswq (%[a]), %[v]"); break;
		default: ARCH_LOAD("movslq (%[a]), %[v]"); break;
		}
	}
	return v;
}

static inline void arch_store(uint64_t gpa, uint32_t width, uint64_t v)
{
	switch (width) {
	case 1: ARCH_STORE("movb %b[v], (%[a])"); break;
	case 2: ARCH_STORE("movw %w[v], (%[a])"); break;
	case 4: ARCH_STORE("movl %k[v], (%[a])"); break;
	default: ARCH_STORE("movq %[v], (%[a])"); break;
	}
}

/*
 * 16-byte moves through XMM0 (MOVDQU: SSE, unaligned), which KVM's
 * emulator carries out as MMIO fragments of at most 8 bytes (arch/x86/kvm/
 * x86.c, emulator_read_write and complete_emulated_mmio). The register's
 * other side is the 16 bytes at buffer, in RAM. The guest is built
 * without vector registers (-mgeneral-regs-only): nothing else lives in
 * XMM0, and the compiler will not hear of it as a clobber.
 */
#define ARCH_HAS_REP_STORE 1

/* REP STOSB: count bytes of value from gpa up; the access record names
 * the one instruction, however many times KVM has to restart it. */
static inline void arch_rep_store(uint64_t gpa, uint64_t count, uint8_t value)
{
	asm volatile("cld\n\t" ARCH_ACCESS("0", "rep stosb")
		     : "+D"(gpa), "+c"(count)
		     : "a"(value), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory", "cc");
}

#define ARCH_HAS_VECTOR_MOVE 1

static inline void arch_load_vector(uint64_t gpa, uint64_t buffer)
{
	asm volatile(ARCH_ACCESS("0", "movdqu (%[a]), %%xmm0") "\n\tmovdqu %%xmm0, (%[b])"
		     :
		     : [a] "r"(gpa), [b] "r"(buffer), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
}

static inline void arch_store_vector(uint64_t gpa, uint64_t buffer)
{
	asm volatile("movdqu (%[b]), %%xmm0\n\t" ARCH_ACCESS("0", "movdqu %%xmm0, (%[a])")
		     :
		     : [a] "r"(gpa), [b] "r"(buffer), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
}

/*
 * An access at CPL 3 (#PF U/S, and KVM's #UD there): IRETQ to the user
 * code and data selectors on the same stack, then the access, recorded
 * as usual (the page tables let CPL 3 reach the code, stack and
 * mailbox). Nothing brings the program back to CPL 0 but an exception,
 * so these are for accesses that fault; one that completes runs into
 * UD2. x87 FILD is a load KVM's instruction emulator has no entry for
 * (arch/x86/kvm/emulate.c: nothing under opcode 0xdf).
 */
#define ARCH_HAS_USER_MODE 1

enum class UserAccess { load, store, x87_load };

#define ARCH_TO_CPL3                                                               \
	"mov %%rsp, %%r11\n\tpushq %[ss]\n\tpushq %%r11\n\tpushfq\n\tpushq %[cs]\n\t"  \
	"lea 3f(%%rip), %%r11\n\tpushq %%r11\n\tiretq\n3:\n\t"
#define ARCH_USER_ACCESS(flags, insn, ...)                                         \
	asm volatile(ARCH_TO_CPL3 ARCH_ACCESS(flags, insn) "\n\tud2"                 \
		     :                                                             \
		     : [v] "r"(v), [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa), \
		       [ss] "i"(ARCH_SEL_USER_DATA | 3), [cs] "i"(ARCH_SEL_USER_CODE | 3) \
		     : "r10", "r11", "memory", ##__VA_ARGS__)

[[noreturn]] static inline void arch_user_access(UserAccess how, uint64_t gpa, uint64_t v)
{
	switch (how) {
	case UserAccess::load: ARCH_USER_ACCESS("1", "movq (%[a]), %%rax", "rax"); break;
	case UserAccess::store: ARCH_USER_ACCESS("0", "movq %[v], (%[a])"); break;
	case UserAccess::x87_load: ARCH_USER_ACCESS("0", "fildll (%[a])"); break;
	}
	__builtin_unreachable();
}

/* UD2, which KVM intercepts (#UD) to look for instructions it emulates
 * and must hand back to the guest as #UD (arch/x86/kvm/x86.c
 * handle_ud(), EMULTYPE_TRAP_UD). Recorded as the step's access. */
#define ARCH_HAS_UNDEFINED 1

static inline void arch_undefined(void)
{
	asm volatile(ARCH_ACCESS("0", "ud2") : : [acc] "r"(kvmc::guest::access_gpa) : "r10", "memory");
}

/* An x87 FILD at CPL 0: KVM's emulator has no entry for it (emulate.c:
 * nothing under opcode 0xdf), so at MMIO emulation fails. The loaded
 * value stays on the x87 stack; nothing else uses it. */
#define ARCH_HAS_X87 1

static inline void arch_x87_load(uint64_t gpa)
{
	asm volatile(ARCH_ACCESS("0", "fildll (%[a])") : : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa) : "r10", "memory");
}

static inline void arch_x87_store_zero(uint64_t gpa)
{
	asm volatile("fldz\n\t" ARCH_ACCESS("0", "fistpll (%[a])")
		     : : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa) : "r10", "memory");
}

/* String port I/O, which KVM carries out through its instruction
 * emulator (arch/x86/kvm/x86.c emulator_pio_in_out()). */
#define ARCH_HAS_STRING_IO 1

static inline void arch_string_io(bool in, uint64_t port, uint64_t mem, uint64_t count)
{
	if (in)
		asm volatile("cld\n\t" ARCH_ACCESS("0", "rep insb")
			     : "+D"(mem), "+c"(count)
			     : "d"((uint16_t)port), [acc] "r"(kvmc::guest::access_gpa)
			     : "r10", "memory", "cc");
	else
		asm volatile("cld\n\t" ARCH_ACCESS("0", "rep outsb")
			     : "+S"(mem), "+c"(count)
			     : "d"((uint16_t)port), [acc] "r"(kvmc::guest::access_gpa)
			     : "r10", "memory", "cc");
}

/* An access with EFLAGS.TF set by the POPF before it: the architecture
 * takes the single-step trap after the instruction that follows the POPF,
 * the access. The record is written before TF is set, so only the access
 * is stepped; nothing comes back from the #DB handler. */
#define ARCH_HAS_TF_STEP 1

/* The access record, then TF set by POPF, then the access (label 1) and
 * the UD2 after it (label 2). */
#define ARCH_TF_ACCESS(insn)                                                       \
	ARCH_RECORD("0") "\tpushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n"                 \
	"1:\t" insn "\n2:\tud2"

[[noreturn]] static inline void arch_tf_access(uint64_t gpa, uint64_t store)
{
	if (store)
		asm volatile(ARCH_TF_ACCESS("movq %[v], (%[a])")
			     : : [a] "r"(gpa), [v] "r"(~0ull), [acc] "r"(kvmc::guest::access_gpa) : "r10", "memory", "cc");
	else
		asm volatile(ARCH_TF_ACCESS("movq (%[a]), %%rax")
			     : : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa) : "rax", "r10", "memory", "cc");
	__builtin_unreachable();
}

/* Control flow and flags through MMIO, both emulated by KVM: an
 * indirect JMP whose pointer is loaded from gpa (the host points it past
 * the UD2 that follows), and POPF with the stack pointer at gpa for that
 * one instruction. */
#define ARCH_HAS_MMIO_CONTROL 1

static inline void arch_jump_via(uint64_t gpa)
{
	asm volatile(ARCH_ACCESS("0", "jmp *(%[a])") "\n\tud2"
		     : : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa) : "r10", "memory");
}

static inline uint64_t arch_popf_from(uint64_t gpa)
{
	uint64_t flags;
	asm volatile("mov %%rsp, %%r11\n\tmov %[a], %%rsp\n\t" ARCH_ACCESS("0", "popfq")
		     "\n\tmov %%r11, %%rsp\n\tpushfq\n\tpopq %[f]\n\tcli"
		     : [f] "=r"(flags)
		     : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "r11", "memory", "cc");
	return flags;
}

/* IRETQ with the stack at gpa: in 64-bit mode KVM's emulator decodes
 * it but has no way to carry it out (emulate.c em_iret()), so from MMIO
 * it is an instruction that fails after decoding. */
static inline void arch_iret_from(uint64_t gpa)
{
	asm volatile("mov %%rsp, %%r11\n\tmov %[a], %%rsp\n\t" ARCH_ACCESS("0", "iretq")
		     "\n\tmov %%r11, %%rsp\n\tud2"
		     : : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa) : "r10", "r11", "memory", "cc");
}

/* REP MOVSB: the emulator's other string access, a read per iteration
 * from the source and a write to the destination. */
#define ARCH_HAS_REP_MOVE 1

static inline void arch_rep_move(uint64_t src, uint64_t dst, uint64_t count)
{
	asm volatile("cld\n\t" ARCH_ACCESS("0", "rep movsb")
		     : "+S"(src), "+D"(dst), "+c"(count)
		     : [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory", "cc");
}

/* RDMSR and WRMSR: KVM intercepts every MSR it does not pass through,
 * and may hand one it does not know to userspace
 * (KVM_CAP_X86_USER_SPACE_MSR). */
#define ARCH_HAS_MSR 1

static inline uint64_t arch_rdmsr(uint32_t index)
{
	uint32_t lo, hi;
	asm volatile(ARCH_ACCESS("0", "rdmsr")
		     : "=a"(lo), "=d"(hi)
		     : "c"(index), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
	return (uint64_t)hi << 32 | lo;
}

static inline void arch_wrmsr(uint32_t index, uint64_t value)
{
	asm volatile(ARCH_ACCESS("0", "wrmsr")
		     : : "c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)),
		       [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
}

#define ARCH_HAS_INVLPG 1

static inline void arch_invlpg(uint64_t gva)
{
	asm volatile("invlpg (%0)" : : "r"(gva) : "memory");
}

/* KVM's forced-emulation prefix (arch/x86/kvm/x86.c handle_ud(), with
 * kvm.force_emulation_prefix set): UD2 then "kvm", and KVM's emulator runs
 * the instruction after it as if it had intercepted it. */
#define ARCH_HAS_FORCED_EMULATION 1
#define ARCH_FEP "ud2; .ascii \"kvm\"\n\t"

static inline uint64_t arch_forced_rdmsr(uint32_t index)
{
	uint32_t lo, hi;
	asm volatile(ARCH_RECORD("0") ARCH_FEP "1:\trdmsr\n2:"
		     : "=a"(lo), "=d"(hi)
		     : "c"(index), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
	return (uint64_t)hi << 32 | lo;
}

/* DR0 = the NOP after the prefix, DR7 enables it as an execute
 * breakpoint (L0, R/W0 = LEN0 = 0; bit 10 reads as one). */
static inline void arch_forced_breakpoint(void)
{
	asm volatile("lea 1f(%%rip), %%r11\n\tmov %%r11, %%dr0\n\tmov %[dr7], %%r11\n\tmov %%r11, %%dr7\n\t"
		     ARCH_RECORD("0") ARCH_FEP "1:\tnop\n2:\txor %%r11d, %%r11d\n\tmov %%r11, %%dr7"
		     : : [dr7] "i"(0x401), [acc] "r"(kvmc::guest::access_gpa) : "r10", "r11", "memory");
}

/* The arm64 pair accesses (no valid syndrome) have no x86 counterpart:
 * ordering one here raises #UD, which the guest reports to the host. */
static inline void arch_clean_cache(uint64_t gpa)
{
	asm volatile(ARCH_ACCESS("0", "clflush (%[a])")
		     :
		     : [a] "r"(gpa), [acc] "r"(kvmc::guest::access_gpa)
		     : "r10", "memory");
}

static inline uint64_t arch_load_pair(uint64_t)
{
	asm volatile("ud2");
	return 0;
}

static inline void arch_store_pair(uint64_t, uint64_t)
{
	asm volatile("ud2");
}

static inline uint64_t arch_load_writeback(uint64_t)
{
	asm volatile("ud2");
	return 0;
}

static inline void arch_fetch(uint64_t gpa)
{
	asm volatile("call *%0" : : "r"(gpa) : "memory", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
		     "r10", "r11");
}

/* A loop that never exits to the host: the watchdog's self-test. */
[[noreturn]] static inline void arch_spin(void)
{
	for (;;)
		asm volatile("1: jmp 1b" ::: "memory");
}

/* The ucall doorbell: a 32-bit OUT of the block's address (below 4 GiB). */
static inline void arch_ucall(uint64_t block_gpa)
{
	asm volatile("outl %k0, %w1" : : "a"(block_gpa), "Nd"((uint16_t)ARCH_UCALL_PORT) : "memory");
}

/*
 * The guest as a hypervisor (AMD SVM; the host offers SVM in CPUID):
 * one access by a nested guest, run with VMRUN until it exits back
 * (include/x86_64/svm.h, layout.h). The nested guest runs the guest's own
 * code in 64-bit mode with the guest's own page tables and GDT, through
 * the nested page tables the host prepared (identity but for a window);
 * its program is one access and VMMCALL (start.S svm_l2_*). Every
 * exception, interrupt, port and MSR access of the nested guest comes to
 * the guest hypervisor (#VMEXIT); a #VMEXIT other than its VMMCALL is
 * reported as the exception ucall: the exit code, EXITINFO1, EXITINFO2,
 * the nested guest's RIP and RFLAGS in the VMCB, and EXITINTINFO.
 */
#define ARCH_HAS_NESTED 1
#define ARCH_HAS_SVM 1

#include "x86_64/svm.h"

enum class NestedAccess { load, store, load_pair, fetch, load_s1, store_s1, vncr_load, vncr_store };

extern "C" char svm_l2_load[], svm_l2_load_next[], svm_l2_store[], svm_l2_store_next[];
extern "C" [[noreturn]] void guest_exception(uint64_t vector, uint64_t syndrome, uint64_t addr, uint64_t pc,
					      uint64_t pstate, uint64_t hpfar);

static inline uint64_t svm_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static inline void svm_wrmsr(uint32_t msr, uint64_t v)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline volatile kvmc::guest::SvmConfig *svm_config()
{
	return reinterpret_cast<volatile kvmc::guest::SvmConfig *>(ARCH_RAM_GPA + ARCH_SVM_CONFIG_OFFSET);
}

static inline uint64_t svm_structure(kvmc::guest::SvmStructure which, uint64_t default_offset)
{
	uint64_t gpa = svm_config()->gpa[which];
	return gpa ? gpa : ARCH_RAM_GPA + default_offset;
}

/* The nested guest's VMCB: the guest's own execution state, the nested
 * guest's entry, the intercepts and the nested page tables. */
static inline void svm_prepare_vmcb(volatile kvmc::svm::Vmcb *v, uint64_t entry)
{
	using namespace kvmc::svm;
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} gdtr, idtr;
	uint64_t cr0, cr3, cr4;
	asm volatile("sgdt %0\n\tsidt %1" : "=m"(gdtr), "=m"(idtr));
	asm volatile("mov %%cr0, %0\n\tmov %%cr3, %1\n\tmov %%cr4, %2" : "=r"(cr0), "=r"(cr3), "=r"(cr4));

	for (unsigned i = 0; i < sizeof(Vmcb) / 8; i++)
		reinterpret_cast<volatile uint64_t *>(v)[i] = 0;
	v->control.intercept_exceptions = 0xffffffff;
	v->control.intercept_misc1 = intercept_intr | intercept_nmi | intercept_hlt | intercept_ioio |
				     intercept_msr | intercept_shutdown;
	v->control.intercept_misc2 = intercept_vmrun | intercept_vmmcall;
	v->control.iopm_base_pa = svm_structure(kvmc::guest::svm_iopm, ARCH_IOPM_OFFSET);
	v->control.msrpm_base_pa = svm_structure(kvmc::guest::svm_msrpm, ARCH_MSRPM_OFFSET);
	v->control.asid = 1;
	v->control.tlb_control = 1; /* flush the nested guest's TLB entries at every VMRUN */
	v->control.np_enable = svm_config()->gpa[kvmc::guest::svm_nested_paging_off] ? 0 : 1;
	v->control.nested_cr3 = svm_structure(kvmc::guest::svm_ncr3, ARCH_NPT_OFFSET);

	/* 64-bit code (type 0xb, S, P, L, G) and data (type 3, S, P, D/B, G),
	 * as the host set the guest's (lib/x86_64/arch.cpp). */
	auto segment = [](volatile Segment &seg, uint16_t selector, uint16_t attrib, uint32_t limit, uint64_t base) {
		seg.selector = selector;
		seg.attrib = attrib;
		seg.limit = limit;
		seg.base = base;
	};
	segment(v->save.es, ARCH_SEL_DATA, 0xc93, 0xffffffff, 0);
	segment(v->save.ss, ARCH_SEL_DATA, 0xc93, 0xffffffff, 0);
	segment(v->save.ds, ARCH_SEL_DATA, 0xc93, 0xffffffff, 0);
	segment(v->save.fs, ARCH_SEL_DATA, 0xc93, 0xffffffff, 0);
	segment(v->save.gs, ARCH_SEL_DATA, 0xc93, 0xffffffff, 0);
	segment(v->save.cs, ARCH_SEL_CODE, 0xa9b, 0xffffffff, 0);
	segment(v->save.gdtr, 0, 0, gdtr.limit, gdtr.base);
	segment(v->save.idtr, 0, 0, idtr.limit, idtr.base);
	segment(v->save.tr, ARCH_SEL_TSS, 0x8b, 0x67, ARCH_RAM_GPA + ARCH_TSS_OFFSET);
	v->save.efer = svm_rdmsr(msr_efer);
	v->save.cr0 = cr0;
	v->save.cr3 = cr3;
	v->save.cr4 = cr4;
	v->save.dr7 = 0x400;
	v->save.dr6 = 0xffff0ff0;
	v->save.rflags = 0x2;
	v->save.rip = entry;
	v->save.rsp = ARCH_RAM_GPA + ARCH_NESTED_STACK_TOP_OFFSET;
	v->save.rax = kvmc::guest::dest_canary;
	v->save.g_pat = 0x0007040600070406ull; /* the power-on PAT */
}

static inline uint64_t arch_nested(NestedAccess what, uint64_t gva, uint64_t value)
{
	using namespace kvmc::svm;
	if (what != NestedAccess::load && what != NestedAccess::store && what != NestedAccess::fetch)
		asm volatile("ud2"); /* arm64 only */
	const bool load = what == NestedAccess::load;
	const bool fetch = what == NestedAccess::fetch;
	/* A fetch: the nested guest starts at gva itself. */
	char *entry = fetch ? reinterpret_cast<char *>(gva) : load ? svm_l2_load : svm_l2_store;

	svm_wrmsr(msr_efer, svm_rdmsr(msr_efer) | efer_svme);
	svm_wrmsr(msr_vm_hsave_pa, ARCH_RAM_GPA + ARCH_HSAVE_OFFSET);
	const uint64_t vmcb_gpa = svm_structure(kvmc::guest::svm_vmcb, ARCH_VMCB_OFFSET);
	auto *v = reinterpret_cast<volatile Vmcb *>(vmcb_gpa);
	/* A VMCB elsewhere is the host's to prepare (NX3): a write to it
	 * could itself exit. */
	if (vmcb_gpa == ARCH_RAM_GPA + ARCH_VMCB_OFFSET)
		svm_prepare_vmcb(v, reinterpret_cast<uint64_t>(entry));

	/* C14: the nested guest's access is its program's first
	 * instruction; its destination is its RAX (the VMCB's, preset to
	 * dest_canary), which KVM_GET_REGS reads while it runs. */
	volatile kvmc::guest::Access *access = reinterpret_cast<volatile kvmc::guest::Access *>(kvmc::guest::access_gpa);
	if (!fetch) {
		access->pc = reinterpret_cast<uint64_t>(entry);
		access->next_pc = reinterpret_cast<uint64_t>(load ? svm_l2_load_next : svm_l2_store_next);
		access->flags = load ? kvmc::guest::access_load : 0;
	}

	/* VMRUN keeps every register but RAX, RSP and RIP: the nested guest
	 * gets its address in RDI and the value to store in RSI. GIF is
	 * clear after #VMEXIT; STGI sets it again. */
	asm volatile("vmrun %%rax\n\tstgi"
		     :
		     : "a"(vmcb_gpa), "D"(gva), "S"(value)
		     : "memory", "cc", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
	if (v->control.exit_code != exit_vmmcall)
		guest_exception(v->control.exit_code, v->control.exit_info_1, v->control.exit_info_2, v->save.rip,
				v->save.rflags, v->control.exit_int_info);
	return v->save.rax;
}

/* What the guest runs at: 1 once it is a hypervisor (EFER.SVME set). */
static inline uint64_t arch_level(void)
{
	return (svm_rdmsr(kvmc::svm::msr_efer) & kvmc::svm::efer_svme) ? 1 : 0;
}

static inline void arch_svm_config(uint64_t which, uint64_t gpa)
{
	if (which < kvmc::guest::svm_structures)
		svm_config()->gpa[which] = gpa;
}

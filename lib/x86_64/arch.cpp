// SPDX-License-Identifier: GPL-2.0
/*
 * x86_64 hooks: CPUID, a vCPU that starts in 64-bit long mode, the
 * identity map, GDT and TSS, and the port I/O ucall doorbell.
 */
#include "arch.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <sys/ioctl.h>

#include "layout.h"
#include "names.h"
#include "x86_64/exception.h"
#include "x86_64/nested.h"
#include "x86_64/svm.h"
#include "x86_64/window.h"

namespace kvmc::arch {

namespace {

constexpr uint64_t pte_present = 1ull << 0;
constexpr uint64_t pte_write = 1ull << 1;
constexpr uint64_t pte_user = 1ull << 2;
constexpr uint64_t pte_pwt = 1ull << 3;
constexpr uint64_t pte_pcd = 1ull << 4;
constexpr uint64_t pte_large = 1ull << 7;
/* Reserved in every paging-structure entry while MAXPHYADDR < 52 (the
 * guest's CPUID says what KVM's does: at most 52, in practice less). */
constexpr uint64_t pte_reserved_51 = 1ull << 51;
constexpr uint64_t large_page = 2ull << 20;
constexpr uint64_t table_size = 4096;

constexpr uint64_t cr0_pe = 1ull << 0, cr0_mp = 1ull << 1, cr0_et = 1ull << 4, cr0_ne = 1ull << 5,
		   cr0_wp = 1ull << 16, cr0_pg = 1ull << 31;
constexpr uint64_t cr4_pae = 1ull << 5, cr4_osfxsr = 1ull << 9;
constexpr uint64_t efer_lme = 1ull << 8, efer_lma = 1ull << 10, efer_nxe = 1ull << 11;

/* GDT: null, 64-bit code, data, the 16-byte TSS descriptor, then data
 * and 64-bit code at DPL 3. */
constexpr uint64_t gdt_code64 = 0x00af9b000000ffffull;
constexpr uint64_t gdt_data = 0x00cf93000000ffffull;
constexpr uint64_t gdt_user_code64 = 0x00affb000000ffffull;
constexpr uint64_t gdt_user_data = 0x00cff3000000ffffull;
constexpr uint32_t tss_limit = 0x67;
constexpr uint32_t tss_rsp0 = 4;
constexpr uint32_t gdt_entries = 7;

struct kvm_segment segment(uint16_t selector, uint8_t type, bool code)
{
	struct kvm_segment s {};
	s.base = 0;
	s.limit = 0xffffffff;
	s.selector = selector;
	s.type = type;
	s.present = 1;
	s.dpl = 0;
	s.db = code ? 0 : 1;
	s.s = 1;
	s.l = code ? 1 : 0;
	s.g = 1;
	return s;
}

} /* namespace */

/* KVM_GET_SUPPORTED_CPUID, every entry. */
static std::unique_ptr<uint8_t[]> supported_cpuid(const Kvm &kvm)
{
	int n = 64;
	std::unique_ptr<uint8_t[]> buf;
	for (;;) {
		buf.reset(new uint8_t[sizeof(struct kvm_cpuid2) + n * sizeof(struct kvm_cpuid_entry2)]());
		auto *cpuid = reinterpret_cast<struct kvm_cpuid2 *>(buf.get());
		cpuid->nent = n;
		if (ioctl(kvm.fd(), KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			return buf;
		if (errno != E2BIG)
			die("KVM_GET_SUPPORTED_CPUID: %s", errno_name(errno).c_str());
		n *= 2;
	}
}

static const struct kvm_cpuid_entry2 *cpuid_entry(const uint8_t *buf, uint32_t function)
{
	auto *cpuid = reinterpret_cast<const struct kvm_cpuid2 *>(buf);
	for (uint32_t i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == function && cpuid->entries[i].index == 0)
			return &cpuid->entries[i];
	return nullptr;
}

/* The guest as a hypervisor: the same vCPU, its CPUID (all KVM supports)
 * offering SVM, which KVM's kvm_amd does only with nested=1. */
void hypervisor_init(Vcpu &vcpu)
{
	if (auto why = hypervisor_unavailable(vcpu.vm().kvm()))
		die("x86_64: the guest cannot be a hypervisor: %s", why->c_str());
	vcpu_init(vcpu);
}

std::optional<std::string> hypervisor_unavailable(const Kvm &kvm)
{
	auto buf = supported_cpuid(kvm);
	/* CPUID 0x80000001 ECX bit 2: SVM (AMD APM vol. 3, appendix E). */
	const struct kvm_cpuid_entry2 *ext = cpuid_entry(buf.get(), 0x80000001);
	if (!ext || !(ext->ecx & (1u << 2)))
		return "KVM offers no SVM in CPUID (needs kvm_amd with nested=1, on an AMD CPU or QEMU's "
		       "emulation of one): the guest cannot be a hypervisor";
	return std::nullopt;
}

} /* namespace kvmc::arch */

namespace kvmc::x86 {

std::optional<std::string> nested_paging_unavailable(const Kvm &kvm)
{
	auto buf = arch::supported_cpuid(kvm);
	/* CPUID 0x8000000a EDX bit 0: nested paging. */
	const struct kvm_cpuid_entry2 *svm = arch::cpuid_entry(buf.get(), 0x8000000a);
	if (!svm || !(svm->edx & 1u))
		return "KVM offers SVM without nested paging (NPT) to its guest (kvm_amd npt=0, e.g. "
		       "x86_64-shadow): the guest hypervisor has no nested page tables to run its nested guest "
		       "through (the *_no_npt variants run without them)";
	return std::nullopt;
}

} /* namespace kvmc::x86 */

namespace kvmc::arch {

void vcpu_init(Vcpu &vcpu, unsigned phys_bits)
{
	/* Long mode needs CPUID.LM in the guest's CPUID: give the vCPU all
	 * KVM supports, as the kernel's selftests do. */
	int n = 64;
	std::unique_ptr<uint8_t[]> buf;
	struct kvm_cpuid2 *cpuid;
	for (;;) {
		buf.reset(new uint8_t[sizeof(struct kvm_cpuid2) + n * sizeof(struct kvm_cpuid_entry2)]());
		cpuid = reinterpret_cast<struct kvm_cpuid2 *>(buf.get());
		cpuid->nent = n;
		if (ioctl(vcpu.vm().kvm().fd(), KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		if (errno != E2BIG)
			die("KVM_GET_SUPPORTED_CPUID: %s", errno_name(errno).c_str());
		n *= 2;
	}
	for (uint32_t i = 0; phys_bits && i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 0x80000008)
			cpuid->entries[i].eax = (cpuid->entries[i].eax & ~0xffu) | phys_bits;
	if (ioctl(vcpu.fd(), KVM_SET_CPUID2, cpuid))
		die("KVM_SET_CPUID2(%u entries): %s", cpuid->nent, errno_name(errno).c_str());
}

void vcpu_boot(Vcpu &vcpu)
{
	struct kvm_sregs sregs {};
	if (ioctl(vcpu.fd(), KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS: %s", errno_name(errno).c_str());
	sregs.cr0 = cr0_pe | cr0_mp | cr0_et | cr0_ne | cr0_wp | cr0_pg;
	sregs.cr3 = ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET;
	/* OSFXSR: SSE instructions (the 16-byte MMIO moves) do not #UD.
	 * NXE: a #PF error code's I/D bit is defined (AMD APM 8.4.2). */
	sregs.cr4 = cr4_pae | cr4_osfxsr;
	sregs.efer = efer_lme | efer_lma | efer_nxe;
	sregs.cs = segment(ARCH_SEL_CODE, 11, true);	/* execute/read, accessed */
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = segment(ARCH_SEL_DATA, 3, false);
	/* VMX insists on a busy 64-bit TSS in TR even if nothing uses it. */
	sregs.tr = {};
	sregs.tr.base = ARCH_RAM_GPA + ARCH_TSS_OFFSET;
	sregs.tr.limit = tss_limit;
	sregs.tr.selector = ARCH_SEL_TSS;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	sregs.ldt = {};
	sregs.ldt.unusable = 1;
	sregs.gdt.base = ARCH_RAM_GPA + ARCH_GDT_OFFSET;
	sregs.gdt.limit = gdt_entries * 8 - 1;
	if (ioctl(vcpu.fd(), KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS: %s", errno_name(errno).c_str());

	struct kvm_regs regs {};
	regs.rip = ARCH_RAM_GPA;
	regs.rsp = ARCH_RAM_GPA + ARCH_STACK_TOP_OFFSET;
	regs.rflags = 0x2; /* bit 1 is reserved, always set */
	if (ioctl(vcpu.fd(), KVM_SET_REGS, &regs))
		die("KVM_SET_REGS: %s", errno_name(errno).c_str());
}

void prepare_ram(uint8_t *ram)
{
	/* PML4 -> one PDPT -> four PDs of 2 MiB pages: the low 4 GiB. Every
	 * entry but most of the window's 4 KiB pages allows CPL 3, so a step
	 * at CPL 3 runs the same code on the same stack (CR4.SMEP and SMAP
	 * are clear: CPL 0 keeps its access). */
	auto table = [ram](unsigned i) {
		return reinterpret_cast<uint64_t *>(ram + ARCH_PGTABLE_OFFSET + i * table_size);
	};
	const uint64_t tables_gpa = ARCH_RAM_GPA + ARCH_PGTABLE_OFFSET;
	table(0)[0] = (tables_gpa + table_size) | pte_present | pte_write | pte_user;
	for (unsigned pd = 0; pd < 4; pd++) {
		table(1)[pd] = (tables_gpa + (2 + pd) * table_size) | pte_present | pte_write | pte_user;
		for (unsigned i = 0; i < 512; i++) {
			uint64_t base = (uint64_t)pd << 30 | (uint64_t)i * large_page;
			uint64_t e = base | pte_present | pte_write | pte_user | pte_large;
			if (base >= ARCH_MMIO_GPA)
				e |= pte_pcd | pte_pwt; /* MMIO: uncached */
			table(2 + pd)[i] = e;
		}
	}
	/* M9: ARCH_BEYOND_GVA -> guest physical 1 << ARCH_SMALL_PHYS_BITS. */
	table(1)[ARCH_BEYOND_GVA >> 30] = (tables_gpa + 6 * table_size) | pte_present | pte_write;
	table(6)[0] = (1ull << ARCH_SMALL_PHYS_BITS) | pte_present | pte_write | pte_large;

	/* The window (x86_64/window.h): a PD whose first entry is a table
	 * of 4 KiB pages (supervisor pages, U/S clear, unless the list says
	 * otherwise), then two 2 MiB pages. */
	auto window_table = [ram](unsigned i) {
		return reinterpret_cast<uint64_t *>(ram + ARCH_WINDOW_TABLES_OFFSET + i * table_size);
	};
	const uint64_t window_tables_gpa = ARCH_RAM_GPA + ARCH_WINDOW_TABLES_OFFSET;
	uint64_t *window_pd = window_table(0), *window_pt = window_table(1);
	table(1)[ARCH_WINDOW_GVA >> 30] = window_tables_gpa | pte_present | pte_write | pte_user;
	window_pd[0] = (window_tables_gpa + table_size) | pte_present | pte_write | pte_user;
	for (unsigned n = 0; n < x86::window_pages; n++) {
		const x86::WindowPage &p = x86::window_page[n];
		uint64_t e = p.gpa | pte_present | pte_write | (p.mmio ? pte_pcd | pte_pwt : 0) |
			     (p.user ? pte_user : 0);
		switch (p.pte) {
		case x86::Pte::ordinary: break;
		case x86::Pte::not_present: e &= ~pte_present; break;
		case x86::Pte::read_only: e &= ~pte_write; break;
		case x86::Pte::reserved_bit: e |= pte_reserved_51; break;
		}
		window_pt[n] = e;
	}
	window_pd[(ARCH_WINDOW_LARGE_SLOT_GVA - ARCH_WINDOW_GVA) / large_page] =
		ARCH_WINDOW_LARGE_SLOT_GPA | pte_present | pte_write | pte_large;
	window_pd[(ARCH_WINDOW_LARGE_MMIO_GVA - ARCH_WINDOW_GVA) / large_page] =
		ARCH_WINDOW_LARGE_MMIO_GPA | pte_present | pte_write | pte_large | pte_pcd | pte_pwt;

	/* The guest hypervisor's nested page tables (layout.h). Every
	 * entry has U/S set: the processor treats every nested-page-table
	 * access as a user access (AMD APM vol. 2, 15.25.5). */
	auto npt = [ram](unsigned i) {
		return reinterpret_cast<uint64_t *>(ram + ARCH_NPT_OFFSET + i * table_size);
	};
	const uint64_t npt_gpa = ARCH_RAM_GPA + ARCH_NPT_OFFSET;
	const uint64_t npt_rwu = pte_present | pte_write | pte_user;
	npt(0)[0] = (npt_gpa + table_size) | npt_rwu;
	for (unsigned pd = 0; pd < 4; pd++) {
		npt(1)[pd] = (npt_gpa + (2 + pd) * table_size) | npt_rwu;
		for (unsigned i = 0; i < 512; i++)
			npt(2 + pd)[i] = ((uint64_t)pd << 30 | (uint64_t)i * large_page) | npt_rwu | pte_large;
	}
	const unsigned npt_window_pd = ARCH_NESTED_WINDOW_NPA >> 30;
	const unsigned window_pde = (ARCH_NESTED_WINDOW_NPA >> 21) & 511;
	npt(2 + npt_window_pd)[window_pde] = (npt_gpa + 6 * table_size) | npt_rwu;
	for (unsigned n = 0; n < ARCH_NESTED_WINDOW_PAGES; n++) {
		uint64_t e = (ARCH_TEST_GPA + n * table_size) | npt_rwu;
		if (n == ARCH_NESTED_PAGE_NOT_PRESENT)
			e = 0;
		else if (n == ARCH_NESTED_PAGE_RO)
			e &= ~pte_write;
		else if (n == ARCH_NESTED_PAGE_RSVD)
			e |= pte_reserved_51;
		npt(6)[n] = e;
	}
	/* ARCH_NESTED_WALK_GVA: a page directory at a nested-guest physical
	 * address the nested page tables do not map. */
	table(1)[ARCH_NESTED_WALK_GVA >> 30] =
		(ARCH_NESTED_WINDOW_NPA + ARCH_NESTED_PAGE_NOT_PRESENT * table_size) | pte_present | pte_write;

	/* MSR and I/O permission maps: every bit set, all intercepted. */
	memset(ram + ARCH_MSRPM_OFFSET, 0xff, svm::msrpm_bytes);
	memset(ram + ARCH_IOPM_OFFSET, 0xff, svm::iopm_bytes);

	auto *gdt = reinterpret_cast<uint64_t *>(ram + ARCH_GDT_OFFSET);
	const uint64_t tss = ARCH_RAM_GPA + ARCH_TSS_OFFSET;
	gdt[0] = 0;
	gdt[ARCH_SEL_CODE / 8] = gdt_code64;
	gdt[ARCH_SEL_DATA / 8] = gdt_data;
	/* Busy 64-bit TSS (type 11), present; base split over 16 bytes. */
	gdt[ARCH_SEL_TSS / 8] = tss_limit | (tss & 0xffffff) << 16 | 0x8bull << 40 |
				((tss >> 24) & 0xff) << 56;
	gdt[ARCH_SEL_TSS / 8 + 1] = tss >> 32;
	gdt[ARCH_SEL_USER_DATA / 8] = gdt_user_data;
	gdt[ARCH_SEL_USER_CODE / 8] = gdt_user_code64;
	/* An exception taken at CPL 3 switches to this stack (RSP0). */
	const uint64_t rsp0 = ARCH_RAM_GPA + ARCH_STACK_TOP_OFFSET;
	memcpy(ram + ARCH_TSS_OFFSET + tss_rsp0, &rsp0, sizeof(rsp0));
}

std::vector<uint8_t> return_instruction()
{
	return {0xc3}; /* RET near */
}

Expectation no_memslot_fetch(uint64_t)
{
	return Expectation::internal_error(rules::M3, KVM_INTERNAL_ERROR_EMULATION)
		.because("arch/x86/kvm/x86.c handle_emulation_failure(): the emulator cannot fetch "
			 "an instruction from a GPA without a memslot; at CPL 0 KVM exits with "
			 "KVM_INTERNAL_ERROR_EMULATION (and queues #UD for the guest)");
}

std::optional<SmallAddressSpace> small_address_space(const Kvm &kvm, std::string *why)
{
	/* Without it KVM lets the guest reach GPAs its CPUID calls
	 * reserved (SVM with NPT: arch/x86/kvm/svm/svm.c sets
	 * allow_smaller_maxphyaddr = !npt_enabled). */
	if (kvm.check_extension(KVM_CAP_SMALLER_MAXPHYADDR) != 1) {
		*why = "KVM_CAP_SMALLER_MAXPHYADDR is 0 (e.g. AMD with NPT, or VMX without "
		       "allow_smaller_maxphyaddr): KVM cannot give a guest a smaller MAXPHYADDR";
		return std::nullopt;
	}
	return SmallAddressSpace{0, ARCH_SMALL_PHYS_BITS, ARCH_BEYOND_GVA};
}

Expectation beyond_address_space(uint64_t gva)
{
	/* A load at CPL 0: P and RSV, nothing else (not W, U/S, I/D). */
	return Expectation::guest_exception(rules::M9, x86::page_fault(gva, x86::pf_present | x86::pf_rsvd,
								      "a page fault for a reserved bit (#PF, P|RSV)"))
		.because("KVM_CAP_SMALLER_MAXPHYADDR=1: a guest PTE with a physical address at or beyond "
			 "the guest's MAXPHYADDR sets reserved bits; KVM emulates the access and injects "
			 "#PF(RSVD) (arch/x86/kvm/vmx/vmx.c handle_ept_violation, kvm_vcpu_is_legal_gpa)");
}

std::optional<uint64_t> guest_pc(const Vcpu &vcpu)
{
	struct kvm_regs regs {};
	if (ioctl(vcpu.fd(), KVM_GET_REGS, &regs))
		return std::nullopt;
	return regs.rip;
}

GuestRegisters guest_registers(const Vcpu &vcpu)
{
	struct kvm_regs regs {};
	if (ioctl(vcpu.fd(), KVM_GET_REGS, &regs))
		return {};
	return {regs.rip, regs.rax};
}

std::optional<uint64_t> ucall_block(const Observation &obs)
{
	const auto &io = obs.run.io;
	if (obs.ret != 0 || obs.exit_reason() != KVM_EXIT_IO || io.port != ARCH_UCALL_PORT ||
	    io.direction != KVM_EXIT_IO_OUT || io.size != 4 || io.count != 1)
		return std::nullopt;
	uint32_t gpa;
	memcpy(&gpa, obs.io_data, sizeof(gpa));
	return gpa;
}

} /* namespace kvmc::arch */

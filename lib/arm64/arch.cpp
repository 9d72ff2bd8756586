// SPDX-License-Identifier: GPL-2.0
/* arm64 hooks: vCPU init, boot registers, identity map, ucall decoding. */
#include "arch.h"
#include "arm64/abort.h"
#include "arm64/stage1.h"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <sys/ioctl.h>

#include "layout.h"
#include "names.h"

namespace kvmc::arch {

namespace {

/* Register ids for KVM_{GET,SET}_ONE_REG on the core registers: the offset
 * into struct kvm_regs counted in 32-bit words (api.rst 4.68). */
constexpr uint64_t core_reg(size_t offset)
{
	return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(uint32_t));
}
const uint64_t reg_pc = core_reg(offsetof(struct kvm_regs, regs.pc));

/* Stage-1 block descriptor bits (4 KiB granule, level 1 block = 1 GiB). */
constexpr uint64_t desc_block = 0x1;
constexpr uint64_t desc_attr_index_shift = 2;
constexpr uint64_t desc_sh_inner = 0x3ull << 8;
constexpr uint64_t desc_af = 1ull << 10;
constexpr uint64_t desc_pxn = 1ull << 53;
constexpr uint64_t desc_uxn = 1ull << 54;
constexpr uint64_t block_size = 1ull << 30;
/* Stage-2 block: MemAttr 0b1111 (Normal write-back), S2AP read/write,
 * inner shareable, accessed; executable. */
constexpr uint64_t s2_block_rw = desc_block | (0xfull << 2) | (0x3ull << 6) | desc_sh_inner | desc_af;
/* A table descriptor (levels 0-2) and a page descriptor (level 3) have
 * both low bits set; S2AP is bits 7:6 (bit 6 read, bit 7 write). */
constexpr uint64_t desc_table = 0x3;
constexpr uint64_t s2ap_read = 1ull << 6;
constexpr uint64_t s2ap_write = 1ull << 7;
constexpr uint64_t s2_page_rw = desc_table | (0xfull << 2) | s2ap_read | s2ap_write | desc_sh_inner | desc_af;
constexpr uint64_t small_block_size = 1ull << 21;

} /* namespace */

void vcpu_init(Vcpu &vcpu, unsigned)
{
	struct kvm_vcpu_init init {};
	if (ioctl(vcpu.vm().fd(), KVM_ARM_PREFERRED_TARGET, &init))
		die("KVM_ARM_PREFERRED_TARGET: %s", errno_name(errno).c_str());
	if (ioctl(vcpu.fd(), KVM_ARM_VCPU_INIT, &init))
		die("KVM_ARM_VCPU_INIT(target %u): %s", init.target, errno_name(errno).c_str());
}

namespace {

/* Where the vGICv3 of a hypervisor guest sits: below RAM, in block 0 of
 * the identity map (Device memory), away from every memslot and from the
 * addresses scenarios use. The guest never touches it. */
constexpr uint64_t gic_dist_gpa = ARCH_GIC_DIST_GPA;
constexpr uint64_t gic_redist_gpa = ARCH_GIC_REDIST_GPA;
/* HCR_EL2 as the guest hypervisor starts: EL1 is AArch64 (RW), EL2 is
 * VHE (E2H, RES1 for a vCPU without KVM_ARM_VCPU_HAS_EL2_E2H0), so the
 * entry code's _EL1 register names reach the EL2 registers. */
constexpr uint64_t hcr_rw = 1ull << 31;
constexpr uint64_t hcr_e2h = 1ull << 34;
const uint64_t reg_hcr_el2 = ARM64_SYS_REG(3, 4, 1, 1, 0);

void set_device_attr(int fd, uint32_t group, uint64_t attr, const void *value, const char *what)
{
	struct kvm_device_attr a {};
	a.group = group;
	a.attr = attr;
	a.addr = reinterpret_cast<uint64_t>(value);
	if (ioctl(fd, KVM_SET_DEVICE_ATTR, &a))
		die("vGICv3 %s: %s", what, errno_name(errno).c_str());
}

} /* namespace */

std::optional<std::string> hypervisor_unavailable(const Kvm &kvm)
{
	if (kvm.check_extension(KVM_CAP_ARM_EL2) < 1)
		return std::string("KVM_CAP_ARM_EL2 is 0: KVM offers no nested virtualization here; it needs "
				   "FEAT_NV2 (under QEMU: 9.0 or newer with -cpu max, virtualization=on; "
				   "scripts/kvmc/qemu_newer.py) and kvm-arm.mode=nested on the kernel command line");
	return std::nullopt;
}

void hypervisor_init(Vcpu &vcpu)
{
	Vm &vm = vcpu.vm();
	struct kvm_create_device gic {};
	gic.type = KVM_DEV_TYPE_ARM_VGIC_V3;
	if (ioctl(vm.fd(), KVM_CREATE_DEVICE, &gic))
		die("KVM_CREATE_DEVICE(vGICv3): %s", errno_name(errno).c_str());
	/* The device lives as long as the VM; the fd is only for setup. */
	UniqueFd gic_fd(gic.fd);
	set_device_attr(gic_fd.get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &gic_dist_gpa,
			"distributor address");
	set_device_attr(gic_fd.get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &gic_redist_gpa,
			"redistributor address");

	struct kvm_vcpu_init init {};
	if (ioctl(vm.fd(), KVM_ARM_PREFERRED_TARGET, &init))
		die("KVM_ARM_PREFERRED_TARGET: %s", errno_name(errno).c_str());
	init.features[0] |= 1u << KVM_ARM_VCPU_HAS_EL2;
	if (ioctl(vcpu.fd(), KVM_ARM_VCPU_INIT, &init))
		die("KVM_ARM_VCPU_INIT(target %u, KVM_ARM_VCPU_HAS_EL2): %s", init.target, errno_name(errno).c_str());
	/* KVM's nested support wants the vGIC initialised before the first
	 * run (kvm_vgic_vcpu_nv_init() claims its maintenance interrupt). */
	set_device_attr(gic_fd.get(), KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr, "init");
	vcpu.set_one_reg(reg_hcr_el2, hcr_rw | hcr_e2h);
}

void vcpu_boot(Vcpu &vcpu)
{
	/* After KVM_ARM_VCPU_INIT the vCPU is in EL1h with interrupts
	 * masked and the MMU off; the entry code does the rest. */
	vcpu.set_one_reg(reg_pc, ARCH_RAM_GPA);
}

void prepare_ram(uint8_t *ram)
{
	auto *l1 = reinterpret_cast<uint64_t *>(ram + ARCH_PGTABLE_OFFSET);
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t base = i * block_size;
		bool normal = base == ARCH_RAM_GPA || base == ARCH_TEST_GPA;
		uint64_t d = base | desc_block | desc_af;
		if (normal)
			d |= (uint64_t)ARCH_MAIR_NORMAL_WB << desc_attr_index_shift | desc_sh_inner;
		else
			d |= (uint64_t)ARCH_MAIR_DEVICE_nGnRE << desc_attr_index_shift | desc_pxn | desc_uxn;
		l1[i] = d;
	}
	l1[ARCH_NESTED_BAD_S1_VA / block_size] = ARCH_NESTED_BAD_S1_TABLE | desc_table;

	/* The stage-2 table a guest hypervisor hands its nested contexts
	 * (include/arm64/layout.h): Normal write-back, read/write, accessed. */
	auto *s2 = reinterpret_cast<uint64_t *>(ram + ARCH_S2_PGTABLE_OFFSET);
	for (uint64_t i = 0; i < 4; i++)
		s2[i] = i * block_size | s2_block_rw;
	s2[ARCH_NESTED_WINDOW_IPA / block_size] = ARCH_TEST_GPA | s2_block_rw;

	/* Where that stage-2 faults, level by level (layout.h); the hole at
	 * ARCH_NESTED_HOLE_IPA is the zero the RAM starts with. */
	auto *l2 = reinterpret_cast<uint64_t *>(ram + ARCH_S2_L2_OFFSET);
	auto *l3 = reinterpret_cast<uint64_t *>(ram + ARCH_S2_L3_OFFSET);
	s2[ARCH_NESTED_PAGES_IPA / block_size] = (ARCH_RAM_GPA + ARCH_S2_L2_OFFSET) | desc_table;
	l2[0] = (ARCH_RAM_GPA + ARCH_S2_L3_OFFSET) | desc_table;
	l2[(ARCH_NESTED_BLOCK_IPA - ARCH_NESTED_PAGES_IPA) / small_block_size] = ARCH_NESTED_BLOCK_GPA | s2_block_rw;
	l2[(ARCH_NESTED_BAD_TABLE_IPA - ARCH_NESTED_PAGES_IPA) / small_block_size] = ARCH_MMIO_GPA | desc_table;
	auto page = [](uint64_t n) { return ARCH_TEST_GPA + n * 0x1000; };
	l3[ARCH_NESTED_PAGE_RW] = page(ARCH_NESTED_PAGE_RW) | s2_page_rw;
	l3[ARCH_NESTED_PAGE_RO] = page(ARCH_NESTED_PAGE_RO) | (s2_page_rw & ~s2ap_write);
	l3[ARCH_NESTED_PAGE_WO] = page(ARCH_NESTED_PAGE_WO) | (s2_page_rw & ~s2ap_read);
	l3[ARCH_NESTED_PAGE_NO_AF] = page(ARCH_NESTED_PAGE_NO_AF) | (s2_page_rw & ~desc_af);

	prepare_window(ram);
}

namespace {

/* ESR_ELx: exception class in bits 31:26, IL (a 32-bit instruction) in
 * bit 25, fault status code in 5:0. */
constexpr uint64_t esr_ec_iabt_cur = 0x21ull << 26;
constexpr uint64_t esr_ec_dabt_cur = 0x25ull << 26;
constexpr uint64_t esr_il = 1ull << 25;
constexpr uint64_t esr_fsc_sea = 0x10; /* synchronous external abort */
constexpr uint64_t vector_sync_spx = 0x200;
/* The same from EL0: EC "from a lower EL", the lower-EL AArch64 vector,
 * SPSR M = EL0t; and the FSC of an abort on a translation table walk at
 * level 0 (one more per level). */
constexpr uint64_t esr_ec_dabt_low = 0x24ull << 26;
constexpr uint64_t esr_fsc_mask = 0x3f;
constexpr uint64_t esr_fsc_sea_ttw0 = 0x14;
constexpr uint64_t vector_lower_sync = 0x400;
constexpr uint64_t spsr_el0t_masked = 0x3c0;
/* SPSR_ELx: M[4:0] (AArch64, EL1 with SP_EL1) and DAIF, all masked as
 * KVM_ARM_VCPU_INIT leaves them and the guest keeps them. */
constexpr uint64_t spsr_mode_daif_mask = 0x3df;
constexpr uint64_t spsr_el1h_masked = 0x3c5;

/*
 * The whole ESR_EL1 of an external abort KVM injects
 * (arch/arm64/kvm/inject_fault.c inject_abt64()): EC for an abort taken
 * without a change of EL, IL set (every A64 instruction is 32 bits), FSC
 * 0x10 and nothing else. The Arm ARM leaves ISS bits such as WnR and ISV
 * to the implementation for an external abort; KVM sets none of them, and
 * FnV clear promises a valid FAR.
 */
GuestException injected_abort(uint64_t ec, uint64_t address, GuestException::Returns returns, const char *what)
{
	GuestException x;
	x.vector = vector_sync_spx;
	x.syndrome_mask = ~0ull;
	x.syndrome = ec | esr_il | esr_fsc_sea;
	x.address = address;
	x.returns = returns;
	x.pstate_mask = spsr_mode_daif_mask;
	x.pstate = spsr_el1h_masked;
	x.what = what;
	return x;
}
constexpr unsigned small_ipa_bits = 36;

} /* namespace */

std::vector<uint8_t> return_instruction()
{
	return {0xc0, 0x03, 0x5f, 0xd6}; /* RET (x30), little-endian */
}

Expectation no_memslot_fetch(uint64_t gpa)
{
	GuestException x = injected_abort(esr_ec_iabt_cur, gpa, GuestException::Returns::to_address,
					  "an instruction abort (synchronous external abort)");
	return Expectation::guest_exception(rules::M3, x)
		.because("arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): an instruction abort outside "
			 "every memslot sets -ENOEXEC, which it turns into kvm_inject_sea_iabt(); "
			 "KVM_RUN does not return ENOEXEC as api.rst 4.10 says");
}

std::optional<SmallAddressSpace> small_address_space(const Kvm &kvm, std::string *why)
{
	int max = kvm.check_extension(KVM_CAP_ARM_VM_IPA_SIZE);
	if (max <= (int)small_ipa_bits) {
		*why = "KVM_CAP_ARM_VM_IPA_SIZE is " + std::to_string(max) + ": no IPA size below the limit";
		return std::nullopt;
	}
	/* The identity map covers it (Device memory): VA == IPA. */
	return SmallAddressSpace{KVM_VM_TYPE_ARM_IPA_SIZE(small_ipa_bits), 0, 1ull << small_ipa_bits};
}

Expectation external_data_abort(Rule rule, uint64_t gpa, const char *basis)
{
	GuestException x = injected_abort(esr_ec_dabt_cur, gpa, GuestException::Returns::to_access,
					  "a data abort (synchronous external abort)");
	return Expectation::guest_exception(rule, x).because(basis);
}

/*
 * From EL0 (inject_abt64(): EC "from a lower EL" when PSTATE was EL0t)
 * the exception goes to the lower-EL AArch64 synchronous vector and SPSR
 * says EL0t; on a stage-1 walk the FSC is "synchronous external abort
 * on translation table walk" at the walk's level (ESR_ELx_FSC_SEA_TTW:
 * 0x14 + level, 0x13 for level -1).
 */
Expectation external_data_abort(Rule rule, uint64_t gva, const char *basis, AbortSource source)
{
	GuestException x = injected_abort(source.el0 ? esr_ec_dabt_low : esr_ec_dabt_cur, gva,
					  GuestException::Returns::to_access,
					  source.walk_level >= -1 ? "a data abort (synchronous external abort on "
								    "the stage-1 translation table walk)"
								  : "a data abort (synchronous external abort)");
	if (source.walk_level >= -1)
		x.syndrome = (x.syndrome & ~esr_fsc_mask) | (esr_fsc_sea_ttw0 + source.walk_level);
	if (source.el0) {
		x.vector = vector_lower_sync;
		x.pstate = spsr_el0t_masked;
	}
	return Expectation::guest_exception(rule, x).because(basis);
}

Expectation external_instruction_abort(Rule rule, uint64_t gva, const char *basis)
{
	GuestException x = injected_abort(esr_ec_iabt_cur, gva, GuestException::Returns::to_address,
					  "an instruction abort (synchronous external abort)");
	return Expectation::guest_exception(rule, x).because(basis);
}

namespace {

constexpr uint64_t esr_ec_serror = 0x2full << 26;
constexpr uint64_t esr_iss_mask = (1ull << 25) - 1;
constexpr uint64_t vector_serror_spx = 0x380, vector_lower_serror = 0x580;
constexpr uint64_t spsr_a = 1ull << 8;
constexpr uint64_t spsr_el2h_masked = 0x3c9;

GuestException serror(uint64_t iss)
{
	GuestException x;
	x.syndrome_mask = ~0ull;
	x.syndrome = esr_ec_serror | esr_il | (iss & esr_iss_mask);
	x.check_address = false;
	x.pstate_mask = spsr_mode_daif_mask;
	x.what = "an SError interrupt";
	return x;
}

} /* namespace */

Expectation injected_serror(Rule rule, uint64_t iss, bool at_el2, const char *basis)
{
	GuestException x = serror(iss);
	x.vector = vector_serror_spx;
	x.pstate = (at_el2 ? spsr_el2h_masked : spsr_el1h_masked) & ~spsr_a;
	return Expectation::guest_exception(rule, x).because(basis);
}

Expectation forwarded_serror(Rule rule, uint64_t iss, const char *basis)
{
	GuestException x = serror(iss);
	x.vector = vector_lower_serror;
	x.returns = GuestException::Returns::to_access;
	x.pstate = spsr_el1h_masked;
	return Expectation::guest_exception(rule, x).because(basis);
}

int inject_ext_dabt(Vcpu &vcpu)
{
	struct kvm_vcpu_events events {};
	events.exception.ext_dabt_pending = 1;
	return ioctl(vcpu.fd(), KVM_SET_VCPU_EVENTS, &events) ? -errno : 0;
}

Expectation undefined_instruction(Rule rule, const char *basis)
{
	GuestException x;
	x.vector = vector_sync_spx;
	x.syndrome_mask = ~0ull;
	x.syndrome = esr_il; /* EC 0: unknown reason */
	x.check_address = false;
	x.returns = GuestException::Returns::to_access;
	x.pstate_mask = spsr_mode_daif_mask;
	x.pstate = spsr_el1h_masked;
	x.what = "an UNDEF (exception for an unknown reason)";
	return Expectation::guest_exception(rule, x).because(basis);
}

Expectation beyond_address_space(uint64_t gpa)
{
	return external_data_abort(rules::M9, gpa,
				   "arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): a translation fault between the "
				   "VM's IPA size and the host's limit is injected as an external abort "
				   "(kvm_inject_sea); beyond the limit as an address size fault");
}

std::optional<uint64_t> guest_pc(const Vcpu &vcpu)
{
	return vcpu.try_get_one_reg(reg_pc);
}

GuestRegisters guest_registers(const Vcpu &vcpu)
{
	return {vcpu.try_get_one_reg(reg_pc), vcpu.try_get_one_reg(core_reg(offsetof(struct kvm_regs, regs.regs[9])))};
}

std::optional<uint64_t> ucall_block(const Observation &obs)
{
	const auto &m = obs.run.mmio;
	if (obs.ret != 0 || obs.exit_reason() != KVM_EXIT_MMIO || m.phys_addr != ARCH_UCALL_GPA ||
	    !m.is_write || m.len != 8)
		return std::nullopt;
	uint64_t gpa;
	memcpy(&gpa, m.data, sizeof(gpa));
	return gpa;
}

} /* namespace kvmc::arch */

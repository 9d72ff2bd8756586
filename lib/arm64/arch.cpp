// SPDX-License-Identifier: GPL-2.0
/* arm64 hooks: vCPU init, boot registers, identity map, ucall decoding. */
#include "arch.h"

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

} /* namespace */

void vcpu_init(Vcpu &vcpu, unsigned)
{
	struct kvm_vcpu_init init {};
	if (ioctl(vcpu.vm().fd(), KVM_ARM_PREFERRED_TARGET, &init))
		die("KVM_ARM_PREFERRED_TARGET: %s", errno_name(errno).c_str());
	if (ioctl(vcpu.fd(), KVM_ARM_VCPU_INIT, &init))
		die("KVM_ARM_VCPU_INIT(target %u): %s", init.target, errno_name(errno).c_str());
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
}

namespace {

/* ESR_ELx: exception class in bits 31:26, fault status code in 5:0. */
constexpr uint64_t esr_ec_mask = 0x3full << 26;
constexpr uint64_t esr_fsc_mask = 0x3f;
constexpr uint64_t esr_ec_iabt_cur = 0x21ull << 26;
constexpr uint64_t esr_ec_dabt_cur = 0x25ull << 26;
constexpr uint64_t esr_fsc_sea = 0x10; /* synchronous external abort */
constexpr uint64_t vector_sync_spx = 0x200;
constexpr unsigned small_ipa_bits = 36;

} /* namespace */

Expectation no_memslot_fetch(uint64_t gpa)
{
	GuestException x;
	x.vector = vector_sync_spx;
	x.syndrome_mask = esr_ec_mask | esr_fsc_mask;
	x.syndrome = esr_ec_iabt_cur | esr_fsc_sea;
	x.address = gpa;
	x.what = "an instruction abort (synchronous external abort)";
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

Expectation beyond_address_space(uint64_t gpa)
{
	GuestException x;
	x.vector = vector_sync_spx;
	x.syndrome_mask = esr_ec_mask | esr_fsc_mask;
	x.syndrome = esr_ec_dabt_cur | esr_fsc_sea;
	x.address = gpa;
	x.what = "a data abort (synchronous external abort)";
	return Expectation::guest_exception(rules::M9, x)
		.because("arch/arm64/kvm/mmu.c kvm_handle_guest_abort(): a translation fault between the "
			 "VM's IPA size and the host's limit is injected as an external abort "
			 "(kvm_inject_sea); beyond the limit as an address size fault");
}

std::optional<uint64_t> guest_pc(const Vcpu &vcpu)
{
	return vcpu.try_get_one_reg(reg_pc);
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

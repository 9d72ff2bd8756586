// SPDX-License-Identifier: GPL-2.0
#include "guest_vm.h"

#include <cstdlib>
#include <cstring>

#include "arch.h"
#include "layout.h"

namespace kvmc {

GuestVm::GuestVm(const Kvm &kvm, unsigned long vm_type, unsigned phys_bits)
	: GuestVm(kvm, vm_type, phys_bits, false)
{
}

GuestVm::GuestVm(const Kvm &kvm, Hypervisor) : GuestVm(kvm, 0, 0, true)
{
}

GuestVm::GuestVm(const Kvm &kvm, unsigned long vm_type, unsigned phys_bits, bool hypervisor)
	: vm_(kvm, vm_type),
	  ram_(HostMapping::anonymous(ARCH_RAM_SIZE)),
	  ram_slot_(vm_, 0, ARCH_RAM_GPA, ram_)
{
	size_t image_size = arch::guest_image_end - arch::guest_image_start;
	if (image_size > ARCH_IMAGE_MAX)
		die("guest image is %zu bytes, layout allows %d", image_size, ARCH_IMAGE_MAX);
	memcpy(ram_.data(), arch::guest_image_start, image_size);
	arch::prepare_ram(ram_.data());
	mailbox()->magic = guest::mailbox_magic;

	vcpu_ = std::make_unique<Vcpu>(vm_, 0);
	if (hypervisor)
		arch::hypervisor_init(*vcpu_);
	else
		arch::vcpu_init(*vcpu_, phys_bits);
	arch::vcpu_boot(*vcpu_);
}

guest::Mailbox *GuestVm::mailbox() const
{
	return reinterpret_cast<guest::Mailbox *>(ram_.data() + ARCH_MAILBOX_OFFSET);
}

void GuestVm::order(std::initializer_list<guest::Step> steps)
{
	order(std::vector<guest::Step>(steps));
}

void GuestVm::order(const std::vector<guest::Step> &steps)
{
	if (steps.size() > guest::max_steps)
		die("%zu steps ordered, the mailbox holds %u", steps.size(), guest::max_steps);
	auto *mb = mailbox();
	mb->nsteps = 0;
	mb->completed = 0;
	uint32_t i = 0;
	for (const auto &s : steps)
		mb->steps[i++] = s;
	mb->nsteps = i;
}

uint32_t GuestVm::completed() const
{
	return mailbox()->completed;
}

uint64_t GuestVm::loaded(uint32_t step) const
{
	return mailbox()->loaded[step];
}

uint64_t &GuestVm::ram(uint64_t gpa)
{
	if (gpa < ARCH_RAM_GPA || gpa - ARCH_RAM_GPA + sizeof(uint64_t) > ARCH_RAM_SIZE)
		die("%#llx is not in guest RAM", (unsigned long long)gpa);
	return *reinterpret_cast<uint64_t *>(ram_.data() + (gpa - ARCH_RAM_GPA));
}

Observation GuestVm::run(unsigned limit_ms)
{
	Observation obs = vcpu_->observe(limit_ms ? limit_ms : run_limit_ms());
	const guest::Access access = mailbox()->access;
	if (access.pc)
		obs.access = AccessRecord{access.pc, access.next_pc, (access.flags & guest::access_load) != 0};
	if (auto block = arch::ucall_block(obs)) {
		uint64_t off = *block - ARCH_RAM_GPA;
		if (*block < ARCH_RAM_GPA || off + sizeof(guest::Ucall) > ARCH_RAM_SIZE)
			die("guest rang the ucall doorbell with block %#llx outside RAM",
			    (unsigned long long)*block);
		guest::Ucall uc;
		memcpy(&uc, ram_.data() + off, sizeof(uc));
		GuestCall call;
		call.kind = static_cast<GuestCallKind>(uc.kind);
		memcpy(call.args, uc.args, sizeof(call.args));
		obs.call = call;
	}
	return obs;
}

Observation GuestVm::complete_load_and_run(uint64_t value)
{
	vcpu_->complete_mmio_load(value);
	return run();
}

uint8_t *GuestVm::ram_at(uint64_t gpa)
{
	if (gpa < ARCH_RAM_GPA || gpa - ARCH_RAM_GPA >= ARCH_RAM_SIZE)
		die("%#llx is not in guest RAM", (unsigned long long)gpa);
	return ram_.data() + (gpa - ARCH_RAM_GPA);
}

Mode mode_from_env()
{
	const char *s = getenv("KVMC_STRICT");
	return Mode{.strict = s && *s && strcmp(s, "0") != 0};
}

} /* namespace kvmc */

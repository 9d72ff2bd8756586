/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A VM with one vCPU running the fault program: guest RAM in memslot 0 at
 * ARCH_RAM_GPA holding the image, page tables, mailbox and stack. Tests
 * give it orders (steps), add the memslots their scenario needs, run it
 * and judge what each run reports.
 */
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "guest.h"
#include "kvm.h"
#include "oracle.h"

namespace kvmc {

class GuestVm {
public:
	explicit GuestVm(const Kvm &kvm, unsigned long vm_type = 0, unsigned phys_bits = 0);
	/* The guest is a hypervisor: it can run nested contexts (arm64: a
	 * vCPU with KVM_ARM_VCPU_HAS_EL2, entered at EL2). Check
	 * arch::hypervisor_unavailable() first. */
	struct Hypervisor {};
	static constexpr Hypervisor hypervisor{};
	GuestVm(const Kvm &kvm, Hypervisor);

	Vm &vm() { return vm_; }
	Vcpu &vcpu() { return *vcpu_; }

	/* Replace the guest's orders with these steps. */
	void order(std::initializer_list<guest::Step> steps);
	void order(const std::vector<guest::Step> &steps);
	/* Steps the guest has completed, and the value each load returned. */
	uint32_t completed() const;
	uint64_t loaded(uint32_t step) const;
	/* The host's view of the 8 bytes of guest RAM (memslot 0) at gpa. */
	uint64_t &ram(uint64_t gpa);

	/* One KVM_RUN under the time limit (default run_limit_ms()); ucall
	 * exits are decoded into Observation::call. */
	Observation run(unsigned limit_ms = 0);
	/* Fill the data of a pending MMIO load, then run. */
	Observation complete_load_and_run(uint64_t value);
	/* The host's view of guest RAM (memslot 0) at gpa. */
	uint8_t *ram_at(uint64_t gpa);

private:
	GuestVm(const Kvm &kvm, unsigned long vm_type, unsigned phys_bits, bool hypervisor);
	guest::Mailbox *mailbox() const;

	Vm vm_;
	HostMapping ram_;
	Memslot ram_slot_;
	std::unique_ptr<Vcpu> vcpu_;
};

/* Steps of the fault program. */
inline guest::Step load(uint64_t gpa, uint32_t width) { return {gpa, 0, guest::op_load, width}; }
/* Clean and invalidate the cache line at gpa (arm64 DC CIVAC, x86 CLFLUSH). */
inline guest::Step clean_cache(uint64_t gpa) { return {gpa, 0, guest::op_clean_cache, 0}; }
/* A load of width bytes sign-extended into a register of reg_bytes (4, 8). */
inline guest::Step load_signed(uint64_t gpa, uint32_t width, uint32_t reg_bytes)
{
	return {gpa, reg_bytes, guest::op_load_signed, width};
}
inline guest::Step store(uint64_t gpa, uint32_t width, uint64_t value)
{
	return {gpa, value, guest::op_store, width};
}

inline guest::Step spin() { return {0, 0, guest::op_spin, 0}; }
/* Pause: the run ends with a "sync" call; the next run goes on. */
inline guest::Step sync_point() { return {0, 0, guest::op_sync, 0}; }
/* Store to count words, stride bytes apart, from gpa (G4). */
inline guest::Step fill(uint64_t gpa, uint64_t count, uint32_t stride) { return {gpa, count, guest::op_fill, stride}; }
inline guest::Step fetch(uint64_t gpa) { return {gpa, 0, guest::op_fetch, 4}; }
inline guest::Step load_pair(uint64_t gpa) { return {gpa, 0, guest::op_load_pair, 16}; }
inline guest::Step store_pair(uint64_t gpa, uint64_t value) { return {gpa, value, guest::op_store_pair, 16}; }
/* An 8-byte load that also updates its base register (arm64 only). */
inline guest::Step load_writeback(uint64_t gpa) { return {gpa, 0, guest::op_load_writeback, 8}; }
/* A 16-byte vector move between gva and the 16 bytes of RAM at buffer
 * (x86 MOVDQU through XMM0); from_buffer: a store to gva. Ordered
 * elsewhere, the guest reports a failed step. */
inline guest::Step move_vector(uint64_t gva, uint64_t buffer, bool from_buffer)
{
	return {gva, buffer, from_buffer ? guest::op_store_vector : guest::op_load_vector, 16};
}
/* x86: REP STOSB of count bytes of value at gpa (op_rep_store). */
inline guest::Step rep_store(uint64_t gpa, uint32_t count, uint8_t value)
{
	return {gpa, value, guest::op_rep_store, count};
}
/* arm64: SErrors unmasked from here on (PSTATE.A clear); to_el2: the
 * guest hypervisor first routes them to itself (HCR_EL2.AMO). */
inline guest::Step serror_unmask(bool to_el2 = false)
{
	return {0, to_el2 ? guest::serror_route_el2 : 0, guest::op_serror_unmask, 0};
}
/* ... the guest hypervisor routes them to itself, PSTATE.A stays set. */
inline guest::Step serror_route_to_el2()
{
	return {0, guest::serror_route_el2 | guest::serror_keep_masked, guest::op_serror_unmask, 0};
}
/* An instruction UNDEFINED to the guest that KVM traps (op_undefined). */
inline guest::Step undefined_instruction() { return {0, 0, guest::op_undefined, 4}; }
/* x86: REP OUTSB (in: REP INSB) of count bytes between port and memory
 * at gva. */
inline guest::Step string_io(bool in, uint16_t port, uint64_t gva, uint32_t count)
{
	return {port, gva, in ? guest::op_string_in : guest::op_string_out, count};
}
/* x86: an 8-byte load (or store of ~0) at gva with EFLAGS.TF set just
 * before it: the step ends in #DB (op_tf_access). */
inline guest::Step tf_access(uint64_t gva, bool store) { return {gva, store ? 1u : 0u, guest::op_tf_access, 8}; }
/* x86: JMP through the pointer at gva (op_jump_via); POPF of the 8
 * bytes at gva (op_popf_from). */
inline guest::Step jump_via(uint64_t gva) { return {gva, 0, guest::op_jump_via, 8}; }
inline guest::Step popf_from(uint64_t gva) { return {gva, 0, guest::op_popf_from, 8}; }
/* x86: IRETQ with its stack at gva (op_iret_from): for a gva where it
 * cannot complete. */
inline guest::Step iret_from(uint64_t gva) { return {gva, 0, guest::op_iret_from, 40}; }
/* x86: REP MOVSB of count bytes from src to dst (op_rep_move). */
inline guest::Step rep_move(uint64_t src, uint64_t dst, uint32_t count) { return {src, dst, guest::op_rep_move, count}; }
/* x86: RDMSR (loaded[step] = EDX:EAX) and WRMSR of MSR index. */
inline guest::Step rdmsr(uint32_t index) { return {index, 0, guest::op_rdmsr, 8}; }
inline guest::Step wrmsr(uint32_t index, uint64_t value) { return {index, value, guest::op_wrmsr, 8}; }
/* x86: INVLPG of the virtual address gva (op_invlpg). */
inline guest::Step invlpg(uint64_t gva) { return {gva, 0, guest::op_invlpg, 0}; }
/* x86, behind KVM's forced-emulation prefix: RDMSR of MSR index, and a
 * NOP under an instruction breakpoint (op_forced_rdmsr, _breakpoint). */
inline guest::Step forced_rdmsr(uint32_t index) { return {index, 0, guest::op_forced_rdmsr, 8}; }
inline guest::Step forced_breakpoint() { return {0, 0, guest::op_forced_breakpoint, 1}; }
/* arm64 guest hypervisor: the SPI intid enabled at its GIC. */
inline guest::Step gic_enable_spi(uint32_t intid) { return {0, intid, guest::op_gic_enable_spi, 0}; }
/* x86: an 8-byte x87 FILD at gva at CPL 0 (op_x87_load). */
inline guest::Step x87_load(uint64_t gva) { return {gva, 0, guest::op_x87_load, 8}; }
/* x86: an 8-byte x87 FISTP of zero at gva at CPL 0 (op_x87_store_zero). */
inline guest::Step x87_store_zero(uint64_t gva) { return {gva, 0, guest::op_x87_store_zero, 8}; }
/* An 8-byte load or store at CPL 3 that must fault (x86: U/S in the #PF
 * error code); if it does not, the guest takes #UD at CPL 3. */
inline guest::Step user_load(uint64_t gva) { return {gva, 0, guest::op_user_load, 8}; }
inline guest::Step user_store(uint64_t gva, uint64_t value) { return {gva, value, guest::op_user_store, 8}; }
/* The same with an x87 FILD, an instruction KVM's emulator lacks (x86). */
inline guest::Step user_load_x87(uint64_t gva) { return {gva, 0, guest::op_user_x87_load, 8}; }
/* Steps of a guest that is a hypervisor (GuestVm::hypervisor). */
inline guest::Step level() { return {0, 0, guest::op_level, 0}; }
/* A nested context's access at ipa, through the guest's stage-2. */
/* route: what the guest hypervisor routes to itself from the nested
 * context for this run of it (guest::nested_route_*). */
inline guest::Step nested_load(uint64_t ipa, uint64_t route = 0) { return {ipa, route, guest::op_nested_load, 8}; }
inline guest::Step nested_store(uint64_t ipa, uint64_t value) { return {ipa, value, guest::op_nested_store, 8}; }
/* A nested context's instruction fetch at ipa (a branch there). */
inline guest::Step nested_fetch(uint64_t ipa) { return {ipa, 0, guest::op_nested_fetch, 4}; }
/* A nested context's load at va with its MMU on, its stage-1 table
 * (level 1, 4 KiB granule) at table_ipa. */
inline guest::Step nested_load_s1(uint64_t va, uint64_t table_ipa)
{
	return {va, table_ipa, guest::op_nested_load_s1, 8};
}
/* ... its store at va (of table_ipa: a step holds one value). */
inline guest::Step nested_store_s1(uint64_t va, uint64_t table_ipa)
{
	return {va, table_ipa, guest::op_nested_store_s1, 8};
}
/* The guest hypervisor drops its own EL2 stage-1 TLB entries for va, or
 * all of them. */
inline guest::Step tlbi_el2_va(uint64_t va, bool tge = false)
{
	return {va, tge ? 2u : 0u, guest::op_tlbi_el2_va, 0};
}
inline guest::Step tlbi_el2_all() { return {0, 1, guest::op_tlbi_el2_va, 0}; }
/* A nested context's LDP at ipa: an access without a valid syndrome. */
inline guest::Step nested_load_pair(uint64_t ipa) { return {ipa, 0, guest::op_nested_load_pair, 16}; }
/* The guest hypervisor's VNCR page at gpa's page; a nested context's
 * register access that FEAT_NV2 turns into an access of that page. */
inline guest::Step vncr_load(uint64_t gpa) { return {gpa, 0, guest::op_vncr_load, 8}; }
inline guest::Step vncr_store(uint64_t gpa, uint64_t value) { return {gpa, value, guest::op_vncr_store, 8}; }

/* One 8-byte access at the lowest exception level (arm64 EL0). */
inline guest::Step el0_load(uint64_t gva) { return {gva, 0, guest::op_el0_load, 8}; }
inline guest::Step el0_store(uint64_t gva, uint64_t value) { return {gva, value, guest::op_el0_store, 8}; }
/* arm64: hardware Access flag updates on (loaded[step]: 1, or 0 where
 * the CPU has none). */
inline guest::Step hw_access_flag() { return {0, 0, guest::op_hw_access_flag, 0}; }

/* Mode::strict from the environment (KVMC_STRICT=1). */
Mode mode_from_env();

/* Memslot numbers: 0 is guest RAM; scenarios use these. */
constexpr uint32_t test_slot = 1;

} /* namespace kvmc */

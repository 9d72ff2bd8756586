// SPDX-License-Identifier: GPL-2.0
/*
 * The fault program: performs the host's steps in order (guest.h), records
 * what it loads and how far it got, then reports done. Freestanding; the
 * per-architecture accesses are in guest_code/<arch>/guest_arch.h.
 */
#include "guest.h"
#include "guest_arch.h"

using namespace kvmc::guest;

namespace {

/* Functions, not globals: nothing runs constructors in the guest. */
inline volatile Mailbox *mailbox()
{
	return reinterpret_cast<volatile Mailbox *>(ARCH_RAM_GPA + ARCH_MAILBOX_OFFSET);
}

inline volatile Ucall *ucall_block()
{
	return reinterpret_cast<volatile Ucall *>(ARCH_RAM_GPA + ARCH_UCALL_OFFSET);
}

void ucall(uint32_t kind, uint64_t a0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
	   uint64_t a5 = 0)
{
	volatile Ucall *uc = ucall_block();
	uc->kind = kind;
	uc->args[0] = a0;
	uc->args[1] = a1;
	uc->args[2] = a2;
	uc->args[3] = a3;
	uc->args[4] = a4;
	uc->args[5] = a5;
	arch_ucall(reinterpret_cast<uint64_t>(uc));
}

[[noreturn]] void ucall_forever(uint32_t kind, uint64_t a0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
				uint64_t a4 = 0, uint64_t a5 = 0)
{
	/* The host may run the vCPU again; it only ever hears the same call. */
	for (;;)
		ucall(kind, a0, a1, a2, a3, a4, a5);
}

} /* namespace */

extern "C" [[noreturn]] void guest_exception(uint64_t vector, uint64_t syndrome, uint64_t addr, uint64_t pc,
					      uint64_t pstate, uint64_t hpfar)
{
	ucall_forever(ucall_exception, vector, syndrome, addr, pc, pstate, hpfar);
}

extern "C" [[noreturn]] void guest_main()
{
	volatile Mailbox *mb = mailbox();

	if (mb->magic != mailbox_magic)
		ucall_forever(ucall_failed, 1, mb->magic, mailbox_magic, 0);
	for (uint32_t i = 0; i < mb->nsteps && i < max_steps; i++) {
		uint64_t gpa = mb->steps[i].gpa;
		uint64_t value = mb->steps[i].value;
		uint32_t width = mb->steps[i].width;

		mb->access.pc = 0;
		switch (mb->steps[i].op) {
		case op_load:
			mb->loaded[i] = arch_load(gpa, width);
			break;
		case op_clean_cache:
			arch_clean_cache(gpa);
			break;
		case op_load_signed:
			mb->loaded[i] = arch_load_signed(gpa, width, value);
			break;
		case op_store:
			arch_store(gpa, width, value);
			break;
		case op_fetch:
			arch_fetch(gpa);
			break;
		case op_load_pair:
			mb->loaded[i] = arch_load_pair(gpa);
			break;
		case op_store_pair:
			arch_store_pair(gpa, value);
			break;
		case op_load_writeback:
			mb->loaded[i] = arch_load_writeback(gpa);
			break;
		case op_spin:
			arch_spin();
		case op_sync:
			ucall(ucall_sync, i, 0, 0, 0);
			break;
		case op_fill:
			for (uint64_t n = 0; n < value; n++) {
				mb->loaded[i] = n;
				arch_store(gpa + n * width, 8, n);
			}
			mb->loaded[i] = value;
			break;
#ifdef ARCH_HAS_REP_STORE
		case op_rep_store:
			arch_rep_store(gpa, width, (uint8_t)value);
			break;
#endif
#ifdef ARCH_HAS_SERROR
		case op_serror_unmask:
			arch_serror_unmask(value);
			break;
#endif
#ifdef ARCH_HAS_UNDEFINED
		case op_undefined:
			arch_undefined();
			break;
#endif
#ifdef ARCH_HAS_GIC
		case op_gic_enable_spi:
			arch_gic_enable_spi(value);
			break;
#endif
#ifdef ARCH_HAS_STRING_IO
		case op_string_out:
			arch_string_io(false, gpa, value, width);
			break;
		case op_string_in:
			arch_string_io(true, gpa, value, width);
			break;
#endif
#ifdef ARCH_HAS_TF_STEP
		case op_tf_access:
			arch_tf_access(gpa, value);
#endif
#ifdef ARCH_HAS_MMIO_CONTROL
		case op_jump_via:
			arch_jump_via(gpa);
			break;
		case op_popf_from:
			mb->loaded[i] = arch_popf_from(gpa);
			break;
		case op_iret_from:
			arch_iret_from(gpa);
			break;
#endif
#ifdef ARCH_HAS_REP_MOVE
		case op_rep_move:
			arch_rep_move(gpa, value, width);
			break;
#endif
#ifdef ARCH_HAS_MSR
		case op_rdmsr:
			mb->loaded[i] = arch_rdmsr((uint32_t)gpa);
			break;
		case op_wrmsr:
			arch_wrmsr((uint32_t)gpa, value);
			break;
#endif
#ifdef ARCH_HAS_INVLPG
		case op_invlpg:
			arch_invlpg(gpa);
			break;
#endif
#ifdef ARCH_HAS_FORCED_EMULATION
		case op_forced_rdmsr:
			mb->loaded[i] = arch_forced_rdmsr((uint32_t)gpa);
			break;
		case op_forced_breakpoint:
			arch_forced_breakpoint();
			break;
#endif
#ifdef ARCH_HAS_X87
		case op_x87_load:
			arch_x87_load(gpa);
			break;
		case op_x87_store_zero:
			arch_x87_store_zero(gpa);
			break;
#endif
#ifdef ARCH_HAS_VECTOR_MOVE
		case op_load_vector:
			arch_load_vector(gpa, value);
			break;
		case op_store_vector:
			arch_store_vector(gpa, value);
			break;
#endif
#ifdef ARCH_HAS_USER_MODE
		case op_user_load:
			arch_user_access(UserAccess::load, gpa, value);
		case op_user_store:
			arch_user_access(UserAccess::store, gpa, value);
		case op_user_x87_load:
			arch_user_access(UserAccess::x87_load, gpa, value);
#endif
#ifdef ARCH_HAS_NESTED
		case op_nested_load:
			mb->loaded[i] = arch_nested(NestedAccess::load, gpa, value);
			break;
		case op_nested_store:
			arch_nested(NestedAccess::store, gpa, value);
			break;
		case op_nested_load_s1:
			mb->loaded[i] = arch_nested(NestedAccess::load_s1, gpa, value);
			break;
		case op_nested_store_s1:
			arch_nested(NestedAccess::store_s1, gpa, value);
			break;
		case op_nested_fetch:
			arch_nested(NestedAccess::fetch, gpa, value);
			break;
		case op_nested_load_pair:
			mb->loaded[i] = arch_nested(NestedAccess::load_pair, gpa, value);
			break;
		case op_vncr_load:
			mb->loaded[i] = arch_nested(NestedAccess::vncr_load, gpa, value);
			break;
		case op_vncr_store:
			arch_nested(NestedAccess::vncr_store, gpa, value);
			break;
		case op_level:
			mb->loaded[i] = arch_level();
			break;
#endif
#ifdef ARCH_HAS_EL2_TLBI
		case op_tlbi_el2_va:
			arch_tlbi_el2(gpa, value & 1, value & 2);
			break;
#endif
#ifdef ARCH_HAS_SVM
		case op_svm_config:
			arch_svm_config(gpa, value);
			break;
#endif
#ifdef ARCH_HAS_EL0
		case op_el0_load:
			mb->loaded[i] = arch_el0_access(false, gpa, value);
			break;
		case op_el0_store:
			arch_el0_access(true, gpa, value);
			break;
#endif
#ifdef ARCH_HAS_HW_ACCESS_FLAG
		case op_hw_access_flag:
			mb->loaded[i] = arch_hw_access_flag();
			break;
#endif
		default:
			ucall_forever(ucall_failed, 2, i, mb->steps[i].op, 0);
		}
		mb->completed = i + 1;
	}
	ucall_forever(ucall_done, mb->completed, 0, 0, 0);
}

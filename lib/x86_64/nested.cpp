// SPDX-License-Identifier: GPL-2.0
/* x86_64 nested virtualization (SVM): the #VMEXITs a guest hypervisor sees. */
#include "x86_64/nested.h"

#include "x86_64/exception.h"
#include "x86_64/svm.h"

namespace kvmc::x86 {

namespace {

/*
 * The guest hypervisor reports a #VMEXIT other than its nested guest's
 * VMMCALL through the exception ucall (guest_arch.h arch_nested): the
 * exit code as the vector, EXITINFO1 as the syndrome, EXITINFO2 as the
 * address, the nested guest's RIP in the VMCB as the return PC, its
 * RFLAGS as the saved state.
 */
GuestException vmexit(uint64_t exit_code, uint64_t exit_info_1, uint64_t exit_info_2, const char *what)
{
	GuestException x;
	x.vector = exit_code;
	x.syndrome_mask = ~0ull;
	x.syndrome = exit_info_1;
	x.address = exit_info_2;
	x.returns = GuestException::Returns::to_access;
	/* The nested guest's RFLAGS as the guest hypervisor set them (bit 1
	 * only; RF, which the APM leaves to the intercept, not judged). */
	x.pstate_mask = rflags_judged & ~rflags_rf;
	x.pstate = rflags_fixed;
	x.what = what;
	return x;
}

} /* namespace */

Expectation forwarded_npf(NpfStage stage, uint64_t error_code, uint64_t nested_gpa)
{
	const bool walk = stage == NpfStage::table_walk;
	GuestException x = vmexit(svm::exit_npf,
				  error_code | (walk ? svm::npf_table_walk : svm::npf_final_translation), nested_gpa,
				  walk ? "#VMEXIT(NPF) on the nested guest's page-table walk"
				       : "#VMEXIT(NPF) on the final translation");
	if (error_code & pf_fetch)
		x.returns = GuestException::Returns::to_address;
	return Expectation::guest_exception(rules::NX, x)
		.because("AMD APM vol. 2 15.25.6: EXITINFO1 is the #PF error code of the nested fault (U/S set: "
			 "nested-page-table accesses are user accesses, 15.25.5) with bit 32 (final guest "
			 "physical translation) or bit 33 (guest page-table walk), EXITINFO2 the faulting guest "
			 "physical address; arch/x86/kvm/mmu/paging_tmpl.h walks the guest hypervisor's nested "
			 "tables and svm/nested.c nested_svm_inject_npf_exit() forwards the fault");
}

Expectation intercepted_page_fault(uint64_t error_code, uint64_t gva)
{
	GuestException x = vmexit(svm::exit_pf, error_code, gva, "#VMEXIT(#PF), the intercepted page fault");
	return Expectation::guest_exception(rules::NX, x)
		.because("AMD APM vol. 2 15.12: an intercepted #PF exits with EXITINFO1 = the error code and "
			 "EXITINFO2 = the faulting linear address (CR2 is not written); arch/x86/kvm/svm/nested.c "
			 "nested_svm_inject_exception_vmexit()");
}

Expectation vmrun_failed(const char *basis)
{
	GuestException x = vmexit(svm::exit_err, 0, 0, "#VMEXIT(VMEXIT_INVALID): VMRUN failed");
	x.returns = GuestException::Returns::unchecked;
	x.pstate_mask = 0;
	return Expectation::guest_exception(rules::NX, x).because(basis);
}

} /* namespace kvmc::x86 */

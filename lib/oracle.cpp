// SPDX-License-Identifier: GPL-2.0
#include "oracle.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <unistd.h>

#include "guest.h"
#include "names.h"

namespace kvmc {

uint64_t host_page_bytes()
{
	static const uint64_t bytes = (uint64_t)sysconf(_SC_PAGESIZE);
	return bytes;
}

const char *const memory_fault_exit_basis =
	"KVM_CAP_MEMORY_FAULT_INFO=0 and api.rst 8.44 is x86-only: no payload is promised here; "
	"the kernel gives it: arm64 gmem_abort() (arch/arm64/kvm/mmu.c) fills memory_fault "
	"(fault IPA, PAGE_SIZE, flags 0) before returning kvm_gmem_get_pfn()'s error "
	"(virt/kvm/guest_memfd.c: EFAULT when the file is gone, EHWPOISON for a poisoned folio)";

std::string key_token(const std::string &text)
{
	std::string s = text;
	for (char &c : s)
		if (c == ' ' || c == '\t' || c == '\n')
			c = '_';
	return s;
}

std::string finding_key(const char *rule, const std::string &field, const std::string &observed)
{
	return std::string(rule) + " " + key_token(field) + "=" + key_token(observed);
}

std::string Finding::key() const
{
	return finding_key(rule.id, field, observed);
}

Expectation &Expectation::with_memory_fault_info(bool capability)
{
	memory_fault_info = capability;
	if (!capability && !basis)
		basis = memory_fault_exit_basis;
	return *this;
}

Expectation Expectation::mmio(Rule rule, uint64_t gpa, uint32_t len, bool is_write, uint64_t data)
{
	Expectation e;
	e.kind = Kind::mmio;
	e.rule = rule;
	e.gpa = gpa;
	e.len = len;
	e.is_write = is_write;
	e.data = data;
	return e;
}

Expectation Expectation::unresolvable_fault(uint64_t gpa, bool memory_fault_info, bool private_access)
{
	Expectation e;
	e.kind = Kind::unresolvable_fault;
	e.rule = rules::C4;
	e.gpa = gpa;
	e.err = EFAULT;
	e.memory_fault_info = memory_fault_info;
	e.private_access = private_access;
	return e;
}

Expectation Expectation::memory_fault(Rule rule, int err, uint64_t gpa, bool private_access)
{
	Expectation e;
	e.kind = Kind::memory_fault;
	e.rule = rule;
	e.err = err;
	e.gpa = gpa;
	e.private_access = private_access;
	return e;
}

Expectation Expectation::intr(Rule rule, bool exit_intr)
{
	Expectation e;
	e.kind = Kind::intr;
	e.rule = rule;
	e.err = EINTR;
	e.exit_intr = exit_intr;
	return e;
}

Expectation Expectation::poison_signal(uint64_t hva, std::optional<SignalRecord> native)
{
	Expectation e;
	e.kind = Kind::poison_signal;
	e.rule = rules::C8;
	e.err = EINTR;
	e.hva = hva;
	e.native = native;
	return e;
}

Expectation Expectation::nisv(uint64_t gpa, bool is_write)
{
	Expectation e;
	e.kind = Kind::nisv;
	e.rule = rules::C6;
	e.gpa = gpa;
	e.is_write = is_write;
	return e;
}

Expectation Expectation::arm_sea(uint64_t gva, uint64_t gpa, bool is_write, bool fetch)
{
	Expectation e;
	e.kind = Kind::arm_sea;
	e.rule = rules::S;
	e.gva = gva;
	e.gpa = gpa;
	e.is_write = is_write;
	e.fetch = fetch;
	return e;
}

Expectation Expectation::guest_exception(Rule rule, const GuestException &exception)
{
	Expectation e;
	e.kind = Kind::guest_exception;
	e.rule = rule;
	e.exception = exception;
	return e;
}

Expectation Expectation::internal_error(Rule rule, uint32_t suberror)
{
	Expectation e;
	e.kind = Kind::internal_error;
	e.rule = rule;
	e.suberror = suberror;
	return e;
}

Expectation Expectation::guest_sync(Rule rule)
{
	Expectation e;
	e.kind = Kind::guest_sync;
	e.rule = rule;
	return e;
}

Expectation Expectation::allocation_failure(uint64_t gpa)
{
	Expectation e;
	e.kind = Kind::allocation_failure;
	e.rule = rules::G4;
	e.gpa = gpa;
	return e;
}

Expectation Expectation::error(Rule rule, int err)
{
	Expectation e;
	e.kind = Kind::error;
	e.rule = rule;
	e.err = err;
	return e;
}

Expectation Expectation::guest_done(Rule rule)
{
	Expectation e;
	e.kind = Kind::guest_done;
	e.rule = rule;
	return e;
}

namespace {

/* The extent a hwpoison signal names: [addr & ~((1 << lsb) - 1), + (1 << lsb)).
 * Valid only for 0 <= lsb < 64. */
struct Extent {
	uint64_t start;
	uint64_t size;

	bool contains(uint64_t addr) const { return addr - start < size; }
	bool contains(const Extent &o) const { return contains(o.start) && o.start - start + o.size <= size; }
	bool operator==(const Extent &o) const { return start == o.start && size == o.size; }
	std::string show() const { return "[" + hex(start) + ", " + hex(start + size) + ")"; }
};

Extent extent_of(uint64_t addr, int lsb)
{
	uint64_t size = 1ull << lsb;
	return {addr & ~(size - 1), size};
}

unsigned page_shift_of(uint64_t bytes)
{
	unsigned shift = 0;
	while (shift < 63 && (1ull << shift) < bytes)
		shift++;
	return shift;
}

/* ESR_ELx ISS bits of a data abort (Arm ARM D24.2.42): the ones
 * kvm_vcpu_dabt_iss_nisv_sanitized() passes on in arm_nisv.esr_iss. */
constexpr uint64_t esr_dfsc_mask = 0x3f;	/* bits 5:0, data fault status code */
constexpr uint64_t esr_wnr = 1ull << 6;		/* write, not read */
constexpr uint64_t esr_cm = 1ull << 8;		/* cache maintenance */

/* DFSC of a translation fault: levels 0-3 (0b0001LL), level -1 (0b101011). */
/* ESR_EL2 fields api.rst lets KVM_EXIT_ARM_SEA's esr carry. */
constexpr uint64_t esr_ec_shift = 26;
constexpr uint64_t esr_ec_mask = 0x3full << esr_ec_shift;
constexpr uint64_t esr_il = 1ull << 25;
constexpr uint64_t esr_fnv = 1ull << 10;
constexpr uint64_t esr_ea = 1ull << 9;
constexpr uint64_t esr_set_mask = 3ull << 11;
constexpr uint64_t esr_ec_iabt_low = 0x20;
constexpr uint64_t esr_ec_dabt_low = 0x24;
constexpr uint64_t esr_fsc_sea = 0x10;	/* synchronous external abort, not on a walk */

bool is_translation_fault(uint64_t dfsc)
{
	return (dfsc & 0x3c) == 0x04 || dfsc == 0x2b;
}

} /* namespace */

std::string Expectation::describe() const
{
	const std::string payload_bound = " size<=" + hex(extent_bound());
	switch (kind) {
	case Kind::mmio: {
		std::string s = "ret=0 exit_reason=" + exit_reason_name(KVM_EXIT_MMIO) +
				 " mmio{phys_addr=" + hex(gpa) + " len=" + std::to_string(len) +
				 " is_write=" + std::to_string(is_write);
		if (is_write)
			s += " data=" + hex(data) + " (little-endian)";
		return s + "}";
	}
	case Kind::unresolvable_fault:
		if (memory_fault_info)
			return "ret=-1 errno=" + errno_name(EFAULT) + " exit_reason=" +
			       exit_reason_name(KVM_EXIT_MEMORY_FAULT) + " memory_fault{gpa+size covers " +
			       hex(gpa) + payload_bound + (private_access ? " flags=PRIVATE}" : " flags=0}");
		return "ret=-1 errno=" + errno_name(EFAULT) +
		       " (KVM_CAP_MEMORY_FAULT_INFO=0: exit_reason not promised)";
	case Kind::memory_fault:
		return "ret=-1 errno=" + errno_name(err) + " exit_reason=" +
		       exit_reason_name(KVM_EXIT_MEMORY_FAULT) + " memory_fault{gpa+size covers " + hex(gpa) +
		       payload_bound + (private_access ? " flags=PRIVATE}" : " flags=0}");
	case Kind::error:
		return "ret=-1 errno=" + errno_name(err) + " (exit_reason not defined)";
	case Kind::intr:
		return "ret=-1 errno=" + errno_name(EINTR) +
		       (exit_intr ? " exit_reason=" + exit_reason_name(KVM_EXIT_INTR) : std::string()) +
		       (completes ? ", the pending access completed: pc past it" +
					    (completed_value ? ", destination " + hex(*completed_value) : std::string())
				  : std::string());
	case Kind::poison_signal: {
		std::string s = "signal=SIGBUS{si_code=BUS_MCEERR_AR(" + std::to_string(BUS_MCEERR_AR) +
				"), si_addr_lsb>=" + std::to_string(page_shift_of(page_bytes)) +
				", [si_addr & ~((1<<lsb)-1), +1<<lsb) contains the poisoned page " +
				hex(hva & ~(page_bytes - 1));
		if (native)
			s += ", the extent the native fault reports (" + describe_signal(*native) + ")";
		return s + "} then ret=-1 errno=" + errno_name(EINTR) + " exit_reason=" +
		       exit_reason_name(KVM_EXIT_INTR);
	}
	case Kind::nisv:
		return "ret=0 exit_reason=" + exit_reason_name(KVM_EXIT_ARM_NISV) + " arm_nisv{fault_ipa=" +
		       hex(gpa) + " esr_iss: WnR=" + std::to_string(is_write) +
		       " CM=0 DFSC=translation fault, no other bit}";
	case Kind::arm_sea:
		return "ret=0 exit_reason=" + exit_reason_name(KVM_EXIT_ARM_SEA) + " arm_sea{esr: EC=" +
		       (fetch ? "0x20 (instruction abort)" : "0x24 (data abort)") + " IL=1 CM=0" +
		       (fetch ? std::string() : " WnR=" + std::to_string(is_write)) +
		       " FSC=0x10, only EC/IL/FnV/EA/CM/WnR/FSC/SET; gva=" + hex(gva) +
		       " unless FnV; gpa=" + hex(gpa) + " where flags has GPA_VALID, no other flag}";
	case Kind::guest_exception:
		return std::string("the guest takes ") + exception.what + ": vector " + hex(exception.vector) +
		       ", syndrome & " + hex(exception.syndrome_mask) + " == " + hex(exception.syndrome) +
		       (exception.check_address ? ", address " + hex(exception.address) : std::string()) +
		       (exception.check_address && exception.address_unknown_bit
				? " (unless syndrome bit " + hex(exception.address_unknown_bit) + " says it is unknown)"
				: std::string()) +
		       (exception.returns == GuestException::Returns::to_access ? ", returns to the access"
			: exception.returns == GuestException::Returns::to_address
				? ", returns to " + hex(exception.address)
				: std::string()) +
		       (exception.pstate_mask ? ", pstate & " + hex(exception.pstate_mask) + " == " + hex(exception.pstate)
					      : std::string()) +
		       (exception.hpfar ? ", HPFAR_EL2 " + hex(*exception.hpfar) : std::string());
	case Kind::internal_error:
		return "ret=0 exit_reason=" + exit_reason_name(KVM_EXIT_INTERNAL_ERROR) + " internal{suberror=" +
		       std::to_string(suberror) + "}";
	case Kind::guest_done:
		return "ret=0, guest reports done through the ucall channel";
	case Kind::guest_sync:
		return "ret=0, guest reports sync through the ucall channel";
	case Kind::allocation_failure:
		return "ret=-1: errno " + errno_name(ENOMEM) + " (C3; with " + exit_reason_name(KVM_EXIT_MEMORY_FAULT) +
		       " the guest_memfd folio allocation failed, without it an MMU cache top-up did), or " +
		       errno_name(EFAULT) + " with " + exit_reason_name(KVM_EXIT_MEMORY_FAULT) + " covering " +
		       hex(gpa) + payload_bound + " (C1/C2)";
	}
	return "?";
}

namespace {

class Judge {
public:
	Judge(const Expectation &e, const Observation &o, Mode m) : exp(e), obs(o), mode(m) {}

	Verdict run();

private:
	void fail(Rule rule, std::string field, std::string observed, std::string text)
	{
		verdict.findings.push_back(
			{Finding::Severity::failure, rule, std::move(field), std::move(observed), std::move(text)});
	}
	void note(Rule rule, std::string field, std::string observed, std::string text)
	{
		verdict.findings.push_back(
			{Finding::Severity::note, rule, std::move(field), std::move(observed), std::move(text)});
	}
	/* field: the key's token; what: extra words for the reader. */
	template <typename T>
	void want(Rule rule, const std::string &field, T wanted, T got, std::string (*show)(T),
		  const std::string &what = "")
	{
		if (wanted != got)
			fail(rule, field, show(got),
			     field + (what.empty() ? "" : " (" + what + ")") + ": wanted " + show(wanted) + ", got " +
				     show(got));
	}

	bool memory_fault_errno() const
	{
		return obs.ret == -1 && (obs.err == EFAULT || obs.err == EHWPOISON);
	}

	/* The scenario wants KVM_EXIT_MEMORY_FAULT for this fault and KVM
	 * gave it with KVM_RUN returning 0 (a C1 failure): its payload is
	 * still KVM's report of the fault and is judged as C2 has it, so a
	 * known (baselined) return value cannot hide a wrong address. */
	bool memory_fault_with_return_zero() const
	{
		return obs.ret == 0 && obs.exit_reason() == KVM_EXIT_MEMORY_FAULT &&
		       (exp.kind == Expectation::Kind::memory_fault ||
			exp.kind == Expectation::Kind::allocation_failure);
	}

	void check_memory_fault_shape();
	void check_memory_fault_payload(bool know_gpa);
	bool check_no_guest_trouble();
	void judge_mmio();
	void judge_unresolvable_fault();
	void judge_error();
	void judge_memory_fault();
	void judge_intr();
	void judge_poison_signal();
	void judge_native_extent(const SignalRecord &sig, const Extent &reported);
	void judge_nisv();
	void judge_arm_sea();
	void judge_guest_exception();
	void judge_internal_error();
	void judge_guest_call(GuestCallKind kind, const char *name);
	void judge_allocation_failure();
	void judge_state_at_access();
	void judge_completion();

	const Expectation &exp;
	const Observation &obs;
	Mode mode;
	Verdict verdict;
	bool payload_judged = false;
};

std::string show_int(long v) { return std::to_string(v); }
std::string show_hex(uint64_t v) { return hex(v); }
std::string show_errno(int v) { return errno_name(v); }
std::string show_exit(uint32_t v) { return exit_reason_name(v); }
std::string show_signal(int v) { return signal_name(v); }

/* C1 and C3: whatever the scenario, KVM_EXIT_MEMORY_FAULT is only
 * meaningful with -1/EFAULT or -1/EHWPOISON. */
void Judge::check_memory_fault_shape()
{
	if (obs.exit_reason() != KVM_EXIT_MEMORY_FAULT)
		return;
	if (obs.ret == 0) {
		fail(rules::C1, "exit_reason", exit_reason_name(KVM_EXIT_MEMORY_FAULT),
		     "KVM_RUN returned 0 with exit_reason " + exit_reason_name(KVM_EXIT_MEMORY_FAULT) +
			     "; it must accompany -1/EFAULT or -1/EHWPOISON");
		return;
	}
	if (obs.ret == -1 && !memory_fault_errno()) {
		std::string text = "errno " + errno_name(obs.err) + " with stale exit_reason " +
				   exit_reason_name(KVM_EXIT_MEMORY_FAULT) + " " + describe_payload(obs);
		if (mode.strict)
			fail(rules::C3, "errno", errno_name(obs.err),
			     text + " (strict mode: only EFAULT/EHWPOISON may carry it)");
		else
			note(rules::C3, "errno", errno_name(obs.err),
			     text + " (allowed: exit_reason is undefined for this errno)");
	}
}

/* C2: the payload of every meaningful KVM_EXIT_MEMORY_FAULT, whatever the
 * scenario: a non-zero size no larger than the extent KVM could have
 * faulted, no undefined flag, PRIVATE exactly for a private access, and
 * (where the scenario knows it) a range containing the faulting GPA. */
void Judge::check_memory_fault_payload(bool know_gpa)
{
	if (payload_judged || obs.exit_reason() != KVM_EXIT_MEMORY_FAULT ||
	    !(memory_fault_errno() || memory_fault_with_return_zero()))
		return;
	payload_judged = true;
	const auto &mf = obs.run.memory_fault;
	if (mf.size == 0)
		fail(rules::C2, "memory_fault.size", hex(mf.size), "memory_fault.size is 0");
	else if (mf.size > exp.extent_bound())
		fail(rules::C2, "memory_fault.size", hex(mf.size),
		     "memory_fault.size " + hex(mf.size) + " exceeds " + hex(exp.extent_bound()) +
			     ", the largest extent KVM could have faulted here");
	const uint64_t undefined = mf.flags & ~(uint64_t)KVM_MEMORY_EXIT_FLAG_PRIVATE;
	if (undefined)
		fail(rules::C2, "memory_fault.flags", hex(mf.flags),
		     "memory_fault.flags " + hex(mf.flags) + " has undefined bits " + hex(undefined) +
			     " (only KVM_MEMORY_EXIT_FLAG_PRIVATE is defined)");
	bool is_private = mf.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE;
	if (is_private != exp.private_access)
		fail(rules::C2, "memory_fault.flags", hex(mf.flags),
		     std::string("KVM_MEMORY_EXIT_FLAG_PRIVATE is ") + (is_private ? "set" : "clear") +
			     " but the access was " + (exp.private_access ? "private" : "shared"));
	if (know_gpa && (exp.gpa < mf.gpa || exp.gpa - mf.gpa >= mf.size))
		fail(rules::C2, "memory_fault.gpa", hex(mf.gpa),
		     "[memory_fault.gpa, gpa + size) = [" + hex(mf.gpa) + ", " + hex(mf.gpa + mf.size) +
			     ") does not contain the faulting GPA " + hex(exp.gpa));
	if (exp.page_bytes && mf.gpa % exp.page_bytes)
		note(rules::C2, "memory_fault.gpa", hex(mf.gpa),
		     "memory_fault.gpa " + hex(mf.gpa) + " is not aligned to the page size " +
			     hex(exp.page_bytes) + " (api.rst allows any range containing the fault)");
}

/* Outcomes that are wrong whatever was expected: a run that hit its time
 * limit, or a guest that reported an exception it did not ask for. Returns
 * false when judging the triple any further would only add noise. */
bool Judge::check_no_guest_trouble()
{
	if (obs.timed_out) {
		fail(rules::time_limit, "KVM_RUN", "timed_out",
		     "KVM_RUN did not return within " + std::to_string(obs.limit_ms) +
			     " ms (the guest neither faulted nor exited)" +
			     (obs.pc ? "; guest pc " + hex(*obs.pc) : std::string()));
		return false;
	}
	if (obs.call && obs.call->kind == GuestCallKind::exception &&
	    exp.kind != Expectation::Kind::guest_exception) {
		const auto *a = obs.call->args;
		fail(rules::guest, "guest_call", "exception(vector=" + hex(a[0]) + ",syndrome=" + hex(a[1]) + ")",
		     "guest took an unexpected exception: vector " + hex(a[0]) + " syndrome " + hex(a[1]) +
			     " fault address " + hex(a[2]) + " pc " + hex(a[3]) + " pstate " + hex(a[4]));
		return false;
	}
	if (obs.call && obs.call->kind == GuestCallKind::failed) {
		fail(rules::guest, "guest_call", "failed(code=" + hex(obs.call->args[0]) + ")",
		     "guest-side check failed: code " + hex(obs.call->args[0]) + " values " +
			     hex(obs.call->args[1]) + ", " + hex(obs.call->args[2]));
		return false;
	}
	return true;
}

void Judge::judge_mmio()
{
	if (obs.call && obs.call->kind == GuestCallKind::done) {
		fail(exp.rule, "guest_call", "done", "the guest finished without the access exiting to userspace");
		return;
	}
	want<long>(exp.rule, "ret", 0, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_MMIO, obs.exit_reason(), show_exit);
	if (obs.exit_reason() != KVM_EXIT_MMIO)
		return;
	const auto &m = obs.run.mmio;
	want<uint64_t>(exp.rule, "mmio.phys_addr", exp.gpa, m.phys_addr, show_hex);
	want<long>(exp.rule, "mmio.len", exp.len, m.len, show_int);
	want<long>(exp.rule, "mmio.is_write", exp.is_write, m.is_write, show_int);
	if (exp.is_write && m.len == exp.len && exp.len <= sizeof(m.data)) {
		/* data[] holds the bytes as a direct store would lay them out:
		 * little-endian on both architectures the suite runs on. */
		uint64_t got = 0;
		for (unsigned i = 0; i < exp.len; i++)
			got |= (uint64_t)m.data[i] << (8 * i);
		uint64_t mask = exp.len == 8 ? ~0ull : (1ull << (8 * exp.len)) - 1;
		want<uint64_t>(exp.rule, "mmio.data", exp.data & mask, got, show_hex, "stored value");
	}
}

void Judge::judge_unresolvable_fault()
{
	want<long>(exp.rule, "ret", -1, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != -1)
		return;
	want<int>(exp.rule, "errno", EFAULT, obs.err, show_errno);
	if (obs.err != EFAULT)
		return;
	if (exp.memory_fault_info) {
		want<uint32_t>(rules::C4, "exit_reason", KVM_EXIT_MEMORY_FAULT, obs.exit_reason(), show_exit,
			       "KVM_CAP_MEMORY_FAULT_INFO=1");
	} else if (obs.exit_reason() == KVM_EXIT_MEMORY_FAULT) {
		note(rules::C4, "exit_reason", exit_reason_name(KVM_EXIT_MEMORY_FAULT),
		     "KVM_EXIT_MEMORY_FAULT filled although KVM_CAP_MEMORY_FAULT_INFO=0 "
		     "(nothing promised, nothing broken)");
	}
	check_memory_fault_payload(true);
}

void Judge::judge_error()
{
	want<long>(exp.rule, "ret", -1, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret == -1)
		want<int>(exp.rule, "errno", exp.err, obs.err, show_errno);
}

void Judge::judge_memory_fault()
{
	want<long>(exp.rule, "ret", -1, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != -1) {
		check_memory_fault_payload(true); /* a memory-fault exit with ret 0 (C1 fails) */
		return;
	}
	want<int>(exp.rule, "errno", exp.err, obs.err, show_errno);
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_MEMORY_FAULT, obs.exit_reason(), show_exit);
	check_memory_fault_payload(true);
}

void Judge::judge_intr()
{
	want<long>(exp.rule, "ret", -1, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != -1)
		return;
	want<int>(exp.rule, "errno", EINTR, obs.err, show_errno);
	if (exp.exit_intr)
		want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_INTR, obs.exit_reason(), show_exit);
}

/*
 * C8 against the kernel's own convention (arch/arm64/mm/fault.c,
 * arch/x86/mm/fault.c, mm/memory-failure.c): si_addr lies in the lost
 * extent, si_addr_lsb (>= PAGE_SHIFT) is its size, and the extent holds
 * the poisoned page. Then the same extent as the native fault reported.
 */
void Judge::judge_poison_signal()
{
	if (!obs.signal || !obs.signal->signo) {
		fail(exp.rule, "signal", "none", "no signal reached the vCPU thread during KVM_RUN (wanted SIGBUS)");
	} else {
		const SignalRecord &sig = *obs.signal;
		want<int>(exp.rule, "signal", SIGBUS, sig.signo, show_signal);
		want<long>(exp.rule, "si_code", BUS_MCEERR_AR, sig.code, show_int,
			   "BUS_MCEERR_AR=" + std::to_string(BUS_MCEERR_AR));
		const unsigned page_shift = page_shift_of(exp.page_bytes);
		if (sig.addr_lsb < (int)page_shift || sig.addr_lsb >= 64) {
			fail(exp.rule, "si_addr_lsb", std::to_string(sig.addr_lsb),
			     "si_addr_lsb " + std::to_string(sig.addr_lsb) + " is not a size the poisoned memory can have (" +
				     std::to_string(page_shift) + " to 63)");
		} else {
			const Extent reported = extent_of(sig.addr, sig.addr_lsb);
			const uint64_t page = exp.hva & ~(exp.page_bytes - 1);
			if (!reported.contains(Extent{page, exp.page_bytes}))
				fail(exp.rule, "si_addr", hex(sig.addr),
				     "the reported extent " + reported.show() + " (si_addr " + hex(sig.addr) +
					     ", si_addr_lsb " + std::to_string(sig.addr_lsb) +
					     ") does not contain the poisoned page " + hex(page));
			else if (exp.native)
				judge_native_extent(sig, reported);
		}
	}
	want<long>(exp.rule, "ret", -1, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != -1)
		return;
	want<int>(exp.rule, "errno", EINTR, obs.err, show_errno);
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_INTR, obs.exit_reason(), show_exit);
}

/* The differential half of C8: KVM's extent against the one the kernel's
 * native fault path reported for the same memory. */
void Judge::judge_native_extent(const SignalRecord &sig, const Extent &reported)
{
	const SignalRecord &native = *exp.native;
	if (native.signo != SIGBUS || native.code != BUS_MCEERR_AR || native.addr_lsb < 0 ||
	    native.addr_lsb >= 64) {
		fail(exp.rule, "native.signal", key_token(describe_signal(native)),
		     "the host's own access to the poisoned memory got " + describe_signal(native) +
			     ", not SIGBUS BUS_MCEERR_AR: no native report to compare with");
		return;
	}
	const Extent theirs = extent_of(native.addr, native.addr_lsb);
	if (reported == theirs)
		return;
	const std::string both = "KVM reports " + reported.show() + " (si_addr_lsb " + std::to_string(sig.addr_lsb) +
				 "), the native fault " + theirs.show() + " (si_addr_lsb " +
				 std::to_string(native.addr_lsb) + ")";
	if (reported.contains(theirs) || theirs.contains(reported))
		note(exp.rule, "si_addr_lsb", std::to_string(sig.addr_lsb),
		     both + ": the same memory, described as a different size");
	else
		fail(exp.rule, "si_addr", hex(sig.addr), both + ": disjoint extents");
}

void Judge::judge_nisv()
{
	want<long>(exp.rule, "ret", 0, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_ARM_NISV, obs.exit_reason(), show_exit);
	if (obs.exit_reason() != KVM_EXIT_ARM_NISV)
		return;
	want<uint64_t>(exp.rule, "arm_nisv.fault_ipa", exp.gpa, obs.run.arm_nisv.fault_ipa, show_hex);
	/* api.rst: "the valid bits from the ESR_EL2" without a valid
	 * syndrome: WnR, CM and the fault status code
	 * (kvm_vcpu_dabt_iss_nisv_sanitized()). */
	const uint64_t iss = obs.run.arm_nisv.esr_iss;
	const uint64_t other = iss & ~(esr_dfsc_mask | esr_wnr | esr_cm);
	if (other)
		fail(exp.rule, "arm_nisv.esr_iss", hex(iss),
		     "arm_nisv.esr_iss " + hex(iss) + " has bits " + hex(other) +
			     " beyond WnR, CM and DFSC, which are not valid without a syndrome");
	want<long>(exp.rule, "arm_nisv.esr_iss.WnR", exp.is_write, (iss & esr_wnr) != 0, show_int,
		   std::string("the access was a ") + (exp.is_write ? "store" : "load"));
	want<long>(exp.rule, "arm_nisv.esr_iss.CM", 0, (iss & esr_cm) != 0, show_int, "not a cache maintenance");
	if (!is_translation_fault(iss & esr_dfsc_mask))
		fail(exp.rule, "arm_nisv.esr_iss.DFSC", hex(iss & esr_dfsc_mask),
		     "arm_nisv.esr_iss DFSC " + hex(iss & esr_dfsc_mask) +
			     " is not a translation fault (no memslot, so no stage-2 mapping)");
}

/*
 * S (api.rst 5 "KVM_EXIT_ARM_SEA"): esr is ESR_EL2 sanitised to EC, IL,
 * FnV, EA, CM, WnR, FSC and SET; gva is FAR_EL2 when FnV is 0; gpa is
 * the faulting IPA when flags has KVM_EXIT_ARM_SEA_FLAG_GPA_VALID (the
 * IPA's page where the kernel reports it from HPFAR_EL2, which holds no
 * offset), and no other flag is defined.
 */
void Judge::judge_arm_sea()
{
	want<long>(exp.rule, "ret", 0, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_ARM_SEA, obs.exit_reason(), show_exit);
	if (obs.exit_reason() != KVM_EXIT_ARM_SEA)
		return;
	const auto &sea = obs.run.arm_sea;
	const uint64_t allowed = esr_ec_mask | esr_il | esr_fnv | esr_ea | esr_cm | esr_wnr | esr_dfsc_mask |
				 esr_set_mask;
	if (sea.esr & ~allowed)
		fail(exp.rule, "arm_sea.esr", hex(sea.esr),
		     "arm_sea.esr " + hex(sea.esr) + " has bits " + hex(sea.esr & ~allowed) +
			     " beyond EC, IL, FnV, EA, CM, WnR, FSC and SET: not sanitised");
	want<uint64_t>(exp.rule, "arm_sea.esr.EC", exp.fetch ? esr_ec_iabt_low : esr_ec_dabt_low,
		       (sea.esr & esr_ec_mask) >> esr_ec_shift, show_hex,
		       exp.fetch ? "an instruction abort from a lower EL" : "a data abort from a lower EL");
	want<long>(exp.rule, "arm_sea.esr.IL", 1, (sea.esr & esr_il) != 0, show_int, "a 32-bit instruction");
	want<long>(exp.rule, "arm_sea.esr.CM", 0, (sea.esr & esr_cm) != 0, show_int, "not a cache maintenance");
	if (!exp.fetch)
		want<long>(exp.rule, "arm_sea.esr.WnR", exp.is_write, (sea.esr & esr_wnr) != 0, show_int,
			   std::string("the access was a ") + (exp.is_write ? "store" : "load"));
	want<uint64_t>(exp.rule, "arm_sea.esr.FSC", esr_fsc_sea, sea.esr & esr_dfsc_mask, show_hex,
		       "a synchronous external abort, not on a table walk");
	if (!(sea.esr & esr_fnv))
		want<uint64_t>(exp.rule, "arm_sea.gva", exp.gva, sea.gva, show_hex, "FnV is 0: FAR is valid");
	if (sea.flags & ~(uint64_t)KVM_EXIT_ARM_SEA_FLAG_GPA_VALID)
		fail(exp.rule, "arm_sea.flags", hex(sea.flags),
		     "arm_sea.flags " + hex(sea.flags) + " has bits beyond KVM_EXIT_ARM_SEA_FLAG_GPA_VALID");
	if (sea.flags & KVM_EXIT_ARM_SEA_FLAG_GPA_VALID) {
		const uint64_t page = exp.gpa & ~0xfffull;
		if ((sea.gpa & ~0xfffull) != page || ((sea.gpa & 0xfff) && sea.gpa != exp.gpa))
			fail(exp.rule, "arm_sea.gpa", hex(sea.gpa),
			     "arm_sea.gpa " + hex(sea.gpa) + " with GPA_VALID is not the faulting IPA " + hex(exp.gpa) +
				     " (nor its page " + hex(page) + ")");
	}
}

void Judge::judge_guest_exception()
{
	want<long>(exp.rule, "ret", 0, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	if (!obs.call || obs.call->kind != GuestCallKind::exception) {
		fail(exp.rule, "exit_reason", exit_reason_name(obs.exit_reason()),
		     std::string("wanted the guest to take ") + exp.exception.what + ", got exit " +
			     exit_reason_name(obs.exit_reason()) + " " + describe_payload(obs));
		return;
	}
	const GuestException &x = exp.exception;
	want<uint64_t>(exp.rule, "exception.vector", x.vector, obs.call->args[0], show_hex);
	want<uint64_t>(exp.rule, "exception.syndrome", x.syndrome, obs.call->args[1] & x.syndrome_mask, show_hex,
		       "masked with " + hex(x.syndrome_mask));
	if (x.check_address && !(obs.call->args[1] & x.address_unknown_bit))
		want<uint64_t>(exp.rule, "exception.address", x.address, obs.call->args[2], show_hex,
			       x.address_unknown_bit ? "the syndrome says it is valid (" + hex(x.address_unknown_bit) +
							      " clear)"
						     : std::string());
	/* C14: the rest of the state the guest reads in its handler. */
	if (x.returns == GuestException::Returns::to_address)
		want<uint64_t>(rules::C14, "exception.return_pc", x.address, obs.call->args[3], show_hex,
			       "the fetch that faulted");
	else if (x.returns == GuestException::Returns::to_access && obs.access)
		want<uint64_t>(rules::C14, "exception.return_pc", obs.access->pc, obs.call->args[3], show_hex,
			       "the access instruction the guest recorded: the abort is precise");
	if (x.pstate_mask)
		want<uint64_t>(rules::C14, "exception.pstate", x.pstate, obs.call->args[4] & x.pstate_mask, show_hex,
			       "saved PSTATE masked with " + hex(x.pstate_mask));
	if (x.hpfar)
		want<uint64_t>(rules::C14, "exception.hpfar", *x.hpfar, obs.call->args[5], show_hex, "HPFAR_EL2");
}

/*
 * C14 at an exit that leaves the access to be retried (a memory fault,
 * a poisoned page, NISV): the access did not happen, so the PC is still
 * at it and a load's destination register still holds what it held. The
 * guest recorded both before the access (guest.h Access). Not at
 * KVM_EXIT_MMIO: api.rst makes the guest state consistent only once
 * userspace re-enters (judge_completion).
 */
void Judge::judge_state_at_access()
{
	if (!obs.access)
		return;
	if (obs.pc)
		want<uint64_t>(rules::C14, "pc", obs.access->pc, *obs.pc, show_hex,
			       "the access is to be retried: the PC stays at it");
	if (obs.access->load && obs.dest)
		want<uint64_t>(rules::C14, "dest", guest::dest_canary, *obs.dest, show_hex,
			       "the load's destination register before the load completed");
}

/*
 * C14 after the KVM_RUN that completes an MMIO exit (api.rst 5, the note
 * after KVM_EXIT_MMIO: complete once userspace re-enters, also with
 * immediate_exit): the PC moved past the access exactly once and a load's
 * destination holds the value userspace gave, extended as the instruction
 * says.
 */
void Judge::judge_completion()
{
	if (!exp.completes)
		return;
	if (!obs.access) {
		fail(rules::C14, "access", "none", "the guest recorded no access for this run to complete");
		return;
	}
	if (obs.pc)
		want<uint64_t>(rules::C14, "pc", obs.access->next_pc, *obs.pc, show_hex,
			       "the completed access retired: the instruction after it");
	if (exp.completed_value && obs.dest)
		want<uint64_t>(rules::C14, "dest", *exp.completed_value, *obs.dest, show_hex,
			       "the load's destination register after completion");
}

void Judge::judge_internal_error()
{
	want<long>(exp.rule, "ret", 0, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	want<uint32_t>(exp.rule, "exit_reason", KVM_EXIT_INTERNAL_ERROR, obs.exit_reason(), show_exit);
	if (obs.exit_reason() == KVM_EXIT_INTERNAL_ERROR)
		want<long>(exp.rule, "internal.suberror", exp.suberror, obs.run.internal.suberror, show_int);
}

void Judge::judge_guest_call(GuestCallKind kind, const char *name)
{
	want<long>(exp.rule, "ret", 0, obs.ret, show_int, "KVM_RUN return");
	if (obs.ret != 0) {
		want<int>(exp.rule, "errno", 0, obs.err, show_errno);
		return;
	}
	if (!obs.call || obs.call->kind != kind)
		fail(exp.rule, "exit_reason", exit_reason_name(obs.exit_reason()),
		     std::string("wanted the guest to report ") + name + ", got exit " +
			     exit_reason_name(obs.exit_reason()) + " " + describe_payload(obs));
}

/*
 * G4: the allocation behind a guest_memfd fault must fail with an errno
 * the kernel can give there. kvm_gmem_get_pfn() passes on the folio
 * allocation's -ENOMEM (kvm_gmem_get_folio(), a memory cgroup charge),
 * and both arches fill memory_fault first (arm64 gmem_abort(), x86
 * kvm_mmu_faultin_pfn_gmem()); an MMU memory cache top-up before it
 * (kvm_mmu_topup_memory_cache()) fails with -ENOMEM and no payload.
 * EFAULT with a C1/C2 exit is what the stricter designs would report.
 */
void Judge::judge_allocation_failure()
{
	if (obs.ret != -1) {
		fail(exp.rule, "ret", std::to_string(obs.ret),
		     "KVM_RUN returned " + std::to_string(obs.ret) +
			     ": the allocation did not fail, the scenario did not reach its point");
		check_memory_fault_payload(true); /* a memory-fault exit with ret 0 (C1 fails) */
		return;
	}
	if (obs.err == EFAULT) {
		want<uint32_t>(rules::C1, "exit_reason", KVM_EXIT_MEMORY_FAULT, obs.exit_reason(), show_exit,
			       "with errno " + errno_name(obs.err));
		check_memory_fault_payload(true);
		return;
	}
	if (obs.err != ENOMEM) {
		fail(exp.rule, "errno", errno_name(obs.err),
		     "errno " + errno_name(obs.err) + " is not one a failed allocation gives here (wanted " +
			     errno_name(ENOMEM) + ", or " + errno_name(EFAULT) + " with " +
			     exit_reason_name(KVM_EXIT_MEMORY_FAULT) + ")");
		return;
	}
	/* ENOMEM: which allocation failed? check_memory_fault_shape() has
	 * judged the stale exit (C3) already. */
	const auto &mf = obs.run.memory_fault;
	if (obs.exit_reason() != KVM_EXIT_MEMORY_FAULT)
		note(exp.rule, "failed_allocation", "mmu_memory_cache",
		     "ENOMEM without a memory_fault payload: an MMU memory cache top-up failed "
		     "(kvm_mmu_topup_memory_cache()), before guest_memfd was asked for the page");
	else if (exp.gpa - mf.gpa < mf.size)
		note(exp.rule, "failed_allocation", "guest_memfd_folio",
		     "ENOMEM with a memory_fault payload for the faulting page " + hex(mf.gpa) +
			     ": the guest_memfd folio allocation failed (kvm_gmem_get_pfn()), "
			     "the payload filled speculatively");
	else
		note(exp.rule, "memory_fault.gpa", hex(mf.gpa),
		     "ENOMEM with a memory_fault payload [" + hex(mf.gpa) + ", " + hex(mf.gpa + mf.size) +
			     ") that does not name the faulting GPA " + hex(exp.gpa));
}

Verdict Judge::run()
{
	if (!check_no_guest_trouble())
		return verdict;
	check_memory_fault_shape();
	switch (exp.kind) {
	case Expectation::Kind::mmio:
		judge_mmio();
		break;
	case Expectation::Kind::unresolvable_fault:
		judge_unresolvable_fault();
		break;
	case Expectation::Kind::error:
		judge_error();
		break;
	case Expectation::Kind::memory_fault:
		judge_memory_fault();
		break;
	case Expectation::Kind::intr:
		judge_intr();
		break;
	case Expectation::Kind::poison_signal:
		judge_poison_signal();
		break;
	case Expectation::Kind::nisv:
		judge_nisv();
		break;
	case Expectation::Kind::guest_exception:
		judge_guest_exception();
		break;
	case Expectation::Kind::internal_error:
		judge_internal_error();
		break;
	case Expectation::Kind::guest_done:
		judge_guest_call(GuestCallKind::done, "done");
		break;
	case Expectation::Kind::guest_sync:
		judge_guest_call(GuestCallKind::sync, "sync");
		break;
	case Expectation::Kind::allocation_failure:
		judge_allocation_failure();
		break;
	case Expectation::Kind::arm_sea:
		judge_arm_sea();
		break;
	}
	/* C14 once the outcome itself is right (otherwise it adds noise). */
	if (verdict.passed()) {
		switch (exp.kind) {
		case Expectation::Kind::memory_fault:
		case Expectation::Kind::unresolvable_fault:
		case Expectation::Kind::poison_signal:
		case Expectation::Kind::allocation_failure:
		case Expectation::Kind::nisv:
		case Expectation::Kind::arm_sea:
			judge_state_at_access();
			break;
		case Expectation::Kind::intr:
			/* A signal that ends a run in the middle of an access
			 * (a fault KVM was waiting on) leaves it to be
			 * retried; one that completes an MMIO exit retires
			 * it. */
			if (exp.completes)
				judge_completion();
			else
				judge_state_at_access();
			break;
		default:
			break;
		}
	}
	/* C2 on every meaningful memory-fault exit, expected or not. */
	check_memory_fault_payload(false);
	return verdict;
}

} /* namespace */

bool Verdict::passed() const
{
	for (const auto &f : findings)
		if (f.severity == Finding::Severity::failure)
			return false;
	return true;
}

std::string Verdict::report(const Expectation &expected, const Observation &observed) const
{
	std::string s;
	for (const auto &f : findings) {
		s += f.severity == Finding::Severity::failure ? "FAIL " : "NOTE ";
		s += std::string(f.rule.id) + " (" + f.rule.section + "): " + f.text + " [key: " + f.key() + "]\n";
	}
	s += std::string("expected (") + expected.rule.id + "): " + expected.describe() + "\n";
	if (expected.basis)
		s += std::string("basis: ") + expected.basis + "\n";
	s += "observed: " + kvmc::describe(observed) + "\n";
	return s;
}

Verdict judge(const Expectation &expected, const Observation &observed, Mode mode)
{
	return Judge(expected, observed, mode).run();
}

} /* namespace kvmc */

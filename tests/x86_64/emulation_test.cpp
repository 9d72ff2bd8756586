// SPDX-License-Identifier: GPL-2.0
/*
 * The edges of KVM's instruction emulator (x86) that a guest reaches
 * through MMIO or an instruction KVM intercepts:
 *
 * - UD2, which KVM intercepts (#UD) and must give back: the guest takes
 *   #UD at the instruction (C14, the APM).
 * - An MMIO access by an instruction the emulator lacks (x87 FILD) or
 *   decodes but cannot carry out (IRETQ in 64-bit mode) at CPL 0:
 *   KVM_RUN exits with KVM_EXIT_INTERNAL_ERROR,
 *   KVM_INTERNAL_ERROR_EMULATION; with KVM_CAP_EXIT_ON_EMULATION_FAILURE
 *   the exit carries the instruction's bytes (api.rst 7.27), and the
 *   instruction has not retired.
 * - Single-stepping (KVM_SET_GUEST_DEBUG, KVM_GUESTDBG_SINGLESTEP: "the
 *   next run should single-step", api.rst 4.87) over an MMIO load: the
 *   run that completes the load ends in KVM_EXIT_DEBUG at the next
 *   instruction, with the loaded value in place.
 * - The guest's own single step (TF), jumps and POPF through MMIO,
 *   string port I/O, and registers read and written by userspace
 *   between an MMIO load's exit and its completion (below).
 */
#include "test_util.h"

#include <cerrno>
#include <cstring>
#include <sys/ioctl.h>

#include "arch.h"
#include "layout.h"
#include "x86_64/exception.h"
#include "x86_64/forced_emulation.h"

using namespace kvmc;

namespace {

constexpr uint64_t pattern = 0x8877665544332211ull;
constexpr uint64_t db_vector = 1;
constexpr uint64_t dr6_bs = 1u << 14; /* single step */
constexpr uint64_t rflags_tf = 1u << 8;

int set_guest_debug(Vcpu &vcpu, uint32_t control)
{
	struct kvm_guest_debug dbg {};
	dbg.control = control;
	return ioctl(vcpu.fd(), KVM_SET_GUEST_DEBUG, &dbg) ? -errno : 0;
}

} /* namespace */

KVM_FIXTURE(undefined_instruction);

TEST_F(undefined_instruction, ud2)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({undefined_instruction()});
	ASSERT_OUTCOME("UD2",
		       Expectation::guest_exception(rules::C14, x86::invalid_opcode("#UD for UD2"))
			       .because("the APM: UD2 raises #UD; KVM intercepts #UD (svm.c ud_interception(), "
					"x86.c handle_ud(): EMULTYPE_TRAP_UD) and must queue it back unchanged"),
		       g.run());
	EXPECT_VALUE(rules::C14, "steps completed", 0, g.completed());
}

KVM_FIXTURE(m1_emulation_failure);
FIXTURE_VARIANT(m1_emulation_failure) { bool exit_on_failure; };
FIXTURE_VARIANT_ADD(m1_emulation_failure, capability_off) { .exit_on_failure = false };
FIXTURE_VARIANT_ADD(m1_emulation_failure, capability_on) { .exit_on_failure = true };

namespace {

/* Run g, whose steps end in an MMIO access by an instruction KVM's
 * emulator cannot carry out, and judge the exit (see the file comment). */
void expect_emulation_failure(struct __test_metadata *_metadata, GuestVm &g, const FIXTURE_VARIANT(m1_emulation_failure) *variant, const char *what,
			      const char *because)
{
	if (variant->exit_on_failure) {
		REQUIRE_CAP(g.vm(), KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
		ASSERT_EQ(0, g.vm().enable_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1));
	}
	Observation obs = g.run();
	ASSERT_OUTCOME(what, Expectation::internal_error(rules::C5, KVM_INTERNAL_ERROR_EMULATION).because(because), obs);
	ASSERT_TRUE(obs.access.has_value()) TH_LOG("the guest recorded no access");
	ASSERT_TRUE(obs.pc.has_value()) TH_LOG("the guest RIP could not be read");
	EXPECT_VALUE(rules::C14, "RIP (the instruction, not retired)", obs.access->pc, *obs.pc);
	EXPECT_VALUE(rules::C14, "steps completed", 0, g.completed());
	if (!variant->exit_on_failure)
		return;
	/* api.rst 7.27: the flag says insn_size and insn_bytes are valid;
	 * KVM may have fetched more than the instruction (up to 15 bytes). */
	const auto &f = obs.run.emulation_failure;
	EXPECT_VALUE(rules::C5, "emulation_failure.flags & INSTRUCTION_BYTES",
		     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES,
		     f.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES);
	const uint64_t length = obs.access->next_pc - obs.access->pc;
	ASSERT_TRUE(length > 0 && length <= 15) TH_LOG("recorded instruction length %llu", (unsigned long long)length);
	EXPECT_TRUE(f.insn_size >= length && f.insn_size <= 15)
		TH_LOG("emulation_failure.insn_size %u, the instruction is %llu bytes", f.insn_size,
		       (unsigned long long)length);
	const uint8_t *code = g.ram_at(obs.access->pc);
	for (uint64_t i = 0; i < length && i < sizeof(f.insn_bytes); i++) {
		const std::string at = "emulation_failure.insn_bytes[" + std::to_string(i) + "]";
		EXPECT_VALUE(rules::C5, at.c_str(), code[i], f.insn_bytes[i]);
	}
}

} /* namespace */

TEST_F(m1_emulation_failure, x87_load_at_cpl0)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({x87_load(ARCH_MMIO_GPA + 0x48)});
	expect_emulation_failure(_metadata, g, variant, "FILD from MMIO at CPL 0",
				 "api.rst 5 \"KVM_EXIT_INTERNAL_ERROR\", 7.27 KVM_CAP_EXIT_ON_EMULATION_FAILURE; "
				 "x86.c handle_emulation_failure(): at CPL 0 an exit (emulate.c has no opcode 0xdf)");
}

/* An instruction the emulator decodes but cannot execute: IRETQ in
 * 64-bit mode (emulate.c em_iret()), its stack in MMIO. */
TEST_F(m1_emulation_failure, iretq_from_mmio_stack_at_cpl0)
{
	Kvm kvm;
	GuestVm g(kvm);
	g.order({iret_from(ARCH_MMIO_GPA + 0x100)});
	expect_emulation_failure(_metadata, g, variant, "IRETQ with its stack in MMIO at CPL 0",
				 "api.rst 5 \"KVM_EXIT_INTERNAL_ERROR\", 7.27 KVM_CAP_EXIT_ON_EMULATION_FAILURE; "
				 "x86.c x86_emulate_instruction(): EMULATION_FAILED after decoding is "
				 "handle_emulation_failure() too, at CPL 0 an exit");
}

KVM_FIXTURE(m1_single_step);

TEST_F(m1_single_step, mmio_load)
{
	Kvm kvm;
	GuestVm g(kvm);
	REQUIRE_CAP(g.vm(), KVM_CAP_SET_GUEST_DEBUG, 1);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x40;
	g.order({sync_point(), load(gpa, 8), sync_point()});
	ASSERT_OUTCOME("to the sync point", Expectation::guest_sync(rules::guest), g.run());
	ASSERT_EQ(0, set_guest_debug(g.vcpu(), KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP));
	/* Step up to the load: each run one instruction, a debug exit. */
	Observation obs;
	unsigned steps = 0;
	for (; steps < 10000; steps++) {
		obs = g.run();
		if (obs.ret != 0 || obs.exit_reason() != KVM_EXIT_DEBUG)
			break;
		ASSERT_VALUE(rules::C14, "debug.arch.exception of a step", db_vector, obs.run.debug.arch.exception);
	}
	log_line("single steps before the load: " + std::to_string(steps));
	ASSERT_OUTCOME("the load", Expectation::mmio(rules::C5, gpa, 8, false), obs);
	Observation after = g.complete_load_and_run(pattern);
	ASSERT_VALUE(rules::C14, "ret of the run that completes the load", 0, after.ret);
	ASSERT_VALUE(rules::C14, "exit_reason of the run that completes the load (KVM_EXIT_DEBUG)", KVM_EXIT_DEBUG,
		     after.exit_reason());
	ASSERT_TRUE(after.access.has_value());
	EXPECT_VALUE(rules::C14, "debug.arch.exception", db_vector, after.run.debug.arch.exception);
	EXPECT_VALUE(rules::C14, "debug.arch.pc (the instruction after the load)", after.access->next_pc,
		     after.run.debug.arch.pc);
	EXPECT_VALUE(rules::C14, "debug.arch.dr6 & BS", dr6_bs, after.run.debug.arch.dr6 & dr6_bs);
	ASSERT_TRUE(after.dest.has_value());
	EXPECT_VALUE(rules::C14, "RAX (the value loaded)", pattern, *after.dest);
	ASSERT_EQ(0, set_guest_debug(g.vcpu(), 0));
	ASSERT_OUTCOME("on, without stepping", Expectation::guest_sync(rules::guest), g.run());
	EXPECT_VALUE(rules::C5, "value loaded", pattern, g.loaded(1));
}

/*
 * The guest's own single-stepping (EFLAGS.TF) across an MMIO access that
 * KVM emulates: the APM (vol. 2, 13.1.4 and 8.2.1) has the #DB trap
 * follow the instruction, with RIP the next one and TF still set in the
 * RFLAGS it pushes; an emulated instruction owes the guest the same
 * (x86.c x86_emulate_instruction(): kvm_inject_emulated_db() when
 * ctxt->tf). Without the trap the guest runs into UD2 and reports #UD.
 */
KVM_FIXTURE(m1_guest_single_step);
FIXTURE_VARIANT(m1_guest_single_step) { bool store; };
FIXTURE_VARIANT_ADD(m1_guest_single_step, load) { .store = false };
FIXTURE_VARIANT_ADD(m1_guest_single_step, store) { .store = true };

TEST_F(m1_guest_single_step, mmio_access)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x50;
	g.order({tf_access(gpa, variant->store)});
	Observation exit = g.run();
	ASSERT_OUTCOME("access", Expectation::mmio(rules::C5, gpa, 8, variant->store, ~0ull), exit);
	ASSERT_TRUE(exit.access.has_value());
	Observation after = variant->store ? g.run() : g.complete_load_and_run(pattern);
	GuestException x;
	x.vector = db_vector;
	x.syndrome_mask = x86::pf_error_code_mask;
	x.syndrome = 0;
	x.check_address = false;
	x.pstate_mask = rflags_tf | x86::rflags_rf;
	x.pstate = rflags_tf;
	x.what = "the single-step trap (#DB)";
	ASSERT_OUTCOME("after the access",
		       Expectation::guest_exception(rules::C14, x)
			       .because("the APM: with RFLAGS.TF set a #DB trap follows each instruction; x86.c "
					"x86_emulate_instruction() injects it after an emulated one (ctxt->tf)"),
		       after);
	ASSERT_TRUE(after.call.has_value());
	EXPECT_VALUE(rules::C14, "RIP pushed by the #DB (the instruction after the access)", exit.access->next_pc,
		     after.call->args[3]);
}

/*
 * Control transfer and flags from MMIO, which KVM's emulator carries out
 * (api.rst 5 "KVM_EXIT_MMIO": the load's data is what userspace gives):
 * JMP through a pointer at an MMIO address goes where the pointer says
 * (the host points past the UD2 after the JMP: falling through is #UD);
 * POPF with its stack at an MMIO address loads RFLAGS from the data,
 * IF and CF included (APM: POPF at CPL 0 may set IF).
 */
KVM_FIXTURE(m1_mmio_control);

TEST_F(m1_mmio_control, jump_through_pointer)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x60;
	g.order({jump_via(gpa), sync_point()});
	Observation exit = g.run();
	ASSERT_OUTCOME("the pointer's load", Expectation::mmio(rules::C5, gpa, 8, false), exit);
	ASSERT_TRUE(exit.access.has_value());
	/* Past the 2-byte UD2 that follows the JMP. */
	ASSERT_OUTCOME("after the jump", Expectation::guest_sync(rules::C14),
		       g.complete_load_and_run(exit.access->next_pc + 2));
	EXPECT_VALUE(rules::C14, "steps completed", 1, g.completed());
}

TEST_F(m1_mmio_control, popf)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x68;
	constexpr uint64_t rflags = 0x203; /* IF, bit 1, CF */
	g.order({popf_from(gpa), sync_point()});
	ASSERT_OUTCOME("POPF's load", Expectation::mmio(rules::C5, gpa, 8, false), g.run());
	ASSERT_OUTCOME("after POPF", Expectation::guest_sync(rules::guest), g.complete_load_and_run(rflags));
	EXPECT_VALUE(rules::C14, "RFLAGS after POPF (IF, CF and bit 1, as loaded)", rflags, g.loaded(0));
}

/*
 * Userspace reading and writing the registers between an MMIO load's exit
 * and the run that completes it, as a VMM does when something (a
 * debugger, a device model, a monitor command) synchronises the vCPU's
 * state in between (QEMU writes back what it read before the next
 * KVM_RUN). api.rst 5: the load is complete only after the next KVM_RUN;
 * nothing there lets the registers' round trip undo it. KVM keeps the
 * emulator's register cache for the completion and drops it when
 * userspace sets the registers (x86.c x86_emulate_instruction():
 * emulate_regs_need_sync_from_vcpu); either way the destination register
 * must get the data and the other registers keep what userspace wrote.
 */
KVM_FIXTURE(m1_registers_before_completion);
enum class RegisterTrip { get, get_then_set, sync_regs };
FIXTURE_VARIANT(m1_registers_before_completion) { RegisterTrip how; };
FIXTURE_VARIANT_ADD(m1_registers_before_completion, get) { .how = RegisterTrip::get };
FIXTURE_VARIANT_ADD(m1_registers_before_completion, get_then_set_unchanged) { .how = RegisterTrip::get_then_set };
/* The same through the run structure (api.rst 4.10 "kvm_valid_regs",
 * "kvm_dirty_regs", KVM_CAP_SYNC_REGS): KVM stores the registers at the
 * exit, userspace marks them dirty unchanged. */
FIXTURE_VARIANT_ADD(m1_registers_before_completion, sync_regs_dirty_unchanged) { .how = RegisterTrip::sync_regs };

TEST_F(m1_registers_before_completion, mmio_load)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x70;
	if (variant->how == RegisterTrip::sync_regs) {
		REQUIRE_CAP(g.vm(), KVM_CAP_SYNC_REGS, 1);
		g.vcpu().shared()->kvm_valid_regs = KVM_SYNC_X86_REGS;
	}
	g.order({load(gpa, 8), load(gpa + 8, 4)});
	Observation exit = g.run();
	ASSERT_OUTCOME("the load", Expectation::mmio(rules::C5, gpa, 8, false), exit);
	struct kvm_regs regs {};
	switch (variant->how) {
	case RegisterTrip::get:
		ASSERT_EQ(0, ioctl(g.vcpu().fd(), KVM_GET_REGS, &regs));
		break;
	case RegisterTrip::get_then_set:
		ASSERT_EQ(0, ioctl(g.vcpu().fd(), KVM_GET_REGS, &regs));
		ASSERT_EQ(0, ioctl(g.vcpu().fd(), KVM_SET_REGS, &regs));
		break;
	case RegisterTrip::sync_regs:
		g.vcpu().shared()->kvm_dirty_regs = KVM_SYNC_X86_REGS;
		break;
	}
	log_line("basis: api.rst 5 \"KVM_EXIT_MMIO\" (the operation completes on the next KVM_RUN), "
		 "4.11 KVM_SET_REGS, 4.10 kvm_dirty_regs");
	ASSERT_OUTCOME("the second load", Expectation::mmio(rules::C5, gpa + 8, 4, false),
		       g.complete_load_and_run(pattern));
	EXPECT_VALUE(rules::C12, "RAX after the completion (the first load, as the guest recorded it)", pattern,
		     g.loaded(0));
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C12), g.complete_load_and_run(0x1234));
	EXPECT_VALUE(rules::C12, "the second load", 0x1234, g.loaded(1));
}

/*
 * An instruction breakpoint (DR0, DR7 L0 with R/W0 = 0) on an instruction
 * KVM's emulator runs (the forced-emulation prefix: KVM decodes it as if it
 * had intercepted it, x86.c kvm_vcpu_check_code_breakpoint()). The APM
 * (vol. 2, 13.1.1): an instruction breakpoint is a #DB fault before the
 * instruction, RIP at it, DR6.B0 set; RF is not set in the pushed RFLAGS
 * (the fault is the breakpoint itself).
 */
KVM_FIXTURE(emulated_breakpoint);

TEST_F(emulated_breakpoint, nop)
{
	Kvm kvm;
	GuestVm g(kvm);
	std::string why;
	if (!x86::forced_emulation_enabled(&why))
		SKIP(return, "%s", why.c_str());
	g.order({forced_breakpoint()});
	GuestException x;
	x.vector = db_vector;
	x.syndrome_mask = x86::pf_error_code_mask;
	x.syndrome = 0;
	x.check_address = false;
	x.returns = GuestException::Returns::to_access;
	x.pstate_mask = x86::rflags_judged;
	x.pstate = x86::rflags_fixed;
	x.what = "#DB for the instruction breakpoint";
	ASSERT_OUTCOME("the NOP under DR0",
		       Expectation::guest_exception(rules::C14, x)
			       .because("the APM vol. 2, 13.1.1; x86.c x86_emulate_instruction() checks code "
					"breakpoints before decoding (kvm_vcpu_check_code_breakpoint())"),
		       g.run());
	struct kvm_debugregs dr {};
	ASSERT_EQ(0, ioctl(g.vcpu().fd(), KVM_GET_DEBUGREGS, &dr));
	EXPECT_VALUE(rules::C14, "DR6.B0 (breakpoint 0 hit)", 1, dr.dr6 & 1);
	EXPECT_VALUE(rules::C14, "steps completed", 0, g.completed());
}

/*
 * String port I/O (api.rst 5 "KVM_EXIT_IO": direction, size, port, count
 * items of size bytes at data_offset). REP OUTSB of 4 bytes from memory
 * reaches userspace as KVM_EXIT_IO OUT exits whose data, in order, are
 * the 4 bytes; REP INSB of 4 bytes as IN exits whose counts add up to 4,
 * and the bytes userspace leaves at data_offset land in memory in order.
 * How many items one exit carries is KVM's choice (7.3.4: one per exit
 * for OUTS, em_out(); INS batched, pio_in_emulated()). The guest goes
 * on after the instruction. Port 0x80 has no in-kernel device here.
 */
KVM_FIXTURE(string_port_io);

TEST_F(string_port_io, out_then_in)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping ram = HostMapping::anonymous(page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, ram);
	constexpr uint16_t port = 0x80;
	constexpr unsigned bytes = 4;
	const uint8_t out[bytes] = {0x11, 0x22, 0x33, 0x44}, in[bytes] = {0xa1, 0xb2, 0xc3, 0xd4};
	memcpy(ram.data() + 0x100, out, sizeof(out));
	g.order({string_io(false, port, ARCH_TEST_GPA + 0x100, bytes), string_io(true, port, ARCH_TEST_GPA + 0x200, bytes)});
	log_line("basis: api.rst 5 \"KVM_EXIT_IO\" (count, data_offset)");

	for (const bool is_in : {false, true}) {
		const char *what = is_in ? "REP INSB" : "REP OUTSB";
		unsigned done = 0, exits = 0;
		while (done < bytes) {
			Observation o = g.run();
			exits++;
			const std::string at = std::string(what) + ", exit " + std::to_string(exits) + ": ";
			ASSERT_VALUE(rules::C5, (at + "exit_reason (KVM_EXIT_IO)").c_str(), KVM_EXIT_IO, o.exit_reason());
			EXPECT_VALUE(rules::C5, (at + "io.direction").c_str(), is_in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT,
				     o.run.io.direction);
			EXPECT_VALUE(rules::C5, (at + "io.size").c_str(), 1, o.run.io.size);
			EXPECT_VALUE(rules::C5, (at + "io.port").c_str(), port, o.run.io.port);
			const uint32_t count = o.run.io.count;
			ASSERT_TRUE(count >= 1 && count <= bytes - done)
				TH_LOG("%s io.count %u with %u of %u bytes left", at.c_str(), count, bytes - done, bytes);
			struct kvm_run *run = g.vcpu().shared();
			uint8_t *data = reinterpret_cast<uint8_t *>(run) + run->io.data_offset;
			for (uint32_t n = 0; n < count; n++, done++) {
				if (is_in) {
					data[n] = in[done];
					continue;
				}
				const std::string b = at + "byte " + std::to_string(done);
				EXPECT_VALUE(rules::C5, b.c_str(), out[done], data[n]);
			}
		}
		log_line(std::string(what) + ": " + std::to_string(bytes) + " bytes in " + std::to_string(exits) +
			 " exits");
	}
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
	for (unsigned n = 0; n < bytes; n++) {
		const std::string what = "byte " + std::to_string(n) + " REP INSB stored";
		EXPECT_VALUE(rules::C5, what.c_str(), in[n], ram.data()[0x200 + n]);
	}
	EXPECT_VALUE(rules::C5, "the byte after them untouched", 0, ram.data()[0x200 + bytes]);
	EXPECT_VALUE(rules::C5, "steps completed", 2, g.completed());
}

KVMC_TEST_MAIN

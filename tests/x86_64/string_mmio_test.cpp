// SPDX-License-Identifier: GPL-2.0
/*
 * C5 for a string instruction (x86): REP STOSB where no memslot is. Each
 * iteration is a store of one byte; KVM's emulator gives userspace one
 * KVM_EXIT_MMIO per byte (api.rst 5 "KVM_EXIT_MMIO": phys_addr, len 1,
 * is_write, the byte), in address order, and restarts the instruction in
 * between (arch/x86/kvm/x86.c x86_emulate_instruction(): a REP string
 * instruction not yet done is EMULATION_RESTART). After the last byte the
 * guest goes on past the instruction (C14). Also from RAM into MMIO: the
 * bytes that fall in a memslot land there with no exit, the rest exit as
 * MMIO one by one.
 *
 * m1_string_load: REP MOVSB with its source where no memslot is: one
 * KVM_EXIT_MMIO load per byte, in order; each byte userspace answers
 * lands in RAM, and the emulator goes on to the next iteration in the
 * kernel (a read completed is an iteration done: EMULATION_RESTART with
 * no exit pending).
 */
#include "test_util.h"

#include <cstring>

#include "layout.h"

using namespace kvmc;

namespace {

constexpr uint8_t fill_byte = 0x5c;
const char *const rep_basis =
	"arch/x86/kvm/x86.c x86_emulate_instruction(): each iteration of REP STOSB to MMIO is one "
	"KVM_EXIT_MMIO, the instruction restarted until RCX is 0";

} /* namespace */

KVM_FIXTURE(m1_string_store);

TEST_F(m1_string_store, no_memslot)
{
	Kvm kvm;
	GuestVm g(kvm);
	const uint64_t gpa = ARCH_MMIO_GPA + 0x123;
	const uint32_t count = 5;
	g.order({rep_store(gpa, count, fill_byte), load(ARCH_MMIO_GPA + 0x800, 1)});
	log_line(std::string("basis: ") + rep_basis);
	for (uint32_t i = 0; i < count; i++) {
		const std::string step = "byte " + std::to_string(i) + " of REP STOSB";
		ASSERT_OUTCOME(step.c_str(), Expectation::mmio(rules::C5, gpa + i, 1, true, fill_byte), g.run());
	}
	ASSERT_OUTCOME("the load after the string store", Expectation::mmio(rules::C5, ARCH_MMIO_GPA + 0x800, 1, false),
		       g.run());
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0x77));
	EXPECT_VALUE(rules::C5, "steps completed", 2, g.completed());
	EXPECT_VALUE(rules::C5, "the load after it", 0x77, g.loaded(1));
}

TEST_F(m1_string_store, from_ram_into_mmio)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping ram = HostMapping::anonymous(page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, ram);
	/* The slot's last 3 bytes, then 4 past its end, where no memslot is. */
	const uint64_t end = ARCH_TEST_GPA + page_size();
	const uint32_t in_ram = 3, count = 7;
	g.order({rep_store(end - in_ram, count, fill_byte)});
	log_line(std::string("basis: ") + rep_basis);
	for (uint32_t i = in_ram; i < count; i++) {
		const std::string step = "byte " + std::to_string(i) + " of REP STOSB, past the slot";
		ASSERT_OUTCOME(step.c_str(), Expectation::mmio(rules::C5, end - in_ram + i, 1, true, fill_byte), g.run());
	}
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
	for (uint32_t i = 0; i < in_ram; i++) {
		const std::string what = "byte " + std::to_string(i) + " in the slot's memory";
		EXPECT_VALUE(rules::C5, what.c_str(), fill_byte, ram.data()[page_size() - in_ram + i]);
	}
	EXPECT_VALUE(rules::C5, "the byte before them untouched", 0, ram.data()[page_size() - in_ram - 1]);
}

/* And from MMIO into RAM: the bytes below the slot exit one by one, in
 * order; those in the slot land there with no exit, and the guest goes
 * on (the emulator finishes the instruction in RAM: EMULATION_RESTART
 * without an exit, or the guest again). */
TEST_F(m1_string_store, from_mmio_into_ram)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping ram = HostMapping::anonymous(page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, ram);
	const uint32_t in_mmio = 3, count = 7;
	const uint64_t start = ARCH_TEST_GPA - in_mmio;
	g.order({rep_store(start, count, fill_byte)});
	log_line(std::string("basis: ") + rep_basis);
	for (uint32_t i = 0; i < in_mmio; i++) {
		const std::string step = "byte " + std::to_string(i) + " of REP STOSB, below the slot";
		ASSERT_OUTCOME(step.c_str(), Expectation::mmio(rules::C5, start + i, 1, true, fill_byte), g.run());
	}
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.run());
	for (uint32_t i = 0; i < count - in_mmio; i++) {
		const std::string what = "byte " + std::to_string(in_mmio + i) + " in the slot's memory";
		EXPECT_VALUE(rules::C5, what.c_str(), fill_byte, ram.data()[i]);
	}
	EXPECT_VALUE(rules::C5, "the byte after them untouched", 0, ram.data()[count - in_mmio]);
	EXPECT_VALUE(rules::C5, "steps completed", 1, g.completed());
}

KVM_FIXTURE(m1_string_load);

TEST_F(m1_string_load, from_mmio_into_ram)
{
	Kvm kvm;
	GuestVm g(kvm);
	HostMapping ram = HostMapping::anonymous(page_size());
	Memslot slot(g.vm(), test_slot, ARCH_TEST_GPA, ram);
	memset(ram.data(), 0xee, 16);
	const uint64_t src = ARCH_MMIO_GPA + 0x231, dst = ARCH_TEST_GPA + 4;
	const uint32_t count = 5;
	g.order({rep_move(src, dst, count), load(ARCH_MMIO_GPA + 0x800, 1)});
	log_line("basis: arch/x86/kvm/emulate.c: a REP string instruction is one iteration per emulation; "
		 "x86.c complete_emulated_mmio() completes each read, then EMULATION_RESTART");
	Observation obs = g.run();
	for (uint32_t i = 0; i < count; i++) {
		const std::string step = "byte " + std::to_string(i) + " of REP MOVSB from MMIO";
		ASSERT_OUTCOME(step.c_str(), Expectation::mmio(rules::C5, src + i, 1, false), obs);
		obs = g.complete_load_and_run(0x31 + i);
	}
	ASSERT_OUTCOME("the load after the string move", Expectation::mmio(rules::C5, ARCH_MMIO_GPA + 0x800, 1, false),
		       obs);
	ASSERT_OUTCOME("resume", Expectation::guest_done(rules::C5), g.complete_load_and_run(0x77));
	for (uint32_t i = 0; i < count; i++) {
		const std::string what = "byte " + std::to_string(i) + " moved into the slot";
		EXPECT_VALUE(rules::C5, what.c_str(), 0x31 + i, ram.data()[4 + i]);
	}
	EXPECT_VALUE(rules::C5, "the byte before them untouched", 0xee, ram.data()[3]);
	EXPECT_VALUE(rules::C5, "the byte after them untouched", 0xee, ram.data()[4 + count]);
	EXPECT_VALUE(rules::C5, "steps completed", 2, g.completed());
	EXPECT_VALUE(rules::C5, "the load after it", 0x77, g.loaded(1));
}

KVMC_TEST_MAIN

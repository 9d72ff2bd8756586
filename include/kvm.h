/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Owner types for the kernel objects a test touches: the /dev/kvm fd, a VM,
 * a vCPU with its kvm_run mapping, a memslot, a guest_memfd and a host
 * mapping. Each releases what it owns; no test closes or unmaps by hand.
 *
 * Tiers, as in the kernel's selftests: Vcpu::run_raw() is the bare ioctl,
 * Vcpu::observe() captures the outcome for the caller to judge, and the
 * helpers in guest_vm.h assert on it. Setup steps that must not fail call
 * die(), which ends the test as failed with the call and errno named.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <csignal>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "observation.h"

namespace kvmc {

/* Print "# setup error: ..." and end the test process as failed. */
[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Diagnostic lines for the log: "# " before each line of text, flushed. */
void log_line(const std::string &text);

size_t page_size();

class UniqueFd {
public:
	UniqueFd() = default;
	explicit UniqueFd(int fd) : fd_(fd) {}
	UniqueFd(UniqueFd &&o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
	UniqueFd &operator=(UniqueFd &&o) noexcept;
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;
	~UniqueFd() { reset(); }

	int get() const { return fd_; }
	void reset(int fd = -1);

private:
	int fd_ = -1;
};

/* An mmap()ed range of host memory. */
class HostMapping {
public:
	static HostMapping anonymous(size_t size, int prot = PROT_READ | PROT_WRITE);
	/* MAP_SHARED view of a file (a memfd, a guest_memfd). */
	static HostMapping shared_file(int fd, size_t size, int prot = PROT_READ | PROT_WRITE);
	/* Private anonymous hugetlb memory (MAP_HUGETLB, the default huge
	 * page size), not populated, into *out: 0 or -errno. */
	static int anonymous_huge_raw(size_t size, HostMapping *out);
	/* Private anonymous memory at an address aligned to align (a power
	 * of two), asked to be backed by transparent huge pages
	 * (MADV_HUGEPAGE) and faulted in; whether it is, the kernel decides
	 * (thp_backed()). */
	static HostMapping anonymous_thp(size_t size, size_t align);
	/* Whether all of [data(), data() + size()) is in transparent huge
	 * pages, by /proc/self/smaps (AnonHugePages of its VMA). */
	bool thp_backed() const;
	/* MAP_SHARED view of size bytes at offset of fd (/dev/mem, say)
	 * into *out: 0 or -errno. */
	static int shared_file_raw(int fd, size_t size, off_t offset, HostMapping *out);
	/* MAP_PRIVATE (copy-on-write) view of a file. */
	static HostMapping private_file(int fd, size_t size, int prot = PROT_READ | PROT_WRITE);
	HostMapping() = default;
	HostMapping(HostMapping &&o) noexcept
		: addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
	HostMapping &operator=(HostMapping &&o) noexcept;
	HostMapping(const HostMapping &) = delete;
	~HostMapping() { unmap(); }

	uint8_t *data() const { return static_cast<uint8_t *>(addr_); }
	size_t size() const { return size_; }
	uint64_t hva() const { return reinterpret_cast<uint64_t>(addr_); }
	/* mprotect() a page-aligned part of the mapping. */
	void protect(size_t offset, size_t len, int prot);
	void unmap();

private:
	HostMapping(void *addr, size_t size) : addr_(addr), size_(size) {}
	static HostMapping file(int fd, size_t size, int prot, int flags, const char *how);

	void *addr_ = nullptr;
	size_t size_ = 0;
};

class Kvm {
public:
	/* Why /dev/kvm cannot be used here, or nothing when it can. */
	static std::optional<std::string> unavailable();

	Kvm();
	int fd() const { return fd_.get(); }
	int check_extension(long cap) const;
	size_t vcpu_mmap_size() const;

private:
	UniqueFd fd_;
};

class Vm {
public:
	explicit Vm(const Kvm &kvm, unsigned long type = 0);
	int fd() const { return fd_.get(); }
	const Kvm &kvm() const { return kvm_; }
	/* KVM_CHECK_EXTENSION on the VM: what this VM (not only KVM) offers. */
	int check_extension(long cap) const;
	/* KVM_ENABLE_CAP on the VM: returns 0 or -errno. */
	int enable_cap(uint32_t cap, uint64_t arg0 = 0);
	/* KVM_SET_USER_MEMORY_REGION2 as is (REGION on kernels without it): 0 or -errno. */
	int set_memory_region_raw(const struct kvm_userspace_memory_region2 &region);
	/* KVM_GET_DIRTY_LOG of a memslot into bitmap (one bit per page, as
	 * many 64-bit words as the slot needs): 0 or -errno. */
	int get_dirty_log_raw(uint32_t slot, uint64_t *bitmap);

private:
	const Kvm &kvm_;
	UniqueFd fd_;
};

/* A guest_memfd file (KVM_CREATE_GUEST_MEMFD), bound to its VM. */
class GuestMemfd {
public:
	GuestMemfd(Vm &vm, uint64_t size, uint64_t flags);
	int fd() const { return fd_.get(); }
	uint64_t size() const { return size_; }
	/* mmap() the file; needs GUEST_MEMFD_FLAG_MMAP. */
	HostMapping map() const;
	/* Close this fd; the file lives on while mappings or bindings hold it. */
	void close() { fd_.reset(); }

private:
	UniqueFd fd_;
	uint64_t size_;
};

/* A memslot, deleted again when the owner goes away (unless done already). */
class Memslot {
public:
	Memslot(Vm &vm, uint32_t slot, uint64_t gpa, const HostMapping &backing, uint32_t flags = 0);
	/* A KVM_MEM_GUEST_MEMFD slot over [offset, offset + size) of gmem;
	 * shared is the userspace_addr side (the gmem's own mapping, say). */
	Memslot(Vm &vm, uint32_t slot, uint64_t gpa, const GuestMemfd &gmem, uint64_t offset, uint64_t size,
		const HostMapping &shared, uint32_t flags = 0);
	Memslot(Memslot &&o) noexcept;
	Memslot(const Memslot &) = delete;
	~Memslot() { remove(); }

	uint64_t gpa() const { return region_.guest_phys_addr; }
	uint64_t size() const { return region_.memory_size; }
	/* The same slot again with another guest_phys_addr or flags (api.rst
	 * 4.35: a move or a flags change): 0, and the owner follows it, or
	 * -errno and nothing changed here. */
	int modify_raw(uint64_t gpa, uint32_t flags);
	void remove();

private:
	void add();

	Vm *vm_;
	struct kvm_userspace_memory_region2 region_ {};
	bool live_ = false;
};

/* A guest physical range for KVM_PRE_FAULT_MEMORY. */
struct PreFaultRange {
	uint64_t gpa;
	uint64_t size;
};

/* One KVM_PRE_FAULT_MEMORY call as it was made and what came back
 * (test_util.h's pre_fault(), judged later). */
struct PreFaultCall {
	PreFaultRange in;
	uint64_t flags = 0;
	int result = 0;				/* 0 or -errno */
	struct kvm_pre_fault_memory out {};	/* as the kernel handed it back */
};

class Vcpu {
public:
	Vcpu(Vm &vm, uint32_t id);
	Vcpu(const Vcpu &) = delete;
	~Vcpu();

	int fd() const { return fd_.get(); }
	Vm &vm() const { return vm_; }
	/* The live shared page. Judge copies (Observation), never this. */
	struct kvm_run *shared() const { return run_; }

	/* Bare KVM_RUN: returns the ioctl's value, errno left as set. */
	int run_raw();
	/* One KVM_RUN under a time limit, captured whole as it returns. */
	Observation observe(unsigned limit_ms);

	/* Fill kvm_run.mmio.data for a pending load before the next KVM_RUN. */
	void complete_mmio_load(uint64_t value);

	/* KVM_PRE_FAULT_MEMORY (api.rst 4.143) over range, which the
	 * kernel rewrites to what is left of it: 0 or -errno. */
	int pre_fault_memory_raw(struct kvm_pre_fault_memory &range);

	/* KVM_SET_SIGNAL_MASK: the signals blocked while in KVM_RUN. */
	void set_signal_mask(const sigset_t &blocked);

	void set_one_reg(uint64_t id, uint64_t value);
	uint64_t get_one_reg(uint64_t id) const;
	std::optional<uint64_t> try_get_one_reg(uint64_t id) const;

private:
	Vm &vm_;
	UniqueFd fd_;
	struct kvm_run *run_ = nullptr;
	size_t run_size_ = 0;
};

/* Record (not act on) SIGBUS and SIGUSR1 from now on: what arrives during
 * a run lands in Observation::signal. Vcpu::observe() installs it too. */
void install_signal_recorder();
/* The signal recorded since the last run or take (outside KVM_RUN: one
 * an ioctl such as KVM_PRE_FAULT_MEMORY made KVM send), and forget it. */
std::optional<SignalRecord> take_recorded_signal();

/* The default limit for one KVM_RUN, from KVMC_RUN_TIMEOUT_MS (ms). */
unsigned run_limit_ms();

/* A kernel module's parameter as sysfs shows it
 * (/sys/module/MODULE/parameters/NAME), its first word; nothing when it
 * cannot be read (no such module or parameter). */
std::optional<std::string> module_param(const char *module, const char *name);
/* A boolean module parameter's value: set (Y, or 1 for an int). */
inline bool param_set(const std::string &value) { return value == "Y" || value == "1"; }

} /* namespace kvmc */

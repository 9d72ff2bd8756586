// SPDX-License-Identifier: GPL-2.0
#include "kvm.h"

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#include "arch.h"
#include "names.h"

namespace kvmc {

void die(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stdout, "# setup error: %s\n", buf);
	fflush(stdout);
	/* Exit status 1 is KSFT_FAIL: the harness reports the test failed. */
	_exit(1);
}

void log_line(const std::string &text)
{
	size_t start = 0;
	while (start <= text.size()) {
		size_t end = text.find('\n', start);
		if (end == std::string::npos)
			end = text.size();
		/* A trailing newline ends the text; it adds no empty line. */
		if (end == text.size() && start == end && start != 0)
			break;
		fprintf(stdout, "# %.*s\n", (int)(end - start), text.data() + start);
		start = end + 1;
	}
	fflush(stdout);
}

size_t page_size()
{
	static const size_t size = sysconf(_SC_PAGESIZE);
	return size;
}

UniqueFd &UniqueFd::operator=(UniqueFd &&o) noexcept
{
	if (this != &o)
		reset(std::exchange(o.fd_, -1));
	return *this;
}

void UniqueFd::reset(int fd)
{
	if (fd_ >= 0)
		close(fd_);
	fd_ = fd;
}

HostMapping HostMapping::anonymous(size_t size, int prot)
{
	void *addr = mmap(nullptr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (addr == MAP_FAILED)
		die("mmap(%zu bytes, anonymous): %s", size, errno_name(errno).c_str());
	return HostMapping(addr, size);
}

/* A view of the file fd: flags MAP_SHARED or MAP_PRIVATE, which how
 * names in the message when mmap() fails. */
HostMapping HostMapping::file(int fd, size_t size, int prot, int flags, const char *how)
{
	void *addr = mmap(nullptr, size, prot, flags, fd, 0);
	if (addr == MAP_FAILED)
		die("mmap(fd %d, %zu bytes, %s): %s", fd, size, how, errno_name(errno).c_str());
	return HostMapping(addr, size);
}

HostMapping HostMapping::shared_file(int fd, size_t size, int prot)
{
	return file(fd, size, prot, MAP_SHARED, "shared");
}

HostMapping HostMapping::anonymous_thp(size_t size, size_t align)
{
	/* Map align more than needed and give back the unaligned ends. */
	const size_t span = size + align;
	void *raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		die("mmap(%zu bytes, anonymous): %s", span, errno_name(errno).c_str());
	const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
	const uintptr_t aligned = (start + align - 1) & ~(uintptr_t)(align - 1);
	if (aligned > start)
		munmap(raw, aligned - start);
	if (start + span > aligned + size)
		munmap(reinterpret_cast<void *>(aligned + size), start + span - (aligned + size));
	void *addr = reinterpret_cast<void *>(aligned);
	madvise(addr, size, MADV_HUGEPAGE);
	for (size_t off = 0; off < size; off += 4096)
		static_cast<volatile uint8_t *>(addr)[off] = 0;
	return HostMapping(addr, size);
}

bool HostMapping::thp_backed() const
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return false;
	char line[256];
	bool in_vma = false;
	unsigned long long huge_kb = 0;
	const uintptr_t start = reinterpret_cast<uintptr_t>(addr_);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in_vma = lo <= start && start < hi;
			continue;
		}
		if (in_vma && sscanf(line, "AnonHugePages: %llu kB", &huge_kb) == 1)
			break;
	}
	fclose(f);
	return huge_kb * 1024 >= size_;
}

int HostMapping::anonymous_huge_raw(size_t size, HostMapping *out)
{
	void *addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (addr == MAP_FAILED)
		return -errno;
	*out = HostMapping(addr, size);
	return 0;
}

int HostMapping::shared_file_raw(int fd, size_t size, off_t offset, HostMapping *out)
{
	void *addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	if (addr == MAP_FAILED)
		return -errno;
	*out = HostMapping(addr, size);
	return 0;
}

HostMapping HostMapping::private_file(int fd, size_t size, int prot)
{
	return file(fd, size, prot, MAP_PRIVATE, "private");
}

HostMapping &HostMapping::operator=(HostMapping &&o) noexcept
{
	if (this != &o) {
		unmap();
		addr_ = std::exchange(o.addr_, nullptr);
		size_ = std::exchange(o.size_, 0);
	}
	return *this;
}

void HostMapping::protect(size_t offset, size_t len, int prot)
{
	if (mprotect(data() + offset, len, prot))
		die("mprotect(+%#zx, %#zx, %d): %s", offset, len, prot, errno_name(errno).c_str());
}

void HostMapping::unmap()
{
	if (addr_)
		munmap(addr_, size_);
	addr_ = nullptr;
	size_ = 0;
}

std::optional<std::string> Kvm::unavailable()
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (err == ENOENT)
			return "no /dev/kvm here (no KVM, or CONFIG_KVM off): use ./run_tests.sh, "
			       "which boots a VM with KVM when the host has none";
		if (err == EACCES || err == EPERM)
			return "cannot open /dev/kvm (" + errno_name(err) + "): run as root or join group kvm";
		return "cannot open /dev/kvm: " + errno_name(err);
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (version != KVM_API_VERSION)
		return "KVM_GET_API_VERSION is " + std::to_string(version) + ", this suite speaks " +
		       std::to_string(KVM_API_VERSION);
	return std::nullopt;
}

Kvm::Kvm()
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open(/dev/kvm): %s", errno_name(errno).c_str());
	fd_.reset(fd);
}

int Kvm::check_extension(long cap) const
{
	int r = ioctl(fd(), KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

size_t Kvm::vcpu_mmap_size() const
{
	int r = ioctl(fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE: %s", errno_name(errno).c_str());
	return r;
}

Vm::Vm(const Kvm &kvm, unsigned long type) : kvm_(kvm)
{
	int fd;
	do {
		/* KVM_CREATE_VM can fail with EINTR while the host is busy. */
		fd = ioctl(kvm.fd(), KVM_CREATE_VM, type);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		die("KVM_CREATE_VM(type %lu): %s", type, errno_name(errno).c_str());
	fd_.reset(fd);
}

int Vm::check_extension(long cap) const
{
	int r = ioctl(fd(), KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int Vm::enable_cap(uint32_t cap, uint64_t arg0)
{
	struct kvm_enable_cap ec {};
	ec.cap = cap;
	ec.args[0] = arg0;
	return ioctl(fd(), KVM_ENABLE_CAP, &ec) ? -errno : 0;
}

int Vm::set_memory_region_raw(const struct kvm_userspace_memory_region2 &region)
{
	/*
	 * Kernels before 6.8 have only KVM_SET_USER_MEMORY_REGION, whose
	 * struct is the head of the region2 one: slots without guest_memfd
	 * go through it there, so the rest of the suite runs on them too.
	 */
	if (!(region.flags & KVM_MEM_GUEST_MEMFD) && !check_extension(KVM_CAP_USER_MEMORY2)) {
		struct kvm_userspace_memory_region old {};
		old.slot = region.slot;
		old.flags = region.flags;
		old.guest_phys_addr = region.guest_phys_addr;
		old.memory_size = region.memory_size;
		old.userspace_addr = region.userspace_addr;
		return ioctl(fd(), KVM_SET_USER_MEMORY_REGION, &old) ? -errno : 0;
	}
	return ioctl(fd(), KVM_SET_USER_MEMORY_REGION2, &region) ? -errno : 0;
}

int Vm::get_dirty_log_raw(uint32_t slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log {};
	log.slot = slot;
	log.dirty_bitmap = bitmap;
	return ioctl(fd(), KVM_GET_DIRTY_LOG, &log) ? -errno : 0;
}

GuestMemfd::GuestMemfd(Vm &vm, uint64_t size, uint64_t flags) : size_(size)
{
	struct kvm_create_guest_memfd args {};
	args.size = size;
	args.flags = flags;
	int fd = ioctl(vm.fd(), KVM_CREATE_GUEST_MEMFD, &args);
	if (fd < 0)
		die("KVM_CREATE_GUEST_MEMFD(size %#llx, flags %#llx): %s", (unsigned long long)size,
		    (unsigned long long)flags, errno_name(errno).c_str());
	fd_.reset(fd);
}

HostMapping GuestMemfd::map() const
{
	return HostMapping::shared_file(fd(), size_);
}

Memslot::Memslot(Vm &vm, uint32_t slot, uint64_t gpa, const HostMapping &backing, uint32_t flags)
	: vm_(&vm)
{
	region_.slot = slot;
	region_.flags = flags;
	region_.guest_phys_addr = gpa;
	region_.memory_size = backing.size();
	region_.userspace_addr = backing.hva();
	add();
}

Memslot::Memslot(Vm &vm, uint32_t slot, uint64_t gpa, const GuestMemfd &gmem, uint64_t offset,
		 uint64_t size, const HostMapping &shared, uint32_t flags)
	: vm_(&vm)
{
	region_.slot = slot;
	region_.flags = flags | KVM_MEM_GUEST_MEMFD;
	region_.guest_phys_addr = gpa;
	region_.memory_size = size;
	region_.userspace_addr = shared.hva();
	region_.guest_memfd = gmem.fd();
	region_.guest_memfd_offset = offset;
	add();
}

void Memslot::add()
{
	int r = vm_->set_memory_region_raw(region_);
	if (r)
		die("KVM_SET_USER_MEMORY_REGION2(slot %u, gpa %#llx, size %#llx, flags %#x, guest_memfd %d "
		    "+%#llx): %s", region_.slot, (unsigned long long)region_.guest_phys_addr,
		    (unsigned long long)region_.memory_size, region_.flags,
		    region_.flags & KVM_MEM_GUEST_MEMFD ? (int)region_.guest_memfd : -1,
		    (unsigned long long)region_.guest_memfd_offset, errno_name(-r).c_str());
	live_ = true;
}

int Memslot::modify_raw(uint64_t gpa, uint32_t flags)
{
	auto region = region_;
	region.guest_phys_addr = gpa;
	region.flags = flags;
	int r = vm_->set_memory_region_raw(region);
	if (!r)
		region_ = region;
	return r;
}

Memslot::Memslot(Memslot &&o) noexcept
	: vm_(o.vm_), region_(o.region_), live_(std::exchange(o.live_, false))
{
}

void Memslot::remove()
{
	if (!live_)
		return;
	live_ = false;
	auto region = region_;
	region.memory_size = 0;
	int r = vm_->set_memory_region_raw(region);
	if (r)
		die("deleting memslot %u: %s", region.slot, errno_name(-r).c_str());
}

Vcpu::Vcpu(Vm &vm, uint32_t id) : vm_(vm)
{
	int fd = ioctl(vm.fd(), KVM_CREATE_VCPU, (unsigned long)id);
	if (fd < 0)
		die("KVM_CREATE_VCPU(%u): %s", id, errno_name(errno).c_str());
	fd_.reset(fd);
	run_size_ = vm.kvm().vcpu_mmap_size();
	void *p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap(vcpu fd): %s", errno_name(errno).c_str());
	run_ = static_cast<struct kvm_run *>(p);
}

Vcpu::~Vcpu()
{
	if (run_)
		munmap(run_, run_size_);
}

int Vcpu::run_raw()
{
	return ioctl(fd(), KVM_RUN, 0);
}

namespace {

/*
 * The watchdog: SIGALRM from an interval timer interrupts a KVM_RUN that
 * overstays its limit (-1/EINTR). The handler also sets immediate_exit, so
 * a signal that lands just before the vCPU enters the guest still makes
 * KVM_RUN return at once instead of being lost.
 */
volatile sig_atomic_t watchdog_fired;
struct kvm_run *volatile watched_run;

/* Signals other than the watchdog's that arrive during a run (SIGBUS for
 * poisoned memory, for one) are recorded, not acted on. */
volatile sig_atomic_t signal_seen;
SignalRecord signal_record;

void on_watchdog(int)
{
	watchdog_fired = 1;
	if (watched_run)
		watched_run->immediate_exit = 1;
}

void on_recorded_signal(int signo, siginfo_t *si, void *)
{
	signal_record.signo = signo;
	signal_record.code = si->si_code;
	signal_record.addr = reinterpret_cast<uint64_t>(si->si_addr);
	signal_record.addr_lsb = signo == SIGBUS ? si->si_addr_lsb : 0;
	signal_seen = 1;
}

void install_run_handlers()
{
	static bool installed;
	if (installed)
		return;
	struct sigaction sa {};
	sa.sa_handler = on_watchdog;	/* no SA_RESTART: KVM_RUN must return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, nullptr);
	install_signal_recorder();
	installed = true;
}

void arm_watchdog(unsigned ms)
{
	struct itimerval it {};
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, nullptr);
}

} /* namespace */

void install_signal_recorder()
{
	struct sigaction rec {};
	rec.sa_sigaction = on_recorded_signal;
	rec.sa_flags = SA_SIGINFO;
	sigemptyset(&rec.sa_mask);
	sigaction(SIGBUS, &rec, nullptr);
	sigaction(SIGUSR1, &rec, nullptr);
}

std::optional<SignalRecord> take_recorded_signal()
{
	if (!signal_seen)
		return std::nullopt;
	signal_seen = 0;
	return signal_record;
}

unsigned run_limit_ms()
{
	const char *env = getenv("KVMC_RUN_TIMEOUT_MS");
	if (env && *env) {
		long v = strtol(env, nullptr, 10);
		if (v > 0)
			return v;
	}
	return 5000;
}

std::optional<std::string> module_param(const char *module, const char *name)
{
	const std::string path = std::string("/sys/module/") + module + "/parameters/" + name;
	FILE *f = fopen(path.c_str(), "r");
	if (!f)
		return std::nullopt;
	char word[64];
	const bool read = fscanf(f, "%63s", word) == 1;
	fclose(f);
	if (!read)
		return std::nullopt;
	return std::string(word);
}

Observation Vcpu::observe(unsigned limit_ms)
{
	Observation obs;
	install_run_handlers();

	watchdog_fired = 0;
	signal_seen = 0;
	watched_run = run_;
	arm_watchdog(limit_ms);
	obs.ret = run_raw();
	obs.err = obs.ret == -1 ? errno : 0;
	arm_watchdog(0);
	watched_run = nullptr;

	/* Copy at once: everything after this judges the copy. */
	memcpy(&obs.run, run_, sizeof(obs.run));
	if (obs.ret == 0 && run_->exit_reason == KVM_EXIT_IO) {
		/* Port I/O data lives past struct kvm_run, in the same mapping. */
		size_t n = (size_t)run_->io.size * run_->io.count;
		if (n <= sizeof(obs.io_data) && run_->io.data_offset + n <= run_size_)
			memcpy(obs.io_data, reinterpret_cast<uint8_t *>(run_) + run_->io.data_offset, n);
	}
	obs.limit_ms = limit_ms;
	obs.timed_out = watchdog_fired && obs.ret == -1 && obs.err == EINTR;
	if (signal_seen)
		obs.signal = signal_record;
	run_->immediate_exit = 0;
	const arch::GuestRegisters regs = arch::guest_registers(*this);
	obs.pc = regs.pc;
	obs.dest = regs.dest;
	return obs;
}

void Vcpu::complete_mmio_load(uint64_t value)
{
	/* data[] takes the bytes as a load of mmio.len would see them in
	 * memory; both supported architectures are little-endian. */
	for (unsigned i = 0; i < sizeof(run_->mmio.data); i++)
		run_->mmio.data[i] = value >> (8 * i);
}

int Vcpu::pre_fault_memory_raw(struct kvm_pre_fault_memory &range)
{
	return ioctl(fd(), KVM_PRE_FAULT_MEMORY, &range) ? -errno : 0;
}

void Vcpu::set_signal_mask(const sigset_t &blocked)
{
	/* The kernel's sigset: 64 bits on both supported architectures. */
	struct {
		struct kvm_signal_mask hdr;
		uint8_t bits[8];
	} mask;
	mask.hdr.len = sizeof(mask.bits);
	memcpy(mask.bits, &blocked, sizeof(mask.bits));
	if (ioctl(fd(), KVM_SET_SIGNAL_MASK, &mask))
		die("KVM_SET_SIGNAL_MASK: %s", errno_name(errno).c_str());
}

void Vcpu::set_one_reg(uint64_t id, uint64_t value)
{
	struct kvm_one_reg reg = {.id = id, .addr = reinterpret_cast<uint64_t>(&value)};
	if (ioctl(fd(), KVM_SET_ONE_REG, &reg))
		die("KVM_SET_ONE_REG(%#llx): %s", (unsigned long long)id, errno_name(errno).c_str());
}

std::optional<uint64_t> Vcpu::try_get_one_reg(uint64_t id) const
{
	uint64_t value = 0;
	struct kvm_one_reg reg = {.id = id, .addr = reinterpret_cast<uint64_t>(&value)};
	if (ioctl(fd(), KVM_GET_ONE_REG, &reg))
		return std::nullopt;
	return value;
}

uint64_t Vcpu::get_one_reg(uint64_t id) const
{
	auto v = try_get_one_reg(id);
	if (!v)
		die("KVM_GET_ONE_REG(%#llx): %s", (unsigned long long)id, errno_name(errno).c_str());
	return *v;
}

} /* namespace kvmc */

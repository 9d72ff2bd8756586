// SPDX-License-Identifier: GPL-2.0
#include "userfault.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "names.h"

namespace kvmc {

namespace {

/* vm.unprivileged_userfaultfd, as text, for the skip message. */
std::string unprivileged_setting()
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	if (!f)
		return "unreadable";
	int v = -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return std::to_string(v);
}

/*
 * A userfaultfd that handles the kernel's faults too, with the
 * UFFD_FEATURE_* bits in features: an invalid fd and *why where this
 * process cannot have one.
 */
UniqueFd open_userfaultfd(uint64_t features, std::string *why)
{
	/* Without UFFD_USER_MODE_ONLY: KVM's faults come from the kernel,
	 * which a user-mode-only userfaultfd does not see (they would fail
	 * as SIGBUS instead of waiting). That needs CAP_SYS_PTRACE or
	 * vm.unprivileged_userfaultfd = 1. */
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		const int err = errno;
		if (err == ENOSYS)
			*why = "no userfaultfd (ENOSYS): needs CONFIG_USERFAULTFD";
		else if (err == EPERM)
			*why = "userfaultfd for kernel faults refused (EPERM): run as root (CAP_SYS_PTRACE) or set "
			       "vm.unprivileged_userfaultfd = 1 (it is " + unprivileged_setting() +
			       "); UFFD_USER_MODE_ONLY would not see KVM's faults";
		else
			*why = "userfaultfd: " + errno_name(err);
		return UniqueFd();
	}
	UniqueFd owner(fd);
	struct uffdio_api api {};
	api.api = UFFD_API;
	api.features = features;
	if (ioctl(fd, UFFDIO_API, &api)) {
		char buf[64];
		snprintf(buf, sizeof(buf), "UFFDIO_API(features %#llx): ", (unsigned long long)features);
		*why = buf + errno_name(errno) + (features ? ": this kernel lacks one of the features" : "");
		return UniqueFd();
	}
	return owner;
}

} /* namespace */

std::unique_ptr<Userfault> Userfault::create(size_t size, std::string *why, uint64_t features)
{
	UniqueFd owner = open_userfaultfd(features, why);
	if (owner.get() < 0)
		return nullptr;
	return register_missing(std::move(owner), HostMapping::anonymous(size), why);
}

std::unique_ptr<Userfault> Userfault::register_missing(UniqueFd fd, HostMapping memory, std::string *why)
{
	struct uffdio_register reg {};
	reg.range.start = memory.hva();
	reg.range.len = memory.size();
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(fd.get(), UFFDIO_REGISTER, &reg)) {
		*why = "UFFDIO_REGISTER (missing mode): " + errno_name(errno);
		return nullptr;
	}
	return std::unique_ptr<Userfault>(new Userfault(std::move(fd), std::move(memory)));
}

std::unique_ptr<Userfault> Userfault::create_huge(size_t size, size_t huge_page, std::string *why)
{
	UniqueFd owner = open_userfaultfd(0, why);
	if (owner.get() < 0)
		return nullptr;
	HostMapping memory;
	if (int r = HostMapping::anonymous_huge_raw(size, &memory)) {
		*why = "no " + std::to_string(size >> 20) + " MiB of hugetlb memory (" + errno_name(-r) +
		       "): reserve some with echo 8 > /proc/sys/vm/nr_hugepages";
		return nullptr;
	}
	auto uffd = register_missing(std::move(owner), std::move(memory), why);
	if (uffd)
		uffd->granule_ = huge_page;
	return uffd;
}

std::unique_ptr<Userfault> Userfault::create_write_protected(size_t size, std::string *why, uint64_t features,
							     uint64_t (*fill)(size_t offset))
{
	UniqueFd owner = open_userfaultfd(features | UFFD_FEATURE_PAGEFAULT_FLAG_WP, why);
	if (owner.get() < 0)
		return nullptr;
	const int fd = owner.get();
	HostMapping memory = HostMapping::anonymous(size);
	for (size_t off = 0; off < size; off += sizeof(uint64_t))
		*reinterpret_cast<uint64_t *>(memory.data() + off) = fill(off);
	struct uffdio_register reg {};
	reg.range.start = memory.hva();
	reg.range.len = size;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	if (ioctl(fd, UFFDIO_REGISTER, &reg)) {
		*why = "UFFDIO_REGISTER (write-protect mode, anonymous memory): " + errno_name(errno);
		return nullptr;
	}
	struct uffdio_writeprotect wp {};
	wp.range.start = memory.hva();
	wp.range.len = size;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp)) {
		*why = "UFFDIO_WRITEPROTECT: " + errno_name(errno);
		return nullptr;
	}
	return std::unique_ptr<Userfault>(new Userfault(std::move(owner), std::move(memory)));
}

std::unique_ptr<Userfault> Userfault::create_minor(size_t size, std::string *why)
{
	UniqueFd owner = open_userfaultfd(UFFD_FEATURE_MINOR_SHMEM, why);
	if (owner.get() < 0)
		return nullptr;
	UniqueFd memfd(memfd_create("kvmc-uffd-minor", MFD_CLOEXEC));
	if (memfd.get() < 0 || ftruncate(memfd.get(), size)) {
		*why = "memfd of " + std::to_string(size) + " bytes: " + errno_name(errno);
		return nullptr;
	}
	HostMapping contents = HostMapping::shared_file(memfd.get(), size);
	HostMapping memory = HostMapping::shared_file(memfd.get(), size);
	struct uffdio_register reg {};
	reg.range.start = memory.hva();
	reg.range.len = size;
	reg.mode = UFFDIO_REGISTER_MODE_MINOR;
	if (ioctl(owner.get(), UFFDIO_REGISTER, &reg)) {
		*why = "UFFDIO_REGISTER (minor mode, shmem): " + errno_name(errno);
		return nullptr;
	}
	auto uffd = std::unique_ptr<Userfault>(new Userfault(std::move(owner), std::move(memory)));
	uffd->memfd_ = std::move(memfd);
	uffd->contents_ = std::move(contents);
	return uffd;
}

int Userfault::continue_raw(size_t offset)
{
	struct uffdio_continue c {};
	c.range.start = memory_.hva() + offset;
	c.range.len = page_size();
	return ioctl(fd_.get(), UFFDIO_CONTINUE, &c) ? -errno : 0;
}

int Userfault::unprotect_raw(size_t offset)
{
	struct uffdio_writeprotect wp {};
	wp.range.start = memory_.hva() + offset;
	wp.range.len = page_size();
	wp.mode = 0;
	return ioctl(fd_.get(), UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

std::optional<Userfault::Fault> Userfault::wait_fault(unsigned limit_ms)
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
	for (;;) {
		struct uffd_msg msg {};
		ssize_t n = read(fd_.get(), &msg, sizeof(msg));
		if (n == (ssize_t)sizeof(msg) && msg.event == UFFD_EVENT_PAGEFAULT)
			return Fault{static_cast<uint64_t>(msg.arg.pagefault.address),
				     static_cast<uint64_t>(msg.arg.pagefault.flags)};
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return std::nullopt;
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
			deadline - std::chrono::steady_clock::now());
		if (left.count() <= 0)
			return std::nullopt;
		struct pollfd p = {.fd = fd_.get(), .events = POLLIN, .revents = 0};
		poll(&p, 1, (int)left.count());
	}
}

int Userfault::copy_raw(size_t offset, const void *src)
{
	struct uffdio_copy c {};
	c.dst = memory_.hva() + offset;
	c.src = reinterpret_cast<uint64_t>(src);
	c.len = granule_;
	return ioctl(fd_.get(), UFFDIO_COPY, &c) ? -errno : 0;
}

int Userfault::zeropage_raw(size_t offset)
{
	struct uffdio_zeropage z {};
	z.range.start = memory_.hva() + offset;
	z.range.len = granule_;
	return ioctl(fd_.get(), UFFDIO_ZEROPAGE, &z) ? -errno : 0;
}

PageServer::PageServer(Userfault &uffd, Plan plan) : uffd_(uffd), plan_(plan), vcpu_thread_(pthread_self())
{
	/* The server takes no signal: the watchdog's SIGALRM and the
	 * signals a test sends are the vCPU thread's. Block them before
	 * the thread exists, so it starts with them blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	thread_ = std::thread([this] { serve(); });
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void PageServer::serve()
{
	fault_ = uffd_.wait_fault(plan_.wait_ms);
	if (!fault_)
		return;
	if (plan_.signal)
		pthread_kill(vcpu_thread_, plan_.signal);
	{
		std::unique_lock<std::mutex> hold(lock_);
		released_cv_.wait_for(hold, std::chrono::milliseconds(plan_.hold_ms), [this] { return released_; });
	}
	filling_ = true;
	switch (plan_.fill) {
	case Plan::Fill::copy:
		fill_result_ = uffd_.copy_raw(plan_.offset, plan_.source);
		break;
	case Plan::Fill::zero:
		fill_result_ = uffd_.zeropage_raw(plan_.offset);
		break;
	case Plan::Fill::unprotect:
		fill_result_ = uffd_.unprotect_raw(plan_.offset);
		break;
	case Plan::Fill::minor_continue:
		fill_result_ = uffd_.continue_raw(plan_.offset);
		break;
	}
}

void PageServer::release()
{
	std::lock_guard<std::mutex> hold(lock_);
	released_ = true;
	released_cv_.notify_all();
}

void PageServer::join()
{
	if (!thread_.joinable())
		return;
	release();
	thread_.join();
}

} /* namespace kvmc */

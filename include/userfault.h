/* SPDX-License-Identifier: GPL-2.0 */
/*
 * userfaultfd behind a memslot: the post-copy flow of live migration
 * (CONTRACT.md U, F5). Anonymous host memory registered with a
 * userfaultfd in MISSING mode: a page nobody filled yet makes whatever
 * touches it wait, KVM's fault-in for the guest (or for
 * KVM_PRE_FAULT_MEMORY) included, until userspace fills it.
 *
 * The page server stands in for the migration source: on a thread of its
 * own it waits for the fault, may signal the vCPU thread, then fills the
 * page. It always fills it within a bound, so nothing waits forever on a
 * test that went wrong.
 */
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <pthread.h>

#include "kvm.h"

namespace kvmc {

class Userfault {
public:
	/* size bytes registered for missing-page faults, with the
	 * UFFD_FEATURE_* bits in features (UFFD_FEATURE_SIGBUS: a missing
	 * page fails the fault at once instead of waiting); nullptr and
	 * *why where this process cannot have the kernel's own faults
	 * (KVM's) handled by a userfaultfd this way. */
	static std::unique_ptr<Userfault> create(size_t size, std::string *why, uint64_t features = 0);
	/* The same over hugetlb memory of huge_page bytes a page: copies
	 * then fill a whole huge page. */
	static std::unique_ptr<Userfault> create_huge(size_t size, size_t huge_page, std::string *why);
	/* The same for write-protect mode (UFFDIO_REGISTER_MODE_WP): the
	 * memory is populated with fill(offset) in each word first, then
	 * write-protected whole, so a store waits and a load does not. */
	static std::unique_ptr<Userfault> create_write_protected(size_t size, std::string *why, uint64_t features,
								 uint64_t (*fill)(size_t offset));

	/* The same for minor faults on shmem (UFFDIO_REGISTER_MODE_MINOR,
	 * the flow of post-copy over shared memory): the memory is a view
	 * of a memfd whose pages are there (written through contents()),
	 * but not yet mapped in this view, so touching one waits until
	 * UFFDIO_CONTINUE maps the page as it is. */
	static std::unique_ptr<Userfault> create_minor(size_t size, std::string *why);

	const HostMapping &memory() const { return memory_; }
	/* Minor mode: a second view of the same memfd, not registered. */
	const HostMapping &contents() const { return contents_; }
	struct Fault {
		uint64_t address;
		uint64_t flags;	/* UFFD_PAGEFAULT_FLAG_* */
	};
	/* Wait up to limit_ms for a fault: where and what kind. */
	std::optional<Fault> wait_fault(unsigned limit_ms);
	/* Fill the page at offset with a copy of the page at src
	 * (UFFDIO_COPY), or with zeros (UFFDIO_ZEROPAGE), waking whoever
	 * waits on it: 0 or -errno. A page is a huge page for
	 * create_huge(). */
	int copy_raw(size_t offset, const void *src);
	int zeropage_raw(size_t offset);
	/* Lift the write protection of the page at offset
	 * (UFFDIO_WRITEPROTECT mode 0), waking whoever waits: 0 or -errno. */
	int unprotect_raw(size_t offset);
	/* Map the page at offset as the memfd holds it (UFFDIO_CONTINUE),
	 * waking whoever waits: 0 or -errno. */
	int continue_raw(size_t offset);

private:
	Userfault(UniqueFd fd, HostMapping memory) : fd_(std::move(fd)), memory_(std::move(memory)) {}
	static std::unique_ptr<Userfault> register_missing(UniqueFd fd, HostMapping memory, std::string *why);
	size_t granule_ = page_size();	/* what one fill covers */
	UniqueFd fd_;
	UniqueFd memfd_;
	HostMapping contents_;
	HostMapping memory_;
};

class PageServer {
public:
	struct Plan {
		size_t offset = 0;		/* the page the fault is expected on */
		/* How the fault is resolved: UFFDIO_COPY of source,
		 * UFFDIO_ZEROPAGE, the write protection lifted, or
		 * UFFDIO_CONTINUE. */
		enum class Fill { copy, zero, unprotect, minor_continue };
		Fill fill = Fill::copy;
		const void *source = nullptr;
		int signal = 0;			/* sent to the vCPU thread once the fault is seen */
		unsigned hold_ms = 0;		/* then wait this long, or until release() */
		unsigned wait_ms = 5000;	/* how long to wait for the fault */
	};
	/* Starts serving; the calling thread is the vCPU thread. */
	PageServer(Userfault &uffd, Plan plan);
	PageServer(const PageServer &) = delete;
	~PageServer() { join(); }

	/* The vCPU thread is back from the kernel: fill the page now. */
	void release();
	void join();

	/* After join(): the fault's address (none: no fault came), and the
	 * fill's 0 or -errno. */
	std::optional<uint64_t> fault_address() const
	{
		return fault_ ? std::optional<uint64_t>(fault_->address) : std::nullopt;
	}
	uint64_t fault_flags() const { return fault_ ? fault_->flags : 0; }
	int fill_result() const { return fill_result_; }
	/* Whether the page was being filled already (say, when KVM_RUN
	 * returned). */
	bool filling() const { return filling_.load(); }

private:
	void serve();

	Userfault &uffd_;
	Plan plan_;
	pthread_t vcpu_thread_;
	std::mutex lock_;
	std::condition_variable released_cv_;
	bool released_ = false;
	std::atomic<bool> filling_{false};
	std::optional<Userfault::Fault> fault_;
	int fill_result_ = 0;
	std::thread thread_;
};

} /* namespace kvmc */

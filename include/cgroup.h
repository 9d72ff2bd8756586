/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A cgroup v2 memory cgroup the calling process moves into for a test,
 * shielded from the OOM killer, so that an allocation over the limit has
 * to fail instead of killing it (G4). Leaving it moves the process back
 * and removes the cgroup.
 *
 * An unkillable process at its limit cannot take a page fault that needs
 * a new page either (it retries it for ever), so entering first faults in
 * and un-shares everything the process has, and lift() drops the limit:
 * call it right after the KVM_RUN under test, before anything allocates.
 */
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace kvmc {

class MemoryCgroup {
public:
	/* Enter a new cgroup with memory.max = limit; nullptr and *why when
	 * that is not possible here (no cgroup2, no memory controller, not
	 * root). */
	static std::unique_ptr<MemoryCgroup> enter(size_t limit, std::string *why);
	~MemoryCgroup();
	MemoryCgroup(const MemoryCgroup &) = delete;

	/* memory.max = max, through an fd opened in advance. */
	void lift();

private:
	MemoryCgroup() = default;
	std::string root_;
	std::string path_;
	std::string oom_score_adj_;
	int max_fd_ = -1;
};

} /* namespace kvmc */

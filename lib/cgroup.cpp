// SPDX-License-Identifier: GPL-2.0
#include "cgroup.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"

namespace kvmc {

namespace {

/* Plain file descriptors, not iostreams: a binary without <fstream> links
 * without the locale machinery, half the size, and the test VM's
 * initramfs unpacks that much faster. */
bool write_file(const std::string &path, const std::string &text)
{
	int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = write(fd, text.data(), text.size());
	bool ok = n == static_cast<ssize_t>(text.size());
	return close(fd) == 0 && ok;
}

std::string read_file(const std::string &path)
{
	std::string text;
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return text;
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		text.append(buf, static_cast<size_t>(n));
	close(fd);
	return text;
}

/* Grow the stack now, so later calls do not need new stack pages. */
__attribute__((noinline)) void grow_stack()
{
	volatile char reserve[256 * 1024];
	memset(const_cast<char *>(reserve), 0, sizeof(reserve));
}

/* Fault in every mapping the process has, writable private ones copied
 * (mlock populates them for writing), so no later access needs a page
 * charged to the new cgroup. */
void fault_in_everything()
{
	grow_stack();
	if (mlockall(MCL_CURRENT) == 0)
		munlockall();
}

} /* namespace */

std::unique_ptr<MemoryCgroup> MemoryCgroup::enter(size_t limit, std::string *why)
{
	const std::string root = "/sys/fs/cgroup";
	if (access((root + "/cgroup.controllers").c_str(), R_OK)) {
		*why = "no cgroup v2 hierarchy at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup)";
		return nullptr;
	}
	if (read_file(root + "/cgroup.controllers").find("memory") == std::string::npos) {
		*why = "the memory controller is not available (CONFIG_MEMCG)";
		return nullptr;
	}
	if (geteuid() != 0) {
		*why = "needs root to create a cgroup and to set oom_score_adj -1000";
		return nullptr;
	}
	std::unique_ptr<MemoryCgroup> cg(new MemoryCgroup);
	cg->root_ = root;
	cg->path_ = root + "/kvm-contract-" + std::to_string(getpid());
	write_file(root + "/cgroup.subtree_control", "+memory");
	if (mkdir(cg->path_.c_str(), 0755) && errno != EEXIST) {
		*why = "mkdir " + cg->path_ + ": " + errno_name(errno);
		return nullptr;
	}
	cg->oom_score_adj_ = read_file("/proc/self/oom_score_adj");
	cg->max_fd_ = open((cg->path_ + "/memory.max").c_str(), O_WRONLY | O_CLOEXEC);
	fault_in_everything();
	if (cg->max_fd_ < 0 || !write_file("/proc/self/oom_score_adj", "-1000") ||
	    !write_file(cg->path_ + "/memory.max", std::to_string(limit)) ||
	    !write_file(cg->path_ + "/memory.swap.max", "0") ||
	    !write_file(cg->path_ + "/cgroup.procs", std::to_string(getpid()))) {
		*why = "could not set up " + cg->path_ + " (memory.max, cgroup.procs, oom_score_adj)";
		return nullptr;
	}
	return cg;
}

void MemoryCgroup::lift()
{
	static const char max[] = "max";
	if (max_fd_ >= 0 && write(max_fd_, max, sizeof(max) - 1) < 0)
		max_fd_ = max_fd_; /* nothing better to do; the destructor leaves anyway */
}

MemoryCgroup::~MemoryCgroup()
{
	lift();
	if (max_fd_ >= 0)
		close(max_fd_);
	write_file(root_ + "/cgroup.procs", std::to_string(getpid()));
	if (!oom_score_adj_.empty())
		write_file("/proc/self/oom_score_adj", oom_score_adj_);
	rmdir(path_.c_str());
}

} /* namespace kvmc */

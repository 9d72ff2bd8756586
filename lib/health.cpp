// SPDX-License-Identifier: GPL-2.0
#include "health.h"

#include <fnmatch.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <unistd.h>

#include "names.h"

namespace kvmc {

namespace {

/* One /dev/kmsg record: "prio,seq,timestamp,flags;message\n". */
struct Record {
	uint64_t seq;
	std::string message;
};

/* Every record the ring still holds, oldest first. */
template <typename Fn>
bool for_each_record(Fn fn)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[8192];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EPIPE)
			continue; /* overwritten while reading: go on */
		if (n <= 0)
			break;
		buf[n] = '\0';
		std::string rec(buf, n);
		size_t comma = rec.find(',');
		size_t semi = rec.find(';');
		if (comma == std::string::npos || semi == std::string::npos)
			continue;
		Record r;
		r.seq = strtoull(rec.c_str() + comma + 1, nullptr, 10);
		size_t end = rec.find('\n', semi);
		r.message = rec.substr(semi + 1, end == std::string::npos ? std::string::npos : end - semi - 1);
		fn(r);
	}
	close(fd);
	return true;
}

} /* namespace */

uint64_t kernel_taint()
{
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");
	unsigned long long v = 0;
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

bool is_kernel_problem(const std::string &m)
{
	static const char *const starts[] = {
		"WARNING:", "BUG:", "kernel BUG at", "Oops", "general protection fault",
		"Kernel panic", "UBSAN:", "KASAN:", "KFENCE:", "refcount_t:", "list_add corruption",
		"list_del corruption", "INFO: rcu", "rcu: INFO:", "watchdog: BUG:",
	};
	for (const char *s : starts)
		if (m.rfind(s, 0) == 0)
			return true;
	/* "INFO: task foo:123 blocked for more than 120 seconds." */
	return m.rfind("INFO: task ", 0) == 0 && m.find(" blocked for more than ") != std::string::npos;
}

std::string describe_taint(uint64_t bits)
{
	/* The letters of Documentation/admin-guide/tainted-kernels.rst. */
	static const char letters[] = "PFSRMBUDAWCIOELKXTN";
	std::string s;
	for (unsigned b = 0; b < sizeof(letters) - 1; b++)
		if (bits & (1ull << b))
			s += letters[b];
	return hex(bits) + (s.empty() ? "" : " (" + s + ")");
}

KernelHealth health_snapshot()
{
	KernelHealth h{};
	h.valid = true;
	h.taint = kernel_taint();
	h.kmsg_readable = for_each_record([&h](const Record &r) { h.kmsg_seq = r.seq; });
	return h;
}

/* The problems in the log records after before's (in all of them when
 * whole_log), and the taint bits before did not have. */
static std::vector<std::string> problems_since(const KernelHealth &before, bool whole_log)
{
	std::vector<std::string> problems;
	if (before.kmsg_readable)
		for_each_record([&](const Record &r) {
			if ((whole_log || r.seq > before.kmsg_seq) && is_kernel_problem(r.message))
				problems.push_back("kernel log: " + r.message);
		});
	uint64_t taint = kernel_taint();
	if (taint & ~before.taint)
		problems.push_back("new taint: " + describe_taint(before.taint) + " -> " + describe_taint(taint));
	return problems;
}

std::vector<std::string> health_problems(const KernelHealth &before)
{
	if (!before.valid)
		return {};
	return problems_since(before, false);
}

std::vector<std::string> health_problems_since_boot()
{
	KernelHealth boot{};
	boot.valid = boot.kmsg_readable = true;
	return problems_since(boot, true);
}

std::string health_kind(const std::string &problem)
{
	static const struct {
		const char *start;
		const char *kind;
	} kinds[] = {
		{"kernel log: WARNING:", "WARN"}, {"kernel log: BUG:", "BUG"}, {"kernel log: kernel BUG at", "BUG"},
		{"kernel log: Oops", "oops"}, {"kernel log: general protection fault", "oops"},
		{"kernel log: Kernel panic", "panic"}, {"kernel log: UBSAN:", "UBSAN"},
		{"kernel log: KASAN:", "KASAN"}, {"kernel log: KFENCE:", "KFENCE"},
		{"kernel log: refcount_t:", "refcount"}, {"kernel log: list_", "list-corruption"},
		{"kernel log: INFO: task ", "hung-task"}, {"kernel log: INFO: rcu", "rcu-stall"},
		{"kernel log: rcu: INFO:", "rcu-stall"}, {"kernel log: watchdog: BUG:", "lockup"},
		{"new taint:", "taint"},
	};
	for (const auto &k : kinds)
		if (problem.rfind(k.start, 0) == 0)
			return k.kind;
	return "other";
}

bool host_traces_allowed(const char *allow_host_traces)
{
	return allow_host_traces && strcmp(allow_host_traces, "1") == 0;
}

bool host_traces_allowed()
{
	return host_traces_allowed(getenv("KVMC_ALLOW_HOST_TRACES"));
}

const char host_traces_skip_reason[] =
	"writes a fake WARNING into this kernel's log (and, with KVMC_ALLOW_DESTRUCTIVE=1, taints it "
	"until reboot): runs in the test VM, or on a throwaway machine with KVMC_ALLOW_HOST_TRACES=1";

std::optional<std::string> known_crash(const char *list, const std::string &release, const std::string &test)
{
	std::string_view rest(list ? list : "");
	while (!rest.empty()) {
		const size_t end = rest.find('\n');
		const std::string line(rest.substr(0, end));
		rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
		const size_t a = line.find(' ');
		const size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
		if (b == std::string::npos)
			continue;
		const std::string kernel = line.substr(0, a), name = line.substr(a + 1, b - a - 1);
		if (fnmatch(kernel.c_str(), release.c_str(), 0) == 0 && fnmatch(name.c_str(), test.c_str(), 0) == 0)
			return "known to bring this kernel down (--baseline crash entry), not run: " + line.substr(b + 1);
	}
	return std::nullopt;
}

} /* namespace kvmc */

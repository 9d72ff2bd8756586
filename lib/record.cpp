// SPDX-License-Identifier: GPL-2.0
#include "record.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace kvmc {

static std::string current_test;

void set_current_test(std::string name)
{
	current_test = std::move(name);
}

std::string json_string(const std::string &text)
{
	std::string out = "\"";
	for (unsigned char c : text) {
		switch (c) {
		case '"': out += "\\\""; break;
		case '\\': out += "\\\\"; break;
		case '\n': out += "\\n"; break;
		case '\t': out += "\\t"; break;
		default:
			if (c < 0x20) {
				char buf[8];
				snprintf(buf, sizeof(buf), "\\u%04x", c);
				out += buf;
			} else {
				out += (char)c;
			}
		}
	}
	return out + "\"";
}

void record(const Record &r)
{
	const char *path = getenv("KVMC_OBSERVATIONS");
	if (!path || !*path)
		return;
	std::string line = "{\"test\":" + json_string(current_test) + ",\"step\":" + json_string(r.step) +
			   ",\"rule\":" + json_string(r.rule.id) + ",\"section\":" + json_string(r.rule.section) +
			   ",\"verdict\":" + json_string(r.verdict) + ",\"expected\":" + json_string(r.expected) +
			   ",\"observed\":" + json_string(r.observed);
	if (r.exit_reason >= 0) {
		line += ",\"ret\":" + std::to_string(r.ret) + ",\"errno\":" + std::to_string(r.err) +
			",\"exit_reason\":" + std::to_string(r.exit_reason) + ",\"payload\":" + json_string(r.payload) +
			",\"state\":" + json_string(r.state);
	}
	if (r.basis)
		line += ",\"basis\":" + json_string(r.basis);
	line += ",\"findings\":[";
	for (size_t i = 0; i < r.findings.size(); i++) {
		const Finding &f = r.findings[i];
		line += std::string(i ? "," : "") + "{\"rule\":" + json_string(f.rule.id) + ",\"severity\":" +
			json_string(f.severity == Finding::Severity::failure ? "failure" : "note") +
			",\"text\":" + json_string(f.text) + ",\"key\":" + json_string(f.key()) + "}";
	}
	line += "]}\n";
	/* One write on an O_APPEND file: lines of concurrent tests stay whole. */
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	ssize_t ignored = write(fd, line.data(), line.size());
	(void)ignored;
	close(fd);
}

} /* namespace kvmc */

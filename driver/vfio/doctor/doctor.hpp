// SPDX-License-Identifier: MIT
// Preflight "doctor" for the VFIO path: inspects sysfs, /dev and /proc (no dmesg, no ioctls) and
// reports, for each thing that must be right before VFIO can drive an NVMe device, what it
// found, why it matters and the exact fix. `convme doctor` prints it; the vfio: factory runs it
// first and refuses to open a device when a finding is fatal.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace convme::driver {

struct finding {
    enum severity { ok, info, warning, fatal };
    severity level = ok;
    std::string what;  // one line: what was checked and the result
    std::string why;   // why it matters (may be empty for ok)
    std::string fix;   // commands or steps (may be multi-line; empty when nothing to do)
    int code = 0;      // for fatal findings: the errno an open would fail with (ENODEV, EBUSY...)
};

const char* severity_name(finding::severity s) noexcept;

struct doctor_options {
    // Mount points; tests point them into a fake tree.
    std::string sys_root = "/sys";
    std::string dev_root = "/dev";
    std::string proc_root = "/proc";
    // PCI function to check (any form normalize_bdf accepts); empty: system checks only.
    std::string bdf;
    // "auto", "iommu" or "noiommu": what the caller intends to use.
    std::string mode = "auto";
    // Identity used for the /dev/vfio permission check; default: the calling process.
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
    // Locked memory a typical run pins (queues + I/O buffers); RLIMIT_MEMLOCK below this warns.
    std::uint64_t memlock_wanted = 64ull << 20;
    // Below this nothing works (admin queue, identify buffer, one I/O queue pair): fatal.
    std::uint64_t memlock_minimum = 1ull << 20;

    // All three roots under one directory (DIR/sys, DIR/dev, DIR/proc).
    static doctor_options under(const std::string& root);
};

std::vector<finding> run_doctor(const doctor_options& opts);

bool has_fatal(const std::vector<finding>& findings) noexcept;
// Aligned, human-readable report: one "[ level ] what" line per finding, then indented
// "why:"/"fix:" blocks. `only_problems` omits ok/info findings.
std::string format_findings(const std::vector<finding>& findings, bool only_problems = false);

}  // namespace convme::driver

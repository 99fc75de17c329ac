// SPDX-License-Identifier: MIT
// Locked-memory limit and hugepages: what DMA memory allocation will run into.
#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "driver/vfio/doctor/doctor_context.hpp"

namespace convme::driver::doctor_detail {
namespace {

constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

// Soft RLIMIT_MEMLOCK from <proc>/self/limits ("Max locked memory  65536  65536  bytes").
bool read_memlock(const context& c, std::uint64_t& out) {
    std::ifstream in(c.proc("self/limits"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Max locked memory", 0) != 0) continue;
        std::istringstream ss(line.substr(17));
        std::string soft;
        ss >> soft;
        if (soft == "unlimited") {
            out = unlimited;
            return true;
        }
        char* end = nullptr;
        out = std::strtoull(soft.c_str(), &end, 10);
        return end != soft.c_str();
    }
    if (c.opt.proc_root != "/proc") return false;
    rlimit rl{};
    if (::getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return false;
    out = rl.rlim_cur == RLIM_INFINITY ? unlimited : rl.rlim_cur;
    return true;
}

std::string human(std::uint64_t b) {
    if (b == unlimited) return "unlimited";
    if (b >= (1ull << 30) && b % (1ull << 30) == 0) return std::to_string(b >> 30) + " GiB";
    if (b >= (1ull << 20) && b % (1ull << 20) == 0) return std::to_string(b >> 20) + " MiB";
    return std::to_string(b / 1024) + " KiB";
}

}  // namespace

void check_memlock(context& c) {
    std::uint64_t limit = 0;
    if (!read_memlock(c, limit)) {
        c.add(finding::info, "RLIMIT_MEMLOCK: could not read " + c.proc("self/limits"));
        return;
    }
    const std::string what = "RLIMIT_MEMLOCK is " + human(limit);
    if (c.uid == 0) {
        c.add(finding::ok, what + " (running as root: CAP_IPC_LOCK is not limited by it)");
        return;
    }
    if (limit >= c.opt.memlock_wanted) {
        c.add(finding::ok, what);
        return;
    }
    const std::string fix =
        "raise it: `ulimit -l unlimited` in the shell (needs a hard limit that allows it),\n"
        "or a line `<user> - memlock unlimited` in /etc/security/limits.conf (re-login),\n"
        "or LimitMEMLOCK=infinity in the systemd unit, or run as root";
    const std::string why =
        "VFIO pins every DMA page (queues, I/O buffers) and counts it against RLIMIT_MEMLOCK; a "
        "typical run needs about " +
        human(c.opt.memlock_wanted);
    if (limit < c.opt.memlock_minimum)
        c.add(finding::fatal, what + ": too low to bring up even one queue pair", why, fix, ENOMEM);
    else
        c.add(finding::warning,
              what + ": below the " + human(c.opt.memlock_wanted) + " a typical run pins", why,
              fix);
}

void check_hugepages(context& c) {
    std::uint64_t total = 0, free = 0;
    std::string sizes;
    for (const auto& d : vfio::list_dir(c.sys("kernel/mm/hugepages"))) {
        auto nr = vfio::read_attr(c.sys("kernel/mm/hugepages/" + d + "/nr_hugepages"));
        auto fr = vfio::read_attr(c.sys("kernel/mm/hugepages/" + d + "/free_hugepages"));
        const std::uint64_t n = nr ? std::strtoull(nr->c_str(), nullptr, 10) : 0;
        const std::uint64_t f = fr ? std::strtoull(fr->c_str(), nullptr, 10) : 0;
        total += n;
        free += f;
        if (n)
            sizes += (sizes.empty() ? "" : ", ") + d.substr(10) + ": " + std::to_string(f) + "/" +
                     std::to_string(n) + " free";
    }
    const std::string fix =
        "reserve 2 MiB hugepages: echo 64 > /proc/sys/vm/nr_hugepages\n"
        "(persistent: vm.nr_hugepages=64 in /etc/sysctl.d/, or hugepages=64 on the kernel command "
        "line)";
    if (total > 0 && free > 0) {
        c.add(finding::ok, "hugepages: " + sizes);
    } else if (c.want_noiommu() || (c.noiommu_enabled && c.real_groups == 0)) {
        c.add(finding::fatal,
              total ? "hugepages: all reserved hugepages are in use" : "hugepages: none reserved",
              "no-IOMMU mode takes all its DMA memory (queues, PRP lists, identify and bounce "
              "buffers) from "
              "hugetlbfs pages: without an IOMMU the device writes physical addresses, and only "
              "hugepages are "
              "physically contiguous beyond 4 KiB and never moved by compaction, swapped or copied "
              "on fork",
              fix, ENOMEM);
    } else {
        c.add(finding::info,
              total ? "hugepages: all reserved hugepages are in use" : "hugepages: none reserved",
              "large DMA buffers fall back to 4 KiB pages (more IOMMU mappings, more TLB misses)",
              fix);
    }
}

// No-IOMMU: I/O buffers are only mlock'ed (they are the application's memory), and compaction
// migrates mlocked pages unless vm.compact_unevictable_allowed=0: the device would then write to
// the old physical page.
void check_noiommu_pinning(context& c) {
    if (!(c.want_noiommu() || (c.noiommu_enabled && c.real_groups == 0))) return;
    auto v = vfio::read_attr(c.proc("sys/vm/compact_unevictable_allowed"));
    if (!v) {
        c.add(finding::info,
              "vm.compact_unevictable_allowed: not present (kernel without compaction)",
              "nothing migrates the mlock'ed I/O buffers no-IOMMU mode hands to the device");
        return;
    }
    if (!v->empty() && (*v)[0] == '0') {
        c.add(finding::ok,
              "vm.compact_unevictable_allowed=0: compaction leaves mlock'ed I/O buffers in place");
        return;
    }
    c.add(finding::fatal,
          "vm.compact_unevictable_allowed=1: compaction may move I/O buffers under the device",
          "in no-IOMMU mode the device writes the physical pages the driver looked up when it "
          "mapped an I/O "
          "buffer; mlock keeps them resident but compaction still migrates mlocked pages while "
          "this is 1 "
          "(the default), and a later DMA would land in whatever page took the old address (silent "
          "corruption). MADV_DONTFORK already keeps fork() from copying them",
          "sysctl -w vm.compact_unevictable_allowed=0\n"
          "(persistent: vm.compact_unevictable_allowed=0 in /etc/sysctl.d/99-convme.conf)",
          ENOTSUP);
}

}  // namespace convme::driver::doctor_detail

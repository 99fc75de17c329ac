// SPDX-License-Identifier: MIT
#include "driver/vfio/irq_affinity.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "driver/vfio/sysfs.hpp"

namespace convme::driver::vfio {

namespace {

bool parse_unsigned(std::string_view s, unsigned& out) {
    if (s.empty()) return false;
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, out);
    return ec == std::errc() && p == end;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

std::optional<unsigned> find_vfio_msix_irq(std::string_view text, const std::string& bdf,
                                           unsigned vector) {
    const std::string name = "vfio-msix[" + std::to_string(vector) + "](" + bdf + ")";
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        line = trim(line);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        unsigned irq = 0;
        if (!parse_unsigned(line.substr(0, colon), irq)) continue;  // header, NMI:, LOC: ...
        // The action names are the last field(s); a shared IRQ lists several, comma-separated.
        const std::size_t at = line.find(name);
        if (at == std::string_view::npos) continue;
        const std::size_t after = at + name.size();
        const bool starts =
            at > 0 && (line[at - 1] == ' ' || line[at - 1] == '\t' || line[at - 1] == ',');
        const bool ends = after == line.size() || line[after] == ',' || line[after] == ' ';
        if (starts && ends) return irq;
    }
    return std::nullopt;
}

std::vector<unsigned> list_msi_irqs(const std::string& sys_root, const std::string& bdf) {
    std::vector<unsigned> irqs;
    for (const std::string& e :
         list_dir(join_path(sys_root, "bus/pci/devices/" + bdf + "/msi_irqs"))) {
        unsigned v = 0;
        if (parse_unsigned(e, v)) irqs.push_back(v);
    }
    std::sort(irqs.begin(), irqs.end());
    return irqs;
}

std::optional<unsigned> host_irq_of_vector(const std::string& proc_root,
                                           const std::string& sys_root, const std::string& bdf,
                                           unsigned vector, std::string& why) {
    if (auto text = read_attr(join_path(proc_root, "interrupts")))
        if (auto irq = find_vfio_msix_irq(*text, bdf, vector)) return irq;
    const std::vector<unsigned> irqs = list_msi_irqs(sys_root, bdf);
    if (vector < irqs.size()) return irqs[vector];
    why = "no vfio-msix[" + std::to_string(vector) + "](" + bdf + ") line in " +
          join_path(proc_root, "interrupts") + " and " + std::to_string(irqs.size()) +
          " entries in " + join_path(sys_root, "bus/pci/devices/" + bdf + "/msi_irqs");
    return std::nullopt;
}

std::optional<unsigned> single_cpu(const std::vector<unsigned>& cpus, std::string& why) {
    if (cpus.size() == 1) return cpus.front();
    why = cpus.empty()
              ? "the loop's CPU affinity is unknown (sched_getaffinity failed)"
              : "the loop may run on " + std::to_string(cpus.size()) + " CPUs (not pinned to one)";
    return std::nullopt;
}

std::vector<unsigned> calling_thread_cpus() {
    std::vector<unsigned> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

int write_irq_affinity(const std::string& proc_root, unsigned irq, unsigned cpu, std::string& why) {
    const std::string path =
        join_path(proc_root, "irq/" + std::to_string(irq) + "/smp_affinity_list");
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    int err = 0;
    if (fd < 0) {
        err = errno;
    } else {
        const std::string text = std::to_string(cpu) + "\n";
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0)
            err = errno;
        else if (static_cast<std::size_t>(n) != text.size())
            err = EIO;
        if (::close(fd) != 0 && err == 0) err = errno;
    }
    if (err == 0) return 0;
    why = "writing " + std::to_string(cpu) + " to " + path + ": " + std::strerror(err);
    if (err == EACCES || err == EPERM)
        why += " (needs root; or pass irq_affinity=off)";
    else if (err == EIO)
        why += " (the kernel manages this IRQ's affinity, or CPU " + std::to_string(cpu) +
               " cannot take it)";
    return -err;
}

int steer_vector(const std::string& proc_root, const std::string& sys_root, const std::string& bdf,
                 unsigned vector, const std::vector<unsigned>& cpus, unsigned& steered_cpu,
                 std::string& why) {
    const std::optional<unsigned> cpu = single_cpu(cpus, why);
    if (!cpu) return -EINVAL;
    const std::optional<unsigned> irq = host_irq_of_vector(proc_root, sys_root, bdf, vector, why);
    if (!irq) return -ENOENT;
    if (int rc = write_irq_affinity(proc_root, *irq, *cpu, why); rc != 0) return rc;
    steered_cpu = *cpu;
    return 0;
}

}  // namespace convme::driver::vfio

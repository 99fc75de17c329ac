// SPDX-License-Identifier: MIT
#include "driver/vfio/sysfs.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace convme::driver::vfio {

std::string join_path(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    bool a_slash = a.back() == '/';
    bool b_slash = b.front() == '/';
    if (a_slash && b_slash) return a + b.substr(1);
    if (a_slash || b_slash) return a + b;
    return a + "/" + b;
}

std::optional<std::string> read_attr(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    auto not_space = [](unsigned char c) {
        return c != ' ' && c != '\n' && c != '\t' && c != '\r';
    };
    auto b = std::find_if(s.begin(), s.end(), not_space);
    auto e = std::find_if(s.rbegin(), s.rend(), not_space).base();
    if (b >= e) return std::string{};
    return std::string(b, e);
}

std::optional<std::string> read_link_name(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return std::nullopt;
    std::string target(buf, static_cast<std::size_t>(n));
    while (!target.empty() && target.back() == '/') target.pop_back();
    auto slash = target.rfind('/');
    return slash == std::string::npos ? target : target.substr(slash + 1);
}

std::vector<std::string> list_dir(const std::string& path) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (!d) return names;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

bool path_exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

namespace {

bool parse_hex_attr(const std::optional<std::string>& s, std::uint32_t& out) {
    if (!s || s->empty()) return false;
    char* end = nullptr;
    unsigned long v = std::strtoul(s->c_str(), &end, 16);
    if (end == s->c_str() || *end != '\0') return false;
    out = static_cast<std::uint32_t>(v);
    return true;
}

std::string device_dir(const std::string& sys_root, const std::string& bdf) {
    return join_path(sys_root, "bus/pci/devices/" + bdf);
}

}  // namespace

pci_function_info read_pci_function(const std::string& sys_root, const std::string& bdf) {
    pci_function_info info;
    info.bdf = bdf;
    const std::string dir = device_dir(sys_root, bdf);
    if (!path_exists(dir)) return info;
    info.exists = true;
    std::uint32_t v = 0;
    if (parse_hex_attr(read_attr(dir + "/class"), v)) info.class_code = v;
    if (parse_hex_attr(read_attr(dir + "/vendor"), v)) info.vendor = static_cast<std::uint16_t>(v);
    if (parse_hex_attr(read_attr(dir + "/device"), v)) info.device = static_cast<std::uint16_t>(v);
    info.driver = read_link_name(dir + "/driver").value_or("");
    auto ov = read_attr(dir + "/driver_override").value_or("");
    info.driver_override = ov == "(null)" ? "" : ov;
    if (auto g = read_link_name(dir + "/iommu_group")) {
        char* end = nullptr;
        long n = std::strtol(g->c_str(), &end, 10);
        if (end != g->c_str() && *end == '\0' && n >= 0) info.iommu_group = static_cast<int>(n);
    }
    if (info.iommu_group >= 0) {
        info.group_name =
            read_attr(join_path(sys_root, "kernel/iommu_groups/" +
                                              std::to_string(info.iommu_group) + "/name"))
                .value_or("");
    }
    return info;
}

std::vector<group_member> read_group_members(const std::string& sys_root, int group) {
    std::vector<group_member> out;
    const std::string dir =
        join_path(sys_root, "kernel/iommu_groups/" + std::to_string(group) + "/devices");
    for (auto& name : list_dir(dir)) {
        group_member m;
        m.bdf = name;
        m.driver = read_link_name(dir + "/" + name + "/driver").value_or("");
        out.push_back(std::move(m));
    }
    return out;
}

bool member_blocks_vfio(const group_member& m) {
    return !(m.driver.empty() || m.driver == "vfio-pci" || m.driver == "pci-stub" ||
             m.driver == "pcieport");
}

std::vector<std::string> find_pci_functions_by_class(const std::string& sys_root,
                                                     std::uint32_t class_code) {
    std::vector<std::string> out;
    const std::string dir = join_path(sys_root, "bus/pci/devices");
    for (auto& name : list_dir(dir)) {
        std::uint32_t v = 0;
        if (parse_hex_attr(read_attr(dir + "/" + name + "/class"), v) && v == class_code)
            out.push_back(name);
    }
    return out;
}

}  // namespace convme::driver::vfio

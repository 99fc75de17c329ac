// SPDX-License-Identifier: MIT
#include "fake_system.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace convme::test {

namespace fs = std::filesystem;

fake_system::fake_system() {
    std::string tmpl = (fs::temp_directory_path() / "convme-fake-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    root_ = tmpl;
    mkdir("sys/bus/pci/devices");
    mkdir("sys/bus/pci/drivers");
    mkdir("sys/class/iommu");
    mkdir("sys/kernel/iommu_groups");
    mkdir("dev");
    mkdir("proc/self");
    mkdir("proc/sys/kernel");
    write("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1\n");
    set_kernel("6.1.0-56-amd64");
    set_memlock("unlimited");
}

fake_system::~fake_system() {
    std::error_code ec;
    fs::remove_all(root_, ec);
}

void fake_system::mkdir(const std::string& rel) {
    fs::create_directories(path(rel));
}

void fake_system::write(const std::string& rel, const std::string& content) {
    fs::create_directories(fs::path(path(rel)).parent_path());
    std::ofstream out(path(rel), std::ios::trunc);
    out << content;
}

void fake_system::symlink(const std::string& rel, const std::string& target_rel) {
    fs::create_directories(fs::path(path(rel)).parent_path());
    std::error_code ec;
    fs::remove(path(rel), ec);
    fs::create_symlink(path(target_rel), path(rel));
}

void fake_system::remove(const std::string& rel) {
    std::error_code ec;
    fs::remove_all(path(rel), ec);
}

void fake_system::add_driver(const std::string& name) {
    mkdir("sys/bus/pci/drivers/" + name);
    write("sys/bus/pci/drivers/" + name + "/bind", "");
}

void fake_system::add_pci(const std::string& bdf, std::uint32_t class_code,
                          const std::string& driver, int group, const std::string& group_name) {
    const std::string dev = "sys/devices/pci0000:00/" + bdf;
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%06x\n", class_code);
    write(dev + "/class", buf);
    write(dev + "/vendor", "0x1b36\n");
    write(dev + "/device", "0x0010\n");
    write(dev + "/driver_override", "(null)\n");
    symlink("sys/bus/pci/devices/" + bdf, dev);
    if (!driver.empty()) {
        add_driver(driver);
        symlink(dev + "/driver", "sys/bus/pci/drivers/" + driver);
    }
    if (group >= 0) {
        const std::string g = "sys/kernel/iommu_groups/" + std::to_string(group);
        mkdir(g + "/devices");
        if (!group_name.empty()) write(g + "/name", group_name + "\n");
        symlink(g + "/devices/" + bdf, dev);
        symlink(dev + "/iommu_group", g);
    }
}

void fake_system::add_intel_iommu(bool interrupt_remapping) {
    // ECAP of a QEMU intel-iommu; bit 3 is IR.
    std::uint64_t ecap = 0xf00f5aull;
    if (interrupt_remapping)
        ecap |= 1ull << 3;
    else
        ecap &= ~(1ull << 3);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx\n", static_cast<unsigned long long>(ecap));
    write("sys/class/iommu/dmar0/intel-iommu/ecap", buf);
    write("sys/class/iommu/dmar0/intel-iommu/version", "1:0\n");
}

void fake_system::set_memlock(const std::string& soft) {
    write("proc/self/limits",
          "Limit                     Soft Limit           Hard Limit           Units     \n"
          "Max cpu time              unlimited            unlimited            seconds   \n"
          "Max locked memory         " +
              soft + "                " + soft +
              "                bytes     \n"
              "Max address space         unlimited            unlimited            bytes     \n");
}

void fake_system::set_module_param(const std::string& module, const std::string& param,
                                   const std::string& value) {
    write("sys/module/" + module + "/parameters/" + param, value + "\n");
}

void fake_system::add_dev_node(const std::string& rel, unsigned mode) {
    write(rel, "");
    ::chmod(path(rel).c_str(), mode);
}

void fake_system::set_hugepages(unsigned nr, unsigned free) {
    write("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", std::to_string(nr) + "\n");
    write("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", std::to_string(free) + "\n");
}

void fake_system::set_kernel(const std::string& release) {
    write("proc/sys/kernel/osrelease", release + "\n");
}

void fake_system::make_healthy() {
    add_intel_iommu(true);
    mkdir("sys/module/vfio");
    mkdir("sys/module/vfio_pci");
    mkdir("sys/module/vfio_iommu_type1/parameters");
    set_module_param("vfio_iommu_type1", "allow_unsafe_interrupts", "N");
    add_pci("0000:00:1f.0", 0x060100, "lpc_ich", 3);
    add_pci("0000:01:00.0", 0x010802, "vfio-pci", 12);
    add_dev_node("dev/vfio/vfio");
    add_dev_node("dev/vfio/12");
    set_hugepages(64, 64);
}

driver::doctor_options fake_system::options(const std::string& bdf) const {
    auto o = driver::doctor_options::under(root_);
    o.bdf = bdf;
    o.uid = 0;
    o.gid = 0;
    return o;
}

const driver::finding* find_finding(const std::vector<driver::finding>& fs,
                                    driver::finding::severity level,
                                    const std::string& what_substring) {
    for (const auto& f : fs)
        if (f.level == level && f.what.find(what_substring) != std::string::npos) return &f;
    return nullptr;
}

int count_level(const std::vector<driver::finding>& fs, driver::finding::severity level) {
    int n = 0;
    for (const auto& f : fs) n += f.level == level;
    return n;
}

}  // namespace convme::test

// SPDX-License-Identifier: MIT
// Builds a fake /sys, /dev and /proc under a temporary directory so the doctor and the sysfs
// helpers can be tested without hardware. Removed again on destruction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "driver/vfio/doctor/doctor.hpp"

namespace convme::test {

class fake_system {
  public:
    fake_system();
    ~fake_system();
    fake_system(const fake_system&) = delete;
    fake_system& operator=(const fake_system&) = delete;

    const std::string& root() const { return root_; }
    std::string path(const std::string& rel) const { return root_ + "/" + rel; }

    void write(const std::string& rel, const std::string& content);
    void symlink(const std::string& rel, const std::string& target_rel);
    void mkdir(const std::string& rel);
    void remove(const std::string& rel);

    // A PCI function with class/vendor/device, optional driver and IOMMU group.
    void add_pci(const std::string& bdf, std::uint32_t class_code, const std::string& driver,
                 int group, const std::string& group_name = "");
    void add_driver(const std::string& name);  // /sys/bus/pci/drivers/<name>
    void add_intel_iommu(bool interrupt_remapping);
    void set_memlock(const std::string& soft);  // "unlimited" or a byte count
    void set_module_param(const std::string& module, const std::string& param,
                          const std::string& value);
    void add_dev_node(const std::string& rel, unsigned mode = 0666);
    void set_hugepages(unsigned nr, unsigned free);
    void set_kernel(const std::string& release);

    // The standard healthy setup: intel-iommu with IR, 0000:01:00.0 NVMe in group 12 bound to
    // vfio-pci, vfio modules loaded, device nodes present, memlock unlimited, hugepages free.
    void make_healthy();

    driver::doctor_options options(const std::string& bdf = "") const;

  private:
    std::string root_;
};

// Helpers over findings.
const driver::finding* find_finding(const std::vector<driver::finding>& fs,
                                    driver::finding::severity level,
                                    const std::string& what_substring);
int count_level(const std::vector<driver::finding>& fs, driver::finding::severity level);

}  // namespace convme::test

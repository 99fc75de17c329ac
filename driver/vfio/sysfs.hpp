// SPDX-License-Identifier: MIT
// Read-only helpers over sysfs. Every function takes the sysfs mount point ("/sys" normally) so
// tests and the doctor can point them at a fake tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convme::driver::vfio {

// Contents of a small attribute file with surrounding whitespace removed, or nullopt.
std::optional<std::string> read_attr(const std::string& path);
// Last path component of a symlink's target ("../../bus/pci/drivers/nvme" -> "nvme"), or nullopt.
std::optional<std::string> read_link_name(const std::string& path);
// Entry names of a directory, sorted, without "." and ".."; empty if it cannot be read.
std::vector<std::string> list_dir(const std::string& path);
bool path_exists(const std::string& path);
// "a" + "/" + "b" without doubling slashes.
std::string join_path(const std::string& a, const std::string& b);

constexpr std::uint32_t nvme_class_code = 0x010802;  // mass storage / NVM / NVMe

struct pci_function_info {
    bool exists = false;
    std::string bdf;
    std::uint32_t class_code = 0;
    std::uint16_t vendor = 0;
    std::uint16_t device = 0;
    std::string driver;           // bound driver name, empty when unbound
    std::string driver_override;  // empty when unset ("(null)" in sysfs)
    int iommu_group = -1;         // -1: no iommu_group link
    std::string group_name;       // /sys/kernel/iommu_groups/N/name ("vfio-noiommu" for no-IOMMU)
    bool noiommu_group() const { return group_name == "vfio-noiommu"; }
};

// sys_root: sysfs mount point ("/sys"). bdf in canonical form.
pci_function_info read_pci_function(const std::string& sys_root, const std::string& bdf);

struct group_member {
    std::string bdf;
    std::string driver;  // empty when unbound
};
std::vector<group_member> read_group_members(const std::string& sys_root, int group);

// A group is viable for VFIO when every member is bound to vfio-pci, unbound, or bound to a
// driver the kernel tolerates next to VFIO (pci-stub, pcieport for bridges).
bool member_blocks_vfio(const group_member& m);

// BDFs of all PCI functions with the given class code.
std::vector<std::string> find_pci_functions_by_class(const std::string& sys_root,
                                                     std::uint32_t class_code);

}  // namespace convme::driver::vfio

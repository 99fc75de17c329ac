// SPDX-License-Identifier: MIT
// Internal to the doctor: facts gathered once and shared by the individual checks, plus the
// finding sink.
#pragma once

#include <string>
#include <vector>

#include "driver/vfio/doctor/doctor.hpp"
#include "driver/vfio/sysfs.hpp"

namespace convme::driver::doctor_detail {

struct context {
    const doctor_options& opt;
    std::vector<finding>& out;

    std::string bdf;             // canonical, empty when none was given / it was malformed
    std::string kernel_release;  // "6.1.0-56-amd64"
    std::string machine;         // "x86_64", "aarch64"; best effort
    std::uint32_t uid = 0, gid = 0;
    std::vector<std::uint32_t> groups;  // supplementary groups (real process only)

    // IOMMU facts (check_iommu fills them).
    std::string
        iommu_driver;  // "intel-iommu", "amd-iommu", "arm-smmu-v3", "arm-smmu", "virtio-iommu", ""
    std::vector<std::string> iommu_units;
    int real_groups = 0;           // IOMMU groups not created by vfio no-IOMMU
    bool noiommu_param = false;    // /sys/module/vfio/parameters/enable_unsafe_noiommu_mode exists
    bool noiommu_enabled = false;  // ... and is Y
    bool allow_unsafe_interrupts = false;

    vfio::pci_function_info dev;  // valid when bdf is set

    std::string sys(const std::string& rel) const { return vfio::join_path(opt.sys_root, rel); }
    std::string dev_path(const std::string& rel) const {
        return vfio::join_path(opt.dev_root, rel);
    }
    std::string proc(const std::string& rel) const { return vfio::join_path(opt.proc_root, rel); }
    bool want_noiommu() const { return opt.mode == "noiommu"; }
    bool want_iommu() const { return opt.mode == "iommu"; }

    void add(finding::severity level, std::string what, std::string why = {}, std::string fix = {},
             int code = 0) {
        out.push_back({level, std::move(what), std::move(why), std::move(fix), code});
    }
};

// Each check appends findings; they run in this order (later ones use earlier facts).
void gather_identity(context& c);
void check_iommu(context& c);
void check_interrupt_remapping(context& c);
void check_known_bad_platform(context& c);
void check_vfio_modules(context& c);
void check_device(context& c);
void check_group(context& c);
void check_completion_modes(context& c);  // check_interrupts.cpp
void check_dev_nodes(context& c);
void check_memlock(context& c);
void check_hugepages(context& c);
void check_noiommu_pinning(context& c);

// True when a device-tree under <proc>/device-tree has a node whose "compatible" contains one of
// `needles` (searched a few levels deep).
bool device_tree_has_compatible(const context& c, const std::vector<std::string>& needles);

}  // namespace convme::driver::doctor_detail

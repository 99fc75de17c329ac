// SPDX-License-Identifier: MIT
// The PCI function itself: present, an NVMe controller, bound to vfio-pci, in a viable group.
#include <cerrno>
#include <cstdio>

#include "driver/vfio/bind_commands.hpp"
#include "driver/vfio/doctor/doctor_context.hpp"

namespace convme::driver::doctor_detail {
namespace {

using vfio::path_exists;

std::string hex(std::uint32_t v, int width) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%0*x", width, v);
    return b;
}

std::string bind_fix(const std::string& bdf, const std::string& driver) {
    std::string s = vfio::bind_to_vfio_commands(bdf, driver);
    s += "\n# afterwards, to give it back to the kernel:\n";
    s += vfio::bind_back_commands(bdf, driver.empty() || driver == "vfio-pci" ? "nvme" : driver);
    return s;
}

}  // namespace

void check_vfio_modules(context& c) {
    const bool vfio_pci =
        path_exists(c.sys("bus/pci/drivers/vfio-pci")) || path_exists(c.sys("module/vfio_pci"));
    if (vfio_pci) {
        c.add(finding::ok, "vfio-pci driver is loaded");
    } else {
        c.add(finding::fatal, "vfio-pci driver is not loaded",
              "the device must be bound to vfio-pci for user space to reach it",
              "modprobe vfio-pci" +
                  std::string(c.want_noiommu()
                                  ? "  (after: modprobe vfio enable_unsafe_noiommu_mode=1)"
                                  : ""),
              ENOENT);
    }
}

void check_device(context& c) {
    c.dev = vfio::read_pci_function(c.opt.sys_root, c.bdf);
    if (!c.dev.exists) {
        std::string found;
        for (const auto& b :
             vfio::find_pci_functions_by_class(c.opt.sys_root, vfio::nvme_class_code))
            found += (found.empty() ? "" : ", ") + b;
        c.add(finding::fatal, "PCI function " + c.bdf + " not found",
              "there is no " + c.sys("bus/pci/devices/" + c.bdf),
              found.empty() ? std::string("check the address with lspci -D; no NVMe controller "
                                          "(class 0x010802) is visible")
                            : "NVMe controllers on this system: " + found,
              ENODEV);
        return;
    }
    const std::string ids = hex(c.dev.vendor, 4) + ":" + hex(c.dev.device, 4);
    if (c.dev.class_code != vfio::nvme_class_code) {
        c.add(finding::fatal,
              c.bdf + " (" + ids + ") is not an NVMe controller: class " + hex(c.dev.class_code, 6),
              "convme drives NVMe controllers only (class 0x010802)",
              "pick the NVMe controller's address: lspci -D -d ::0108", ENODEV);
        return;
    }
    c.add(finding::ok, c.bdf + " is an NVMe controller (" + ids + ")");

    const std::string& drv = c.dev.driver;
    if (drv == "vfio-pci") {
        c.add(finding::ok, c.bdf + " is bound to vfio-pci");
    } else if (drv.empty()) {
        c.add(finding::fatal, c.bdf + " is not bound to any driver",
              "user space reaches the device only through vfio-pci", bind_fix(c.bdf, drv), ENODEV);
    } else {
        std::string why =
            "the kernel " + drv + " driver owns the device; VFIO needs it bound to vfio-pci";
        if (drv == "nvme")
            why +=
                ". Unbinding removes its /dev/nvme* block devices: unmount any file system on them "
                "first";
        c.add(finding::fatal, c.bdf + " is bound to " + drv + ", not vfio-pci", why,
              bind_fix(c.bdf, drv), EBUSY);
    }
    if (!c.dev.driver_override.empty() && c.dev.driver_override != "vfio-pci")
        c.add(finding::info, c.bdf + " has driver_override=" + c.dev.driver_override,
              "the override decides which driver binds on the next probe",
              "echo vfio-pci > /sys/bus/pci/devices/" + c.bdf + "/driver_override");
}

void check_group(context& c) {
    if (!c.dev.exists || c.dev.class_code != vfio::nvme_class_code) return;
    if (c.dev.iommu_group < 0) {
        // Without a group VFIO cannot open the device; only worth its own finding when the driver
        // binding is already right (otherwise the bind finding covers it: some platforms create
        // the group only at bind time).
        if (c.dev.driver == "vfio-pci")
            c.add(
                finding::fatal, c.bdf + " has no IOMMU group",
                "VFIO opens devices through their group (/dev/vfio/N)",
                "enable the IOMMU, or no-IOMMU mode (vfio enable_unsafe_noiommu_mode=1) and rebind",
                ENODEV);
        return;
    }
    const std::string g = std::to_string(c.dev.iommu_group);
    if (c.dev.noiommu_group()) {
        if (c.want_iommu())
            c.add(finding::fatal,
                  "group " + g + " is a no-IOMMU group but mode=iommu was requested",
                  "no IOMMU translates this device's DMA",
                  "use mode=noiommu (unsafe) or enable the IOMMU", EINVAL);
        if (c.uid != 0)
            c.add(finding::fatal, "no-IOMMU group " + g + " needs root",
                  "opening /dev/vfio/noiommu-N needs CAP_SYS_RAWIO and physical addresses from "
                  "/proc/self/pagemap need CAP_SYS_ADMIN",
                  "run as root (sudo)", EPERM);
    } else if (c.want_noiommu()) {
        c.add(finding::fatal,
              "mode=noiommu requested but " + c.bdf + " is behind an IOMMU (group " + g + ")",
              "no-IOMMU mode only applies to devices without an IOMMU",
              "use mode=iommu or mode=auto", EINVAL);
    }

    const auto members = vfio::read_group_members(c.opt.sys_root, c.dev.iommu_group);
    std::string names, blockers, fix;
    // Appends only: gcc 12 -O3 warns falsely (-Wrestrict) on "literal" + std::string chains.
    for (const auto& m : members) {
        if (!names.empty()) names += ", ";
        names += m.bdf;
        names += m.driver.empty() ? std::string(" (no driver)") : " (" + m.driver + ")";
        if (m.bdf == c.bdf || !vfio::member_blocks_vfio(m)) continue;
        if (!blockers.empty()) blockers += ", ";
        blockers += m.bdf;
        blockers += " bound to ";
        blockers += m.driver;
        // modprobe only once, at the top.
        std::string cmds = vfio::bind_to_vfio_commands(m.bdf, m.driver);
        if (!fix.empty()) {
            fix += '\n';
            cmds.erase(0, cmds.find('\n') + 1);
        }
        fix += cmds;
    }
    if (!blockers.empty()) {
        c.add(
            finding::fatal, "IOMMU group " + g + " is not viable: " + blockers,
            "every device in a group shares one IOMMU context, so VFIO requires all of them to be "
            "bound to vfio-pci (or unbound); group members: " +
                names,
            fix + "\n(or move the NVMe device to a slot with its own group / enable ACS)", EBUSY);
    } else {
        c.add(finding::ok,
              "IOMMU group " + g + (c.dev.noiommu_group() ? " (no-IOMMU)" : "") + ": " + names);
    }
}

}  // namespace convme::driver::doctor_detail

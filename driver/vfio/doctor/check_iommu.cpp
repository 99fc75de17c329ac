// SPDX-License-Identifier: MIT
// IOMMU presence and type, and the no-IOMMU fallback when there is none.
#include <cerrno>
#include <cstdlib>

#include "driver/vfio/doctor/doctor_context.hpp"

namespace convme::driver::doctor_detail {
namespace {

using vfio::list_dir;
using vfio::path_exists;
using vfio::read_attr;

bool starts_with(const std::string& s, const std::string& p) {
    return s.rfind(p, 0) == 0;
}

std::string driver_of_unit(const std::string& name) {
    if (starts_with(name, "dmar")) return "intel-iommu";
    if (starts_with(name, "ivhd")) return "amd-iommu";
    if (starts_with(name, "smmu3.")) return "arm-smmu-v3";
    if (starts_with(name, "smmu.")) return "arm-smmu";
    if (name.find("virtio") != std::string::npos) return "virtio-iommu";
    return "";
}

// Platform drivers with bound devices (symlinks other than bind/unbind/uevent/module...).
bool platform_driver_has_devices(const context& c, const std::string& drv) {
    for (const auto& e : list_dir(c.sys("bus/platform/drivers/" + drv)))
        if (e != "bind" && e != "unbind" && e != "uevent" && e != "module" && e != "new_id" &&
            e != "remove_id")
            return true;
    return false;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

}  // namespace

// Which IOMMU driver, how many real (not no-IOMMU) groups, and the no-IOMMU switch.
static void detect_iommu(context& c) {
    c.iommu_units = list_dir(c.sys("class/iommu"));
    for (const auto& u : c.iommu_units) {
        c.iommu_driver = driver_of_unit(u);
        if (!c.iommu_driver.empty()) break;
    }
    if (c.iommu_driver.empty()) {
        // Kernels before 4.11 do not populate /sys/class/iommu: look at the platform drivers.
        if (platform_driver_has_devices(c, "arm-smmu-v3"))
            c.iommu_driver = "arm-smmu-v3";
        else if (platform_driver_has_devices(c, "arm-smmu"))
            c.iommu_driver = "arm-smmu";
        else if (path_exists(c.sys("bus/virtio/drivers/virtio_iommu")))
            c.iommu_driver = "virtio-iommu";
        else if (!c.iommu_units.empty())
            c.iommu_driver = "unknown (" + c.iommu_units.front() + ")";
    }
    for (const auto& g : list_dir(c.sys("kernel/iommu_groups")))
        if (read_attr(c.sys("kernel/iommu_groups/" + g + "/name")).value_or("") != "vfio-noiommu")
            ++c.real_groups;

    const std::string param = c.sys("module/vfio/parameters/enable_unsafe_noiommu_mode");
    c.noiommu_param = path_exists(param);
    auto v = read_attr(param).value_or("");
    c.noiommu_enabled = v == "Y" || v == "1";
}

static void report_iommu_present(context& c) {
    std::string units =
        c.iommu_units.empty() ? std::string("no units in /sys/class/iommu") : join(c.iommu_units);
    if (c.real_groups == 0) {
        c.add(finding::warning,
              "IOMMU hardware found (" + c.iommu_driver + ": " + units +
                  ") but there are no IOMMU groups",
              "the IOMMU is registered but not translating for PCI devices, so VFIO has "
              "nothing to attach",
              "enable it on the kernel command line (intel_iommu=on, amd_iommu=on; on arm64 "
              "check the SMMU is enabled in firmware/device tree) and reboot");
    } else {
        c.add(finding::ok,
              "IOMMU: " + (c.iommu_driver.empty() ? std::string("present") : c.iommu_driver) +
                  " (" + units + "), " + std::to_string(c.real_groups) + " IOMMU group(s)");
    }
    if (c.want_noiommu())
        c.add(finding::warning, "mode=noiommu requested although an IOMMU is active",
              "devices behind the IOMMU get real groups; no-IOMMU mode only applies to devices "
              "without one",
              "use mode=auto or mode=iommu (safer and no root needed)");
}

// No IOMMU at all: what mode=iommu, or no-IOMMU mode, would need.
static void report_no_iommu(context& c) {
    if (c.want_iommu()) {
        c.add(finding::fatal,
              "no IOMMU found (/sys/class/iommu and /sys/kernel/iommu_groups are empty)",
              "mode=iommu needs an IOMMU to translate and isolate device DMA",
              "enable VT-d/AMD-Vi/SMMU in firmware and boot with intel_iommu=on or amd_iommu=on; "
              "or use mode=noiommu (unsafe) or the uring: backend",
              ENODEV);
        return;
    }
    if (c.noiommu_enabled) {
        c.add(
            finding::warning, "no IOMMU: VFIO no-IOMMU mode is enabled and will be used",
            "the device can DMA anywhere in physical memory (no isolation); the kernel is tainted; "
            "needs root (CAP_SYS_RAWIO, and CAP_SYS_ADMIN for /proc/self/pagemap)",
            "acceptable for a lab or a dedicated appliance; for isolation enable the IOMMU");
    } else if (c.noiommu_param) {
        c.add(
            finding::fatal, "no IOMMU, and VFIO no-IOMMU mode is disabled",
            "without an IOMMU, vfio-pci only binds devices in no-IOMMU mode",
            "echo Y > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode\n"
            "(or: modprobe vfio enable_unsafe_noiommu_mode=1), then rebind the device to "
            "vfio-pci;\n"
            "or enable the IOMMU (intel_iommu=on / amd_iommu=on / SMMU), or use the uring: backend",
            ENODEV);
    } else {
        const bool vfio_loaded = path_exists(c.sys("module/vfio"));
        c.add(
            finding::fatal,
            vfio_loaded ? "no IOMMU, and this kernel's vfio has no no-IOMMU mode "
                          "(CONFIG_VFIO_NOIOMMU is not set)"
                        : "no IOMMU, and the vfio module is not loaded",
            vfio_loaded
                ? "the vfio module has no enable_unsafe_noiommu_mode parameter; Debian kernels "
                  "ship "
                  "without CONFIG_VFIO_NOIOMMU, so `modprobe vfio enable_unsafe_noiommu_mode=1` is "
                  "ignored "
                  "and binding vfio-pci fails with -22"
                : "without an IOMMU, VFIO can only work in no-IOMMU mode (CONFIG_VFIO_NOIOMMU)",
            std::string(
                vfio_loaded
                    ? ""
                    : "try: modprobe vfio enable_unsafe_noiommu_mode=1 (works only if the kernel "
                      "has CONFIG_VFIO_NOIOMMU=y)\n") +
                "enable the IOMMU (firmware VT-d/AMD-Vi/SMMU + intel_iommu=on / amd_iommu=on), or\n"
                "rebuild vfio.ko with CONFIG_VFIO_NOIOMMU=y from the kernel source matching `uname "
                "-r`\n"
                "(out-of-tree build of drivers/vfio against that kernel's headers), or\n"
                "use the uring: backend through the kernel nvme driver",
            ENODEV);
    }
}

void check_iommu(context& c) {
    detect_iommu(c);
    if (!c.iommu_driver.empty() || c.real_groups > 0)
        report_iommu_present(c);
    else
        report_no_iommu(c);
}

bool device_tree_has_compatible(const context& c, const std::vector<std::string>& needles) {
    // Breadth-first over the first few levels of the device tree (interrupt controllers and
    // their ITS/v2m frames live at depth 1-2).
    std::vector<std::string> level{c.proc("device-tree")};
    for (int depth = 0; depth < 3 && !level.empty(); ++depth) {
        std::vector<std::string> next;
        for (const auto& dir : level) {
            if (auto compat = read_attr(dir + "/compatible")) {
                for (const auto& n : needles)
                    if (compat->find(n) != std::string::npos) return true;
            }
            for (const auto& e : list_dir(dir)) {
                if (e.find('@') != std::string::npos ||
                    e.find("interrupt-controller") != std::string::npos || e == "soc" ||
                    e == "intc")
                    next.push_back(dir + "/" + e);
            }
        }
        level.swap(next);
    }
    return false;
}

namespace {

const char* const unsafe_interrupts_fix =
    "or accept the risk: modprobe vfio_iommu_type1 allow_unsafe_interrupts=1\n"
    "(runtime: echo Y > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts)";

// Intel VT-d: every DMAR unit must advertise ECAP.IR, and the command line must not turn it off.
void check_intel_interrupt_remapping(context& c) {
    const std::string unsafe_fix = unsafe_interrupts_fix;
    int with_ir = 0, units = 0;
    for (const auto& u : c.iommu_units) {
        auto ecap = read_attr(c.sys("class/iommu/" + u + "/intel-iommu/ecap"));
        if (!ecap) continue;
        ++units;
        unsigned long long v = std::strtoull(ecap->c_str(), nullptr, 16);
        if (v & (1ull << 3)) ++with_ir;  // ECAP.IR
    }
    auto cmdline = read_attr(c.proc("cmdline")).value_or("");
    const bool disabled = cmdline.find("intremap=off") != std::string::npos ||
                          cmdline.find("nointremap") != std::string::npos;
    if (units > 0 && with_ir == units && !disabled) {
        c.add(finding::ok, "interrupt remapping: supported by every DMAR unit (ECAP.IR)");
    } else if (c.allow_unsafe_interrupts) {
        c.add(finding::warning, "interrupt remapping unavailable, allow_unsafe_interrupts=Y",
              "VFIO will attach, but a device could forge MSIs to other devices' interrupts",
              "enable interrupt remapping (intremap=on; QEMU: -device intel-iommu,intremap=on)");
    } else if (units > 0) {
        c.add(finding::fatal,
              disabled ? "interrupt remapping is disabled on the kernel command line"
                       : "interrupt remapping: not supported by the DMAR unit(s) (ECAP.IR=0)",
              "vfio_iommu_type1 refuses to attach without MSI isolation: VFIO_SET_IOMMU fails "
              "with EPERM (\"No interrupt remapping support\")",
              "enable interrupt remapping (remove intremap=off; QEMU: -device "
              "intel-iommu,intremap=on),\n" +
                  unsafe_fix,
              EPERM);
    } else {
        c.add(finding::info, "interrupt remapping: could not read DMAR capabilities (best effort)");
    }
}

// Arm SMMU: MSIs are isolated only through a GICv3 ITS; a GICv2(m) cannot.
void check_arm_msi_isolation(context& c) {
    const std::string unsafe_fix = unsafe_interrupts_fix;
    const auto interrupts = read_attr(c.proc("interrupts")).value_or("");
    const bool its = device_tree_has_compatible(c, {"arm,gic-v3-its"}) ||
                     interrupts.find("ITS-MSI") != std::string::npos ||
                     interrupts.find("ITS-pMSI") != std::string::npos;
    const bool v2 =
        device_tree_has_compatible(c, {"arm,gic-v2m-frame", "arm,gic-400", "arm,cortex-a15-gic"}) ||
        interrupts.find("GICv2m") != std::string::npos ||
        interrupts.find("GIC-0") != std::string::npos;
    if (its) {
        c.add(finding::ok, "MSI isolation: GICv3 ITS present (SMMU + ITS)");
    } else if (c.allow_unsafe_interrupts) {
        c.add(finding::warning, "MSI isolation: no GICv3 ITS found, allow_unsafe_interrupts=Y",
              "VFIO will attach, but the device is not isolated from other devices' MSIs");
    } else if (v2) {
        c.add(finding::fatal,
              "MSI isolation: GICv2/GICv2m without an ITS next to " + c.iommu_driver,
              "vfio_iommu_type1 refuses to attach: VFIO_SET_IOMMU fails with EPERM and dmesg "
              "says \"No interrupt remapping support\"",
              "use a GICv3 with an ITS (QEMU: -M virt,gic-version=3,iommu=smmuv3),\n" + unsafe_fix,
              EPERM);
    } else {
        c.add(finding::warning,
              "MSI isolation: could not tell whether the GIC has an ITS (best effort)",
              "an SMMU next to a GICv2 (no ITS) makes VFIO_SET_IOMMU fail with EPERM "
              "(\"No interrupt remapping support\")",
              "if opening fails with EPERM: use a GICv3 with an ITS,\n" + unsafe_fix);
    }
}

}  // namespace

void check_interrupt_remapping(context& c) {
    auto unsafe =
        read_attr(c.sys("module/vfio_iommu_type1/parameters/allow_unsafe_interrupts")).value_or("");
    c.allow_unsafe_interrupts = unsafe == "Y" || unsafe == "1";
    if (c.real_groups == 0 && c.iommu_driver.empty()) return;  // no IOMMU: nothing to remap for
    if (c.want_noiommu()) return;
    if (c.iommu_driver == "intel-iommu")
        check_intel_interrupt_remapping(c);
    else if (c.iommu_driver == "amd-iommu")
        c.add(finding::ok,
              "interrupt remapping: AMD-Vi (assumed available; sysfs does not expose it)");
    else if (c.iommu_driver.rfind("arm-smmu", 0) == 0)
        check_arm_msi_isolation(c);
}

}  // namespace convme::driver::doctor_detail

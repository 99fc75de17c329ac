// SPDX-License-Identifier: MIT
// Platforms known to misbehave with VFIO's type1 IOMMU, recognised from the kernel release and
// the IOMMU driver. Refusing is better than an oops.
#include <cerrno>

#include "driver/vfio/doctor/doctor_context.hpp"

namespace convme::driver::doctor_detail {
namespace {

struct known_bad {
    const char* release_prefix;    // kernel release starts with this
    const char* release_contains;  // ... and contains this
    const char* what;
    const char* why;
};

// NVIDIA Jetson TX2 with L4T's 4.4 kernel: SMMUv2 (arm-smmu, MMU-500) and GICv2; attaching a
// group through VFIO_SET_IOMMU oopses the downstream arm-smmu driver.
constexpr known_bad known_bad_platforms[] = {
    {"4.4.", "tegra", "NVIDIA Tegra downstream kernel 4.4 (L4T, e.g. Jetson TX2) with arm-smmu",
     "on this kernel VFIO_SET_IOMMU with the type1 IOMMU oopses in the downstream arm-smmu "
     "driver (and the GICv2 has no MSI isolation anyway)"},
};

bool smmu_evidence(const context& c) {
    if (c.iommu_driver.rfind("arm-smmu", 0) == 0) return true;
    for (const auto& d : vfio::list_dir(c.sys("bus/platform/drivers")))
        if (d.find("smmu") != std::string::npos) return true;
    return device_tree_has_compatible(
        c, {"arm,mmu-500", "arm,smmu-v2", "nvidia,tegra186-smmu", "arm,smmu"});
}

}  // namespace

void check_known_bad_platform(context& c) {
    for (const auto& p : known_bad_platforms) {
        if (c.kernel_release.rfind(p.release_prefix, 0) != 0 ||
            c.kernel_release.find(p.release_contains) == std::string::npos)
            continue;
        if (!smmu_evidence(c)) continue;
        const std::string what = std::string(p.what) + " (kernel " + c.kernel_release + ")";
        if (c.want_noiommu()) {
            c.add(finding::warning, what + ": using no-IOMMU mode as requested", p.why,
                  "no-IOMMU mode does not touch the SMMU; it is unsafe (no DMA isolation)");
            continue;
        }
        c.add(
            finding::fatal, what + ": VFIO with the IOMMU is refused", p.why,
            "use no-IOMMU mode (vfio:BDF?mode=noiommu; needs a vfio built with CONFIG_VFIO_NOIOMMU "
            "and\n"
            "enable_unsafe_noiommu_mode=1, and the SMMU disabled for the device), or the io_uring\n"
            "backend (uring:/dev/nvme0n1) through the kernel nvme driver, or a newer kernel",
            ENOTSUP);
    }
}

}  // namespace convme::driver::doctor_detail

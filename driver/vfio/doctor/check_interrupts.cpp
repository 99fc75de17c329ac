// SPDX-License-Identifier: MIT
// Which completion modes (completion=poll|interrupt|hybrid) this machine can use for the device,
// and why: interrupt and hybrid need MSI-X vectors on the function (one per I/O queue plus the
// admin queue's) and MSIs that VFIO may route, which on an IOMMU host means interrupt remapping
// (x86) or MSI isolation through a GICv3 ITS (arm64); check_interrupt_remapping found that out.
#include <fstream>
#include <iterator>

#include "driver/vfio/doctor/doctor_context.hpp"

namespace convme::driver::doctor_detail {
namespace {

// MSI-X table size from the function's config space (capability 0x11), or -1 when unreadable
// (sysfs gives non-root readers only the first 64 bytes) and 0 when there is no MSI-X capability.
int msix_vectors(const context& c) {
    std::ifstream f(c.sys("bus/pci/devices/" + c.bdf + "/config"), std::ios::binary);
    if (!f) return -1;
    std::string cfg((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cfg.size() < 256) return -1;
    auto byte = [&](std::size_t o) {
        return static_cast<unsigned>(static_cast<unsigned char>(cfg[o]));
    };
    if (!(byte(0x06) & 0x10)) return 0;  // status: no capability list
    unsigned p = byte(0x34) & 0xfc;
    for (int guard = 0; p >= 0x40 && p + 3 < cfg.size() && guard < 48; ++guard) {
        if (byte(p) == 0x11)
            return static_cast<int>(((byte(p + 2) | (byte(p + 3) << 8)) & 0x7ff) + 1);
        p = byte(p + 1) & 0xfc;
    }
    return 0;
}

}  // namespace

void check_completion_modes(context& c) {
    if (c.bdf.empty() || !c.dev.exists) return;
    const int vectors = msix_vectors(c);
    // What check_interrupt_remapping concluded (its last finding), if it ran for an IOMMU.
    const finding* isolation = nullptr;
    for (const auto& f : c.out)
        if (f.what.rfind("interrupt remapping", 0) == 0 || f.what.rfind("MSI isolation", 0) == 0)
            isolation = &f;
    const bool noiommu = c.want_noiommu() || (c.real_groups == 0 && c.iommu_driver.empty());

    const std::string vec =
        vectors > 0 ? std::to_string(vectors) + " MSI-X vectors: up to " +
                          std::to_string(vectors - 1) + " interrupt-driven I/O queues"
        : vectors == 0 ? std::string("no MSI-X capability")
                       : std::string("MSI-X vectors unknown (config space needs root)");
    if (vectors == 0) {
        c.add(finding::info, "completion modes: poll only (" + vec + ")",
              "completion=interrupt and hybrid need an MSI-X vector per I/O completion queue",
              "use completion=poll");
        return;
    }
    if (isolation && isolation->level == finding::fatal) {
        c.add(finding::info, "completion modes: none until MSI isolation is fixed (" + vec + ")",
              "VFIO refuses the device without " +
                  isolation->what.substr(0, isolation->what.find(':')) +
                  "; with allow_unsafe_interrupts=1 all of poll, interrupt and hybrid work, but "
                  "MSIs are not isolated",
              isolation->fix);
        return;
    }
    if (noiommu) {
        c.add(finding::info, "completion modes: poll, interrupt, hybrid (" + vec + ")",
              "no-IOMMU mode: MSIs are as unprotected as the rest of the device's DMA");
        return;
    }
    if (isolation && isolation->level == finding::warning) {
        c.add(finding::warning,
              "completion modes: poll, interrupt, hybrid, interrupts not isolated (" + vec + ")",
              isolation->why.empty() ? std::string("MSI isolation could not be confirmed")
                                     : isolation->why,
              "poll needs no interrupts at all; for interrupt/hybrid fix MSI isolation: " +
                  isolation->fix);
        return;
    }
    c.add(finding::ok, "completion modes: poll, interrupt, hybrid (" + vec +
                           (isolation ? ", MSIs isolated: " +
                                            isolation->what.substr(isolation->what.find(':') + 2)
                                      : std::string()) +
                           ")");
}

}  // namespace convme::driver::doctor_detail

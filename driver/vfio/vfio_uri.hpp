// SPDX-License-Identifier: MIT
// vfio:BDF?mode=auto|iommu|noiommu&root=DIR&irq_affinity=loop|off&<nvme options>
//   mode  how DMA is isolated: auto (the group decides), iommu, noiommu (unsafe, root only)
//   root  look for sys/, dev/ and proc/ under DIR instead of / (tests, chroots)
//   irq_affinity  loop (default): completion=interrupt|hybrid steer each queue's MSI-X vector to
//         the CPU its loop is pinned to (/proc/irq/N/smp_affinity_list, best effort, needs root;
//         irq_affinity.hpp); off: leave the host's affinity alone
// Remaining keys (ns, qd, queues, dbbc, timeout_ms) are NVMe options (driver::parse_nvme_options).
#pragma once

#include <convme/device.hpp>
#include <string>

#include "driver/nvme/nvme_block_device.hpp"
#include "driver/vfio/vfio_pci_device.hpp"

namespace convme::driver::vfio {

struct vfio_uri_options {
    vfio_open_options open;
    std::string proc_root = "/proc";
    nvme_options nvme;
};

bool parse_vfio_mode(const std::string& text, vfio_mode& out);
// Returns false and fills why (naming the offending part) on a malformed URI.
bool parse_vfio_uri(const device_uri& uri, vfio_uri_options& out, std::string& why);

}  // namespace convme::driver::vfio

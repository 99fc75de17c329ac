// SPDX-License-Identifier: MIT
// VFIO's entry points for the device registry: vfio:BDF?mode=auto|iommu|noiommu&root=DIR&<nvme
// options> -> preflight doctor -> VFIO pci_device -> the NVMe driver.
#pragma once

#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <memory>
#include <string>
#include <system_error>

namespace convme::driver::vfio {

// The target must be a PCI address; it is rewritten to the canonical dddd:bb:dd.f form.
bool check_vfio_target(device_uri& uri, std::string& why);
std::unique_ptr<block_device> open_vfio_device(const device_uri& uri, std::error_code& ec,
                                               std::string& why);

}  // namespace convme::driver::vfio

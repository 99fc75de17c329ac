// SPDX-License-Identifier: MIT
// The simulated NVMe controller's entry points for the device registry:
//   sim:mem?size=1G&lba=512[&namespaces=1&mdts=5&latency_us=0&dbbc=1&inline=0&<nvme options>]
//   sim:file=/path?size=1G                     the medium persisted to a file
// The model's keys are read here; the rest are NVMe driver options (driver/nvme).
#pragma once

#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <memory>
#include <string>
#include <system_error>

namespace convme::sim {

bool check_sim_target(device_uri& uri, std::string& why);
std::unique_ptr<block_device> open_sim_device(const device_uri& uri, std::error_code& ec,
                                              std::string& why);

}  // namespace convme::sim

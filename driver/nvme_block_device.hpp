// The NVMe backend: a block_device over one namespace of an NVMe controller reached through a
// pci_device (VFIO or simulated). One I/O queue pair per loop, created on the loop's first I/O
// and registered there as a poller.
#pragma once

#include "driver/pci_device.hpp"

#include <convme/block_device.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <system_error>

namespace convme::driver {

struct nvme_options {
    std::uint32_t nsid = 1;                 // namespace to expose
    std::uint32_t queue_depth = 128;        // entries per I/O SQ/CQ (clamped to CAP.MQES+1)
    std::uint32_t max_io_queues = 64;       // requested via Set Features Number of Queues
    bool shadow_doorbells = true;           // use Doorbell Buffer Config when OACS bit 8 is set
    std::chrono::milliseconds io_timeout{5000};     // per command, then Abort, then reset
    std::chrono::milliseconds admin_timeout{5000};
};

// Brings the controller up (reset, admin queue, identify, queues feature) and returns the block
// device for options.nsid. On failure returns nullptr and fills ec / why (step, status, fix).
std::unique_ptr<block_device> make_nvme_block_device(std::unique_ptr<pci_device> dev,
                                                     const nvme_options& options,
                                                     std::error_code& ec, std::string& why);

// Parse the nvme_options keys common to sim: and vfio: URIs (ns, qd, queues, dbbc, timeout_ms).
// Returns false and fills why on a malformed value.
bool parse_nvme_options(const std::map<std::string, std::string>& params, nvme_options& out,
                        std::string& why);

}  // namespace convme::driver

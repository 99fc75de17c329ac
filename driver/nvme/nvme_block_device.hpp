// The NVMe backend: a block_device over one namespace of an NVMe controller reached through a
// pci_device (VFIO or simulated). One I/O queue pair per loop, created on the loop's first I/O
// and registered there as a poller.
#pragma once

#include "driver/nvme/pci_device.hpp"

#include <convme/block_device.hpp>
#include <convme/device.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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

// The URI keys of nvme_options, common to sim: and vfio: URIs. Each provider rejects keys that
// are neither its own nor these.
inline constexpr std::string_view nvme_option_keys[] = {"ns", "qd", "queues", "dbbc", "timeout_ms"};

// Reads nvme_option_keys from `uri` (other keys are the caller's). Returns false and fills why on
// a malformed value.
bool parse_nvme_options(const device_uri& uri, nvme_options& out, std::string& why);

}  // namespace convme::driver

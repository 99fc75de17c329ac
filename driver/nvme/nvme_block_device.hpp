// SPDX-License-Identifier: MIT
// The NVMe backend: a block_device over one namespace of an NVMe controller reached through a
// pci_device (VFIO or simulated). One I/O queue pair per loop, created on the loop's first I/O
// and registered there as a poller.
#pragma once

#include <chrono>
#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "driver/nvme/pci_device.hpp"

namespace convme::driver {

// How a loop learns that its I/O queue has completions (completion= in the URI).
//   poll       the loop spins while I/O is in flight (lowest latency, one busy core per loop);
//              a device that can wake the loop anyway (the threaded simulator) still does;
//   interrupt  the CQ signals an MSI-X vector bound to the loop's eventfd; the loop sleeps;
//   hybrid     spin for a window after the last submission/completion, then sleep as
//              interrupt; the window adapts to the queue's observed completion waits
//              (spin_us=auto, the default; driver/nvme/spin_window.hpp) or is fixed (spin_us=N).
// Defaults: vfio: hybrid (falling back to poll where interrupts cannot be used), sim: poll.
enum class completion_mode : std::uint8_t { poll, interrupt, hybrid };
const char* completion_mode_name(completion_mode m) noexcept;

struct nvme_options {
    std::uint32_t nsid = 1;            // namespace to expose
    std::uint32_t queue_depth = 128;   // entries per I/O SQ/CQ (clamped to CAP.MQES+1)
    std::uint32_t max_io_queues = 64;  // requested via Set Features Number of Queues
    bool shadow_doorbells = true;      // use Doorbell Buffer Config when OACS bit 8 is set
    std::chrono::milliseconds io_timeout{5000};  // per command, then Abort, then reset
    std::chrono::milliseconds admin_timeout{5000};
    completion_mode completion = completion_mode::poll;
    // completion= was not given: `completion` is the provider's default (vfio: hybrid), and the
    // open falls back to poll where the function's interrupts cannot be set up (no MSI-X, or
    // VFIO refuses them); completion_fallback then says why and device_info shows it. A mode
    // asked for by name is never replaced: the open fails instead.
    bool completion_by_default = false;
    std::string completion_fallback;
    bool hybrid_spin_auto = true;                     // spin_us=auto (default)
    std::chrono::microseconds hybrid_spin{100};       // spin_us=N: a fixed window (0: no spin)
    std::chrono::microseconds hybrid_spin_max{1000};  // spin_max_us=: auto's cap
    std::uint32_t coalesce_threshold = 0;  // irq_coalesce= entries (1..256); 0: leave off
    std::uint32_t coalesce_time_us = 100;  // irq_coalesce_us= (100 us units, up to 25500)
    // irq_mask=awake (default): each queue's vector is masked while its loop is awake and
    // unmasked just before the loop sleeps (pci_device::mask_irq); off: always unmasked.
    bool irq_mask_awake = true;
};

// Brings the controller up (reset, admin queue, identify, queues feature) and returns the block
// device for options.nsid. On failure returns nullptr and fills ec / why (step, status, fix).
std::unique_ptr<block_device> make_nvme_block_device(std::unique_ptr<pci_device> dev,
                                                     const nvme_options& options,
                                                     std::error_code& ec, std::string& why);

// The URI keys of nvme_options, common to sim: and vfio: URIs. Each provider rejects keys that
// are neither its own nor these.
inline constexpr std::string_view nvme_option_keys[] = {
    "ns",         "qd",      "queues",      "dbbc",         "timeout_ms",
    "completion", "spin_us", "spin_max_us", "irq_coalesce", "irq_coalesce_us",
    "irq_mask"};

// Reads nvme_option_keys from `uri` (other keys are the caller's). Returns false and fills why on
// a malformed value.
bool parse_nvme_options(const device_uri& uri, nvme_options& out, std::string& why);

}  // namespace convme::driver

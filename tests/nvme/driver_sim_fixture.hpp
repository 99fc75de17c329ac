// SPDX-License-Identifier: MIT
// Shared setup for driver-on-sim integration tests: a simulated controller in inline mode (work
// happens only when the driver's poller calls step(): deterministic), the real NVMe driver on top,
// and a loop to run coroutines on.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <convme/backend.hpp>
#include <convme/block_device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/loop.hpp>
#include <convme/nvme.hpp>
#include <cstring>
#include <memory>
#include <string>

#include "driver/nvme/nvme_block_device.hpp"
#include "driver/sim/sim_controller.hpp"

namespace convme::driver::testing {

inline sim::controller_config inline_config(std::uint64_t size = 16ull << 20,
                                            std::uint32_t lba = 512) {
    sim::controller_config c;
    c.namespaces
        .clear();  // (assigning an init-list trips a gcc -O1 maybe-uninitialized false positive)
    c.namespaces.push_back(sim::namespace_config{size, lba});
    c.inline_mode = true;
    c.max_io_queues = 8;
    return c;
}

// The controller on its own device thread (as hardware runs beside the loops), each I/O completion
// posted `latency` after the fetch.
inline sim::controller_config threaded_config(std::chrono::nanoseconds latency,
                                              std::uint32_t queues = 8) {
    auto c = inline_config();
    c.inline_mode = false;
    c.latency = latency;
    c.max_io_queues = queues;
    return c;
}

struct sim_device {
    std::shared_ptr<sim::simulated_controller> ctrl;
    std::unique_ptr<block_device> dev;
    std::error_code ec;
    std::string why;

    sim_device(const sim::controller_config& cfg, const nvme_options& opts = {}) {
        ctrl = std::make_shared<sim::simulated_controller>(cfg);
        dev = make_nvme_block_device(sim::make_pci_device(ctrl), opts, ec, why);
    }
    nvme_driver_stats stats() const {
        nvme_driver_stats s;
        EXPECT_TRUE(get_nvme_stats(*dev, s));
        return s;
    }
};

inline void fill(std::byte* p, std::size_t n, std::uint32_t seed) {
    for (std::size_t i = 0; i < n; ++i)
        p[i] = static_cast<std::byte>((i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

inline bool same(const std::byte* a, const std::byte* b, std::size_t n) {
    return std::memcmp(a, b, n) == 0;
}

}  // namespace convme::driver::testing

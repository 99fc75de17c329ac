// SPDX-License-Identifier: MIT
// Makes caller I/O buffers reachable by the device. The hot path is pci_device::translate(); only
// when it fails (first use of a buffer) the slow path maps: a whole convme::dma_buffer at once
// (found through the process-wide registry, mapping cached until the buffer is freed: we observe
// the free), or for plain memory the unmapped host pages it touches (kept until the device is
// closed: plain memory must stay allocated, or use dma_buffer).
#pragma once

#include <atomic>
#include <convme/dma_buffer.hpp>
#include <cstdint>
#include <map>
#include <mutex>

#include "driver/nvme/pci_device.hpp"

namespace convme::driver {

class dma_mapper final : public dma_buffer_observer {
  public:
    explicit dma_mapper(pci_device& dev);
    ~dma_mapper() override;
    dma_mapper(const dma_mapper&) = delete;
    dma_mapper& operator=(const dma_mapper&) = delete;

    // Map whatever part of [p, p+len) is not reachable yet. 0 or -errno.
    int ensure_mapped(const void* p, std::size_t len) noexcept;

    void on_dma_buffer_free(const dma_region_ref& region) noexcept override;

    std::size_t mappings() const;

    // Bumped by every unmap: translation caches compare it before trusting their entries.
    std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }

  private:
    int map_locked(std::uintptr_t base, std::size_t size) noexcept;

    pci_device& dev_;
    mutable std::mutex mu_;
    std::map<std::uintptr_t, std::size_t> mapped_;  // base -> size of the mappings we made
    std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace convme::driver

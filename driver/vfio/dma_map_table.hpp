// SPDX-License-Identifier: MIT
// Bookkeeping of the host ranges made reachable by the device: which IOVA (IOMMU mode) or which
// physical pages (no-IOMMU mode) back each mapped virtual range. translate() is the hot-path
// lookup the NVMe driver uses when it builds PRPs. Not thread-safe by itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace convme::driver::vfio {

struct dma_mapping {
    std::uintptr_t user = 0;  // address the caller registered
    std::size_t user_size = 0;
    std::uintptr_t start = 0;          // page-aligned first byte covered
    std::size_t length = 0;            // bytes covered from start
    std::uint64_t iova = 0;            // device address of `start` when `pages` is empty
    std::size_t page = 4096;           // granularity of `pages`
    std::vector<std::uint64_t> pages;  // no-IOMMU: device (physical) address of each page
    std::uint64_t handle = 0;          // allocation cookie (alloc_dma) or 0 (map_dma)
};

class dma_map_table {
  public:
    void insert(dma_mapping m);
    // Device address of `p`, or nullopt if no mapping covers it.
    std::optional<std::uint64_t> translate(const void* p) const noexcept;
    // Remove the mapping registered with exactly (user, size) (the most recent if several).
    std::optional<dma_mapping> remove(std::uintptr_t user, std::size_t size);
    std::optional<dma_mapping> remove_handle(std::uint64_t handle);
    std::vector<dma_mapping> take_all();
    std::size_t size() const noexcept { return by_start_.size(); }

  private:
    std::multimap<std::uintptr_t, dma_mapping> by_start_;
    std::size_t longest_ = 0;  // bounds the backward walk in translate()
};

}  // namespace convme::driver::vfio

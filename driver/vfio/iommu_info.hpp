// SPDX-License-Identifier: MIT
// Decoding of the VFIO_IOMMU_GET_INFO reply (struct vfio_iommu_type1_info followed by a chain of
// capabilities). Kept apart from the ioctl so the parser can be tested with synthetic buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "driver/vfio/iova_allocator.hpp"

namespace convme::driver::vfio {

struct iommu_info {
    std::uint64_t page_sizes = 0;            // bitmap of supported IOMMU page sizes
    std::vector<iova_range> ranges;          // usable IOVA windows; empty if not reported
    std::optional<std::uint32_t> dma_avail;  // mappings still allowed (dma_entry_limit)
    // Smallest supported IOMMU page, at least `host_page`.
    std::uint64_t granule(std::uint64_t host_page) const noexcept;
};

// Parse `len` bytes returned by VFIO_IOMMU_GET_INFO. Returns false (and why) on a malformed
// capability chain (offsets outside the buffer, loops).
bool parse_iommu_info(const std::byte* buf, std::size_t len, iommu_info& out, std::string& why);

}  // namespace convme::driver::vfio

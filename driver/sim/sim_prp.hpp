// SPDX-License-Identifier: MIT
// Walking a command's PRPs into host memory segments, the way a controller does: PRP1 may start at
// an offset inside a memory page, PRP2 is either the second page or a pointer to a PRP list whose
// last entry in each list page chains to the next list page. Entries after PRP1 must be page
// aligned. Every address goes through the IOVA table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "driver/sim/sim_iova.hpp"

namespace convme::sim {

struct dma_segment {
    std::byte* host;
    std::size_t len;
};

// Fills `out` (cleared first; physically adjacent pages merged). Returns 0 or an NVMe status
// field (nvme::make_status) and sets `why` for DMA faults.
std::uint16_t map_prps(const iova_space& iova, std::uint64_t prp1, std::uint64_t prp2,
                       std::size_t len, std::size_t page, std::vector<dma_segment>& out,
                       std::string& why);

}  // namespace convme::sim

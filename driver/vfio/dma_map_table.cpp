// SPDX-License-Identifier: MIT
#include "driver/vfio/dma_map_table.hpp"

#include <algorithm>

namespace convme::driver::vfio {

void dma_map_table::insert(dma_mapping m) {
    longest_ = std::max(longest_, m.length);
    auto start = m.start;
    by_start_.emplace(start, std::move(m));
}

std::optional<std::uint64_t> dma_map_table::translate(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    auto it = by_start_.upper_bound(a);
    // Walk back over mappings starting at or before `a`; none further back than the longest
    // mapping can contain it.
    while (it != by_start_.begin()) {
        --it;
        const dma_mapping& m = it->second;
        if (a - m.start >= longest_) break;
        if (a - m.start < m.length) {
            const std::uint64_t off = a - m.start;
            if (m.pages.empty()) return m.iova + off;
            return m.pages[off / m.page] + off % m.page;
        }
    }
    return std::nullopt;
}

std::optional<dma_mapping> dma_map_table::remove(std::uintptr_t user, std::size_t size) {
    std::optional<dma_mapping> found;
    auto pos = by_start_.end();
    for (auto it = by_start_.begin(); it != by_start_.end(); ++it)
        if (it->second.user == user && it->second.user_size == size && it->second.handle == 0)
            pos = it;
    if (pos != by_start_.end()) {
        found = std::move(pos->second);
        by_start_.erase(pos);
    }
    return found;
}

std::optional<dma_mapping> dma_map_table::remove_handle(std::uint64_t handle) {
    for (auto it = by_start_.begin(); it != by_start_.end(); ++it) {
        if (it->second.handle == handle) {
            dma_mapping m = std::move(it->second);
            by_start_.erase(it);
            return m;
        }
    }
    return std::nullopt;
}

std::vector<dma_mapping> dma_map_table::take_all() {
    std::vector<dma_mapping> out;
    for (auto& [k, m] : by_start_) out.push_back(std::move(m));
    by_start_.clear();
    longest_ = 0;
    return out;
}

}  // namespace convme::driver::vfio

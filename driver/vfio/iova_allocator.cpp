// SPDX-License-Identifier: MIT
#include "driver/vfio/iova_allocator.hpp"

#include <algorithm>
#include <cerrno>
#include <limits>

namespace convme::driver::vfio {
namespace {

bool is_pow2(std::uint64_t v) {
    return v && !(v & (v - 1));
}

// Shrink [first, last] inward to granule boundaries; false if nothing is left.
bool trim_to_granule(std::uint64_t g, std::uint64_t& first, std::uint64_t& last) {
    std::uint64_t f = (first + g - 1) & ~(g - 1);
    if (f < first) return false;  // overflow at the top of the space
    if (last == std::numeric_limits<std::uint64_t>::max()) {
        last = ~(g - 1) + (g - 1);  // already the top; stays granule-aligned end
    } else {
        std::uint64_t end = (last + 1) & ~(g - 1);  // exclusive, rounded down
        if (end == 0) return false;
        last = end - 1;
    }
    first = f;
    return first <= last;
}

}  // namespace

std::vector<iova_range> default_iova_ranges() {
    return {{0, 0xfedfffffULL}, {0xfef00000ULL, (1ULL << 39) - 1}};
}

iova_allocator::iova_allocator(const std::vector<iova_range>& ranges, std::uint64_t granule,
                               std::uint64_t floor)
    : granule_(is_pow2(granule) ? granule : 4096) {
    auto build = [&](std::uint64_t lowest) {
        free_.clear();
        std::vector<iova_range> sorted(ranges.begin(), ranges.end());
        std::sort(sorted.begin(), sorted.end(),
                  [](const iova_range& a, const iova_range& b) { return a.first < b.first; });
        for (auto r : sorted) {
            if (r.last < r.first || r.last < lowest) continue;
            r.first = std::max(r.first, lowest);
            if (!trim_to_granule(granule_, r.first, r.last)) continue;
            // Merge with the previous range when they touch or overlap.
            if (!free_.empty()) {
                auto prev = std::prev(free_.end());
                if (prev->second >= r.first - 1) {
                    prev->second = std::max(prev->second, r.last);
                    continue;
                }
            }
            free_[r.first] = r.last;
        }
    };
    build(std::max<std::uint64_t>(floor, granule_));
    // Nothing above the floor: use whatever is usable, still never IOVA 0 (a null DMA address
    // hides bugs).
    if (free_.empty()) build(granule_);
    for (auto& [f, l] : free_) managed_.push_back({f, l});
}

int iova_allocator::allocate(std::uint64_t size, std::uint64_t align, std::uint64_t& iova) {
    if (size == 0 || size > std::numeric_limits<std::uint64_t>::max() - granule_) return -EINVAL;
    if (align == 0) align = granule_;
    if (!is_pow2(align)) return -EINVAL;
    align = std::max(align, granule_);
    size = round_up(size);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        const std::uint64_t first = it->first, last = it->second;
        std::uint64_t start = (first + align - 1) & ~(align - 1);
        if (start < first || start > last) continue;
        if (last - start < size - 1) continue;
        const std::uint64_t end = start + size - 1;  // inclusive
        free_.erase(it);
        if (start > first) free_[first] = start - 1;
        if (end < last) free_[end + 1] = last;
        iova = start;
        return 0;
    }
    return -ENOSPC;
}

int iova_allocator::release(std::uint64_t iova, std::uint64_t size) {
    if (size == 0 || (iova & (granule_ - 1))) return -EINVAL;
    size = round_up(size);
    const std::uint64_t last = iova + size - 1;
    if (last < iova) return -EINVAL;
    bool inside = std::any_of(managed_.begin(), managed_.end(), [&](const iova_range& r) {
        return iova >= r.first && last <= r.last;
    });
    if (!inside) return -EINVAL;
    // Overlap with existing free space means a double free.
    auto next = free_.lower_bound(iova);
    if (next != free_.end() && next->first <= last) return -EINVAL;
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->second >= iova) return -EINVAL;
    }
    std::uint64_t first = iova, new_last = last;
    if (next != free_.end() && last + 1 == next->first) {
        new_last = next->second;
        next = free_.erase(next);
    }
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->second + 1 == first) {
            prev->second = new_last;
            return 0;
        }
    }
    free_[first] = new_last;
    return 0;
}

std::uint64_t iova_allocator::free_bytes() const noexcept {
    std::uint64_t total = 0;
    for (auto& [f, l] : free_) total += l - f + 1;
    return total;
}

std::vector<iova_range> iova_allocator::free_ranges() const {
    std::vector<iova_range> out;
    for (auto& [f, l] : free_) out.push_back({f, l});
    return out;
}

}  // namespace convme::driver::vfio

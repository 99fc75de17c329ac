#include "latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace convme::simbench {

std::size_t latency_histogram::index(std::uint64_t v) noexcept {
    if (v < sub) return static_cast<std::size_t>(v);  // exact below 32 ns
    unsigned top = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= sub_bits
    unsigned shift = top - sub_bits;
    std::uint64_t mant = (v >> shift) - sub;  // 0..sub-1
    return static_cast<std::size_t>((shift + 1) * sub + mant);
}

std::uint64_t latency_histogram::midpoint(std::size_t i) noexcept {
    if (i < sub) return i;
    std::uint64_t shift = i / sub - 1, mant = i % sub;
    std::uint64_t low = (sub + mant) << shift;
    return low + ((std::uint64_t{1} << shift) >> 1);
}

void latency_histogram::record(std::uint64_t ns) noexcept {
    std::size_t i = std::min(index(ns), buckets_.size() - 1);
    ++buckets_[i];
    ++count_;
    max_ = std::max(max_, ns);
}

void latency_histogram::clear() noexcept {
    std::fill(buckets_.begin(), buckets_.end(), 0);
    count_ = max_ = 0;
}

std::uint64_t latency_histogram::quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        seen += buckets_[i];
        if (seen >= rank) return std::min(midpoint(i), max_);
    }
    return max_;
}

}  // namespace convme::simbench

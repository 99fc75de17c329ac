// SPDX-License-Identifier: MIT
#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace convme::bench {

// index = shift * 2^k + (value >> shift), shift = max(0, msb(value) - k). For shift == 0 this is
// the value itself; each larger shift covers the next power of two with 2^k buckets.
std::size_t histogram::bucket_of(std::uint64_t value) noexcept {
    if (value < 2 * kSubCount) return static_cast<std::size_t>(value);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(value));
    const unsigned shift = msb - kSubBits;
    return static_cast<std::size_t>(shift) * kSubCount + static_cast<std::size_t>(value >> shift);
}

std::uint64_t histogram::bucket_low(std::size_t index) noexcept {
    if (index < 2 * kSubCount) return index;
    const std::uint64_t shift = (index >> kSubBits) - 1;
    const std::uint64_t top = index - shift * kSubCount;
    return top << shift;
}

std::uint64_t histogram::bucket_high(std::size_t index) noexcept {
    if (index + 1 >= bucket_count()) return UINT64_MAX;
    return bucket_low(index + 1) - 1;
}

std::size_t histogram::bucket_count() noexcept {
    return bucket_of(UINT64_MAX) + 1;
}

histogram::histogram() : buckets_(bucket_count(), 0) {}

void histogram::record(std::uint64_t value) noexcept {
    ++buckets_[bucket_of(value)];
    ++count_;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
    sum_ += static_cast<long double>(value);
}

void histogram::merge(const histogram& other) {
    for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
}

void histogram::clear() noexcept {
    std::fill(buckets_.begin(), buckets_.end(), 0);
    count_ = 0;
    min_ = UINT64_MAX;
    max_ = 0;
    sum_ = 0;
}

double histogram::mean() const noexcept {
    return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

std::uint64_t histogram::quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        seen += buckets_[i];
        if (seen >= rank) {
            const std::uint64_t lo = bucket_low(i);
            const std::uint64_t hi = bucket_high(i);
            const std::uint64_t mid = lo + (hi - lo) / 2;
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

}  // namespace convme::bench

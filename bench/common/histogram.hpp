// SPDX-License-Identifier: MIT
// Log-linear latency histogram (nanoseconds). Values below 2^kSubBits are counted exactly; above,
// each power-of-two range is split into 2^kSubBits equal buckets, so any recorded value is known
// to within 1/2^kSubBits (< 0.8 %) of its true value. Recording is one shift and one increment:
// cheap enough to do for every I/O. One histogram per core; merge() combines them at the end.
#pragma once

#include <cstdint>
#include <vector>

namespace convme::bench {

class histogram {
  public:
    static constexpr unsigned kSubBits = 7;
    static constexpr std::uint64_t kSubCount = std::uint64_t{1} << kSubBits;

    histogram();

    void record(std::uint64_t value) noexcept;
    void merge(const histogram& other);
    void clear() noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
    std::uint64_t max() const noexcept { return max_; }
    double mean() const noexcept;
    // Value at quantile q in [0, 1]: the midpoint of the bucket holding the ceil(q * count)-th
    // smallest sample, clamped to [min, max]. 0 when empty.
    std::uint64_t quantile(double q) const noexcept;

    // Bucket arithmetic, exposed for tests.
    static std::size_t bucket_of(std::uint64_t value) noexcept;
    static std::uint64_t bucket_low(std::size_t index) noexcept;   // smallest value in bucket
    static std::uint64_t bucket_high(std::size_t index) noexcept;  // largest value in bucket
    static std::size_t bucket_count() noexcept;

  private:
    std::vector<std::uint64_t> buckets_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

}  // namespace convme::bench

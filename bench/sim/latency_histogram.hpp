// Small log-linear latency histogram for the sim benchmark: 32 sub-buckets per power of two
// (about 3 % resolution), constant-time record, quantiles from the bucket midpoints.
#pragma once

#include <cstdint>
#include <vector>

namespace convme::simbench {

class latency_histogram {
public:
    latency_histogram() : buckets_(64 * sub) {}
    void record(std::uint64_t ns) noexcept;
    void clear() noexcept;
    std::uint64_t count() const noexcept { return count_; }
    // Value (ns) at quantile q in [0, 1]; 0 when empty.
    std::uint64_t quantile(double q) const noexcept;

private:
    static constexpr unsigned sub_bits = 5;
    static constexpr std::uint64_t sub = 1u << sub_bits;
    static std::size_t index(std::uint64_t v) noexcept;
    static std::uint64_t midpoint(std::size_t i) noexcept;
    std::vector<std::uint64_t> buckets_;
    std::uint64_t count_ = 0, max_ = 0;
};

}  // namespace convme::simbench

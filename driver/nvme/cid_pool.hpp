// SPDX-License-Identifier: MIT
// Command identifiers of one queue: a LIFO free list of 16-bit ids 0..n-1 (the id doubles as the
// index of the request slot). LIFO keeps recently used slots (and their PRP lists) cache-hot.
#pragma once

#include <cstdint>
#include <memory>

namespace convme::driver {

class cid_pool {
  public:
    cid_pool() = default;
    explicit cid_pool(std::uint32_t n) { reset(n); }

    // Every id free again; capacity n (at most 65536).
    void reset(std::uint32_t n) {
        if (n > capacity_) {
            stack_ = std::make_unique<std::uint16_t[]>(n);
            capacity_ = n;
        }
        size_ = n;
        // Pop order 0, 1, 2...: deterministic and easy to follow in traces.
        for (std::uint32_t i = 0; i < n; ++i) stack_[i] = static_cast<std::uint16_t>(n - 1 - i);
        total_ = n;
    }

    bool empty() const noexcept { return size_ == 0; }
    std::uint32_t available() const noexcept { return size_; }
    std::uint32_t total() const noexcept { return total_; }
    std::uint32_t in_use() const noexcept { return total_ - size_; }

    // Caller checks !empty().
    std::uint16_t pop() noexcept { return stack_[--size_]; }
    void push(std::uint16_t cid) noexcept { stack_[size_++] = cid; }

  private:
    std::unique_ptr<std::uint16_t[]> stack_;
    std::uint32_t capacity_ = 0;
    std::uint32_t size_ = 0;
    std::uint32_t total_ = 0;
};

}  // namespace convme::driver

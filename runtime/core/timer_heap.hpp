// SPDX-License-Identifier: MIT
// Min-heap of (deadline, sequence, coroutine) for one loop. The sequence number keeps timers with
// the same deadline in the order they were armed.
#pragma once

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <vector>

namespace convme::detail {

class timer_heap {
  public:
    using time_point = std::chrono::steady_clock::time_point;

    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    time_point next_deadline() const noexcept { return heap_.front().when; }

    void add(time_point when, std::coroutine_handle<> h) {
        heap_.push_back({when, seq_++, h});
        std::push_heap(heap_.begin(), heap_.end(), later);
    }

    // Pop every timer due at `now` into `out` (in deadline order). Returns how many.
    template <typename Sink>
    std::size_t pop_due(time_point now, Sink&& out) {
        std::size_t n = 0;
        while (!heap_.empty() && heap_.front().when <= now) {
            std::pop_heap(heap_.begin(), heap_.end(), later);
            out(heap_.back().h);
            heap_.pop_back();
            ++n;
        }
        return n;
    }

    void clear() noexcept { heap_.clear(); }

  private:
    struct entry {
        time_point when;
        std::uint64_t seq;
        std::coroutine_handle<> h;
    };
    static bool later(const entry& a, const entry& b) noexcept {
        return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
    std::vector<entry> heap_;
    std::uint64_t seq_ = 0;
};

}  // namespace convme::detail

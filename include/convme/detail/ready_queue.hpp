// SPDX-License-Identifier: MIT
// FIFO of coroutine handles for one loop thread. A power-of-two ring that doubles when full, so
// steady-state scheduling never allocates. Only the loop's own thread touches it (other threads
// reach a loop through loop::post / the runtime's rings), so it needs no atomics; it sits inside
// loop itself so that loop::schedule() inlines to a bounds check and a store.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <memory>

namespace convme::detail {

class ready_queue {
  public:
    explicit ready_queue(std::size_t initial = 256)
        : buf_(new std::coroutine_handle<>[initial]), mask_(initial - 1), limit_(initial) {}

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return tail_ - head_; }

    // Full when the tail reaches limit_ (head + capacity, kept by pop()): one compare with
    // memory per push instead of loading head and mask for it, paid by one increment per pop.
    // Completion walks push many handles in a row (and count in the driver's budget); the pops
    // run in the loop's batch.
    void push(std::coroutine_handle<> h) {
        if (tail_ == limit_) [[unlikely]]
            grow();
        buf_[tail_++ & mask_] = h;
    }
    // push() if there is room without growing (no call); false, and nothing pushed, if not.
    bool try_push(std::coroutine_handle<> h) noexcept {
        if (tail_ == limit_) [[unlikely]]
            return false;
        buf_[tail_++ & mask_] = h;
        return true;
    }
    // Pushes the `n` handles at `src`, in order (a backend's completions kept as an array): one
    // test, then a store (one handle) or one copy instead of a masked store per handle. Growing
    // and a copy across the ring's end are out of line, so the caller saves no registers.
    void push_range(const std::coroutine_handle<>* src, std::size_t n) {
        const std::size_t at = tail_ & mask_;
        if (limit_ - tail_ < n || n > mask_ + 1 - at) [[unlikely]] {
            push_range_slow(src, n);
            return;
        }
        tail_ += n;
        if (n == 1)
            buf_[at] = *src;
        else
            std::copy_n(src, n, buf_.get() + at);
    }
    std::coroutine_handle<> pop() noexcept {
        ++limit_;
        return buf_[head_++ & mask_];
    }
    void clear() noexcept {
        head_ = tail_ = 0;
        limit_ = mask_ + 1;
    }

  private:
    [[gnu::noinline]] void push_range_slow(const std::coroutine_handle<>* src, std::size_t n) {
        while (limit_ - tail_ < n) grow();
        const std::size_t at = tail_ & mask_;
        const std::size_t run = std::min(n, mask_ + 1 - at);
        std::copy_n(src, run, buf_.get() + at);
        std::copy_n(src + run, n - run, buf_.get());
        tail_ += n;
    }
    // Doubles the ring, keeping the queued handles in order (push() grows a full ring,
    // push_range() may grow one that is not full).
    [[gnu::noinline, gnu::cold]] void grow() {
        const std::size_t cap = mask_ + 1, size = tail_ - head_;
        std::unique_ptr<std::coroutine_handle<>[]> bigger(new std::coroutine_handle<>[cap * 2]);
        for (std::size_t i = 0; i < size; ++i) bigger[i] = buf_[(head_ + i) & mask_];
        buf_ = std::move(bigger);
        head_ = 0;
        tail_ = size;
        mask_ = cap * 2 - 1;
        limit_ = cap * 2;
    }

    std::unique_ptr<std::coroutine_handle<>[]> buf_;
    std::size_t mask_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
    std::size_t limit_;  // head_ + capacity
};

}  // namespace convme::detail

// SPDX-License-Identifier: MIT
// Single-loop countdown: spawned jobs arrive() when they finish; one coroutine co_awaits the
// countdown and resumes when the count reaches zero. Used by one loop thread only.
#pragma once

#include <convme/loop.hpp>
#include <coroutine>
#include <cstddef>
#include <utility>

namespace convme::bench {

class countdown {
  public:
    explicit countdown(std::size_t n) noexcept : left_(n) {}
    countdown(const countdown&) = delete;
    countdown& operator=(const countdown&) = delete;

    void arrive() noexcept {
        if (--left_ == 0 && waiter_) loop::current()->schedule(std::exchange(waiter_, {}));
    }
    bool finished() const noexcept { return left_ == 0; }

    bool await_ready() const noexcept { return left_ == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { waiter_ = h; }
    void await_resume() const noexcept {}

  private:
    std::size_t left_;
    std::coroutine_handle<> waiter_{};
};

}  // namespace convme::bench

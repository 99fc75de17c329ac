// SPDX-License-Identifier: MIT
// One loop's side of the thread-pool backend: counts the loop's requests in flight and brings
// finished requests (pushed by workers onto a lock-free list) back to the loop, where poll()
// completes them.
#pragma once

#include <atomic>
#include <convme/backend.hpp>
#include <convme/loop.hpp>
#include <cstddef>

namespace convme::backends {

class threadpool_pool;

class threadpool_channel final : public poller {
  public:
    threadpool_channel(threadpool_pool& pool, loop* owner) noexcept
        : poller(/*batches_submissions=*/false),
          pool_(pool),
          owner_(owner),
          owner_id_(owner->unique_id()) {}
    ~threadpool_channel() override = default;

    loop* owner() const noexcept { return owner_; }
    std::uint64_t owner_id() const noexcept { return owner_id_; }

    // Owner thread.
    void submit(io_request& r) noexcept;
    // Worker thread: r finished (status set).
    void push_done(io_request& r) noexcept;

    bool poll() override;
    std::size_t in_flight() const override { return in_flight_; }

    // Owner thread, in_flight() == 0: unregister; later I/O gets errc::shutting_down.
    void close() noexcept;
    // The owning loop is gone: forget it without touching it.
    void retire() noexcept {
        registered_ = false;
        drained_ = true;
    }

  private:
    threadpool_pool& pool_;
    loop* owner_;
    std::uint64_t owner_id_;
    bool registered_ = false;
    bool drained_ = false;
    std::size_t in_flight_ = 0;
    request_stack done_;  // finished by workers, completed by poll()
};

}  // namespace convme::backends

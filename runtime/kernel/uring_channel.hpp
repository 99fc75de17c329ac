// SPDX-License-Identifier: MIT
// One loop's io_uring state for a uring_device: the ring (plus, with IOPOLL, a second ordinary
// ring for fsync/fallocate, which polled rings cannot run), the fixed-buffer table and the
// overflow list of requests that found the SQ or the CQ budget full.
#pragma once

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <convme/backend.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/loop.hpp>
#include <cstdint>
#include <mutex>
#include <vector>

#include "runtime/kernel/uring_device.hpp"

namespace convme::backends {

class uring_channel final : public poller {
  public:
    uring_channel(const file_target& target, const uring_config& cfg, loop* owner) noexcept;
    ~uring_channel() override;
    uring_channel(const uring_channel&) = delete;
    uring_channel& operator=(const uring_channel&) = delete;

    loop* owner() const noexcept { return owner_; }
    std::uint64_t owner_id() const noexcept { return owner_id_; }
    // The owning loop was destroyed: release the rings without touching it.
    void retire() noexcept {
        release_rings();
        state_ = state::drained;
    }

    // Owner thread. Opens the ring on first use; fails the request if the ring cannot be set up or
    // the channel was drained.
    void submit(io_request& r) noexcept;

    bool poll() override;
    std::size_t in_flight() const override { return in_flight_; }
    void flush_submissions() override;
    // wait=block: the loop may sleep while I/O is in flight; the ring signals its eventfd.
    std::chrono::microseconds max_block_in_flight() const override;
    bool prepare_to_block() override;

    // Owner thread, in_flight() == 0: release the rings and unregister the poller. Later I/O from
    // this loop fails with errc::shutting_down.
    void close() noexcept;
    // Any thread, when the loop is gone: release the rings without touching the loop.
    void release_rings() noexcept;
    bool is_open() const noexcept { return state_ == state::open; }

    // Any thread: a dma_buffer is being freed; drop its fixed-buffer slot.
    void forget_buffer(const dma_region_ref& region) noexcept;

    void add_stats(uring_stats& s) const noexcept;

  private:
    struct ring {
        io_uring r{};
        bool live = false;
        bool fixed_file = false;
        bool polled = false;           // IORING_SETUP_IOPOLL without SQPOLL: reaping needs enter()
        unsigned kernel_inflight = 0;  // SQEs handed to the ring whose CQE was not reaped yet
        unsigned cq_budget = 0;        // never more in flight than CQ entries (no CQ overflow)
        bool notifies = false;         // the loop's eventfd is registered (wait=block)
        bool toggles = false;          // ...and can be switched off while the loop runs
    };
    struct fixed_entry {
        std::uint32_t id;
        std::byte* base;
        std::size_t size;
        int slot;  // -1: registration failed, use plain I/O
    };
    enum class state { fresh, open, failed, drained };

    int open(std::string& why) noexcept;
    int open_ring(ring& g, unsigned entries, unsigned flags, std::string& why) noexcept;
    ring& ring_for(io_op op) noexcept;
    void enqueue(io_request& r) noexcept;
    bool try_prepare(ring& g, io_request& r) noexcept;
    void prepare_sqe(io_uring_sqe* sqe, ring& g, io_request& r) noexcept;
    int fixed_index(const std::byte* p, std::size_t len) noexcept;
    void submit_ring(ring& g) noexcept;
    void drain_overflow() noexcept;
    bool reap(ring& g) noexcept;
    void handle(io_request& r, int res, bool from_polled_ring) noexcept;
    void finish(io_request& r, std::error_code ec) noexcept;
    void register_notify(ring& g) noexcept;
    void disarm_notify() noexcept;
    void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // single writer
    }

    const file_target& target_;
    const uring_config& cfg_;
    loop* owner_;
    std::uint64_t owner_id_;
    state state_ = state::fresh;
    std::error_code open_error_{};
    ring main_;
    ring aux_;                   // only with IOPOLL
    bool poll_refused_ = false;  // the device answered a polled I/O with EOPNOTSUPP
    bool notify_armed_ = false;  // CQ eventfd notifications on (between prepare_to_block and poll)
    std::size_t in_flight_ = 0;
    request_fifo overflow_;  // found the SQ or the CQ budget full

    static constexpr unsigned fixed_slots = 64;
    std::mutex fixed_mu_;  // forget_buffer() comes from the thread freeing the buffer
    std::atomic<bool> fixed_table_{false};  // sparse buffer table registered
    std::vector<fixed_entry> fixed_;
    std::uint64_t slot_used_ = 0;  // bitmap of fixed_slots

    std::atomic<std::uint64_t> rings_opened_{0}, submit_calls_{0}, sqes_{0}, fixed_ios_{0},
        plain_ios_{0}, registrations_{0}, unregistrations_{0}, overflowed_{0}, short_retries_{0},
        iopoll_fallbacks_{0}, notify_rings_{0}, notify_refused_{0}, notify_arms_{0};
};

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
// The block_device over one namespace of an NVMe controller: device_info from Identify, one
// io_queue per loop (created on the loop's first I/O), drain and shutdown. Per-loop state lives in
// the backends' one per-loop table (runtime/core/channel_table.hpp), one nvme_channel per loop.
#pragma once

#include <atomic>
#include <convme/block_device.hpp>
#include <convme/nvme.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "driver/nvme/controller.hpp"
#include "driver/nvme/dma_mapper.hpp"
#include "driver/nvme/io_queue.hpp"
#include "runtime/core/channel_table.hpp"

namespace convme::driver {

class nvme_device;

// One loop's side of an nvme_device: its queue pair once created, or why it has none. In its core
// id's slot of the table only while it has a queue that takes I/O (publish_when_ready), so the
// device's fast path is the slot lookup and the queue's submit.
class nvme_channel {
  public:
    enum class state : std::uint8_t {
        fresh,       // no queue yet: made on the loop's first I/O
        open,        // queue_ takes I/O
        forwarding,  // the controller has no queue (or vector) for this loop: I/O runs elsewhere
        failed,      // creating the queue failed (error_, remembered)
        drained,     // drain() ran, or the device is closing: I/O fails with shutting_down
    };
    static constexpr bool publish_when_ready = true;

    nvme_channel(nvme_device& dev, loop& owner) noexcept
        : owner_id_(owner.unique_id()), owner_(&owner), dev_(dev) {}

    loop* owner() const noexcept { return owner_; }
    std::uint64_t owner_id() const noexcept { return owner_id_; }
    // The queue; only while current_state() is open.
    io_queue& queue() noexcept { return *queue_; }
    state current_state() const noexcept { return state_.load(std::memory_order_relaxed); }
    // Why this loop's I/O does not go to its own queue: shutting_down, the remembered creation
    // error, resource_unavailable_try_again while forwarding; none while open (or fresh).
    std::error_code why_not() const noexcept;

    std::size_t in_flight() const noexcept {
        return (queue_ ? queue_->in_flight() : 0) + forwarded_in_flight_;
    }
    task<void> close_async();  // drain(): the queue is deleted without blocking the loop
    void close() noexcept;     // the device closes on this loop's thread
    void retire() noexcept;    // the loop is gone: its poller is not touched

  private:
    friend class nvme_device;
    void delete_queue_sync(bool unregister) noexcept;

    std::uint64_t owner_id_;
    loop* owner_;
    nvme_device& dev_;
    std::unique_ptr<io_queue> queue_;  // small channel: a drained loop leaves ~100 bytes behind
    // Read by other loops looking for a forwarding home: set open before the creation lock is
    // released, drained when drain() begins.
    std::atomic<state> state_{state::fresh};
    // The queue for stats() from any thread: set with the queue, cleared under the table lock
    // once the queue is deleted (before it is freed).
    std::atomic<const io_queue*> live_{nullptr};
    std::error_code error_{};                // failed: why (a vanished controller is not kept)
    std::uint32_t forwarded_in_flight_ = 0;  // this loop's requests running on another loop
};

class nvme_device final : public block_device {
  public:
    explicit nvme_device(std::unique_ptr<controller> ctrl);
    ~nvme_device() override;

    // Identify the namespace and fill device_info. 0 or -errno with why.
    int init(std::string& why);

    void submit(io_request& r) noexcept override;
    task<void> drain() override;

    // Raw I/O command on the calling loop's queue pair (see nvme_io_passthrough in
    // <convme/nvme.hpp>).
    task<std::error_code> io_passthrough(nvme::sqe cmd, std::span<std::byte> data, nvme::cqe& out);

    controller& ctrl() noexcept { return *ctrl_; }
    nvme_driver_stats stats() const noexcept;

  private:
    // init()'s steps.
    int check_namespace(nvme::identify_namespace& id, std::string& why);
    int plan_queues(std::uint32_t lba_shift, std::uint64_t& max_transfer, std::string& why);
    int describe(const nvme::identify_namespace& id, std::uint32_t lba_shift,
                 std::uint64_t max_transfer, std::string& why);

    friend class nvme_channel;

    // A loop's I/O when its channel is not in the slot: the first I/O (the channel is made and
    // its queue pair created here, with synchronous admin commands), a second loop with the same
    // core id, forwarding, and every failure. Kept out of line and cold so that submit() is only
    // the slot lookup and the queue's fast path, with no registers saved for this.
    [[gnu::noinline, gnu::cold]] void submit_slow(io_request& r) noexcept;
    // Loops without a queue of their own (the controller granted fewer queues, or fewer interrupt
    // vectors, than there are loops) run their I/O on a loop that has one (nvme_device.cpp).
    void forward(nvme_channel& from, io_request& r) noexcept;
    task<void> relay(io_request* r, nvme_channel* from);
    // The loop's channel, its queue created if it has none yet; ec says why its I/O cannot go to
    // its own queue (channel open: none). nullptr (ENOMEM) if no channel could be made.
    nvme_channel* channel_for(loop& l, std::error_code& ec) noexcept;
    // Creates the channel's queue pair. The error of this attempt if it failed without a state
    // change (the controller vanished: not remembered), else none and the channel's new state.
    std::error_code open_queue(nvme_channel& c) noexcept;
    auto channel_maker(loop& l) noexcept {
        return [this, &l] { return std::make_unique<nvme_channel>(*this, l); };
    }

    std::unique_ptr<controller> ctrl_;
    dma_mapper mapper_;
    io_queue_params params_;
    std::uint32_t nsid_ = 1;

    backends::channel_table<nvme_channel> channels_;
    std::atomic<std::uint64_t> forwarded_{0};
    std::atomic<std::uint64_t> drained_irq_sleeps_{0};  // of queues already deleted
    std::atomic<std::uint32_t> next_home_{0};
    std::mutex create_mu_;  // queue creation (queue ids, vectors, the Create commands) and its
                            // publication
};

}  // namespace convme::driver

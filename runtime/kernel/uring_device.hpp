// SPDX-License-Identifier: MIT
// block_device over io_uring: one ring per loop (created on the first I/O from that loop), batched
// submission once per loop iteration, completions reaped by a poller on the owning loop.
// Internal header: tests include it to read the counters.
#pragma once

#include <convme/backend.hpp>
#include <convme/dma_buffer.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/core/channel_table.hpp"
#include "runtime/kernel/file_target.hpp"

namespace convme::backends {

struct uring_config {
    unsigned entries = 256;     // SQ size of each per-loop ring
    bool sqpoll = false;        // IORING_SETUP_SQPOLL (kernel thread submits)
    bool iopoll = false;        // IORING_SETUP_IOPOLL (busy-poll completions; O_DIRECT only)
    bool fixed_buffers = true;  // register dma_buffers as fixed buffers (read_fixed/write_fixed)
    bool fixed_files = true;    // register the fd (IOSQE_FIXED_FILE)
    // wait=block: the ring signals the loop's eventfd on completion, so the loop may sleep while
    // I/O is in flight. False (wait=poll, and always with sqpoll/iopoll): the loop spins.
    bool block_in_flight = true;
    // sync=datasync: a flush is fdatasync (IORING_FSYNC_DATASYNC): the data and the metadata
    // needed to read it back (size, allocation), not timestamps. False (sync=fsync): full fsync.
    bool datasync = false;
    // sync=dsync: every write is RWF_DSYNC, so it completes only once it is durable (the kernel
    // runs the fdatasync, or a FUA write, itself); flush() is fdatasync (datasync is set too).
    bool dsync_writes = false;
};

// Sums over every loop's ring.
struct uring_stats {
    std::uint64_t rings_opened = 0;
    std::uint64_t submit_calls = 0;  // io_uring_submit() calls (one per loop iteration with work)
    std::uint64_t sqes = 0;          // SQEs prepared (including retries of short transfers)
    std::uint64_t fixed_buffer_ios = 0;  // read_fixed / write_fixed SQEs
    std::uint64_t plain_ios = 0;         // read / write SQEs
    std::uint64_t buffer_registrations = 0;
    std::uint64_t buffer_unregistrations = 0;
    std::uint64_t overflowed = 0;        // requests parked because the SQ / CQ budget was full
    std::uint64_t short_retries = 0;     // remainders resubmitted after a short transfer
    std::uint64_t iopoll_fallbacks = 0;  // loops that switched from polled to interrupt completions
    std::uint64_t notify_rings = 0;      // rings signalling their loop's eventfd (wait=block)
    std::uint64_t notify_refused = 0;    // io_uring_register_eventfd failed: that loop polls
    std::uint64_t notify_arms = 0;       // completion notifications turned on before a loop sleep
};

class uring_channel;

// Lifetime: call drain() on every loop that did I/O before destroying the device, or destroy the
// device after those loops are gone. (A loop still running elsewhere would keep a dangling poller.)
class uring_device final : public block_device, private dma_buffer_observer {
  public:
    // `notes` is appended to the device name (e.g. "sqpoll refused: ...").
    uring_device(std::unique_ptr<file_target> target, const uring_config& cfg,
                 const std::string& notes);
    ~uring_device() override;

    void submit(io_request& r) noexcept override;
    task<void> drain() override;

    uring_stats stats();
    const uring_config& config() const noexcept { return cfg_; }
    const file_target& target() const noexcept { return *target_; }

  private:
    void on_dma_buffer_free(const dma_region_ref& region) noexcept override;

    std::unique_ptr<file_target> target_;
    uring_config cfg_;
    bool observing_ = false;
    channel_table<uring_channel> channels_;
};

}  // namespace convme::backends

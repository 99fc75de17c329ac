// SPDX-License-Identifier: MIT
// The block_device over one namespace of an NVMe controller: device_info from Identify, one
// io_queue per loop (created on the loop's first I/O, indexed by core id), drain and shutdown.
#pragma once

#include <array>
#include <atomic>
#include <convme/block_device.hpp>
#include <convme/nvme.hpp>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "driver/nvme/controller.hpp"
#include "driver/nvme/dma_mapper.hpp"
#include "driver/nvme/io_queue.hpp"

namespace convme::driver {

class nvme_device final : public block_device {
  public:
    static constexpr unsigned max_loops = 256;  // core ids 0..255

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

    // A loop's first I/O (its queue pair is created here, with synchronous admin commands),
    // forwarding, and every failure. Kept out of line and cold so that submit() is only the slot
    // lookup and the queue's fast path, with no registers saved for this.
    [[gnu::noinline, gnu::cold]] void submit_slow(io_request& r) noexcept;
    // Loops without a queue of their own (the controller granted fewer queues, or fewer interrupt
    // vectors, than there are loops) run their I/O on a loop that has one (nvme_device.cpp).
    void forward(io_request& r) noexcept;
    task<void> relay(io_request* r, loop* from);
    // This loop's queue, created on first use; nullptr with ec set when there is none.
    io_queue* queue_for(loop& l, std::error_code& ec) noexcept;
    static void fail_later(io_request& r, std::error_code ec) noexcept;

    std::unique_ptr<controller> ctrl_;
    dma_mapper mapper_;
    io_queue_params params_;
    std::uint32_t nsid_ = 1;

    std::array<std::atomic<io_queue*>, max_loops> queues_{};
    std::array<std::unique_ptr<io_queue>, max_loops> owned_{};
    std::array<std::atomic<bool>, max_loops> drained_{};
    std::array<std::error_code, max_loops> create_error_{};
    std::array<std::atomic<bool>, max_loops> forwarding_{};  // this core id has no queue
    std::array<std::atomic<std::uint32_t>, max_loops> forwarded_in_flight_{};
    std::atomic<std::uint64_t> forwarded_{0};
    std::atomic<std::uint64_t> drained_irq_sleeps_{0};  // of queues already deleted
    std::atomic<std::uint32_t> next_home_{0};
    std::mutex create_mu_;
};

}  // namespace convme::driver

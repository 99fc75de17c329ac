// SPDX-License-Identifier: MIT
// The NVMe extras of a block_device opened on sim: or vfio: (the user API beyond read/write):
// driver statistics, SMART / health, admin and I/O passthrough, and the controller behind it.
// Counters are summed over the device's I/O queue pairs; read them from a loop thread of the
// device or while it is quiescent (they are plain per-queue counters).
#pragma once

#include <convme/block_device.hpp>
#include <convme/nvme_spec.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>

namespace convme::driver {

class controller;

struct nvme_driver_stats {
    std::uint64_t submitted = 0;             // commands placed on I/O submission queues
    std::uint64_t completed = 0;             // I/O completions reaped
    std::uint64_t doorbell_mmio_writes = 0;  // I/O SQ tail + CQ head register writes
    std::uint64_t shadow_skips = 0;          // doorbell updates that stayed in the shadow buffer
    std::uint64_t split_requests = 0;        // requests split into several commands (MDTS etc.)
    std::uint64_t timeouts = 0;              // commands that exceeded io_timeout
    std::uint64_t aborts_sent = 0;
    std::uint64_t doorbell_kicks = 0;  // doorbells rewritten after a quiet spell with I/O in flight
    std::uint64_t resets = 0;          // controller resets (timeouts, CFS)
    std::uint64_t admin_commands = 0;
    std::uint32_t io_queues = 0;    // live I/O queue pairs
    bool shadow_doorbells = false;  // Doorbell Buffer Config in use
    std::uint32_t page_size = 0;    // controller memory page size (CC.MPS)
    std::uint32_t irq_queues = 0;   // live I/O queues whose CQ signals an MSI-X vector
    std::uint64_t forwarded = 0;    // requests of loops without a queue, run on another loop's
    std::uint64_t irq_sleeps =
        0;  // sleeps on a queue's interrupt (interrupt/hybrid), drained queues included
    // hybrid: the spin window now in force, largest over the live queues (spin_us=auto adapts it)
    std::uint32_t hybrid_window_us = 0;
};

// False if `dev` is not an NVMe (sim or VFIO) device.
bool get_nvme_stats(const block_device& dev, nvme_driver_stats& out) noexcept;

// completion=interrupt|hybrid on vfio: where the queues' MSI-X vectors are delivered
// (irq_affinity=): "irq affinity=loop" before any queue exists, then "irq affinity: steered to loop
// CPUs (vector 1 -> cpu 0)" or "irq affinity not set: <why>"; "" for poll, sim: and non-NVMe
// devices. device_info::name carries the value at open time.
std::string nvme_irq_affinity(block_device& dev);

// The controller behind an NVMe block_device (admin passthrough, identify data), or nullptr.
controller* nvme_controller_of(block_device& dev) noexcept;

// Raw NVMe commands. I/O: sent on the calling loop's queue pair; opcode, nsid, cdw2-3 and
// cdw10-15 as given, the driver sets the command id and builds PRPs for `data` (any memory,
// dword aligned, at most info().max_transfer bytes). Admin: through the admin queue with a DMA
// bounce buffer for `data` (at most two memory pages), copied back after completion.
// The CQE lands in `out`; an error status is also returned as an nvme_category() error_code.
task<std::error_code> nvme_io_passthrough(block_device& dev, nvme::sqe cmd,
                                          std::span<std::byte> data, nvme::cqe& out);
task<std::error_code> nvme_admin_passthrough(block_device& dev, nvme::sqe cmd,
                                             std::span<std::byte> data, nvme::cqe& out);

// SMART / Health log. Errors: not an NVMe device (errc::unsupported), NVMe status, errno.
std::error_code nvme_smart_log(block_device& dev, nvme::smart_log& out) noexcept;

// Reset the controller now (CC.EN=0, wait for CSTS.RDY=0, re-enable, redo the admin setup), as the
// driver does after a timeout or a fatal status. Commands in flight on any loop fail with
// errc::aborted; every loop's queue re-creates itself. Blocks the calling thread; call it from a
// thread that is not one of the device's loops (those must keep running meanwhile). Errors: not an
// NVMe device (errc::unsupported), errc::device_gone, errc::controller_fatal (the reset failed;
// `why`, when given, says where and what to try).
std::error_code nvme_reset(block_device& dev, std::string* why = nullptr) noexcept;

}  // namespace convme::driver

// SPDX-License-Identifier: MIT
// One loop's NVMe I/O queue pair, registered on that loop as a poller. submit() turns io_requests
// into commands (splitting big ones), flush_submissions() rings one doorbell per loop iteration,
// poll() reaps completions and resumes waiters. Preallocated request slots (one per command id,
// each with its own PRP list area): nothing is allocated per I/O.
//
// Failure handling (see also controller.hpp):
//  * NVMe error status: the request fails with make_nvme_error((SCT << 8) | SC); for a split
//    request the first error wins and the remaining parts are not issued.
//  * Flow control: each command holds its command id until its completion, and a completion
//    implies the controller fetched the entry, so SQ entries in use <= ids in use <= depth - 1: the
//    SQ cannot overflow and the CQE SQ Head Pointer is not needed (a controller that reports it
//    late or wrong cannot wedge the queue).
//  * Controller reset (see controller.hpp): the queue learns of it from the generation. If the
//    controller still answered, the generation moved before the reset deleted the I/O queues: the
//    queue acknowledges at once and waits, touching nothing, until the controller is disabled.
//    It then reaps what was posted before, fails the rest, wipes its rings, acknowledges, and
//    re-creates itself when the reset has finished.
//  * Timeout (checked every few hundred polls against a coarse clock): an Abort is sent for the
//    command; if it is still outstanding one timeout later, the controller is reset. After a reset
//    every command that was on the queue fails: the timed-out ones with errc::timeout, the rest
//    with errc::aborted. Nothing is replayed: a write that was never acknowledged may or may not
//    have reached the media, and resubmitting it behind the application's back could reorder it
//    after a later acknowledged write to the same blocks. Requests that were still waiting for a
//    command slot were never sent, so they simply go to the re-created queue.
//  * CSTS.CFS: controller reset as above.
//  * Registers reading all-ones: every request fails with errc::device_gone, and so does every
//    later submission; nothing waits for a controller that is not there.
#pragma once

#include <chrono>
#include <convme/backend.hpp>
#include <convme/loop.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "driver/nvme/cid_pool.hpp"
#include "driver/nvme/controller.hpp"
#include "driver/nvme/dma_block.hpp"
#include "driver/nvme/dma_mapper.hpp"
#include "driver/nvme/prp.hpp"
#include "driver/nvme/queue_pair.hpp"
#include "driver/nvme/spin_window.hpp"
#include "driver/nvme/translation_cache.hpp"

namespace convme::driver {

// What every queue of one namespace needs to build commands.
struct io_queue_params {
    std::uint32_t nsid = 1;
    std::uint32_t lba_shift = 9;
    std::uint32_t depth = 128;
    std::uint32_t max_rw_blocks = 256;    // per read/write command
    std::uint32_t prp_area_bytes = 4096;  // per-slot PRP list / DSM range area
    bool volatile_write_cache = true;
    std::chrono::milliseconds timeout{5000};
    std::uint32_t max_write_zeroes_blocks = 65536;     // WZSL, else the 16-bit NLB
    std::uint32_t max_dsm_range_blocks = 0xffffffffu;  // DMRSL, else the 32-bit range length
    std::uint32_t max_dsm_ranges = 256;                // DMRL
    completion_mode mode = completion_mode::poll;  // interrupt/hybrid: the CQ signals vector qid
    // hybrid: the spin window (spin_window.hpp), adaptive within [floor, hybrid_spin_max] or
    // fixed at hybrid_spin.
    bool hybrid_spin_auto = true;
    std::chrono::microseconds hybrid_spin{100};
    std::chrono::microseconds hybrid_spin_max{1000};
    bool irq_mask_awake = false;  // irq_mask=awake and the device can mask (io_queue_irq.cpp)
};

struct io_queue_counters {
    std::uint64_t split_requests = 0;
    std::uint64_t timeouts = 0;
    std::uint64_t aborts_sent = 0;
    std::uint64_t doorbell_kicks = 0;  // doorbells rewritten after a quiet spell (health_tick)
};

class io_queue final : public poller {
  public:
    io_queue(controller& ctrl, dma_mapper& mapper, const io_queue_params& params, loop& owner);
    ~io_queue() override;
    io_queue(const io_queue&) = delete;
    io_queue& operator=(const io_queue&) = delete;

    // Allocate rings and slot areas, take a queue id, create CQ + SQ. 0 or -errno with why.
    int create(std::string& why);
    // Delete SQ + CQ (if the controller is alive) and release the queue id.
    task<int> destroy_async();
    int destroy_sync();

    loop& owner() const noexcept { return owner_; }
    std::uint64_t owner_id() const noexcept { return owner_id_; }
    std::uint16_t qid() const noexcept { return qid_; }

    void submit(io_request& r) noexcept;
    // Raw command (passthrough): `cmd` as given except cid and, when `data` is non-empty, the
    // PRPs. The CQE is copied to *out before r completes; an error status also sets r.status.
    // 0, -EAGAIN (no free slot now: retry later), or another -errno (nothing submitted).
    int submit_raw(io_request& r, const nvme::sqe& cmd, void* data, std::size_t len,
                   nvme::cqe* out) noexcept;

    bool poll() override;
    std::size_t in_flight() const override { return in_flight_; }
    // With a device that notifies completions (the threaded simulator) the loop may sleep while
    // I/O is in flight; it still wakes every health interval so timeouts are detected.
    std::chrono::microseconds max_block_in_flight() const override {
        return notified_ ? std::chrono::microseconds(std::chrono::milliseconds(health_interval_))
                         : std::chrono::microseconds(0);
    }
    void flush_submissions() override { qp_.ring_sq(); }
    // interrupt / hybrid (io_queue_irq.cpp): runs the health scan, then says whether the loop may
    // sleep now (no completion already waiting, hybrid's spin window over).
    bool prepare_to_block() override;

    bool irq() const noexcept { return irq_; }
    std::uint64_t irq_sleeps() const noexcept { return irq_sleeps_; }
    const spin_window& hybrid_window() const noexcept { return spin_; }

    // recover()'s re-creations after a reset, each after one more reset when the last failed.
    static constexpr unsigned max_recreate_attempts = 3;

    const queue_counters& counters() const noexcept { return qp_.counters(); }
    const io_queue_counters& io_counters() const noexcept { return io_counters_; }

  private:
    struct slot {
        io_request* req = nullptr;
        std::uint32_t stamp = 0;  // health-scan epoch when issued (or when the abort was sent)
        std::uint8_t flags = 0;
    };
    static constexpr std::uint8_t slot_abort_sent = 1;
    static constexpr std::uint8_t slot_timed_out = 2;
    static constexpr std::uint8_t slot_raw =
        4;  // passthrough: io_request::context points at the cqe
    // One command of a request that takes more than one (a part of a split, or issued after its
    // first part): flags 0 therefore means the command carries its whole request (outstanding 1,
    // issue_done), which is what poll()'s fast path needs to know. Its completion takes the
    // walk's copying branch (on_error_cqe() clears the flag like the others).
    static constexpr std::uint8_t slot_part = 8;

    // Per request: io_request::progress = blocks issued, outstanding = commands on the queue,
    // issue_done = no more commands will be issued; it completes when both say so.

    // The common case in one step: a read or write that fits one command with PRP1 only (within
    // one memory page), a free command id, nothing waiting ahead of it, its translation cached.
    // False (and r untouched) otherwise: submit_general() handles everything.
    bool issue_single(io_request& r) noexcept;
    // Everything else (splits, flush, write zeroes, trim, PRP lists, unmapped memory, no free id,
    // a failed controller), out of line so the fast path saves no registers for it.
    [[gnu::noinline]] void submit_general(io_request& r) noexcept;
    bool issue(io_request& r) noexcept;
    bool fill_command(io_request& r, std::uint64_t unit, std::uint64_t units, std::uint16_t cid,
                      nvme::sqe& e, std::uint64_t& part) noexcept;
    // fill_command()'s read/write (PRPs) and deallocate (DSM ranges) parts.
    bool fill_read_write(io_request& r, std::uint64_t unit, std::uint64_t left, std::uint16_t cid,
                         nvme::sqe& e, std::uint64_t& part) noexcept;
    void fill_deallocate(std::uint64_t slba, std::uint64_t left, std::uint16_t cid, nvme::sqe& e,
                         std::uint64_t& part) noexcept;
    void issue_pending() noexcept;
    void part_done(io_request& r) noexcept;
    void finish(io_request& r) noexcept;
    void run_deferred() noexcept;
    // Returns false when the command id must not be reused yet (an Abort naming it is pending).
    bool on_error_cqe(const nvme::cqe& c, slot& s, io_request& r) noexcept;

    // interrupt / hybrid: bind vector qid_ to the owner loop's eventfd (io_queue_irq.cpp).
    int setup_irq(std::string& why) noexcept;
    // hybrid: true while the spin window since the last event seen here is still open.
    bool keep_spinning() noexcept;
    // Submissions + completions so far: hybrid's spin restarts when this moves.
    std::uint64_t spin_events() const noexcept {
        return qp_.counters().submitted + qp_.counters().completed;
    }
    // irq_mask=awake: mask vector qid_ while the loop stays awake, unmask before it sleeps.
    void set_irq_masked(bool masked) noexcept;
    // create()'s last step: Create I/O CQ + SQ, then completion notification where the device has
    // it.
    int create_on_controller(std::string& why);
    int irq_vector() const noexcept { return irq_ ? static_cast<int>(qid_) : -1; }

    void health_tick() noexcept;
    // Every health_polls_ polls with I/O in flight: health_tick(), or in interrupt/hybrid mode
    // (whose scan runs before each sleep) the mask of the vector while the loop is awake.
    void health_poll() noexcept;
    // A command timed out: what the host believes about this queue, on stderr (io_queue_diag.cpp).
    void dump_stuck(std::uint16_t first_cid) noexcept;
    void kick_if_quiet() noexcept;
    void reset_controller() noexcept;
    void recover() noexcept;
    bool unpark_unless_reset() noexcept;
    void fail_on_queue(std::error_code timed_out, std::error_code others) noexcept;
    void fail_everything(std::error_code ec) noexcept;
    // poll() when its fast path (no completion, or exactly one plain one) does not apply: the
    // CQ walk, recovery, pending and deferred requests, the health check. Out of line, so that the
    // fast path saves no registers.
    [[gnu::noinline]] bool poll_general() noexcept;
    // poll() without the SQ doorbell of what it issued.
    bool reap_and_progress() noexcept;
    // Completion of one CQE: in place in the ring with its status (poll()), or a copy (leftovers
    // in recover()).
    void on_cqe_in_place(const nvme::cqe& entry, std::uint16_t status) noexcept;
    void on_cqe(const nvme::cqe& c) noexcept;
    std::uint32_t now_ms() const noexcept;

    controller& ctrl_;
    dma_mapper& mapper_;
    io_queue_params p_;
    loop& owner_;
    std::uint64_t owner_id_;
    pci_device& dev_;

    queue_pair qp_;
    translation_cache xlat_;
    cid_pool cids_;
    std::vector<slot> slots_;
    std::vector<prp_list_segment> prp_areas_;
    dma_block sq_mem_, cq_mem_;
    std::vector<dma_block> prp_mem_;
    std::uint16_t qid_ = 0;
    std::size_t page_size_ = 4096;
    std::uint32_t generation_ = 0;
    bool created_ = false;
    // Ring / PRP memory the controller may still use (a Create or Delete that did not complete):
    // handed to the controller at destruction, freed once it has been disabled.
    bool dma_unsafe_ = false;
    queue_link link_;
    bool notified_ = false;  // the device wakes owner_ when it posts to our CQ
    bool irq_ = false;       // ... through MSI-X vector qid_ bound to owner_.notify_fd()
    // hybrid (io_queue_irq.cpp): submitted+completed and completed when prepare_to_block() last
    // saw them change, and when; the window those waits feed.
    std::uint64_t spin_seen_ = ~std::uint64_t(0);
    // prepare_to_block() calls left before hybrid's spin reads the clock again (io_queue_irq.cpp).
    static constexpr std::uint32_t spin_clock_stride = 16;
    static constexpr std::chrono::microseconds spin_stride_min_window{20};
    std::uint32_t spin_checks_left_ = 0;
    std::uint64_t spin_completed_ = 0;
    std::chrono::steady_clock::time_point spin_start_{};
    spin_window spin_;
    std::uint64_t irq_sleeps_ = 0;
    bool irq_masked_ = false;   // irq_mask=awake: vector qid_ is masked now (the loop is awake)
    std::error_code failed_{};  // set: the queue is unusable, every request fails with this

    request_fifo pending_;   // waiting for a command id or SQ room, in submission order
    request_fifo deferred_;  // finished outside poll()'s reap (errors, nothing to issue): completed
                             // next poll
    std::size_t in_flight_ = 0;

    // Timeouts without a clock read per I/O: commands are stamped with the scan epoch, which
    // advances once per health scan (at most every health_interval_ ms, checked every 256 polls).
    // Polls between health checks: 256 when the loop polls nonstop; 1 when the loop may sleep
    // with I/O in flight (notified_), so that a wake-up every health interval is enough.
    std::uint32_t health_polls_ = 256;
    // Polls left until the next check: a countdown is one decrement and test per poll (a counter
    // and mask were a load, add, store and masked test).
    std::uint32_t polls_to_health_ = 256;
    std::uint32_t scan_epoch_ = 0;
    std::uint32_t timeout_epochs_ = 1;
    std::uint32_t last_health_ = 0;
    std::uint32_t health_interval_ = 100;
    std::chrono::steady_clock::time_point epoch_;
    admin_waiter abort_waiter_;
    bool abort_pending_ = false;
    // The command the pending Abort names completed on its own: its id is held back until the
    // Abort finished, so the Abort cannot hit a new command that reused the id.
    std::uint16_t abort_cid_ = 0;
    bool abort_cid_held_ = false;

    io_queue_counters io_counters_;
    std::uint64_t completed_at_last_tick_ = 0;
    std::uint32_t quiet_ticks_ = 0;  // health ticks in a row with I/O in flight and no completion
    std::uint32_t dumps_ = 0;        // dump_stuck() calls (a few per queue at most)
};

// Inline, so that nvme_device::submit() runs the common case without a call: the command
// fill_command() builds for a read or write of one command with PRP1 only, built directly.
// Anything this does not handle returns false with r untouched.
[[gnu::always_inline]] inline bool io_queue::issue_single(io_request& r) noexcept {
    const auto va = reinterpret_cast<std::uintptr_t>(r.data);
    const std::uint64_t blocks = r.length >> p_.lba_shift;
    // blocks - 1 wraps for a request shorter than a block: the general path handles it.
    if (r.op > io_op::write || failed_ || r.status || !pending_.empty() || cids_.empty() ||
        (va & (page_size_ - 1)) + r.length > page_size_ || blocks - 1 >= p_.max_rw_blocks)
        return false;
    // A cached translation only: a miss (a lock and a search, or a first mapping) is left to the
    // general path, so this path makes no call and saves no registers.
    std::uint64_t iova;
    if (!xlat_.lookup(r.data, iova)) [[unlikely]]
        return false;
    const std::uint16_t cid = cids_.pop();
    const std::uint64_t slba = r.offset >> p_.lba_shift;
    // The tail is advanced now; the entry is published by the next ring_sq().
    nvme::sqe& e = *qp_.claim_sqe();
    std::memset(static_cast<void*>(&e), 0, sizeof e);
    e.opcode = r.op == io_op::read ? nvme::io_opcode::read : nvme::io_opcode::write;
    e.cid = cid;
    e.nsid = p_.nsid;
    e.prp1 = iova;
    e.cdw10 = static_cast<std::uint32_t>(slba);
    e.cdw11 = static_cast<std::uint32_t>(slba >> 32);
    e.cdw12 = static_cast<std::uint32_t>(blocks - 1);
    // flags stay as they are: a free slot's flags are 0 (every completion and fail_on_queue()
    // clear them), and issue() writes the same 0 for a command that carries its whole request.
    slot& s = slots_[cid];
    s.req = &r;
    s.stamp = scan_epoch_;
    // No r.progress (blocks issued): only issue() reads it, for a request waiting in pending_,
    // which a request issued here never is.
    r.outstanding = 1;
    r.issue_done = true;
    return true;
}

[[gnu::always_inline]] inline void io_queue::submit(io_request& r) noexcept {
    ++in_flight_;
    if (issue_single(r)) [[likely]]
        return;
    submit_general(r);
}

}  // namespace convme::driver

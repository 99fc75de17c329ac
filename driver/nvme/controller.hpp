// SPDX-License-Identifier: MIT
// An NVMe controller behind a pci_device: bring-up (reset, admin queue, identify, queue count,
// shadow doorbells), the admin queue (synchronous for bring-up, polled-async for coroutines),
// I/O queue creation/deletion, recovery (controller reset) and graceful shutdown.
//
// Thread safety: admin commands may be issued from any thread (one mutex guards the admin queue);
// I/O queue pairs are owned by their loop and only learn about a reset through generation().
//
// Reset ordering (NVMe 3.7.2 / what Linux's nvme-pci does): CC.EN=0, wait for CSTS.RDY=0 (CAP.TO);
// only then is generation() bumped, so a queue that sees the new generation knows the controller
// no longer fetches from its SQ or posts into its CQ: it reaps what was posted, fails the rest,
// wipes its rings and acknowledges (queue_link). The reset waits for every attached queue's
// acknowledgement (or its parking) before it re-enables the controller, so no queue rings a
// doorbell of a queue the re-enabled controller does not have; queues re-create themselves after
// the reset finished (create_io_queue_pair takes the admin lock the reset holds throughout).
#pragma once

#include <atomic>
#include <chrono>
#include <convme/nvme_spec.hpp>
#include <convme/task.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "driver/nvme/cid_pool.hpp"
#include "driver/nvme/dma_block.hpp"
#include "driver/nvme/doorbell.hpp"
#include "driver/nvme/nvme_block_device.hpp"
#include "driver/nvme/pci_device.hpp"
#include "driver/nvme/queue_pair.hpp"

namespace convme {
class loop;
}

namespace convme::driver {

// An I/O queue's side of the reset handshake (see the top of this file).
struct queue_link {
    loop* owner = nullptr;                // woken by a reset so that it polls and acknowledges
    std::atomic<std::uint32_t> acked{0};  // last generation whose reset this queue has absorbed
    // The queue is inside a controller call (or dead) and touches neither rings nor doorbells
    // until it has compared generations again: a reset need not wait for it.
    std::atomic<bool> parked{false};
};

// What create_io_queue_pair hands back, read under the admin lock: the generation the queue was
// created in and its doorbells (shadowed iff Doorbell Buffer Config is active in that generation).
struct created_queue {
    std::uint32_t generation = 0;
    doorbell sq_db, cq_db;
};

// Where an admin command's completion lands. `done` is set (release) by whichever thread reaps it.
struct admin_waiter {
    std::atomic<bool> done{false};
    nvme::cqe cqe{};
    int result = 0;  // 0: cqe valid; -ECANCELED: lost in a controller reset; -ENODEV: device gone
};

struct controller_counters {
    std::atomic<std::uint64_t> resets{0};
    std::atomic<std::uint64_t> aborts_sent{0};
    std::atomic<std::uint64_t> admin_commands{0};
    std::atomic<std::uint64_t> admin_timeouts{0};
    std::atomic<std::uint64_t> quiesce_timeouts{0};  // a queue did not acknowledge a reset in time
    // Resets of a live controller that deleted its I/O queues before CC.EN=0, and the queues so
    // deleted (Delete SQ + Delete CQ both answered with success).
    std::atomic<std::uint64_t> resets_deleting_queues{0};
    std::atomic<std::uint64_t> queues_deleted_by_reset{0};
};

// "sct=0x0 sc=0x02 (Invalid Field in Command)".
std::string describe_nvme_status(std::uint16_t status_with_phase);
// Why an admin command failed: its NVMe status when it has one, else the errno's text.
std::string describe_admin_failure(int rc, const nvme::cqe& completion);

class controller {
  public:
    controller(std::unique_ptr<pci_device> dev, const nvme_options& options);
    ~controller();
    controller(const controller&) = delete;
    controller& operator=(const controller&) = delete;

    // Reset, admin queue, enable, Identify Controller + active namespaces, Number of Queues,
    // Doorbell Buffer Config. 0 or -errno with `why` naming the step and a fix.
    int bring_up(std::string& why);

    pci_device& dev() noexcept { return *dev_; }
    const nvme_options& options() const noexcept { return opts_; }
    nvme::cap_fields cap() const noexcept { return cap_; }
    std::uint32_t version() const noexcept { return vs_; }
    std::size_t page_size() const noexcept { return page_size_; }  // controller MPS in bytes
    const nvme::identify_controller& identity() const noexcept { return *id_ctrl_; }
    const std::vector<std::uint32_t>& active_namespaces() const noexcept { return namespaces_; }
    std::uint32_t io_queues_granted() const noexcept { return io_queues_; }
    bool shadow_doorbells() const noexcept { return dbbc_active_.load(std::memory_order_acquire); }
    std::uint32_t max_queue_entries() const noexcept { return cap_.mqes() + 1; }
    // From Identify MDTS; 0 = controller states no limit.
    std::uint64_t mdts_bytes() const noexcept;

    int identify_namespace(std::uint32_t nsid, nvme::identify_namespace& out, std::string& why);
    // The namespace's I/O Command Set (CSI of its Namespace Identification Descriptors; NVM when
    // the controller predates them or reports none). 0 or -errno with why.
    int namespace_csi(std::uint32_t nsid, std::uint8_t& csi, std::string& why);
    // NVM Command Set specific Identify Controller (WZSL, DMRL, DMRSL); zeroed when unsupported.
    const nvme::identify_controller_nvm& identity_nvm() const noexcept { return *id_ctrl_nvm_; }
    // SMART / Health Information (global). 0 or -errno (-EIO: NVMe error status, see last_status).
    int get_smart_log(nvme::smart_log& out);
    int get_log_page(std::uint32_t lid, void* out, std::uint32_t bytes);

    // ---- admin queue
    // Raw admin passthrough, synchronous. The command id and (for data commands) PRPs are the
    // caller's business except the id, which is assigned here. Returns 0, -EIO (error status in
    // out.status), -ETIMEDOUT, -ENODEV (device gone), -ECANCELED (reset while waiting).
    // `dma`: the DMA memory the command points at. If the command times out, that memory (moved
    // out of the caller's blocks) and the command id stay with the controller until the late
    // completion arrives or a reset has disabled the controller, so a late DMA cannot land in
    // memory that was freed and handed to someone else.
    int admin_sync(const nvme::sqe& cmd, nvme::cqe& out, std::chrono::milliseconds timeout,
                   std::span<dma_block> dma = {});
    int admin_sync(const nvme::sqe& cmd, nvme::cqe& out) {
        return admin_sync(cmd, out, opts_.admin_timeout);
    }
    // Same, from a coroutine: polls the admin queue between co_await yield()s, never blocks.
    task<int> admin_async(nvme::sqe cmd, nvme::cqe& out, std::span<dma_block> dma = {});
    // Low level: queue + ring now; the completion goes to `w`. -EAGAIN when the admin queue is
    // full.
    int admin_submit(const nvme::sqe& cmd, admin_waiter& w) noexcept;
    // Reap admin completions if no other thread is doing it. Returns true if any were reaped.
    bool admin_poll() noexcept;
    // Stop delivering to `w` (its owner gives up waiting). The command id stays busy until the
    // controller answers or is reset.
    void admin_forget(admin_waiter& w) noexcept;
    // Same, handing over the DMA memory the command uses (kept until its completion or a reset).
    void admin_forget(admin_waiter& w, std::span<dma_block> dma) noexcept;
    std::uint16_t last_status() const noexcept { return last_status_; }

    // ---- I/O queues
    int acquire_qid(std::uint16_t& qid) noexcept;
    void release_qid(std::uint16_t qid) noexcept;
    doorbell sq_doorbell(std::uint16_t qid) noexcept;
    doorbell cq_doorbell(std::uint16_t qid) noexcept;
    // Create CQ then SQ (contiguous; the CQ polled, or with irq_vector >= 0 signalling that MSI-X
    // vector: IEN=1, IV=irq_vector) under one hold of the admin lock, attach `link` to
    // the reset handshake, and report the generation and doorbells. 0 or -errno with why.
    int create_io_queue_pair(std::uint16_t qid, std::uint32_t depth, std::uint64_t sq_iova,
                             std::uint64_t cq_iova, queue_link& link, created_queue& out,
                             std::string& why, int irq_vector = -1);
    void detach(queue_link& link) noexcept;
    // Keeps DMA memory a queue could not prove unused (its Delete SQ/CQ failed) until the
    // controller has been disabled (next reset, or destruction).
    void retire(std::vector<dma_block> blocks) noexcept;
    // Interrupt coalescing as configured (nvme_options::coalesce_*): "" when not asked for, else
    // "coalescing thr=N time=Tus" or why the controller refused it.
    const std::string& coalescing() const noexcept { return coalescing_; }
    int delete_io_queue_pair(std::uint16_t qid);
    task<int> delete_io_queue_pair_async(std::uint16_t qid);

    // ---- health and recovery
    // Bumped by every controller reset: queue pairs compare it to re-create themselves.
    std::uint32_t generation() const noexcept {
        return generation_.load(std::memory_order_acquire);
    }
    bool gone() const noexcept { return gone_.load(std::memory_order_relaxed); }
    // A reset failed: the controller is unusable until the device is reopened.
    bool broken() const noexcept { return broken_.load(std::memory_order_relaxed); }
    // Reads CSTS: 0 healthy, -ENODEV all-ones (device gone, latched), -EIO fatal status (CFS).
    int check_health() noexcept;
    // Disable, re-enable, redo admin setup, queue count and shadow doorbells. In-flight admin
    // commands get -ECANCELED; I/O queue pairs notice the new generation and re-create themselves.
    // `seen_generation`: the generation the caller saw when it decided to reset; if another thread
    // already reset since, this returns 0 without resetting again.
    //
    // Order (Linux's nvme_dev_disable for a controller that still answers): when CSTS.RDY=1 and
    // CFS=0, the generation moves first and every attached queue acknowledges (it then touches
    // neither rings nor doorbells, see wait_disabled), then every I/O SQ and CQ is deleted, then
    // CC.EN=0. A controller that does not answer (RDY=0, CFS=1, a failed Delete) is disabled with
    // whatever queues it still has. Either way a queue wipes its rings only once the controller
    // reported CSTS.RDY=0.
    int reset(std::uint32_t seen_generation, std::string& why);
    // For a queue that saw generation `gen`: true once the reset that moved the generation there
    // has disabled the controller (or given up on it: broken, gone).
    bool disabled_since(std::uint32_t gen) const noexcept {
        return static_cast<std::int32_t>(disabled_gen_.load(std::memory_order_acquire) - gen) >=
                   0 ||
               broken() || gone();
    }
    // Blocks until disabled_since(gen). The caller has acknowledged `gen` and touches nothing of
    // its queue meanwhile; the reset in progress deletes the queues and disables.
    void wait_disabled(std::uint32_t gen) noexcept;
    // The reset that moved the generation to `gen` deleted the I/O queues before disabling: error
    // completions found in a queue's CQ afterwards are that deletion's aborts (QEMU 7.2 reports a
    // cancelled read as Unrecovered Read Error), not the commands' own failures.
    bool queues_deleted_in(std::uint32_t gen) const noexcept {
        return deleted_gen_.load(std::memory_order_acquire) == gen;
    }
    // CC.SHN = normal, wait for CSTS.SHST = complete (RTD3E, clamped to 5..60 s). Idempotent.
    int shutdown(std::string& why);
    // CC.EN=0 and wait for CSTS.RDY=0: no DMA after this returns 0. Used before memory the
    // controller was given (rings, buffers) is released at teardown.
    int disable(std::string& why);
    std::chrono::milliseconds shutdown_timeout() const noexcept;
    void mark_gone() noexcept;

    controller_counters& counters() noexcept { return counters_; }

  private:
    static constexpr unsigned max_enable_attempts = 3;  // per reset, when CSTS.CFS interrupts it

    // bring_up()'s steps.
    int read_capabilities(std::string& why);
    int choose_page_size(std::string& why);
    int allocate_admin_queue(std::string& why);
    int identify_locked(std::string& why);
    void plan_doorbell_buffer_locked();

    doorbell doorbell_at(std::uint32_t offset, std::uint16_t qid) noexcept;
    int disable_locked(std::string& why);
    // False when a queue did not acknowledge within 2 s (counted in quiesce_timeouts).
    bool quiesce_queues_locked(std::uint32_t generation) noexcept;
    // CSTS.RDY=1 and CFS=0: the controller answers admin commands.
    bool live_locked() noexcept;
    // Delete SQ for every I/O queue created, then Delete CQ; stops at the first that fails.
    void delete_io_queues_locked() noexcept;
    void set_queue_live(std::uint16_t qid, bool live) noexcept;
    void release_orphans_locked() noexcept;
    int enable_locked(std::string& why);
    int configure_locked(std::string& why);
    int wait_ready(bool ready, std::string& why);
    int admin_submit_locked(const nvme::sqe& cmd, admin_waiter* w) noexcept;
    void admin_reap_locked() noexcept;
    int admin_sync_locked(const nvme::sqe& cmd, nvme::cqe& out, std::chrono::milliseconds timeout,
                          std::span<dma_block> dma = {});
    int admin_submit_locked(const nvme::sqe& cmd, admin_waiter* w, std::uint16_t& cid) noexcept;
    void cancel_admin_waiters_locked(int result) noexcept;
    void setup_shadow_admin_locked() noexcept;
    std::uint32_t read_reg(std::uint32_t off) noexcept;

    std::unique_ptr<pci_device> dev_;
    nvme_options opts_;
    nvme::cap_fields cap_{0};
    std::uint32_t vs_ = 0;
    std::uint32_t dstrd_ = 0;
    std::uint32_t mps_ = 0;  // CC.MPS value
    std::size_t page_size_ = 4096;
    std::chrono::milliseconds ready_timeout_{500};

    std::mutex admin_mu_;
    queue_pair admin_qp_;
    dma_block admin_sq_mem_, admin_cq_mem_;
    std::uint32_t admin_depth_ = 32;
    cid_pool admin_cids_;
    std::vector<admin_waiter*> admin_waiters_;  // by cid; nullptr = none / forgotten
    std::vector<bool> admin_busy_;
    // DMA memory of timed-out admin commands, by command id: freed when the late completion
    // arrives or after a reset disabled the controller.
    std::vector<std::vector<dma_block>> admin_orphans_;
    std::vector<std::vector<dma_block>> retired_;  // see retire()
    std::uint16_t last_status_ = 0;

    std::unique_ptr<nvme::identify_controller> id_ctrl_;
    std::unique_ptr<nvme::identify_controller_nvm> id_ctrl_nvm_;
    std::vector<std::uint32_t> namespaces_;
    std::uint32_t io_queues_ = 0;

    bool dbbc_wanted_ = false;
    std::atomic<bool> dbbc_active_{
        false};  // written under admin_mu_; read there (doorbells) or as a hint
    dma_block shadow_mem_, eventidx_mem_;
    std::string coalescing_;

    std::mutex qid_mu_;
    std::vector<bool> qid_used_;
    std::vector<bool> qid_live_;  // created on the controller, not deleted yet (under qid_mu_)

    std::mutex links_mu_;  // after admin_mu_ when both are held
    std::vector<queue_link*> links_;

    std::atomic<std::uint32_t> generation_{0};
    std::atomic<std::uint32_t> disabled_gen_{0};   // see disabled_since()
    std::atomic<std::uint32_t> deleted_gen_{~0u};  // see queues_deleted_in()
    std::atomic<bool> gone_{false};
    std::atomic<bool> broken_{false};
    bool enabled_ = false;
    bool shut_down_ = false;
    controller_counters counters_;
};

}  // namespace convme::driver

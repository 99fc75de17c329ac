// An NVMe controller behind a pci_device: bring-up (reset, admin queue, identify, queue count,
// shadow doorbells), the admin queue (synchronous for bring-up, polled-async for coroutines),
// I/O queue creation/deletion, recovery (controller reset) and graceful shutdown.
//
// Thread safety: admin commands may be issued from any thread (one mutex guards the admin queue);
// I/O queue pairs are owned by their loop and only learn about a reset through generation().
#pragma once

#include "driver/nvme/cid_pool.hpp"
#include "driver/nvme/dma_block.hpp"
#include "driver/nvme/doorbell.hpp"
#include "driver/nvme/nvme_block_device.hpp"
#include <convme/nvme_spec.hpp>
#include "driver/nvme/pci_device.hpp"
#include "driver/nvme/queue_pair.hpp"

#include <convme/task.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace convme::driver {

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
};

// "sct=0x0 sc=0x02 (Invalid Field in Command)".
std::string describe_nvme_status(std::uint16_t status_with_phase);

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
    std::size_t page_size() const noexcept { return page_size_; }      // controller MPS in bytes
    const nvme::identify_controller& identity() const noexcept { return *id_ctrl_; }
    const std::vector<std::uint32_t>& active_namespaces() const noexcept { return namespaces_; }
    std::uint32_t io_queues_granted() const noexcept { return io_queues_; }
    bool shadow_doorbells() const noexcept { return dbbc_active_; }
    std::uint32_t max_queue_entries() const noexcept { return cap_.mqes() + 1; }
    // From Identify MDTS; 0 = controller states no limit.
    std::uint64_t mdts_bytes() const noexcept;

    int identify_namespace(std::uint32_t nsid, nvme::identify_namespace& out, std::string& why);
    // SMART / Health Information (global). 0 or -errno (-EIO: NVMe error status, see last_status).
    int get_smart_log(nvme::smart_log& out);
    int get_log_page(std::uint32_t lid, void* out, std::uint32_t bytes);

    // ---- admin queue
    // Raw admin passthrough, synchronous. The command id and (for data commands) PRPs are the
    // caller's business except the id, which is assigned here. Returns 0, -EIO (error status in
    // out.status), -ETIMEDOUT, -ENODEV (device gone), -ECANCELED (reset while waiting).
    int admin_sync(const nvme::sqe& cmd, nvme::cqe& out, std::chrono::milliseconds timeout);
    int admin_sync(const nvme::sqe& cmd, nvme::cqe& out) { return admin_sync(cmd, out, opts_.admin_timeout); }
    // Same, from a coroutine: polls the admin queue between co_await yield()s, never blocks.
    task<int> admin_async(nvme::sqe cmd, nvme::cqe& out);
    // Low level: queue + ring now; the completion goes to `w`. -EAGAIN when the admin queue is full.
    int admin_submit(const nvme::sqe& cmd, admin_waiter& w) noexcept;
    // Reap admin completions if no other thread is doing it. Returns true if any were reaped.
    bool admin_poll() noexcept;
    // Stop delivering to `w` (its owner gives up waiting). The command id stays busy until the
    // controller answers or is reset.
    void admin_forget(admin_waiter& w) noexcept;
    std::uint16_t last_status() const noexcept { return last_status_; }

    // ---- I/O queues
    int acquire_qid(std::uint16_t& qid) noexcept;
    void release_qid(std::uint16_t qid) noexcept;
    doorbell sq_doorbell(std::uint16_t qid) noexcept;
    doorbell cq_doorbell(std::uint16_t qid) noexcept;
    // Create CQ then SQ (contiguous; the CQ polled, or with irq_vector >= 0 signalling that MSI-X
    // vector: IEN=1, IV=irq_vector). 0 or -errno with why.
    int create_io_queue_pair(std::uint16_t qid, std::uint32_t depth, std::uint64_t sq_iova,
                             std::uint64_t cq_iova, std::string& why, int irq_vector = -1);
    // Interrupt coalescing as configured (nvme_options::coalesce_*): "" when not asked for, else
    // "coalescing thr=N time=Tus" or why the controller refused it.
    const std::string& coalescing() const noexcept { return coalescing_; }
    int delete_io_queue_pair(std::uint16_t qid);
    task<int> delete_io_queue_pair_async(std::uint16_t qid);

    // ---- health and recovery
    // Bumped by every controller reset: queue pairs compare it to re-create themselves.
    std::uint32_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
    bool gone() const noexcept { return gone_.load(std::memory_order_relaxed); }
    // A reset failed: the controller is unusable until the device is reopened.
    bool broken() const noexcept { return broken_.load(std::memory_order_relaxed); }
    // Reads CSTS: 0 healthy, -ENODEV all-ones (device gone, latched), -EIO fatal status (CFS).
    int check_health() noexcept;
    // Disable, re-enable, redo admin setup, queue count and shadow doorbells. In-flight admin
    // commands get -ECANCELED; I/O queue pairs notice the new generation and re-create themselves.
    // `seen_generation`: the generation the caller saw when it decided to reset; if another thread
    // already reset since, this returns 0 without resetting again.
    int reset(std::uint32_t seen_generation, std::string& why);
    // CC.SHN = normal, wait for CSTS.SHST = complete. Idempotent.
    int shutdown(std::string& why);
    void mark_gone() noexcept;

    controller_counters& counters() noexcept { return counters_; }

private:
    doorbell doorbell_at(std::uint32_t offset, std::uint16_t qid) noexcept;
    int enable_locked(std::string& why);
    int configure_locked(std::string& why);
    int wait_ready(bool ready, std::string& why);
    int admin_submit_locked(const nvme::sqe& cmd, admin_waiter* w) noexcept;
    void admin_reap_locked() noexcept;
    int admin_sync_locked(const nvme::sqe& cmd, nvme::cqe& out, std::chrono::milliseconds timeout);
    void cancel_admin_waiters_locked(int result) noexcept;
    void setup_shadow_admin_locked() noexcept;
    std::uint32_t read_reg(std::uint32_t off) noexcept;

    std::unique_ptr<pci_device> dev_;
    nvme_options opts_;
    nvme::cap_fields cap_{0};
    std::uint32_t vs_ = 0;
    std::uint32_t dstrd_ = 0;
    std::uint32_t mps_ = 0;           // CC.MPS value
    std::size_t page_size_ = 4096;
    std::chrono::milliseconds ready_timeout_{500};

    std::mutex admin_mu_;
    queue_pair admin_qp_;
    dma_block admin_sq_mem_, admin_cq_mem_;
    std::uint32_t admin_depth_ = 32;
    cid_pool admin_cids_;
    std::vector<admin_waiter*> admin_waiters_;   // by cid; nullptr = none / forgotten
    std::vector<bool> admin_busy_;
    std::uint16_t last_status_ = 0;

    std::unique_ptr<nvme::identify_controller> id_ctrl_;
    std::vector<std::uint32_t> namespaces_;
    std::uint32_t io_queues_ = 0;

    bool dbbc_wanted_ = false;
    bool dbbc_active_ = false;
    dma_block shadow_mem_, eventidx_mem_;
    std::string coalescing_;

    std::mutex qid_mu_;
    std::vector<bool> qid_used_;

    std::atomic<std::uint32_t> generation_{0};
    std::atomic<bool> gone_{false};
    std::atomic<bool> broken_{false};
    bool enabled_ = false;
    bool shut_down_ = false;
    controller_counters counters_;
};

}  // namespace convme::driver

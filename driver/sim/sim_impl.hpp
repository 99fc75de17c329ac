// SPDX-License-Identifier: MIT
// Internal state of the simulated controller, shared by sim_controller.cpp (registers, doorbells,
// queues, completion posting), sim_admin.cpp and sim_io.cpp (command execution).
// Everything below `mu` is touched only with `mu` held (the device thread or step()).
#pragma once

#include <atomic>
#include <chrono>
#include <convme/nvme_spec.hpp>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "driver/sim/sim_controller.hpp"
#include "driver/sim/sim_doze.hpp"
#include "driver/sim/sim_iova.hpp"
#include "driver/sim/sim_media.hpp"
#include "driver/sim/sim_prp.hpp"

namespace convme::sim {

using clock_type = std::chrono::steady_clock;

struct sq_state {
    bool live = false;
    std::uint16_t cqid = 0;
    std::uint32_t size = 0;     // entries
    std::uint64_t base = 0;     // IOVA
    nvme::sqe* ring = nullptr;  // host view of the ring (resolved at creation)
    std::uint32_t head = 0, tail = 0;
    std::uint32_t outstanding = 0;         // fetched, completion not yet posted
    bool shadow = false;                   // tail comes from the shadow doorbell buffer
    std::uint64_t fetched = 0;             // commands fetched since creation (SQ head lag model)
    std::uint64_t eventidx_publishes = 0;  // forget_eventidx_every's count
};

struct completion {
    std::uint16_t sqid, cid, status;
    std::uint32_t dw0;
};

struct cq_state {
    bool live = false;
    std::uint32_t size = 0;
    std::uint64_t base = 0;
    nvme::cqe* ring = nullptr;
    std::uint32_t head = 0, tail = 0;
    bool phase = true;
    std::uint32_t sq_refs = 0;  // SQs completing here (deletion order check)
    bool shadow = false;
    std::deque<completion> ready;  // executed, waiting for room in the ring
    std::uint32_t posted = 0;      // entries posted so far (wraps; compared for change only)
    bool ien = false;              // Create I/O CQ CDW11.IEN: signal vector `iv` after posting
    std::uint16_t iv = 0;
    std::uint32_t irq_seen = 0;  // `posted` when vector iv was last signalled
};

// A completion "interrupt" the host armed for one CQ (survives controller resets, like an MSI-X
// vector, which lives in PCI config space). Called on the device thread after new entries.
struct cq_notifier {
    void (*fn)(void*) = nullptr;
    void* ctx = nullptr;
    std::uint32_t seen = 0;  // cq_state::posted when fn was last called
};

// A fetched I/O command waiting for its completion time (latency model).
struct delayed_cmd {
    clock_type::time_point due;
    std::uint16_t sqid;
    nvme::sqe cmd;
    bool has_fault = false;  // fault to apply at execution time
    fault hit{};
    bool abortable = true;  // false: a late_completion (Abort answers "not aborted")
};

struct error_entry {
    std::uint64_t count;
    std::uint16_t sqid, cid, status;
    std::uint64_t lba;
    std::uint32_t nsid;
};

struct namespace_layout {
    std::uint64_t base;  // byte offset in the media
    std::uint64_t blocks;
    std::uint32_t lba_shift;
    std::uint16_t ms = 0;
    bool extended = false;
    std::uint8_t csi = 0;
    std::uint64_t zone_blocks = 0;
    std::vector<std::uint64_t> write_pointer;  // zoned: per zone, next writable block
};

struct simulated_controller::impl {
    explicit impl(controller_config c);
    ~impl();

    // ---- immutable after construction
    controller_config cfg;
    std::vector<namespace_layout> ns;
    std::uint32_t stride_bytes;  // doorbell stride, 4 << DSTRD
    std::size_t bar_bytes;
    std::uint32_t* bar;  // BAR0 registers + doorbells (page aligned)
    std::string display_name;
    iova_space iova;

    std::atomic<bool> removed{false};
    std::atomic<bool> stop_thread{false};
    std::thread device_thread;
    // The device thread sleeps here when idle; doorbell writes (trapped by sim_pci_device) wake it.
    doze_gate doze;
    // CPU the host last rang a doorbell from (-1: none yet). A device thread on that same CPU
    // dozes at once instead of spinning: the host cannot ring while we hold its CPU.
    std::atomic<int> host_cpu{-1};

    mutable std::mutex mu;
    // ---- guarded by mu
    std::unique_ptr<media> store;
    std::uint32_t cc_seen = 0;
    std::uint32_t csts = 0;
    bool ready = false;  // CSTS.RDY
    bool fatal = false;
    bool fatal_latched = false;  // CFS that only a clean disable clears
    bool disabling = false;      // CC.EN 1->0 seen, RDY=0 at disable_due
    bool enabling = false;       // CC.EN 0->1 seen, RDY=1 at enable_due
    clock_type::time_point disable_due{}, enable_due{}, shutdown_due{};
    bool shutting_down = false;
    std::uint32_t enable_cc = 0;
    std::size_t mps = 4096;     // memory page size from CC.MPS
    std::vector<sq_state> sqs;  // index = qid
    std::vector<cq_state> cqs;
    std::vector<cq_notifier> notifiers;  // index = cqid; only armed with a device thread
    std::vector<int> irq_efd;  // index = MSI-X vector (max_queues + 1 of them): eventfd or -1
    // MSI-X Vector Control Mask and Pending bits, per vector: a signal due while masked sets
    // Pending and is sent on unmask (pci_device::mask_irq), as the PCI spec has it.
    std::vector<std::uint8_t> irq_masked, irq_pending;
    void signal_vector(std::uint16_t v);  // under mu: the eventfd write, or Pending if masked
    void unmask_vector(std::uint16_t v);  // under mu: clear Mask, send what is Pending
    std::uint32_t irq_coalescing = 0;     // Set Features FID 08h value (stored, not modelled)
    std::vector<std::uint16_t> live_sqs, live_cqs;
    std::deque<delayed_cmd> delayed;
    std::vector<std::pair<std::uint16_t, std::uint16_t>> abort_on_fetch;  // (sqid, cid)
    std::vector<std::uint16_t> held_aers;   // cids of outstanding Async Event Requests
    std::deque<std::uint32_t> event_queue;  // async events waiting for an AER
    std::vector<fault> faults;
    controller_stats st;
    std::uint64_t host_read_cmds = 0, host_write_cmds = 0;
    std::deque<error_entry> error_log;
    std::uint64_t error_count = 0;
    std::uint32_t granted_sq = 0, granted_cq = 0;
    bool queues_feature_set = false;
    bool write_cache = true;
    std::uint32_t async_event_config = 0;
    std::uint32_t temp_threshold = 0x157;  // 343 K
    std::uint32_t arbitration = 0;
    // Shadow doorbell / EventIdx buffers (Doorbell Buffer Config), host views.
    std::uint32_t* shadow_db = nullptr;
    std::uint32_t* event_idx = nullptr;
    std::uint64_t shadow_db_iova = 0, event_idx_iova = 0;
    std::uint64_t iova_generation = 0;
    std::vector<dma_segment> segs;  // scratch for PRP walks
    std::string last_diag;
    unsigned diag_printed = 0;

    // ---- registers (atomic accesses: the host writes them from another thread)
    std::uint32_t reg_load(std::uint32_t off) const noexcept;
    void reg_store(std::uint32_t off, std::uint32_t v) noexcept;
    void set_csts(std::uint32_t v) noexcept;
    // Doorbell registers hold `doorbell_idle` between host writes: the device takes each write
    // with an atomic exchange, so a write is never missed, even one repeating the previous value
    // (which happens with shadow doorbells, where the host rings MMIO only now and then).
    static constexpr std::uint32_t doorbell_idle = 0x8000'0000u;
    bool take_doorbell(std::uint32_t off, std::uint32_t& value) noexcept;
    void arm_doorbells(std::uint16_t qid) noexcept;

    // ---- sim_controller.cpp
    bool process();  // one pass: CC, doorbells, due commands, posting
    void check_cc();
    void thread_main();
    // One pass under `mu`; sets `next_due` to the first delayed command's due time (or max()).
    bool process_locked(clock_type::time_point& next_due);
    void notify_completions();  // call the armed notifiers of CQs that got new entries
    bool sharing_cpu_with_host() const noexcept;
    void enable_controller(std::uint32_t cc);
    void reset_controller();
    void finish_transitions();  // disable / enable / shutdown delays that came due
    // DMA lifetime checks of the pci_device face (under mu).
    void check_free(std::uint64_t iova, std::size_t size, const char* what);
    bool zoned_write_check(namespace_layout& n, std::uint8_t opcode, std::uint64_t slba,
                           std::uint64_t nlb, std::uint16_t& status);
    void go_fatal(const std::string& why);
    void diag(const std::string& msg);
    bool revalidate_queues();
    bool scan_sq(std::uint16_t qid);
    bool scan_cq(std::uint16_t qid);
    void fetch(std::uint16_t qid);
    void dispatch(std::uint16_t sqid, const nvme::sqe& cmd);
    void run_command(std::uint16_t sqid, const nvme::sqe& cmd, const fault* f);
    bool run_delayed();
    void complete(std::uint16_t sqid, std::uint16_t cid, std::uint16_t status, std::uint32_t dw0,
                  const nvme::sqe* cmd = nullptr);
    void drop(std::uint16_t sqid);
    bool post(std::uint16_t cqid, bool refresh_shadow);
    bool advance_cq_head(cq_state& cq, std::uint32_t head) noexcept;
    void invalid_doorbell(std::uint16_t qid, bool sq, std::uint32_t value);
    void raise_event(std::uint32_t dw0);
    std::uint32_t shadow_load(std::uint32_t index) const noexcept;
    void event_idx_store(std::uint32_t index, std::uint32_t v) noexcept;
    std::uint32_t sq_db_index(std::uint16_t qid) const noexcept {
        return 2u * qid * (stride_bytes / 4);
    }
    std::uint32_t cq_db_index(std::uint16_t qid) const noexcept {
        return (2u * qid + 1) * (stride_bytes / 4);
    }
    bool match_fault(bool admin, std::uint8_t opcode, std::uint32_t nsid, fault& hit);
    clock_type::time_point next_due() const noexcept;
    std::uint32_t reported_sq_head(const sq_state& sq, std::uint16_t sqid) const noexcept;
    void scan_absent_doorbells();
    std::uint32_t passes = 0;

    // ---- data movement through PRPs (status 0 or an NVMe status field)
    std::uint16_t to_host(const nvme::sqe& cmd, const void* src, std::size_t len);
    std::uint16_t from_host(const nvme::sqe& cmd, void* dst, std::size_t len);

    // ---- sim_admin.cpp: returns the status; `hold` = do not complete now (AER)
    std::uint16_t execute_admin(const nvme::sqe& cmd, std::uint32_t& dw0, bool& hold);
    std::uint16_t create_cq(const nvme::sqe& cmd);
    std::uint16_t create_sq(const nvme::sqe& cmd);
    std::uint16_t delete_sq(const nvme::sqe& cmd);
    std::uint16_t delete_cq(const nvme::sqe& cmd);
    std::uint16_t identify(const nvme::sqe& cmd);
    std::uint16_t identify_controller(const nvme::sqe& cmd);
    std::uint16_t identify_namespace(const nvme::sqe& cmd);
    std::uint16_t set_features(const nvme::sqe& cmd, std::uint32_t& dw0);
    std::uint16_t get_features(const nvme::sqe& cmd, std::uint32_t& dw0);
    std::uint16_t get_log_page(const nvme::sqe& cmd);
    std::uint16_t abort_command(const nvme::sqe& cmd, std::uint32_t& dw0);
    std::uint16_t doorbell_buffer_config(const nvme::sqe& cmd);

    // ---- sim_io.cpp
    std::uint16_t execute_io(const nvme::sqe& cmd);
    std::uint16_t execute_flush(const nvme::sqe& cmd);
    std::uint16_t execute_deallocate(const nvme::sqe& cmd, namespace_layout& n);
    std::uint16_t execute_transfer(const nvme::sqe& cmd, std::uint64_t slba, std::uint64_t offset,
                                   std::size_t bytes);
    std::uint16_t max_transfer_check(std::size_t bytes) const;
};

// Status helpers.
constexpr std::uint16_t generic_status(std::uint16_t sc, bool dnr = true) {
    return nvme::make_status(nvme::sct::generic, sc, dnr);
}
constexpr std::uint16_t specific_status(std::uint16_t sc, bool dnr = true) {
    return nvme::make_status(nvme::sct::command_specific, sc, dnr);
}

}  // namespace convme::sim

// SPDX-License-Identifier: MIT
#include "driver/nvme/io_queue.hpp"

#include <algorithm>
#include <cerrno>
#include <convme/error.hpp>
#include <cstdio>
#include <cstring>

#include "driver/nvme/admin_commands.hpp"

namespace convme::driver {

io_queue::io_queue(controller& ctrl, dma_mapper& mapper, const io_queue_params& params, loop& owner)
    : poller(/*batches_submissions=*/true, /*flushes_in_poll=*/true),
      ctrl_(ctrl),
      mapper_(mapper),
      p_(params),
      owner_(owner),
      owner_id_(owner.unique_id()),
      dev_(ctrl.dev()),
      spin_(params.hybrid_spin_auto
                ? spin_window::adaptive(spin_window::default_floor, params.hybrid_spin_max)
                : spin_window::fixed(params.hybrid_spin)),
      epoch_(std::chrono::steady_clock::now()) {}

io_queue::~io_queue() {
    if (irq_)
        (void)dev_.bind_irq_eventfd(qid_, -1);
    else if (notified_)
        dev_.set_completion_notify(qid_, nullptr, nullptr);
    ctrl_.detach(link_);
    if (abort_pending_ && !abort_waiter_.done.load(std::memory_order_acquire))
        ctrl_.admin_forget(abort_waiter_);
    if (dma_unsafe_ && !ctrl_.gone()) {
        // The controller may still have this queue (a Delete failed or timed out): its rings
        // and PRP lists stay allocated until the controller has been disabled.
        std::vector<dma_block> keep;
        keep.push_back(std::move(sq_mem_));
        keep.push_back(std::move(cq_mem_));
        for (auto& b : prp_mem_) keep.push_back(std::move(b));
        ctrl_.retire(std::move(keep));
    }
    if (qid_ != 0) ctrl_.release_qid(qid_);
}

std::uint32_t io_queue::now_ms() const noexcept {
    return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - epoch_)
                                          .count());
}

// create()'s steps that need no queue state.
namespace {

std::string no_free_queue_text(std::uint32_t granted) {
    return "no free NVMe I/O queue: the controller granted " + std::to_string(granted) +
           " and each loop uses one (use fewer cores, or raise queues= if the controller allows "
           "more)";
}

// A submission or completion ring of `bytes`, aligned to the memory page (at least 4 KiB).
int allocate_ring(pci_device& dev, dma_block& mem, std::size_t bytes, std::size_t align,
                  const char* what, std::string& why) {
    if (int rc = mem.allocate(dev, bytes, align); rc != 0) {
        why = std::string("allocating I/O ") + what + " queue memory: " + dev.last_error();
        return rc;
    }
    return 0;
}

// One PRP-list / DSM-range area of `area` bytes per command id. Areas are power-of-two sized and
// aligned, so none crosses a memory page; chunks respect the device's contiguous-DMA limit.
int allocate_prp_areas(pci_device& dev, std::uint32_t slots, std::size_t area,
                       std::vector<prp_list_segment>& areas, std::vector<dma_block>& chunks,
                       std::string& why) {
    const std::size_t per_chunk = std::max<std::size_t>(
        1, std::min<std::size_t>(slots,
                                 std::min<std::size_t>(dev.max_contiguous_dma(), 1u << 20) / area));
    areas.resize(slots);
    for (std::uint32_t first = 0; first < slots; first += static_cast<std::uint32_t>(per_chunk)) {
        const std::size_t n = std::min<std::size_t>(per_chunk, slots - first);
        dma_block chunk;
        if (int rc = chunk.allocate(dev, std::max<std::size_t>(n * area, 4096),
                                    std::max(area, std::size_t(4096)));
            rc != 0) {
            why = "allocating PRP list memory: " + dev.last_error();
            return rc;
        }
        for (std::size_t i = 0; i < n; ++i) {
            areas[first + i] = {
                reinterpret_cast<std::uint64_t*>(static_cast<std::byte*>(chunk.data()) + i * area),
                chunk.iova() + i * area, static_cast<std::uint32_t>(area / 8)};
        }
        chunks.push_back(std::move(chunk));
    }
    return 0;
}

}  // namespace

// Steps: a queue id; rings, PRP areas, slots and command ids; the health-scan timing; the
// interrupt vector (interrupt / hybrid); then the queue pair on the controller.
int io_queue::create(std::string& why) {
    if (int rc = ctrl_.acquire_qid(qid_); rc != 0) {
        qid_ = 0;
        why = no_free_queue_text(ctrl_.io_queues_granted());
        return rc;
    }
    page_size_ = ctrl_.page_size();
    xlat_.init(dev_, mapper_);
    const std::size_t align = std::max<std::size_t>(page_size_, 4096);
    const std::uint32_t depth = p_.depth;
    const std::uint32_t slots = depth - 1;
    if (int rc = allocate_ring(dev_, sq_mem_, depth * sizeof(nvme::sqe), align, "submission", why);
        rc != 0)
        return rc;
    if (int rc = allocate_ring(dev_, cq_mem_, depth * sizeof(nvme::cqe), align, "completion", why);
        rc != 0)
        return rc;
    if (int rc = allocate_prp_areas(dev_, slots, p_.prp_area_bytes, prp_areas_, prp_mem_, why);
        rc != 0)
        return rc;
    slots_.assign(slots, slot{});
    cids_.reset(slots);
    qp_.init(qid_, depth, sq_mem_.as<nvme::sqe>(), cq_mem_.as<nvme::cqe>(), ctrl_.sq_doorbell(qid_),
             ctrl_.cq_doorbell(qid_));

    // Health scans: at most every 100 ms and at least 8 per timeout.
    const auto timeout_ms =
        static_cast<std::uint32_t>(std::max<std::int64_t>(1, p_.timeout.count()));
    health_interval_ = std::clamp<std::uint32_t>(timeout_ms / 8, 1, 100);
    timeout_epochs_ = (timeout_ms + health_interval_ - 1) / health_interval_ + 1;

    if (p_.mode != completion_mode::poll)
        if (int rc = setup_irq(why); rc != 0) return rc;
    return create_on_controller(why);
}

int io_queue::create_on_controller(std::string& why) {
    link_.owner = &owner_;
    created_queue made;
    if (int rc = ctrl_.create_io_queue_pair(qid_, p_.depth, sq_mem_.iova(), cq_mem_.iova(), link_,
                                            made, why, irq_vector());
        rc != 0) {
        if (rc != -EIO && rc != -ENODEV) dma_unsafe_ = true;  // the Create may still happen
        return rc;
    }
    generation_ = made.generation;
    qp_.sq_doorbell() = made.sq_db;
    qp_.cq_doorbell() = made.cq_db;
    created_ = true;
    if (irq_) {
        // The health scan runs in prepare_to_block(), before each sleep. hybrid masks its vector
        // in every poll with I/O in flight (health_poll(): a register write only when it was
        // unmasked, i.e. after a sleep).
        health_polls_ = polls_to_health_ = p_.mode == completion_mode::hybrid ? 1 : 256;
        return 0;
    }
    // Completion "interrupts" where the device has them (the threaded simulator): the loop can
    // then sleep instead of spinning on the CPU the device thread needs.
    notified_ = dev_.set_completion_notify(
        qid_, [](void* l) { static_cast<loop*>(l)->wake(); }, &owner_);
    health_polls_ = notified_ ? 1 : 256;
    polls_to_health_ = health_polls_;
    return 0;
}

task<int> io_queue::destroy_async() {
    int rc = 0;
    link_.parked.store(true, std::memory_order_release);  // rings nothing any more
    if (created_ && !ctrl_.gone() && !ctrl_.broken())
        rc = co_await ctrl_.delete_io_queue_pair_async(qid_);
    if (created_ && rc != 0 && rc != -ENODEV) dma_unsafe_ = true;
    if (created_ && ctrl_.broken()) dma_unsafe_ = true;  // never deleted, never proven quiet
    created_ = false;
    co_return rc;
}

int io_queue::destroy_sync() {
    int rc = 0;
    link_.parked.store(true, std::memory_order_release);
    if (created_ && !ctrl_.gone() && !ctrl_.broken()) rc = ctrl_.delete_io_queue_pair(qid_);
    if (created_ && rc != 0 && rc != -ENODEV) dma_unsafe_ = true;
    if (created_ && ctrl_.broken()) dma_unsafe_ = true;
    created_ = false;
    return rc;
}

// ------------------------------------------------------------------------------- submission

void io_queue::submit_general(io_request& r) noexcept {
    r.progress = 0;
    r.outstanding = 0;
    r.issue_done = false;
    if (failed_) [[unlikely]] {
        r.fail(failed_);
        r.issue_done = true;
        deferred_.push_back(r);
        return;
    }
    if (!pending_.empty() || !issue(r)) pending_.push_back(r);
}

int io_queue::submit_raw(io_request& r, const nvme::sqe& cmd, void* data, std::size_t len,
                         nvme::cqe* out) noexcept {
    if (failed_) return failed_ == make_error_code(errc::device_gone) ? -ENODEV : -EIO;
    if (cids_.empty()) return -EAGAIN;  // ids bound the SQ (see the header)
    const std::uint16_t cid = cids_.pop();
    nvme::sqe e = cmd;
    e.cid = cid;
    e.flags &= 0x3f;  // PRPs, not SGLs
    if (len != 0) {
        prp_pair pp;
        int rc = build_prps(data, len, page_size_, &translation_cache::translate, &xlat_,
                            &prp_areas_[cid], 1, pp);
        if (rc == -EFAULT) {
            rc = mapper_.ensure_mapped(data, len);
            if (rc == 0)
                rc = build_prps(data, len, page_size_, &translation_cache::translate, &xlat_,
                                &prp_areas_[cid], 1, pp);
        }
        if (rc != 0) {
            cids_.push(cid);
            return rc;
        }
        e.prp1 = pp.prp1;
        e.prp2 = pp.prp2;
    }
    *qp_.next_sqe() = e;
    slots_[cid] = slot{&r, scan_epoch_, slot_raw};
    qp_.commit();
    r.issue_done = true;
    r.outstanding = 1;
    r.context = out;
    ++in_flight_;
    return 0;
}

bool io_queue::fill_command(io_request& r, std::uint64_t unit, std::uint64_t units,
                            std::uint16_t cid, nvme::sqe& e, std::uint64_t& part) noexcept {
    const std::uint64_t slba = (r.offset >> p_.lba_shift) + unit;
    const std::uint64_t left = units - unit;
    std::memset(static_cast<void*>(&e), 0, sizeof e);
    e.cid = cid;
    e.nsid = p_.nsid;
    e.cdw10 = static_cast<std::uint32_t>(slba);
    e.cdw11 = static_cast<std::uint32_t>(slba >> 32);
    switch (r.op) {
        case io_op::read:
        case io_op::write:
            if (!fill_read_write(r, unit, left, cid, e, part)) return false;
            break;
        case io_op::flush:
            part = 1;
            e.opcode = nvme::io_opcode::flush;
            e.cdw10 = e.cdw11 = 0;
            break;
        case io_op::write_zeroes:
            part = std::min<std::uint64_t>(left, p_.max_write_zeroes_blocks);
            e.opcode = nvme::io_opcode::write_zeroes;
            e.cdw12 = static_cast<std::uint32_t>(part - 1);
            break;
        case io_op::trim:
            fill_deallocate(slba, left, cid, e, part);
            break;
    }
    if (unit == 0 && part < units) ++io_counters_.split_requests;
    return true;
}

bool io_queue::fill_read_write(io_request& r, std::uint64_t unit, std::uint64_t left,
                               std::uint16_t cid, nvme::sqe& e, std::uint64_t& part) noexcept {
    part = std::min<std::uint64_t>(left, p_.max_rw_blocks);
    e.opcode = r.op == io_op::read ? nvme::io_opcode::read : nvme::io_opcode::write;
    e.cdw12 = static_cast<std::uint32_t>(part - 1);
    const std::byte* buf = r.data + (unit << p_.lba_shift);
    const std::size_t len = static_cast<std::size_t>(part << p_.lba_shift);
    // Fast path: the data fits in one memory page (e.g. an aligned 4 KiB I/O): PRP1 only.
    const std::size_t in_page = reinterpret_cast<std::uintptr_t>(buf) & (page_size_ - 1);
    if (in_page + len <= page_size_) [[likely]] {
        std::uint64_t iova = 0;
        if (translation_cache::translate(&xlat_, buf, iova) == 0) [[likely]] {
            e.prp1 = iova;
            e.prp2 = 0;
            return true;
        }
    }
    prp_pair pp;
    int rc = build_prps(buf, len, page_size_, &translation_cache::translate, &xlat_,
                        &prp_areas_[cid], 1, pp);
    if (rc == -EFAULT) [[unlikely]] {
        rc = mapper_.ensure_mapped(r.data, static_cast<std::size_t>(r.length));
        if (rc == 0)
            rc = build_prps(buf, len, page_size_, &translation_cache::translate, &xlat_,
                            &prp_areas_[cid], 1, pp);
    }
    if (rc != 0) [[unlikely]] {
        r.fail(errno_code(rc));
        return false;
    }
    e.prp1 = pp.prp1;
    e.prp2 = pp.prp2;
    return true;
}

// Dataset Management / deallocate: ranges of up to DMRSL blocks (at most DMRL of them) in the
// slot's area.
void io_queue::fill_deallocate(std::uint64_t slba, std::uint64_t left, std::uint16_t cid,
                               nvme::sqe& e, std::uint64_t& part) noexcept {
    const prp_list_segment& area = prp_areas_[cid];
    const std::uint32_t max_ranges = std::min<std::uint32_t>(p_.max_dsm_ranges, area.entries / 2);
    auto* ranges = reinterpret_cast<nvme::dsm_range*>(area.vaddr);
    std::uint32_t nr = 0;
    std::uint64_t lba = slba;
    part = 0;
    while (part < left && nr < max_ranges) {
        const std::uint64_t n = std::min<std::uint64_t>(left - part, p_.max_dsm_range_blocks);
        ranges[nr++] = nvme::dsm_range{0, static_cast<std::uint32_t>(n), lba};
        lba += n;
        part += n;
    }
    e.opcode = nvme::io_opcode::dataset_management;
    e.cdw10 = nr - 1;
    e.cdw11 = nvme::dsm_deallocate;
    e.prp1 = area.iova;
}

bool io_queue::issue(io_request& r) noexcept {
    std::uint64_t unit = r.progress;
    std::uint16_t outstanding = r.outstanding;
    const std::uint64_t units = r.op == io_op::flush ? 1 : r.length >> p_.lba_shift;
    if (r.op == io_op::flush && !p_.volatile_write_cache) unit = units;  // nothing to make durable
    while (unit < units && !r.status) {
        if (cids_.empty()) {  // ids bound the SQ (see the header)
            r.progress = unit;
            r.outstanding = outstanding;
            return false;
        }
        const std::uint16_t cid = cids_.pop();
        std::uint64_t part = 0;
        if (!fill_command(r, unit, units, cid, *qp_.next_sqe(), part)) [[unlikely]] {
            cids_.push(cid);
            break;
        }
        const bool whole = unit == 0 && part == units;
        slots_[cid] = slot{&r, scan_epoch_, whole ? std::uint8_t(0) : slot_part};
        qp_.commit();
        unit += part;
        ++outstanding;
    }
    r.progress = unit;
    r.outstanding = outstanding;
    r.issue_done = true;
    if (outstanding == 0) [[unlikely]]
        deferred_.push_back(r);  // nothing on the queue: complete later
    return true;
}

void io_queue::issue_pending() noexcept {
    while (io_request* r = pending_.front()) {
        if (!issue(*r)) break;  // out of command slots: keep it (and everything after it) waiting
        pending_.pop_front();
    }
}

void io_queue::run_deferred() noexcept {
    request_fifo ready = deferred_.take_all();
    while (io_request* r = ready.pop_front()) finish(*r);
}

inline void io_queue::finish(io_request& r) noexcept {
    --in_flight_;
    r.complete();
}

inline void io_queue::part_done(io_request& r) noexcept {
    if (--r.outstanding == 0 && r.issue_done) finish(r);
}

// ------------------------------------------------------------------------------- completion

bool io_queue::on_error_cqe(const nvme::cqe& c, slot& s, io_request& r) noexcept {
    if (s.flags & slot_raw) *static_cast<nvme::cqe*>(r.context) = c;
    bool recycle = true;
    if ((s.flags & slot_abort_sent) && abort_pending_ && abort_cid_ == c.cid) {
        abort_cid_held_ = true;
        recycle = false;
    }
    if ((c.status >> 1) != 0) {
        const std::uint16_t code = nvme::status_sct_sc(c.status);
        if ((s.flags & slot_abort_sent) && code == nvme::sc::abort_requested) {
            ++io_counters_.timeouts;
            r.fail(errc::timeout);  // we aborted it because it took too long
        } else {
            r.fail(make_nvme_error(code));
        }
    }
    s.flags = 0;
    return recycle;
}

// The fast path: a poll that finds no completion, or exactly one that completes a request with
// success on a queue with nothing else to do, with a mapped CQ doorbell and room in the ready
// queue. It decides before it consumes anything, so a poll it does not take runs poll_general()
// from the same state; what it does is what poll_general() would do for that poll (the entry, its
// command id and slot, the waiter, the CQ head and its doorbell with the same barriers, the health
// countdown; only the completed request's outstanding count is left as it was, see below). It
// makes no call except the tail call to poll_general(): no saved registers.
bool io_queue::poll() {
    if (ctrl_.generation() != generation_ || failed_) [[unlikely]]
        return poll_general();
    queue_pair::posted_head h;
    if (!qp_.head_if_posted(h)) {
        // Nothing reaped: poll_general() would only run deferred requests and the health check.
        if (!deferred_.empty() || polls_to_health_ == 1) [[unlikely]]
            return poll_general();
        --polls_to_health_;
        return false;
    }
    // More than one entry (a deep queue): the walk, decided first so that such a poll pays the
    // least for the test.
    // An error (the status beyond the phase bit) too, tested now so that the status is not kept
    // in a register.
    if (queue_pair::after_posted(h) || (h.status & 0xfffeu) != 0) return poll_general();
    const std::uint16_t cid = h.entry->cid;
    if (cid >= cids_.total()) [[unlikely]]
        return poll_general();
    slot& s = slots_[cid];
    io_request* const r = s.req;
    // A flag (a part of a split request among them: flags 0 means the command carries its whole
    // request), or anything for after the reap (pending requests, deferred ones, a health check,
    // an SQ doorbell): the general path.
    if (!r || s.flags != 0 || !pending_.empty() || !deferred_.empty() || polls_to_health_ == 1 ||
        qp_.sq_pending() || !qp_.cq_doorbell().direct())
        return poll_general();
    // The waiter first: it is the one step that can fail (a ready queue that would have to grow).
    if (!r->owner->try_schedule(r->waiter)) [[unlikely]]
        return poll_general();
    s.req = nullptr;
    cids_.push(cid);
    // r->outstanding stays 1: the request is its owner's again once scheduled, and a new
    // submission sets it before anything reads it.
    --in_flight_;
    qp_.consume_head_direct(h);
    --polls_to_health_;
    return true;
}

bool io_queue::poll_general() noexcept {
    const bool work = reap_and_progress();
    // What this poll issued (requests that waited for a command id, or were re-issued after a
    // recovery) is rung here, as the loop's flush after a poll with work would
    // (flushes_in_poll()); the loop then makes no call for it.
    if (work) qp_.ring_sq();
    return work;
}

[[gnu::always_inline]] inline bool io_queue::reap_and_progress() noexcept {
    if (ctrl_.generation() != generation_ || failed_) [[unlikely]] {
        if (!failed_) recover();
        const bool any = !deferred_.empty();
        if (any) run_deferred();
        if (failed_) return any;
    }
    const unsigned n = qp_.reap_in_place(
        [this](const nvme::cqe& entry, std::uint16_t status) { on_cqe_in_place(entry, status); });
    if (n && !pending_.empty()) issue_pending();
    bool progress = n != 0;
    if (!deferred_.empty()) [[unlikely]] {
        run_deferred();
        progress = true;
    }
    if (--polls_to_health_ == 0) [[unlikely]] {
        polls_to_health_ = health_polls_;
        if (in_flight_) health_poll();
    }
    return progress;
}

// Reads only the words it needs of the entry in the ring (cid; the status came with the phase
// bit); the whole entry is copied only for an error or a passthrough command.
inline void io_queue::on_cqe_in_place(const nvme::cqe& entry, std::uint16_t status) noexcept {
    const std::uint16_t cid = entry.cid;
    if (cid >= cids_.total()) [[unlikely]]
        return;  // not ours: ignore rather than corrupt (cids_.total() == slots_.size())
    slot& s = slots_[cid];
    io_request* r = s.req;
    if (!r) [[unlikely]]
        return;
    s.req = nullptr;
    if (((status & 0xfffeu) | s.flags) == 0) [[likely]] {  // status beyond the phase bit
        cids_.push(cid);
    } else {
        nvme::cqe c = entry;
        c.status = status;
        if (on_error_cqe(c, s, *r)) cids_.push(cid);
    }
    part_done(*r);
}

void io_queue::on_cqe(const nvme::cqe& c) noexcept {
    on_cqe_in_place(c, c.status);
}

// ------------------------------------------------------------------------------- errors

void io_queue::health_poll() noexcept {
    if (irq_)
        set_irq_masked(true);  // the loop is awake (io_queue_irq.cpp); health: before sleeps
    else
        health_tick();
}

void io_queue::health_tick() noexcept {
    const std::uint32_t now = now_ms();
    if (now - last_health_ < health_interval_) return;
    last_health_ = now;
    ++scan_epoch_;

    if (abort_pending_) {
        if (!abort_waiter_.done.load(std::memory_order_acquire)) ctrl_.admin_poll();
        if (abort_waiter_.done.load(std::memory_order_acquire)) {
            abort_pending_ = false;
            if (abort_cid_held_) cids_.push(abort_cid_);
            abort_cid_held_ = false;
        }
    }
    const int health = ctrl_.check_health();
    if (health == -ENODEV) {
        fail_everything(errc::device_gone);
        return;
    }
    if (health == -EIO) {  // CSTS.CFS
        reset_controller();
        return;
    }

    kick_if_quiet();

    bool need_reset = false;
    for (std::size_t cid = 0; cid < slots_.size(); ++cid) {
        slot& s = slots_[cid];
        if (!s.req || scan_epoch_ - s.stamp <= timeout_epochs_) continue;
        if (!(s.flags & slot_abort_sent)) {
            if (!abort_pending_) dump_stuck(static_cast<std::uint16_t>(cid));
            // First expiry: ask the controller to abort it (one Abort outstanding per queue).
            s.flags |= slot_abort_sent;
            s.stamp = scan_epoch_;
            if (!abort_pending_) {
                abort_waiter_.done.store(false, std::memory_order_relaxed);
                // admin_submit waits for the admin lock, which a reset holds while it waits for
                // this queue's acknowledgement: parked meanwhile (we touch no ring in there), so
                // that the reset does not stall until its 2 s limit and re-enable without us.
                link_.parked.store(true, std::memory_order_release);
                const int rc = ctrl_.admin_submit(
                    admin::abort_command(qid_, static_cast<std::uint16_t>(cid)), abort_waiter_);
                if (!unpark_unless_reset()) {
                    // A reset ran meanwhile: recover before anything rings a doorbell. An Abort
                    // that went out names the old queue: forgotten, so that its completion
                    // cannot land in the waiter the next Abort reuses.
                    if (rc == 0) ctrl_.admin_forget(abort_waiter_);
                    recover();
                    return;
                }
                if (rc == 0) {
                    abort_pending_ = true;
                    abort_cid_ = static_cast<std::uint16_t>(cid);
                    ++io_counters_.aborts_sent;
                    ctrl_.counters().aborts_sent.fetch_add(1, std::memory_order_relaxed);
                }
            }
        } else {
            s.flags |= slot_timed_out;  // still stuck one timeout after the abort
            need_reset = true;
        }
    }
    if (need_reset) reset_controller();
}

// I/O in flight and nothing completed for two health ticks (up to 200 ms; a healthy device
// completes in microseconds): write both doorbell registers again before the timeout machinery
// (Abort, reset) has to. A controller that lost a shadow doorbell update sees the tail again.
void io_queue::kick_if_quiet() noexcept {
    const std::uint64_t done = qp_.counters().completed;
    if (done != completed_at_last_tick_) {
        completed_at_last_tick_ = done;
        quiet_ticks_ = 0;
        return;
    }
    if (++quiet_ticks_ < 2 || link_.parked.load(std::memory_order_relaxed) ||
        ctrl_.generation() != generation_)
        return;
    quiet_ticks_ = 0;
    if (!qp_.sq_doorbell().shadowed()) return;  // every update was an MMIO write: none lost
    qp_.kick_doorbells();
    ++io_counters_.doorbell_kicks;
}

void io_queue::reset_controller() noexcept {
    std::string why;
    // Inside poll(): this queue rings nothing until it has recovered, so the reset need not
    // wait.
    link_.parked.store(true, std::memory_order_release);
    const int rc = ctrl_.reset(generation_, why);
    if (rc == -ENODEV) {
        fail_everything(errc::device_gone);
        return;
    }
    if (rc != 0) {
        std::fprintf(stderr, "convme: nvme %s: controller reset failed: %s\n", dev_.name().c_str(),
                     why.c_str());
        fail_everything(errc::controller_fatal);
        return;
    }
    recover();
}

void io_queue::fail_on_queue(std::error_code timed_out, std::error_code others) noexcept {
    for (slot& s : slots_) {
        io_request* r = s.req;
        if (!r) continue;
        s.req = nullptr;
        if (s.flags & slot_timed_out) ++io_counters_.timeouts;
        r->fail((s.flags & slot_timed_out) ? timed_out : others);
        s.flags = 0;
        part_done(*r);
    }
    cids_.reset(static_cast<std::uint32_t>(slots_.size()));
    abort_cid_held_ = false;
}

void io_queue::recover() noexcept {
    // The generation moved. A reset of a controller that still answers moves it before it deletes
    // the I/O queues and disables (controller::reset): acknowledge at once and touch nothing of
    // this queue until CSTS.RDY=0 (or the reset gave up on it: broken). From then on the
    // controller no longer fetches from our SQ or posts into our CQ.
    const std::uint32_t seen = ctrl_.generation();
    if (!ctrl_.disabled_since(seen)) {
        link_.acked.store(seen, std::memory_order_release);
        ctrl_.wait_disabled(seen);
    }
    if (ctrl_.gone()) {
        fail_everything(errc::device_gone);
        return;
    }
    if (ctrl_.broken()) {
        // Possibly still running: fail everything but leave the rings alone.
        fail_everything(errc::controller_fatal);
        return;
    }
    // What the controller posted before it stopped is genuine: complete it (no CQ doorbell to a
    // disabled controller). Whatever is left was lost (see the header for why it is not
    // replayed). When the reset deleted the queues first, an error status is that deletion's
    // abort (QEMU 7.2 says Unrecovered Read Error for a read it cancelled): such a command fails
    // below like any other the reset caught (aborted, or timeout if it had timed out).
    const bool deleted = ctrl_.queues_deleted_in(seen);
    qp_.reap_quiet([this, deleted](const nvme::cqe& c) {
        if (!deleted || (c.status >> 1) == 0) on_cqe(c);
    });
    fail_on_queue(errc::timeout, errc::aborted);
    abort_pending_ = false;
    qp_.reset();
    link_.acked.store(ctrl_.generation(), std::memory_order_release);
    // Blocks until the reset has finished (it holds the admin lock); parked meanwhile, so that
    // a second reset need not wait for us either.
    link_.parked.store(true, std::memory_order_release);
    created_queue made;
    std::string why;
    // The controller may fail again (CSTS.CFS) or stop answering while we re-create: that is
    // one more reset, not a reason to give this loop's I/O up for good. Bounded: a controller
    // that fails every re-creation is broken.
    int rc = 0;
    for (unsigned attempt = 1;; ++attempt) {
        const std::uint32_t seen = ctrl_.generation();
        why.clear();
        rc = ctrl_.create_io_queue_pair(qid_, p_.depth, sq_mem_.iova(), cq_mem_.iova(), link_, made,
                                        why, irq_vector());
        if (rc == 0 || rc == -ENODEV || attempt == max_recreate_attempts || ctrl_.broken()) break;
        std::string reset_why;
        if (ctrl_.reset(seen, reset_why) != 0) break;  // no-op if another loop did it meanwhile
        qp_.reset();  // disabled again: nothing fetches from or posts into the rings now
        link_.acked.store(ctrl_.generation(), std::memory_order_release);
    }
    if (rc != 0) {
        std::fprintf(stderr, "convme: nvme %s: re-creating I/O queue %u after reset failed: %s\n",
                     dev_.name().c_str(), static_cast<unsigned>(qid_), why.c_str());
        if (rc != -EIO && rc != -ENODEV) dma_unsafe_ = true;
        created_ = false;
        fail_everything(rc == -ENODEV ? make_error_code(errc::device_gone)
                                      : make_error_code(errc::controller_fatal));
        return;
    }
    generation_ = made.generation;
    qp_.sq_doorbell() = made.sq_db;
    qp_.cq_doorbell() = made.cq_db;
    if (!unpark_unless_reset()) {
        recover();  // another reset began after the creation: the new queue is already stale
        return;
    }
    issue_pending();
}

// A reset counts a parked queue as acknowledged and may go on to delete its queue pair on a
// controller that is still enabled, where a doorbell write to it is invalid. So unpark first and
// only then look at the generation (the reset moves the generation, then reads `parked`; the
// fences make at least one side see the other): either the reset waits for our acknowledgement,
// or we see its generation and ring nothing.
bool io_queue::unpark_unless_reset() noexcept {
    link_.parked.store(false, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return ctrl_.generation() == generation_;
}

void io_queue::fail_everything(std::error_code ec) noexcept {
    failed_ = ec;
    link_.parked.store(true, std::memory_order_release);  // a failed queue never rings again
    fail_on_queue(ec, ec);
    while (io_request* r = pending_.pop_front()) {
        r->fail(ec);
        r->issue_done = true;
        if (r->outstanding == 0) deferred_.push_back(*r);
    }
    run_deferred();
}

}  // namespace convme::driver

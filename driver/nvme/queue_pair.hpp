// SPDX-License-Identifier: MIT
// An NVMe submission/completion queue pair over caller-provided ring memory: SQEs are written at
// the tail and published by one doorbell per batch; CQEs are reaped by phase bit. No allocation,
// no locking: one owner thread per queue pair (the admin queue is guarded by its controller).
#pragma once

#include <convme/nvme_spec.hpp>
#include <cstdint>
#include <cstring>

#include "driver/nvme/barriers.hpp"
#include "driver/nvme/doorbell.hpp"

namespace convme::driver {

struct queue_counters {
    std::uint64_t submitted = 0;
    std::uint64_t completed = 0;
    doorbell_counters sq_db, cq_db;
};

class queue_pair {
  public:
    queue_pair() = default;

    // `sq` holds `depth` 64-byte entries, `cq` `depth` 16-byte entries (both zeroed by reset()).
    void init(std::uint16_t qid, std::uint32_t depth, nvme::sqe* sq, nvme::cqe* cq, doorbell sq_db,
              doorbell cq_db) noexcept {
        qid_ = qid;
        depth_ = depth;
        sq_ = sq;
        cq_ = cq;
        sq_db_ = sq_db;
        cq_db_ = cq_db;
        reset();
    }

    // Back to the state of a freshly created queue (after a controller reset / queue re-create).
    void reset() noexcept {
        std::memset(static_cast<void*>(sq_), 0, sizeof(nvme::sqe) * depth_);
        std::memset(static_cast<void*>(cq_), 0, sizeof(nvme::cqe) * depth_);
        sq_tail_ = sq_head_ = sq_rung_ = cq_head_ = 0;
        phase_ = 1;
        sq_db_.reset_value();
        cq_db_.reset_value();
    }

    std::uint16_t qid() const noexcept { return qid_; }
    std::uint32_t depth() const noexcept { return depth_; }
    doorbell& sq_doorbell() noexcept { return sq_db_; }
    doorbell& cq_doorbell() noexcept { return cq_db_; }

    // Entries the SQ can still take: one slot stays empty so full != empty. The head is the one
    // the last reap() saw (reap_in_place() does not track it).
    std::uint32_t sq_free() const noexcept {
        const std::uint32_t used =
            sq_tail_ >= sq_head_ ? sq_tail_ - sq_head_ : depth_ - sq_head_ + sq_tail_;
        return depth_ - 1 - used;
    }

    // The entry at the tail, to be filled in place, then published to the ring with commit().
    // The caller checks sq_free() first.
    nvme::sqe* next_sqe() noexcept { return &sq_[sq_tail_]; }
    void commit() noexcept {
        sq_tail_ = sq_tail_ + 1 == depth_ ? 0 : sq_tail_ + 1;
        ++counters_.submitted;
    }
    // next_sqe() and commit() in one, the tail read once: the entry at the tail, which the caller
    // fills before the next ring_sq() publishes it (the stores into it would otherwise make the
    // compiler read the tail again).
    nvme::sqe* claim_sqe() noexcept {
        const std::uint32_t t = sq_tail_;
        sq_tail_ = t + 1 == depth_ ? 0 : t + 1;
        ++counters_.submitted;
        return &sq_[t];
    }
    bool push(const nvme::sqe& e) noexcept {
        if (sq_free() == 0) return false;
        *next_sqe() = e;
        commit();
        return true;
    }

    // One doorbell for everything committed since the last ring.
    bool sq_pending() const noexcept { return sq_tail_ != sq_rung_; }
    void ring_sq() noexcept {
        // The tail in a local: the barrier (a compiler fence at least) would make it a reload.
        const std::uint32_t tail = sq_tail_;
        if (tail == sq_rung_) return;
        sq_rung_ = tail;
        barrier_before_doorbell();
        sq_db_.write(static_cast<std::uint16_t>(tail), counters_.sq_db);
    }

    // Reap up to `budget` CQEs, calling on_cqe(const nvme::cqe&) with a copy of each, then write
    // the CQ head doorbell once. Returns the number reaped. Tracks the SQ head from the entries'
    // SQHD, for callers that bound their SQ with push() / sq_free().
    template <typename F>
    unsigned reap(F&& on_cqe, unsigned budget = ~0u) {
        return reap_in_place(
            [&](const nvme::cqe& e, std::uint16_t status) {
                nvme::cqe c;
                c.dw0 = e.dw0;
                c.dw1 = e.dw1;
                c.sqhd = e.sqhd;
                c.sqid = e.sqid;
                c.cid = e.cid;
                c.status = status;
                if (c.sqhd < depth_) sq_head_ = c.sqhd;  // a bogus sqhd must not corrupt sq_free()
                on_cqe(c);
            },
            budget);
    }

    // As reap(), but on_cqe(const nvme::cqe& entry, std::uint16_t status) gets the entry where it
    // lies in the ring, so it loads only the words it uses, and the status already loaded with the
    // phase bit (use it, not entry.status). The entry is valid during the call only (the device
    // may reuse the slot once the head doorbell below is written): copy it to keep it.
    // The ring position lives in locals during the walk, so on_cqe must not use this queue pair's
    // CQ state; it may submit, which touches only the SQ tail. The SQ head (SQHD) is not read:
    // the I/O queues bound their SQ by command ids (io_queue.hpp), so a word per entry is saved;
    // reap() tracks it for push() / sq_free().
    template <typename F>
    unsigned reap_in_place(F&& on_cqe, unsigned budget = ~0u) {
        unsigned n = 0;
        std::uint32_t phase = phase_;
        const nvme::cqe* const cq = cq_;
        const nvme::cqe* const end = cq + depth_;
        // A cursor instead of an index: no address computation per entry.
        const nvme::cqe* e = cq + cq_head_;
        for (;;) {
            // Folded away for the default (unbounded) budget once inlined: no compare per entry.
            if (budget != ~0u && n >= budget) break;
            const auto status = device_load<std::uint16_t>(&e->status);
            if ((status & 1u) != phase) break;
            barrier_after_phase();  // nothing else of the entry is read before its phase bit
            ++n;
            on_cqe(*e, status);
            if (++e == end) {
                e = cq;
                phase ^= 1u;
            }
        }
        const auto head = static_cast<std::uint32_t>(e - cq);
        cq_head_ = head;
        phase_ = phase;
        if (n) {
            counters_.completed += n;
            barrier_before_cq_doorbell();
            cq_db_.write(static_cast<std::uint16_t>(head), counters_.cq_db);
        }
        return n;
    }

    // For a poll's fast path that takes exactly one entry (io_queue::poll): the head entry and
    // where the head goes after it. The ring position is read into locals before the phase bit,
    // so the barrier after it (a compiler fence at least) reloads none of it.
    struct posted_head {
        const nvme::cqe* entry;  // the head entry, posted
        const nvme::cqe* after;  // the entry after it
        std::uint32_t next;      // the head after consuming it
        std::uint32_t phase;     // the phase then
        std::uint16_t status;    // entry's status, loaded with its phase bit
    };
    // True, with `h` filled and the barrier after the phase bit done, if the controller posted
    // the entry at the head. Nothing is consumed.
    [[gnu::always_inline]] bool head_if_posted(posted_head& h) const noexcept {
        const nvme::cqe* const cq = cq_;
        const std::uint32_t head = cq_head_, phase = phase_, depth = depth_;
        const nvme::cqe* const e = cq + head;
        const auto status = device_load<std::uint16_t>(&e->status);
        if ((status & 1u) != phase) return false;
        barrier_after_phase();  // nothing else of the entry is read before its phase bit
        const bool wrap = head + 1 == depth;
        h.entry = e;
        h.after = wrap ? cq : e + 1;
        h.next = wrap ? 0 : head + 1;
        h.phase = wrap ? phase ^ 1u : phase;
        h.status = status;
        return true;
    }
    // Whether the entry after the head is posted as well (the fast path then leaves the poll to
    // reap_in_place()). A peek: nothing is consumed.
    [[gnu::always_inline]] static bool after_posted(const posted_head& h) noexcept {
        return (device_load<std::uint16_t>(&h.after->status) & 1u) == h.phase;
    }
    // Consume the head entry (head_if_posted() returned it, its callback ran) and write the CQ
    // head doorbell: reap_in_place()'s end for one entry. The CQ doorbell must be direct().
    // The phase flips where the head wraps to 0 (tested here rather than kept in a register
    // across the caller's completion).
    [[gnu::always_inline]] void consume_head_direct(const posted_head& h) noexcept {
        cq_head_ = h.next;
        if (h.next == 0) [[unlikely]]
            phase_ ^= 1u;
        ++counters_.completed;
        barrier_before_cq_doorbell();
        cq_db_.write_direct(static_cast<std::uint16_t>(h.next), counters_.cq_db);
    }

    // A completion is waiting at the head (a peek: nothing is consumed).
    bool cq_ready() const noexcept {
        return (device_load<std::uint16_t>(&cq_[cq_head_].status) & 1u) == phase_;
    }

    // After the controller was disabled: consume the CQEs it posted before it stopped, without a
    // CQ head doorbell (there is no queue to tell any more). Returns the number consumed.
    template <typename F>
    unsigned reap_quiet(F&& on_cqe) {
        unsigned n = 0;
        while (n < depth_) {
            const nvme::cqe* e = &cq_[cq_head_];
            const auto status = device_load<std::uint16_t>(&e->status);
            if ((status & 1u) != phase_) break;
            barrier_after_phase();
            nvme::cqe c = *e;
            c.status = status;
            if (++cq_head_ == depth_) {
                cq_head_ = 0;
                phase_ ^= 1u;
            }
            ++n;
            on_cqe(c);
        }
        counters_.completed += n;
        return n;
    }

    // Both doorbells' registers written again with their current values (see doorbell::kick).
    void kick_doorbells() noexcept {
        barrier_before_doorbell();
        sq_db_.kick(counters_.sq_db);
        cq_db_.kick(counters_.cq_db);
    }

    const queue_counters& counters() const noexcept { return counters_; }
    std::uint32_t sq_tail() const noexcept { return sq_tail_; }
    std::uint32_t sq_head() const noexcept { return sq_head_; }
    std::uint32_t cq_head() const noexcept { return cq_head_; }
    std::uint32_t phase() const noexcept { return phase_; }
    std::uint32_t sq_rung() const noexcept { return sq_rung_; }
    // The rings themselves, for diagnostics (io_queue::dump_stuck).
    const nvme::sqe* sq_ring() const noexcept { return sq_; }
    const nvme::cqe* cq_ring() const noexcept { return cq_; }

  private:
    nvme::sqe* sq_ = nullptr;
    nvme::cqe* cq_ = nullptr;
    std::uint32_t depth_ = 0;
    std::uint32_t sq_tail_ = 0, sq_head_ = 0, sq_rung_ = 0;
    std::uint32_t cq_head_ = 0;
    std::uint32_t phase_ = 1;
    std::uint16_t qid_ = 0;
    doorbell sq_db_, cq_db_;
    queue_counters counters_;
};

}  // namespace convme::driver

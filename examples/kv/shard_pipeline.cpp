// SPDX-License-Identifier: MIT
// Shard: the pipelined group commit. The writer issues each sealed batch as a detached write while
// earlier batches still wait for their flush (up to batches_in_flight not yet durable). Whenever
// writes have completed since the last flush was issued, a flush is issued (up to
// flushes_in_flight at a time, one by default); when it completes, every batch written before it
// was issued, up to the first batch still being written, becomes durable (flushes may complete
// in any order: one covers at least what every flush issued before it covers). So the next
// batch's write overlaps the previous batch's flush.
//
// Crash safety with batches landing out of order: a crash may leave batch N+1 on the device
// without N. Nothing in N+1 was acknowledged (acks go in ticket order). Recovery stops at N's
// spot: it holds nothing, a torn N, or leftovers of an earlier run whose epoch is lower than the
// record before them. The next run appends from there with an epoch above every epoch recovery
// saw, so when its records reach N+1's leftovers the scan rejects those as older. Two rules keep
// this true:
//   - a run's epoch record is durable before any other batch of the run is written
//     (window_full): if anything of a run survives, so does its epoch record, which the next
//     run's recovery sees, so no two runs share an epoch;
//   - a half header is written alone, after the batches before it are durable and before any
//     batch behind it (writer_loop), so holes only exist at the end of the newest half.
#include <algorithm>
#include <convme/loop.hpp>

#include "shard.hpp"

namespace kv {

bool shard::window_full() const noexcept {
    if (failed_) return false;
    // Nothing overtakes this run's epoch record: a batch landing without it would carry an epoch
    // the next run could reuse, and then pass recovery's epoch check.
    if (durable_ < epoch_ticket_ && window_.last_issued() >= epoch_ticket_) return true;
    // A batch holds its slot until durable, not just written: the window bounds unacked batches.
    return window_.last_issued() - durable_ >= std::max(1u, opts_.batches_in_flight);
}

void shard::start_batch_write(pending_op op) {
    window_.issued(op.ticket);
    ++io_in_flight_;
    home_->spawn(batch_write(std::move(op)));
}

convme::task<void> shard::batch_write(pending_op op) {
    // The frame owns the batch buffer, so it stays alive until the device is done with it.
    const std::uint64_t off = half_base(op.half) + op.pos;
    std::error_code ec =
        co_await dev_.write(off, std::span<const std::byte>(op.buf.data(), op.buf.size()));
    if (ec) {
        fail(ec);  // fails this batch and every later one; nothing is acknowledged after it
    } else if (!failed_) {
        ++stats_.batches_written;
        stats_.bytes_written += op.buf.size();
        stats_.records_written += op.records;
        window_.written(op.ticket);
        if (dev_.info().supports_flush && !dev_.info().writes_durable) {
            note_written();
            maybe_flush();
        } else  // no volatile cache, or a write durable by itself (RWF_DSYNC): written is durable
            mark_durable(window_.written_through());
        if (!closing_) maybe_start_compaction();
    }
    recycle_buffer(std::move(op.buf));
    io_finished();
}

void shard::note_written() {
    if (hub_ == nullptr) return;
    const std::uint64_t through = window_.written_through();
    if (through <= durable_ || (!marks_.empty() && marks_.back().through >= through)) return;
    // Every batch <= through has completed: any flush issued from now on covers them.
    marks_.push_back({through, hub_->issued() + 1});
}

void shard::apply_shared() {
    if (hub_ == nullptr) return;
    const std::uint64_t done = hub_->completed();
    std::uint64_t through = 0;
    while (!marks_.empty() && (marks_.front().gen <= done || marks_.front().through <= durable_)) {
        if (marks_.front().gen <= done) through = std::max(through, marks_.front().through);
        marks_.pop_front();
    }
    if (through > durable_) {
        ++stats_.shared_flushes;
        mark_durable(through);
    }
}

void shard::on_shared_flush() {
    if (!opened_ || failed_) return;
    const std::uint64_t before = durable_;
    apply_shared();
    maybe_flush();  // the hub may be broken now, or writes may still wait for a flush
    if (durable_ > before) wake_writer();  // the window has room again
}

void shard::maybe_flush() {
    if (failed_ || window_.written_through() <= std::max(durable_, flush_covers_)) return;
    if (flushes_running_ >= std::max(1u, opts_.flushes_in_flight)) return;
    if (hub_ != nullptr && !hub_->broken() && !closing_) {  // closing: the others may be gone
        apply_shared();
        if (window_.written_through() <= durable_) return;
        // A flush issued (by any shard of the device) after our newest writes completed covers
        // them: wait for it (on_shared_flush) instead of queueing a second one behind it.
        if (!marks_.empty() && hub_->issued() >= marks_.back().gen) return;
    }
    ++flushes_running_;
    ++io_in_flight_;
    flush_covers_ = window_.written_through();  // at least what the flush will cover
    home_->spawn(flush_written());
}

convme::task<void> shard::flush_written() {
    // A flush covers only writes that completed before it was issued: take the prefix now, in
    // the same step that submits the flush.
    const std::uint64_t covers = window_.written_through();
    const std::uint64_t gen = hub_ != nullptr ? hub_->begin() : 0;
    std::error_code ec = co_await dev_.flush();
    --flushes_running_;
    if (ec) {
        if (hub_ != nullptr) hub_->failed(this);
        fail(ec);
    } else if (!failed_) {
        ++stats_.flushes;
        mark_durable(covers);
        if (hub_ != nullptr) {
            hub_->finished(gen, this);
            apply_shared();
        }
        maybe_flush();  // writes that completed while this flush ran need the next one
    }
    io_finished();
}

void shard::io_finished() noexcept {
    --io_in_flight_;
    wake_writer();
}

}  // namespace kv

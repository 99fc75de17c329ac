// SPDX-License-Identifier: MIT
// Shard: the writer task (seals batches, keeps half switches in order) and durability tickets.
#include <convme/loop.hpp>
#include <cstdio>

#include "shard.hpp"

namespace kv {

namespace {
// Parks the writer until new work arrives (for_io = false) or a write or flush completes.
struct park_awaiter {
    std::coroutine_handle<>& slot;
    bool& waits_io;
    bool for_io;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
        slot = h;
        waits_io = for_io;
    }
    void await_resume() const noexcept { waits_io = false; }
};
}  // namespace

convme::task<std::error_code> shard::wait_durable(std::uint64_t ticket) {
    if (ticket <= durable_) co_return std::error_code{};
    if (failed_) co_return failed_;
    struct awaiter {
        shard* s;
        std::uint64_t ticket;
        std::error_code ec;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) {
            s->waiters_.emplace(ticket, waiter{h, &ec});
        }
        std::error_code await_resume() const noexcept { return ec; }
    };
    co_return co_await awaiter{this, ticket, {}};
}

void shard::mark_durable(std::uint64_t ticket) {
    if (ticket > durable_) durable_ = ticket;
    auto* lp = home_;
    while (!waiters_.empty() && waiters_.begin()->first <= durable_) {
        lp->schedule(waiters_.begin()->second.h);
        waiters_.erase(waiters_.begin());
    }
}

void shard::fail(std::error_code ec) {
    if (!failed_) {
        failed_ = ec;
        std::fprintf(stderr,
                     "kv: shard %u: writing the log failed (%s); the shard now rejects writes. "
                     "Check the device and restart: recovery keeps every acknowledged write.\n",
                     geo_.index, ec.message().c_str());
    }
    auto* lp = home_;
    for (auto& [t, w] : waiters_) {
        *w.ec = failed_;
        lp->schedule(w.h);
    }
    waiters_.clear();
}

convme::task<std::error_code> shard::write_header(pending_op& op) {
    std::error_code ec = co_await dev_.write(
        half_base(op.half), std::span<const std::byte>(op.buf.data(), op.buf.size()));
    // The header is durable before any batch behind it is written.
    if (!ec && dev_.info().supports_flush) ec = co_await dev_.flush();
    co_return ec;
}

shard::writer_step shard::next_writer_step() {
    for (;;) {
        if (!queue_.empty()) {
            if (failed_) {  // once the log failed nothing more goes to the device
                if (!queue_.front().header) recycle_buffer(std::move(queue_.front().buf));
                queue_.pop_front();
                continue;
            }
            // A half switch must not overtake a batch before it, nor be overtaken by one after
            // it: drain the pipeline, then write the header alone.
            if (queue_.front().header)
                return io_in_flight_ > 0 ? writer_step::wait_for_io : writer_step::write_header;
            if (window_full()) return writer_step::wait_for_io;
            pending_op op = std::move(queue_.front());
            queue_.pop_front();
            start_batch_write(std::move(op));
            continue;
        }
        if (open_.size() == 0) {
            if (!closing_) return writer_step::wait_for_work;
            // Batches that waited for another shard's flush get one of their own now.
            if (!failed_ && flushes_running_ == 0 && durable_ < window_.written_through())
                maybe_flush();
            return io_in_flight_ > 0 ? writer_step::wait_for_io : writer_step::exit;
        }
        // The open batch keeps filling while the window is full, and also while a batch write is
        // still in progress: sealing on every tick would split the stream into many small writes
        // that fill the window, while one write at a time, each carrying what arrived during the
        // previous one, already overlaps the running flush. (Batches sealed by size, in the queue
        // above, go out at once.)
        if (window_full() || (!failed_ && window_.writing())) return writer_step::wait_for_io;
        return writer_step::seal;
    }
}

// The suspending part of the writer; next_writer_step() decides (and issues batch writes).
convme::task<void> shard::writer_loop() {
    writer_running_ = true;
    for (;;) {
        const writer_step step = next_writer_step();
        if (step == writer_step::exit) break;
        if (step == writer_step::write_header) {
            pending_op op = std::move(queue_.front());
            queue_.pop_front();
            const std::error_code ec = co_await write_header(op);
            if (ec) fail(ec);
        } else if (step == writer_step::seal) {
            // Group commit: let every client that runs in this loop iteration add its records.
            co_await convme::yield();
            seal_open();
        } else {
            co_await park_awaiter{writer_parked_, writer_waits_io_,
                                  step == writer_step::wait_for_io};
        }
    }
    writer_running_ = false;
    if (writer_done_waiter_) home_->schedule(std::exchange(writer_done_waiter_, {}));
}

convme::task<void> shard::close() {
    if (!opened_ || closing_) co_return;
    closing_ = true;
    struct wait_slot {
        std::coroutine_handle<>* slot;
        std::vector<std::coroutine_handle<>>* list;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) {
            if (slot)
                *slot = h;
            else
                list->push_back(h);
        }
        void await_resume() const noexcept {}
    };
    while (compacting_) co_await wait_slot{nullptr, &compaction_done_waiters_};
    if (writer_running_) {
        wake_writer();
        co_await wait_slot{&writer_done_waiter_, nullptr};
    }
    // Nothing is left to write; anyone still waiting was failed by the writer.
    for (auto& [t, w] : waiters_) {
        *w.ec = failed_ ? failed_ : std::make_error_code(std::errc::operation_canceled);
        home_->schedule(w.h);
    }
    waiters_.clear();
    if (hub_ != nullptr) hub_->leave(this);
    opened_ = false;
}

}  // namespace kv

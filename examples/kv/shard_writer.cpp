// Shard: the group-commit writer task and durability tickets.
#include "shard.hpp"

#include <convme/loop.hpp>

#include <cstdio>

namespace kv {

namespace {
struct park_awaiter {
    std::coroutine_handle<>& slot;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept { slot = h; }
    void await_resume() const noexcept {}
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
        void await_suspend(std::coroutine_handle<> h) { s->waiters_.emplace(ticket, waiter{h, &ec}); }
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

convme::task<std::error_code> shard::write_op(pending_op& op) {
    const std::uint64_t off = half_base(op.half) + op.pos;
    std::error_code ec = co_await dev_.write(off, std::span<const std::byte>(op.buf.data(), op.buf.size()));
    if (ec) co_return ec;
    // The flush makes the write (and everything before it) durable before anyone is answered.
    if (dev_.info().supports_flush) ec = co_await dev_.flush();
    co_return ec;
}

convme::task<void> shard::writer_loop() {
    writer_running_ = true;
    for (;;) {
        if (queue_.empty()) {
            if (open_.size() == 0) {
                if (closing_) break;
                co_await park_awaiter{writer_parked_};
                continue;
            }
            // Group commit: let every client that runs in this loop iteration add its records.
            co_await convme::yield();
            seal_open();
            continue;
        }
        pending_op op = std::move(queue_.front());
        queue_.pop_front();
        std::error_code ec = failed_;
        if (!ec) ec = co_await write_op(op);
        if (ec) {
            fail(ec);
        } else if (!op.header) {
            ++stats_.batches_written;
            stats_.bytes_written += op.buf.size();
            stats_.records_written += op.records;
            mark_durable(op.ticket);
        }
        if (!op.header) spare_.push_back(std::move(op.buf));
        if (spare_.size() > 4) spare_.resize(4);
        if (!failed_ && !closing_) maybe_start_compaction();
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
            if (slot) *slot = h;
            else list->push_back(h);
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
    opened_ = false;
}

}  // namespace kv

// SPDX-License-Identifier: MIT
// Shard: compaction. Appends switch to the other half at once (a new half header with a new
// epoch goes first in the write queue); then the compactor re-appends every live record still in
// the old half, in slices, waiting for each slice to be durable so it never floods the writer.
// Readers are never blocked: values are served from memory and the index stays current.
#include <convme/loop.hpp>
#include <cstdio>

#include "shard.hpp"

namespace kv {

namespace {
constexpr std::size_t kCopySlice = 256 * 1024;
}

void shard::maybe_start_compaction() {
    if (!opts_.auto_compact || compacting_ || failed_ || closing_ || !opened_) return;
    const std::uint64_t used = next_pos_;
    if (used * 100 < geo_.half_size * opts_.compact_at_percent) return;
    if (live_bytes() * 100 >= geo_.half_size * opts_.compact_live_below_percent) return;
    if (used < 2 * live_bytes()) return;  // each compaction must at least halve the log
    start_compaction();
}

void shard::start_compaction() {
    if (compacting_ || failed_ || closing_ || !opened_) return;
    compacting_ = true;
    // If live records are still in the other half (an interrupted or failed compaction), finish
    // copying them into the current half; switching now would overwrite them.
    if (live_half_[1 - cur_half_] == 0) request_switch();
    home_->spawn(compactor());
}

convme::task<void> shard::compactor() {
    const std::uint8_t target = cur_half_;
    const std::int64_t now = now_ms();
    std::vector<std::string> keys;
    for (const auto& [k, e] : index_)
        if (e.half != target) keys.push_back(k);

    std::error_code ec;
    std::uint64_t last = 0;
    std::size_t slice = 0;
    for (const auto& k : keys) {
        if (closing_ || failed_) break;
        auto it = index_.find(k);
        if (it == index_.end() || it->second.half == target)
            continue;  // rewritten or deleted meanwhile
        if (expired(it->second, now)) {
            drop_entry(it);
            continue;
        }
        entry& e = it->second;
        auto r = append(record_type::put, k, e.value, e.expire_at, nullptr, true);
        if (r.ec) {
            ec = r.ec;
            break;
        }
        live_half_[e.half] -= e.record_bytes;
        e.half = cur_half_;
        live_half_[e.half] += e.record_bytes;
        last = r.ticket;
        ++stats_.records_copied;
        slice += e.record_bytes;
        if (slice >= kCopySlice) {
            slice = 0;
            ec = co_await wait_durable(last);
            if (ec) break;
        }
    }
    if (!ec && last != 0) ec = co_await wait_durable(last);
    if (!ec && (closing_ || failed_))
        ec = failed_ ? failed_ : std::make_error_code(std::errc::operation_canceled);
    last_compaction_error_ = ec;
    if (ec) {
        if (ec != std::errc::operation_canceled)
            std::fprintf(stderr,
                         "kv: shard %u: compaction stopped (%s); live records stay in both halves "
                         "and the next compaction resumes the copy\n",
                         geo_.index, ec.message().c_str());
    } else {
        ++stats_.compactions;
        std::fprintf(
            stderr,
            "kv: shard %u: compaction done, %zu live keys now in log half %u (%llu bytes used)\n",
            geo_.index, index_.size(), static_cast<unsigned>(target),
            static_cast<unsigned long long>(next_pos_));
    }
    compacting_ = false;
    auto* lp = home_;
    for (auto h : compaction_done_waiters_) lp->schedule(h);
    compaction_done_waiters_.clear();
}

convme::task<std::error_code> shard::compact() {
    struct wait_done {
        shard* s;
        bool await_ready() const noexcept { return !s->compacting_; }
        void await_suspend(std::coroutine_handle<> h) { s->compaction_done_waiters_.push_back(h); }
        void await_resume() const noexcept {}
    };
    co_await wait_done{this};  // let a running one finish first
    if (failed_) co_return failed_;
    start_compaction();
    co_await wait_done{this};
    co_return last_compaction_error_;
}

}  // namespace kv

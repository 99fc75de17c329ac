// SPDX-License-Identifier: MIT
// Shard: synchronous index operations and appending records to the open batch.
#include "shard.hpp"

#include <algorithm>
#include <convme/loop.hpp>
#include <cstring>

namespace kv {

shard::shard(convme::block_device& dev, shard_geometry geo, shard_options opts)
    : dev_(dev), geo_(geo), opts_(opts) {}

shard::~shard() = default;

io_buffer shard::take_buffer() {
    if (!spare_.empty()) {
        io_buffer b = std::move(spare_.back());
        spare_.pop_back();
        b.clear();
        return b;
    }
    return io_buffer(64 * 1024, std::max<std::size_t>(geo_.mem_alignment, geo_.block_size));
}

void shard::recycle_buffer(io_buffer buf) {
    // Enough spares for every batch in flight plus the open one: no allocation in steady state.
    if (spare_.size() <= opts_.batches_in_flight) spare_.push_back(std::move(buf));
}

void shard::drop_entry(index_map::iterator it) {
    live_half_[it->second.half] -= it->second.record_bytes;
    index_.erase(it);
}

void shard::prefetch(std::uint64_t key_hash) const noexcept {
    // libstdc++ picks bucket hash % bucket_count(); were that to differ, this would only fetch
    // the wrong line. begin(n) reads the bucket and the node before it, independent loads across
    // a pipeline's keys.
    const std::size_t n = static_cast<std::size_t>(key_hash) % index_.bucket_count();
    auto it = index_.begin(n);
    if (it != index_.end(n)) __builtin_prefetch(&*it);
}

entry* shard::find(const hashed_key& key, std::int64_t now) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    if (expired(it->second, now)) {
        drop_entry(it);  // memory only: the record's own expiry keeps it dead after recovery
        return nullptr;
    }
    return &it->second;
}

std::size_t shard::sweep_expired(std::int64_t now, std::size_t buckets) {
    const std::size_t count = index_.bucket_count();
    if (count == 0 || index_.empty()) return 0;
    std::vector<std::string> dead;
    for (std::size_t i = 0; i < buckets && i < count; ++i) {
        std::size_t b = (sweep_cursor_ + i) % count;
        for (auto it = index_.begin(b); it != index_.end(b); ++it)
            if (expired(it->second, now)) dead.push_back(it->first);
    }
    sweep_cursor_ = (sweep_cursor_ + buckets) % count;
    for (const auto& k : dead) {
        auto it = index_.find(k);
        if (it != index_.end()) drop_entry(it);
    }
    return dead.size();
}

std::uint64_t shard::read_ticket(const entry* e) const noexcept {
    if (e != nullptr) return e->ticket;
    return open_.size() > 0 ? sealed_ + 1 : sealed_;
}

void shard::wake_writer() noexcept {
    if (writer_parked_) {
        writer_waits_io_ = false;
        auto h = std::exchange(writer_parked_, {});
        home_->schedule(h);
    }
}

void shard::seal_open() {
    if (open_.size() == 0) return;
    const std::size_t used = open_.size();
    const std::size_t padded = align_up(used);
    open_.resize(padded);
    std::memset(open_.data() + used, 0, padded - used);  // zero padding ends the batch
    pending_op op;
    op.half = cur_half_;
    op.pos = next_pos_;
    op.ticket = ++sealed_;
    op.records = open_records_;
    op.buf = std::move(open_);
    next_pos_ += padded;
    open_ = take_buffer();
    open_records_ = 0;
    queue_.push_back(std::move(op));
    wake_writer();
}

void shard::request_switch() {
    seal_open();  // what was appended so far belongs to the current half
    const std::uint8_t target = static_cast<std::uint8_t>(1 - cur_half_);
    ++epoch_;  // stale records left in the target half from its earlier use are now older
    pending_op op;
    op.header = true;
    op.half = target;
    op.pos = 0;
    op.buf = io_buffer(geo_.block_size, std::max<std::size_t>(geo_.mem_alignment, geo_.block_size));
    op.buf.resize(geo_.block_size);
    std::memset(op.buf.data(), 0, geo_.block_size);
    encode_half_header({epoch_, geo_.index, target}, op.buf.data());
    queue_.push_back(std::move(op));
    cur_half_ = target;
    next_pos_ = geo_.block_size;
    wake_writer();
}

bool shard::fits(std::size_t bytes, room kind) const noexcept {
    const std::uint64_t limit =
        kind == room::freeing ? geo_.half_size : geo_.half_size - reserve_bytes();
    return next_pos_ + open_.size() + claimed_ + bytes <= limit;
}

std::error_code shard::make_room(std::size_t bytes, room kind) {
    if (failed_) return failed_;
    if (!opened_) return std::make_error_code(std::errc::not_connected);
    if (read_only_) return std::make_error_code(std::errc::no_space_on_device);
    if (fits(bytes, kind)) return {};
    // The half is full: switching to the other half frees space if the live data is small.
    // Forced compaction: worth it while the live data leaves a quarter of a half free.
    if (!compacting_ && (live_bytes() + bytes) * 4 < geo_.half_size * 3) start_compaction();
    if (fits(bytes, kind)) return {};
    return std::make_error_code(std::errc::no_space_on_device);
}

std::error_code shard::claim_room(std::size_t record_bytes, room kind, claim& c) {
    // Sealing a batch pads it to a block: allow for the seals that may happen meanwhile.
    const std::size_t want =
        record_bytes + geo_.block_size * (2 + record_bytes / opts_.max_batch_bytes);
    std::error_code ec = make_room(want, kind);
    if (ec) return ec;
    claimed_ += want;
    c.held += want;
    return {};
}

void shard::release(claim& c) noexcept {
    claimed_ -= std::min(claimed_, c.held);
    c.held = 0;
}

shard::write_result shard::append(record_type type, std::string_view key, std::string_view value,
                                  std::int64_t expire_at, claim* c, bool copy) {
    const std::size_t rs = record_size(key.size(), value.size());
    if (key.size() + value.size() > max_record_bytes())
        return {std::make_error_code(std::errc::value_too_large), 0};
    if (open_.size() > 0 && open_.size() + rs > opts_.max_batch_bytes) seal_open();
    if (c != nullptr && c->held >= rs) {
        if (failed_) return {failed_, 0};
        if (!opened_) return {std::make_error_code(std::errc::not_connected), 0};
        c->held -= rs;  // the claim's room becomes this record's
        claimed_ -= std::min(claimed_, rs);
    } else {
        // Compaction copies may use the reserve too: a compaction must always be able to finish.
        const bool frees = copy || type == record_type::del || type == record_type::expire ||
                           type == record_type::flush || type == record_type::epoch;
        std::error_code ec = make_room(rs, frees ? room::freeing : room::data);
        if (ec) return {ec, 0};
    }
    const std::size_t at = open_.size();
    open_.resize(at + rs);
    record_view r;
    r.type = type;
    r.epoch = epoch_;
    r.seq = seq_++;
    r.expire_at = expire_at;
    r.key = key;
    r.value = value;
    encode_record(r, open_.data() + at);
    ++open_records_;
    // A writer waiting for I/O seals the open batch after the completion that wakes it anyway.
    if (!writer_waits_io_) wake_writer();
    return {{}, sealed_ + 1};
}

shard::write_result shard::put(const hashed_key& hk, std::string value, std::int64_t expire_at,
                               claim* c, std::string* owned_key) {
    const std::string_view key = hk.key;
    auto res = append(record_type::put, key, value, expire_at, c);
    if (res.ec) return res;
    const std::size_t key_size = key.size();  // `key` may dangle once owned_key is moved
    auto it = index_.find(hk);
    if (it == index_.end())
        it = index_.emplace(owned_key ? std::move(*owned_key) : std::string(key), entry{}).first;
    else
        live_half_[it->second.half] -= it->second.record_bytes;
    entry& e = it->second;
    e.value = std::move(value);
    e.expire_at = expire_at;
    e.ticket = res.ticket;
    e.record_bytes = static_cast<std::uint32_t>(record_size(key_size, e.value.size()));
    e.half = cur_half_;
    live_half_[e.half] += e.record_bytes;
    return res;
}

shard::write_result shard::erase(std::string_view key, claim* c) {
    auto it = index_.find(key);
    if (it == index_.end()) return {{}, read_ticket(nullptr)};
    auto res = append(record_type::del, key, {}, 0, c);
    if (res.ec) return res;
    drop_entry(it);
    return res;
}

shard::write_result shard::set_expire(std::string_view key, std::int64_t expire_at) {
    auto it = index_.find(key);
    if (it == index_.end()) return {{}, read_ticket(nullptr)};
    auto res = append(record_type::expire, key, {}, expire_at);
    if (res.ec) return res;
    it->second.expire_at = expire_at;
    it->second.ticket = res.ticket;
    return res;
}

shard::write_result shard::flush_all(claim* c) {
    auto res = append(record_type::flush, {}, {}, 0, c);
    if (res.ec) return res;
    index_.clear();
    live_half_[0] = live_half_[1] = 0;
    return res;
}

}  // namespace kv

// SPDX-License-Identifier: MIT
// Shard: startup recovery. Scan the older half, then the newer one, applying records in log
// order; a half's scan stops at the first record that is torn, corrupt or older than the records
// before it (left from an earlier use of the half).
#include <algorithm>
#include <convme/loop.hpp>
#include <cstdio>
#include <cstring>
#include <exception>

#include "shard.hpp"

namespace kv {

convme::task<std::error_code> shard::read_headers(half_header (&h)[2], bool (&valid)[2]) {
    io_buffer buf(geo_.block_size, std::max<std::size_t>(geo_.mem_alignment, geo_.block_size));
    buf.resize(geo_.block_size);
    for (std::uint8_t half = 0; half < 2; ++half) {
        std::error_code ec = co_await dev_.read(half_base(half), buf.span());
        if (ec) co_return ec;
        valid[half] = decode_half_header(buf.span(), h[half]) && h[half].shard == geo_.index &&
                      h[half].half == half;
    }
    co_return std::error_code{};
}

convme::task<std::error_code> shard::write_fresh_header(std::uint8_t half,
                                                        std::uint64_t base_epoch) {
    io_buffer buf(geo_.block_size, std::max<std::size_t>(geo_.mem_alignment, geo_.block_size));
    buf.resize(geo_.block_size);
    std::memset(buf.data(), 0, geo_.block_size);
    encode_half_header({base_epoch, geo_.index, half}, buf.data());
    std::error_code ec = co_await dev_.write(half_base(half), buf.span());
    if (!ec && dev_.info().supports_flush) ec = co_await dev_.flush();
    co_return ec;
}

void shard::apply(const record_view& r, std::uint8_t half, std::size_t bytes, std::int64_t now) {
    max_epoch_seen_ = std::max(max_epoch_seen_, r.epoch);
    max_seq_seen_ = std::max(max_seq_seen_, r.seq);
    switch (r.type) {
        case record_type::put: {
            if (r.expire_at != 0 && r.expire_at <= now) {
                auto it = index_.find(r.key);
                if (it != index_.end()) drop_entry(it);
                break;
            }
            // One hash lookup for both cases (most records of a log are new keys).
            auto [it, inserted] = index_.try_emplace(std::string(r.key));
            if (!inserted) live_half_[it->second.half] -= it->second.record_bytes;
            entry& e = it->second;
            e.value.assign(r.value);
            e.expire_at = r.expire_at;
            e.ticket = 0;
            e.record_bytes = static_cast<std::uint32_t>(bytes);
            e.half = half;
            live_half_[half] += e.record_bytes;
            break;
        }
        case record_type::del: {
            auto it = index_.find(r.key);
            if (it != index_.end()) drop_entry(it);
            break;
        }
        case record_type::expire: {
            auto it = index_.find(r.key);
            if (it == index_.end()) break;
            it->second.expire_at = r.expire_at;
            if (expired(it->second, now)) drop_entry(it);
            break;
        }
        case record_type::flush:
            index_.clear();
            live_half_[0] = live_half_[1] = 0;
            break;
        case record_type::epoch:
            break;
    }
}

void shard::presize_index(std::uint64_t scanned, std::uint64_t left) {
    // Rehashing all keys at every doubling was 16 % of recovery's CPU (1M keys). Below this many
    // keys doubling is cheap; above, grow once to what the rest of the half would bring at the
    // keys per byte seen so far (at most kMaxGrowth times the keys now: a half that ends early
    // wastes only bucket pointers, 8 bytes each).
    constexpr std::size_t kPresizeFrom = 1u << 15;
    constexpr std::size_t kMaxGrowth = 64;
    const std::size_t keys = index_.size();
    if (keys < kPresizeFrom || scanned == 0) return;
    if (static_cast<double>(keys + 1) <=
        static_cast<double>(index_.bucket_count()) * index_.max_load_factor())
        return;  // the next key fits without a rehash
    const double per_byte = static_cast<double>(keys) / static_cast<double>(scanned);
    const auto projected = keys + static_cast<std::size_t>(per_byte * static_cast<double>(left));
    index_.reserve(std::min(std::max(projected, 2 * keys), kMaxGrowth * keys));
}

convme::task<std::error_code> shard::scan_half(std::uint8_t half, std::uint64_t base_epoch,
                                               std::uint64_t& end) {
    const std::uint64_t bs = geo_.block_size;
    const std::size_t chunk = static_cast<std::size_t>(
        std::max<std::uint64_t>(
            std::min<std::uint64_t>(opts_.scan_chunk_bytes, geo_.half_size) / bs, 1) *
        bs);
    scan_reader reader(dev_, half_base(half) + bs, half_base(half) + geo_.half_size, chunk,
                       opts_.scan_read_ahead, std::max<std::size_t>(geo_.mem_alignment, bs));
    std::string reason = "reached the end of the half";
    end = bs;
    std::error_code ec;
    std::exception_ptr failure;  // the reads in flight must finish before `reader` goes away
    try {
        ec = co_await replay_half(reader, half, base_epoch, end, reason);
    } catch (...) {
        failure = std::current_exception();
    }
    co_await reader.drain();
    if (failure) std::rethrow_exception(failure);
    if (ec) co_return ec;
    scanned_bytes_ += end - bs;
    stats_.recovered_end[half] = end;
    stats_.recovery_stop[half] = reason;
    co_return std::error_code{};
}

convme::task<std::error_code> shard::replay_half(scan_reader& reader, std::uint8_t half,
                                                 std::uint64_t base_epoch, std::uint64_t& end,
                                                 std::string& reason) {
    const std::uint64_t bs = geo_.block_size;
    std::vector<std::byte> win;  // device bytes [win_off, win_off + win.size()) of this half
    std::uint64_t win_off = bs;
    std::uint64_t pos = bs;
    std::uint64_t last_epoch = base_epoch;
    std::size_t need = 1;
    const std::int64_t now = now_ms();  // expiry of the replayed records is judged at scan time
    for (;;) {
        while (pos + need > win_off + win.size()) {
            if (reader.at_end()) co_return std::error_code{};
            const std::uint64_t keep_from = pos / bs * bs;
            if (keep_from > win_off) {
                win.erase(win.begin(),
                          win.begin() + static_cast<std::ptrdiff_t>(keep_from - win_off));
                win_off = keep_from;
            }
            std::span<const std::byte> got;
            std::error_code ec = co_await reader.next(got);
            if (ec) co_return ec;
            win.insert(win.end(), got.begin(), got.end());
        }
        record_view r;
        std::size_t size = 0;
        const std::size_t at = static_cast<std::size_t>(pos - win_off);
        switch (
            decode_record(std::span<const std::byte>(win.data() + at, win.size() - at), r, size)) {
            case decode_status::ok:
                if (r.epoch < last_epoch) {
                    reason =
                        "found a record older than the one before it (left from an earlier use)";
                    co_return std::error_code{};
                }
                last_epoch = r.epoch;
                if (r.type == record_type::put)
                    presize_index(scanned_bytes_ + (pos - bs), geo_.half_size - pos);
                apply(r, half, size, now);
                ++stats_.records_recovered;
                pos += size;
                end = pos;
                need = 1;
                break;
            case decode_status::padding:
                if (pos % bs == 0) {
                    reason = "end of log";
                    co_return std::error_code{};
                }
                pos = (pos + bs - 1) / bs * bs;  // batch padding: the next batch starts at a block
                need = 1;
                break;
            case decode_status::need_more:
                need = size;
                break;
            case decode_status::corrupt:
                reason = "bad magic or checksum (torn tail of an interrupted write)";
                co_return std::error_code{};
        }
    }
}

convme::task<std::error_code> shard::open() {
    home_ = convme::loop::current();
    half_header h[2];
    bool valid[2] = {false, false};
    std::error_code ec = co_await read_headers(h, valid);
    if (ec) co_return ec;
    if (!valid[0] && !valid[1]) {  // fresh region
        ec = co_await write_fresh_header(0, 1);
        if (ec) co_return ec;
        h[0] = {1, geo_.index, 0};
        valid[0] = true;
    }
    const std::uint8_t newer =
        (valid[0] && valid[1]) ? (h[1].base_epoch > h[0].base_epoch ? 1 : 0) : (valid[0] ? 0 : 1);
    const std::uint8_t older = static_cast<std::uint8_t>(1 - newer);
    std::uint64_t end = 0;
    scanned_bytes_ = 0;
    if (valid[older]) {
        ec = co_await scan_half(older, h[older].base_epoch, end);
        if (ec) co_return ec;
    }
    ec = co_await scan_half(newer, h[newer].base_epoch, end);
    if (ec) co_return ec;

    cur_half_ = newer;
    next_pos_ = align_up(end);
    epoch_ = std::max({max_epoch_seen_, h[0].base_epoch, h[1].base_epoch}) + 1;
    seq_ = max_seq_seen_ + 1;
    opened_ = true;
    read_only_ = false;
    marks_.clear();
    if (hub_ != nullptr) hub_->join(this, home_);
    closing_ = false;
    home_->spawn(writer_loop());

    // A durable record of the new epoch: whatever a crash left after it is older, so it can
    // never be mistaken for data written in this run.
    // It may use the reserve (an eighth of a half that new data cannot take), so a full store
    // starts. Should even that be used up, a compaction's half header carries the new epoch
    // instead; and if the live data is too big to compact, this run writes nothing at all, so it
    // needs no epoch of its own.
    auto r = append(record_type::epoch, {}, {}, 0);
    if (r.ec == std::errc::no_space_on_device) {
        if (live_half_[older] == 0 && live_bytes() * 4 < geo_.half_size * 3) {
            start_compaction();  // the switch header is written (and flushed) before anything else
            co_return std::error_code{};
        }
        read_only_ = true;
        std::fprintf(
            stderr,
            "kv: shard %u: the log is full (%llu bytes of live data in %llu-byte halves) and has "
            "no "
            "room for a start record; serving reads only, every write answers out of space. "
            "Restart on a bigger --device to write again.\n",
            geo_.index, static_cast<unsigned long long>(live_bytes()),
            static_cast<unsigned long long>(geo_.half_size));
        co_return std::error_code{};
    }
    if (r.ec) co_return r.ec;
    epoch_ticket_ = r.ticket;  // no batch of this run is written before this one is durable
    ec = co_await wait_durable(r.ticket);
    if (ec) co_return ec;
    // Live records still in the older half mean a compaction was interrupted: finish it.
    if (live_half_[older] > 0) start_compaction();
    co_return std::error_code{};
}

}  // namespace kv

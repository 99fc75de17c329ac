// SPDX-License-Identifier: MIT
// One shard of the KV store: an in-memory index plus a log region on the device, owned by a
// single core (every member is used from that core's loop only, so there are no locks).
//
// Writes are applied to the index at once and appended to the open batch; the writer task seals
// the batch once per loop iteration (group commit) and writes it while earlier batches may still
// be in flight (up to shard_options::batches_in_flight). A flush issued after a batch's write
// completed makes it durable; tickets become durable in order. Callers reply to a client only
// after wait_durable(ticket).
// The region has two halves; compaction switches appends to the other half and copies the live
// records there while clients keep reading and writing (see record.hpp for the format).
#pragma once

#include <convme/block_device.hpp>
#include <convme/loop.hpp>
#include <convme/task.hpp>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "commit_window.hpp"
#include "flush_hub.hpp"
#include "index.hpp"
#include "io_buffer.hpp"
#include "record.hpp"
#include "scan_reader.hpp"

namespace kv {

struct shard_geometry {
    std::uint32_t index = 0;          // shard number
    std::uint64_t region_offset = 0;  // byte offset of the region on the device
    std::uint64_t half_size = 0;      // bytes per half, a multiple of block_size
    std::uint32_t block_size = 512;
    std::uint32_t mem_alignment = 4096;
};

struct shard_options {
    // Start compacting when the active half is this full and the live data would fit in less
    // than `compact_live_below_percent` of a half.
    unsigned compact_at_percent = 70;
    unsigned compact_live_below_percent = 45;
    bool auto_compact = true;
    // Seal a batch early once it holds this much, so one huge pipeline does not make one huge
    // write.
    std::size_t max_batch_bytes = 4u << 20;
    // Batches written or being written but not yet durable, at most (pipelined group commit).
    // 1 = write, flush, acknowledge, then the next batch. More lets the next batches' writes
    // overlap a flush.
    unsigned batches_in_flight = 4;
    // Flushes in flight per shard, at most. With 1 a batch whose write completes while a flush
    // runs waits for that flush and then its own; with more, its flush is issued at once.
    unsigned flushes_in_flight = 1;
    // Recovery reads a half in chunks of this size, with this many further chunk reads in
    // flight while one is replayed (0: one read at a time, each waited for).
    std::size_t scan_chunk_bytes = 1u << 20;
    unsigned scan_read_ahead = 3;
};

struct shard_stats {
    std::uint64_t records_recovered = 0;
    std::uint64_t recovered_end[2] = {0, 0};  // where each half's valid records ended
    std::string recovery_stop[2];             // why the scan of each half stopped
    std::uint64_t batches_written = 0;
    std::uint64_t bytes_written = 0;
    std::uint64_t records_written = 0;
    std::uint64_t flushes = 0;  // flushes that made batches durable (half switches not counted)
    std::uint64_t shared_flushes = 0;  // times another shard's flush made batches durable
    std::uint64_t compactions = 0;
    std::uint64_t records_copied = 0;
};

class shard {
  public:
    shard(convme::block_device& dev, shard_geometry geo, shard_options opts = {});
    ~shard();
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;

    // Read both halves, rebuild the index, start the writer and make a new epoch durable.
    // Resumes an interrupted compaction. Must run on the owner core.
    convme::task<std::error_code> open();
    // Write everything still pending, stop the writer and the compactor.
    convme::task<void> close();

    // ---- synchronous operations, owner core only ----
    // Live entry for `key`, or nullptr (expired entries are dropped here).
    entry* find(const hashed_key& key, std::int64_t now);
    entry* find(std::string_view key, std::int64_t now) { return find(hashed_key(key), now); }
    // Start loading the index's first node for `key_hash` into the cache; changes nothing. A
    // pipeline's keys are mostly cold: their misses overlap when all are started before any
    // command runs, instead of each stalling its own lookup.
    void prefetch(std::uint64_t key_hash) const noexcept;
    std::size_t size() const noexcept { return index_.size(); }
    const index_map& index() const noexcept { return index_; }

    struct write_result {
        std::error_code ec;
        std::uint64_t ticket = 0;
    };
    // Room held for a command that writes several records (two-phase: claim on every shard it
    // touches, then write them all, or give the room back): a command either fits as a whole or
    // changes nothing. Pass the claim to the writes; release() returns what they did not use.
    struct claim {
        std::size_t held = 0;
    };
    // Writes that free space (tombstones, expirations, FLUSHDB, the epoch record of a start) may
    // use the last reserve_bytes() of a half; new data may not. So a full store can always be
    // emptied, restarted and compacted.
    enum class room { data, freeing };
    std::error_code claim_room(std::size_t record_bytes, room kind, claim& c);
    void release(claim& c) noexcept;

    // `owned_key`, if given, holds the key's bytes (key.key views it) and may be moved into the
    // index, which saves a copy; the caller must not use it (nor key) afterwards.
    write_result put(const hashed_key& key, std::string value, std::int64_t expire_at,
                     claim* c = nullptr, std::string* owned_key = nullptr);
    write_result put(std::string_view key, std::string value, std::int64_t expire_at,
                     claim* c = nullptr) {
        return put(hashed_key(key), std::move(value), expire_at, c);
    }
    write_result erase(std::string_view key,
                       claim* c = nullptr);  // appends a tombstone; no-op if absent
    write_result set_expire(std::string_view key, std::int64_t expire_at);  // key must exist
    write_result flush_all(claim* c = nullptr);

    // Ticket a reply that observed `e` (or a miss, e == nullptr) must wait for.
    std::uint64_t read_ticket(const entry* e) const noexcept;
    // Completes once batch `ticket` is on the device (or with the error that stopped the log).
    convme::task<std::error_code> wait_durable(std::uint64_t ticket);

    // Largest key+value this shard accepts (a quarter of a half, so compaction always has room).
    std::size_t max_record_bytes() const noexcept { return geo_.half_size / 4; }
    // The end of each half kept for writes that free space (an eighth of a half).
    std::uint64_t reserve_bytes() const noexcept { return align_up(geo_.half_size / 8); }
    // True if the last start found the log too full even for its epoch record and could not
    // compact: the shard serves reads and refuses every write.
    bool read_only() const noexcept { return read_only_; }
    std::uint64_t half_size() const noexcept { return geo_.half_size; }
    std::uint64_t used_bytes() const noexcept { return next_pos_; }
    std::uint64_t live_bytes() const noexcept { return live_half_[0] + live_half_[1]; }
    bool compacting() const noexcept { return compacting_; }
    std::error_code failure() const noexcept { return failed_; }
    const shard_stats& stats() const noexcept { return stats_; }
    std::uint32_t number() const noexcept { return geo_.index; }

    // Drop expired keys from memory, visiting at most `buckets` index buckets per call (the
    // log needs no tombstone: the record carries its expiry). Returns keys dropped.
    std::size_t sweep_expired(std::int64_t now, std::size_t buckets);

    // Share flushes with the other shards of the same device (store does this; before open()).
    void set_flush_hub(flush_hub* hub) noexcept { hub_ = hub; }
    // A flush by another shard of the device completed (or failed); owner core.
    void on_shared_flush();

    // Start a compaction unless one runs; compact() runs one and waits for it (tests, tools).
    void start_compaction();
    convme::task<std::error_code> compact();

  private:
    struct pending_op {
        bool header = false;  // write the half header of `half` (switch), else a batch of records
        std::uint8_t half = 0;
        std::uint64_t pos = 0;  // offset inside the half
        std::uint64_t ticket = 0;
        std::uint32_t records = 0;
        io_buffer buf;
    };
    struct waiter {
        std::coroutine_handle<> h;
        std::error_code* ec;
    };

    std::uint64_t half_base(std::uint8_t half) const noexcept {
        return geo_.region_offset + half * geo_.half_size;
    }
    std::uint64_t align_up(std::uint64_t v) const noexcept {
        return (v + geo_.block_size - 1) / geo_.block_size * geo_.block_size;
    }
    // Append one record to the open batch; returns its ticket or an error (no space / failed).
    // With a claim the room was checked already; without, `kind` says which room it may use.
    // `copy`: a compaction copy (may use the reserve).
    write_result append(record_type type, std::string_view key, std::string_view value,
                        std::int64_t expire_at, claim* c = nullptr, bool copy = false);
    bool fits(std::size_t bytes, room kind) const noexcept;
    std::error_code make_room(std::size_t bytes, room kind);  // forces a compaction if that helps
    void seal_open();             // move the open batch to the write queue
    void request_switch();        // seal, then queue a half header for the other half
    void wake_writer() noexcept;  // resume the writer if it is parked
    void mark_durable(std::uint64_t ticket);
    void fail(std::error_code ec);
    void maybe_start_compaction();
    io_buffer take_buffer();
    void recycle_buffer(io_buffer buf);
    void drop_entry(index_map::iterator it);

    enum class writer_step { exit, wait_for_work, wait_for_io, write_header, seal };
    writer_step next_writer_step();  // issues what can go out now, says what to wait for
    convme::task<void> writer_loop();
    convme::task<std::error_code> write_header(pending_op& op);
    // Pipelined group commit (shard_pipeline.cpp): detached batch writes and flushes.
    bool window_full() const noexcept;
    void start_batch_write(pending_op op);
    convme::task<void> batch_write(pending_op op);
    void maybe_flush();
    convme::task<void> flush_written();
    void note_written();  // with a hub: remember which flush generation covers the writes so far
    void apply_shared();  // with a hub: batches covered by completed flushes become durable
    void io_finished() noexcept;
    convme::task<void> compactor();
    convme::task<std::error_code> write_fresh_header(std::uint8_t half, std::uint64_t base_epoch);
    // Recovery helpers (shard_recovery.cpp).
    convme::task<std::error_code> read_headers(half_header (&h)[2], bool (&valid)[2]);
    convme::task<std::error_code> scan_half(std::uint8_t half, std::uint64_t base_epoch,
                                            std::uint64_t& end);
    convme::task<std::error_code> replay_half(scan_reader& reader, std::uint8_t half,
                                              std::uint64_t base_epoch, std::uint64_t& end,
                                              std::string& reason);
    // Before a replayed put: grow the index once for the rest of the half instead of doubling.
    void presize_index(std::uint64_t scanned, std::uint64_t left);
    void apply(const record_view& r, std::uint8_t half, std::size_t bytes, std::int64_t now);

    convme::block_device& dev_;
    convme::loop* home_ = nullptr;  // the owner core's loop (set by open())
    shard_geometry geo_;
    shard_options opts_;
    index_map index_;
    std::uint64_t live_half_[2] = {0, 0};  // bytes of live records in each half
    std::size_t sweep_cursor_ = 0;

    std::uint8_t cur_half_ = 0;   // half the open batch goes to
    std::uint64_t next_pos_ = 0;  // offset in cur_half_ where the open batch goes
    std::uint64_t epoch_ = 1;
    std::uint64_t seq_ = 1;
    std::uint64_t max_epoch_seen_ = 0;
    std::uint64_t max_seq_seen_ = 0;
    std::uint64_t scanned_bytes_ = 0;  // log bytes replayed by this start in halves done already

    io_buffer open_;
    std::uint32_t open_records_ = 0;
    std::deque<pending_op> queue_;
    std::vector<io_buffer> spare_;
    std::uint64_t sealed_ = 0;   // batches sealed (the open batch's ticket is sealed_ + 1)
    std::uint64_t durable_ = 0;  // batches on the device
    commit_window window_;       // batches whose write was issued / completed
    unsigned io_in_flight_ = 0;  // batch writes and flushes not completed yet
    unsigned flushes_running_ = 0;
    std::uint64_t flush_covers_ = 0;  // batches the newest flush issued covers
    std::uint64_t epoch_ticket_ = 0;  // batch holding this run's epoch record (see window_full)
    std::size_t claimed_ = 0;         // room held by claims (see claim_room)
    flush_hub* hub_ = nullptr;
    struct written_mark {
        std::uint64_t through;  // batches <= this had completed their writes...
        std::uint64_t gen;      // ...before any flush of this generation or later was issued
    };
    std::deque<written_mark> marks_;
    bool read_only_ = false;
    std::multimap<std::uint64_t, waiter> waiters_;
    std::error_code failed_;

    std::coroutine_handle<> writer_parked_{};
    bool writer_waits_io_ = false;  // parked until a write or flush completes
    bool writer_running_ = false;
    std::coroutine_handle<> writer_done_waiter_{};
    bool compacting_ = false;
    std::vector<std::coroutine_handle<>> compaction_done_waiters_;
    std::error_code last_compaction_error_;
    bool closing_ = false;
    bool opened_ = false;
    shard_stats stats_;

    friend struct writer_park;
};

}  // namespace kv

// SPDX-License-Identifier: MIT
// Recovery with read-ahead (several chunk reads in flight while one is replayed) must rebuild
// exactly the state that one read at a time (scan_read_ahead = 0, the scan as it was) rebuilds,
// and stop at the same record for the same reason: at the end of the log, at a torn tail that
// lies in a chunk read ahead, and at records left from an earlier run.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kv_test_util.hpp"

using kvtest::manual;
using kvtest::mem_device;
using kvtest::open_shard;
using kvtest::put_and_wait;
using kvtest::run;
using kvtest::wait_ticket;

namespace {

constexpr std::size_t kChunk = 4096;  // small chunks: a few batches span several of them

struct recovered {
    std::map<std::string, std::pair<std::string, std::int64_t>> keys;  // value, expiry
    std::uint64_t records = 0;
    std::uint64_t end[2] = {0, 0};
    std::string stop[2];
    std::uint64_t used = 0;

    bool operator==(const recovered&) const = default;
};

recovered recover(const std::vector<std::byte>& image, unsigned ahead, std::size_t chunk) {
    convme::loop lp;
    mem_device dev(image);  // a fresh copy: open() writes its epoch record
    kv::shard_options o = manual();
    o.scan_read_ahead = ahead;
    o.scan_chunk_bytes = chunk;
    auto s = open_shard(lp, dev, o);
    recovered r;
    if (!s) return r;
    for (const auto& [k, e] : s->index()) r.keys[k] = {e.value, e.expire_at};
    r.records = s->stats().records_recovered;
    for (int h = 0; h < 2; ++h) {
        r.end[h] = s->stats().recovered_end[h];
        r.stop[h] = s->stats().recovery_stop[h];
    }
    r.used = s->used_bytes();
    run(lp, s->close());
    return r;
}

// Every read-ahead depth and chunk size gives what one read at a time gives.
void expect_same_as_one_read_at_a_time(const std::vector<std::byte>& image,
                                       const std::string& stop_contains) {
    const recovered want = recover(image, 0, kChunk);
    ASSERT_FALSE(want.keys.empty());
    EXPECT_NE(want.stop[0].find(stop_contains), std::string::npos) << want.stop[0];
    for (unsigned ahead : {1u, 2u, 3u, 8u})
        for (std::size_t chunk : {kChunk, kChunk * 3, std::size_t{1} << 20})
            EXPECT_TRUE(recover(image, ahead, chunk) == want)
                << "ahead " << ahead << ", chunk " << chunk;
}

// Batches of varied size over ~12 chunks: overwrites, deletes, expiries, a value that spans
// several chunks. Returns where each batch started.
std::vector<std::uint64_t> write_batches(convme::loop& lp, kv::shard& s) {
    std::vector<std::uint64_t> starts;
    const std::int64_t later = kv::now_ms() + 3600 * 1000;
    for (int b = 0; b < 40; ++b) {
        starts.push_back(s.used_bytes());
        std::uint64_t last = 0;
        for (int i = 0; i <= b % 7; ++i)
            last =
                s.put("k" + std::to_string((b * 5 + i) % 40),
                      std::string(80 + 90 * i, static_cast<char>('a' + b % 26)), i == 2 ? later : 0)
                    .ticket;
        if (b % 5 == 3) last = s.erase("k" + std::to_string(b % 40)).ticket;
        if (b == 9) last = s.put("big", std::string(3 * kChunk + 100, 'B'), 0).ticket;
        EXPECT_FALSE(run(lp, wait_ticket(s, last)));
    }
    return starts;
}

}  // namespace

TEST(ShardReadAhead, RecoversTheSameStateToTheEndOfTheLog) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev, manual());
    ASSERT_TRUE(s);
    write_batches(lp, *s);
    ASSERT_GT(s->used_bytes(), 10 * kChunk);
    expect_same_as_one_read_at_a_time(dev.mem, "end of log");
    run(lp, s->close());
}

TEST(ShardReadAhead, StopsAtATornTailInsideAChunkReadAhead) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev, manual());
    ASSERT_TRUE(s);
    const auto starts = write_batches(lp, *s);
    // Tear a batch in the middle of the log: with 3 chunks read ahead, its chunk is read while
    // the first ones are replayed, and the valid batches behind it must stay unapplied.
    std::uint64_t torn_at = 0;
    for (auto at : starts)
        if (at > 4 * kChunk + 512) {
            torn_at = at;
            break;
        }
    ASSERT_GT(torn_at, 0u);
    ASSERT_LT(torn_at, s->used_bytes() - 2 * kChunk);
    std::vector<std::byte> image = dev.mem;
    image[torn_at + 20] ^= std::byte{0xFF};  // inside the first record's checksummed bytes
    const recovered r = recover(image, 3, kChunk);
    EXPECT_EQ((r.end[0] + 511) / 512 * 512, torn_at);  // the last batch before the torn one
    expect_same_as_one_read_at_a_time(image, "torn");
    run(lp, s->close());
}

TEST(ShardReadAhead, StopsAtRecordsLeftFromAnEarlierRun) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev, manual());
    ASSERT_TRUE(s);
    ASSERT_FALSE(run(lp, put_and_wait(*s, "a", "1")));
    const std::uint64_t torn_at = s->used_bytes();
    // One batch over many chunks whose first block is lost. Its records fill a block each, so
    // where the next run's records end one of them starts, intact but of the older epoch.
    std::uint64_t last = 0;
    for (int i = 100; i < 300; ++i)
        last = s->put("k" + std::to_string(i), std::string(512 - kv::record_size(4, 0), 'o'), 0)
                   .ticket;
    ASSERT_FALSE(run(lp, wait_ticket(*s, last)));
    mem_device crashed(dev.mem);
    for (std::size_t i = 0; i < 512; ++i) crashed.mem[torn_at + i] = std::byte{0};
    auto t = open_shard(lp, crashed, manual());  // its epoch record takes the lost block
    ASSERT_TRUE(t);
    ASSERT_FALSE(run(lp, put_and_wait(*t, "x", "new")));
    expect_same_as_one_read_at_a_time(crashed.mem, "older");
    run(lp, t->close());
    run(lp, s->close());
}

TEST(ShardReadAhead, RecoversBothHalvesAfterACompaction) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev, manual());
    ASSERT_TRUE(s);
    write_batches(lp, *s);
    ASSERT_FALSE(run(lp, s->compact()));
    write_batches(lp, *s);
    expect_same_as_one_read_at_a_time(dev.mem, "end of log");
    run(lp, s->close());
}

// Enough keys for the index to be sized ahead (presize_index) during the replay.
TEST(ShardReadAhead, ManyKeysAreAllRecovered) {
    constexpr int kKeys = 100000;
    constexpr std::uint64_t kHalf = 16u << 20;
    convme::loop lp;
    mem_device dev(2 * kHalf);
    auto s = open_shard(lp, dev, manual(), kHalf);
    ASSERT_TRUE(s);
    std::uint64_t last = 0;
    for (int i = 0; i < kKeys; ++i) last = s->put("key:" + std::to_string(i), "v", 0).ticket;
    ASSERT_FALSE(run(lp, wait_ticket(*s, last)));
    mem_device crashed(dev.mem);
    kv::shard_options o = manual();
    auto t = open_shard(lp, crashed, o, kHalf);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->size(), static_cast<std::size_t>(kKeys));
    EXPECT_GE(t->index().bucket_count(), t->size());
    for (int i = 0; i < kKeys; i += 997)
        EXPECT_EQ(kvtest::value_of(*t, "key:" + std::to_string(i)), "v");
    run(lp, t->close());
    run(lp, s->close());
}

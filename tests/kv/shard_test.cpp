// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <string>

#include "kv_test_util.hpp"

using kvtest::manual;
using kvtest::mem_device;
using kvtest::open_shard;
using kvtest::put_and_wait;
using kvtest::run;
using kvtest::value_of;
using kvtest::wait_ticket;

TEST(Shard, PutIsReadableAndDurableAfterItsTicket) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev);
    ASSERT_TRUE(s);
    auto r = s->put("k", "v", 0);
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(value_of(*s, "k"), "v");
    EXPECT_EQ(s->read_ticket(s->find("k", kv::now_ms())), r.ticket);
    const long flushes = dev.flushes;
    EXPECT_FALSE(run(lp, wait_ticket(*s, r.ticket)));
    EXPECT_GT(dev.flushes, flushes);  // acknowledged only after a flush
    run(lp, s->close());
}

TEST(Shard, GroupCommitPutsManyWritesInOneBatch) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev);
    ASSERT_TRUE(s);
    const auto before = s->stats().batches_written;
    std::uint64_t last = 0;
    for (int i = 0; i < 100; ++i) last = s->put("key" + std::to_string(i), "value", 0).ticket;
    EXPECT_FALSE(run(lp, wait_ticket(*s, last)));
    EXPECT_EQ(s->stats().batches_written - before, 1u);
    run(lp, s->close());
}

TEST(Shard, RecoveryRebuildsTheIndexAfterACrash) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev);
    ASSERT_TRUE(s);
    const std::int64_t later = kv::now_ms() + 3600 * 1000;
    s->put("a", "1", 0);
    s->put("b", "2", 0);
    s->put("a", "3", 0);
    s->erase("b");
    s->put(std::string("bin\0key", 7), std::string("\0\1\2", 3), 0);
    s->put("ttl", "x", later);
    s->put("gone", "x", 0);
    auto r = s->set_expire("gone", kv::now_ms() - 1);
    ASSERT_FALSE(run(lp, wait_ticket(*s, r.ticket)));
    mem_device crashed(dev.mem);  // the device as a crash right now would leave it

    auto t = open_shard(lp, crashed);
    ASSERT_TRUE(t);
    EXPECT_EQ(value_of(*t, "a"), "3");
    EXPECT_EQ(value_of(*t, "b"), "<none>");
    EXPECT_EQ(value_of(*t, std::string("bin\0key", 7)), std::string("\0\1\2", 3));
    ASSERT_NE(t->find("ttl", kv::now_ms()), nullptr);
    EXPECT_EQ(t->find("ttl", kv::now_ms())->expire_at, later);
    EXPECT_EQ(value_of(*t, "gone"), "<none>");
    EXPECT_EQ(t->size(), 3u);
    run(lp, t->close());
    run(lp, s->close());
}

// Found by the kill -9 test: a batch ending 1-3 bytes before a block boundary left padding too
// short for a 4-byte zero check, so recovery read the next batch's magic as a corrupt record and
// dropped every acknowledged write after it.
TEST(Shard, BatchesEndingOneToThreeBytesBeforeABlockBoundaryAreRecoveredPastIt) {
    for (std::size_t pad = 1; pad <= 3; ++pad) {
        convme::loop lp;
        mem_device dev(2u << 20);
        auto s = open_shard(lp, dev);
        ASSERT_TRUE(s);
        const std::size_t bs = dev.info().block_size;
        // One record alone in its batch (it is durable before the next put), `pad` bytes short of
        // filling its block(s).
        const std::string big(2 * bs - pad - kv::record_size(1, 0), 'v');
        ASSERT_FALSE(run(lp, put_and_wait(*s, "a", big)));
        ASSERT_FALSE(run(lp, put_and_wait(*s, "b", "after")));
        ASSERT_FALSE(run(lp, put_and_wait(*s, "c", "later")));
        mem_device crashed(dev.mem);

        auto t = open_shard(lp, crashed);
        ASSERT_TRUE(t);
        EXPECT_EQ(value_of(*t, "a"), big) << pad;
        EXPECT_EQ(value_of(*t, "b"), "after") << pad;
        EXPECT_EQ(value_of(*t, "c"), "later") << pad;
        run(lp, t->close());
        run(lp, s->close());
    }
}

TEST(Shard, TornTailIsDroppedAndLaterWritesSurvive) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev);
    ASSERT_TRUE(s);
    ASSERT_FALSE(run(lp, put_and_wait(*s, "a", "1")));
    const std::uint64_t torn_at = s->used_bytes();
    ASSERT_FALSE(run(lp, put_and_wait(*s, "b", "2")));
    mem_device crashed(dev.mem);
    crashed.mem[torn_at + 20] ^= std::byte{0xFF};  // the last batch was torn

    auto t = open_shard(lp, crashed);
    ASSERT_TRUE(t);
    EXPECT_EQ(value_of(*t, "a"), "1");
    EXPECT_EQ(value_of(*t, "b"), "<none>");
    EXPECT_NE(t->stats().recovery_stop[0].find("torn"), std::string::npos)
        << t->stats().recovery_stop[0];
    ASSERT_FALSE(run(lp, put_and_wait(*t, "c", "3")));
    mem_device crashed2(crashed.mem);
    auto u = open_shard(lp, crashed2);
    ASSERT_TRUE(u);
    EXPECT_EQ(value_of(*u, "a"), "1");
    EXPECT_EQ(value_of(*u, "c"), "3");
    EXPECT_EQ(value_of(*u, "b"), "<none>");
    for (auto* x : {s.get(), t.get(), u.get()}) run(lp, x->close());
}

TEST(Shard, LeftoversOfATornBatchNeverComeBack) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev);
    ASSERT_TRUE(s);
    ASSERT_FALSE(run(lp, put_and_wait(*s, "a", "1")));
    const std::uint64_t torn_at = s->used_bytes();
    // One multi-block batch whose first block is torn but whose later blocks made it.
    std::uint64_t last = 0;
    for (int i = 0; i < 50; ++i)
        last = s->put("k" + std::to_string(i), std::string(100, 'o'), 0).ticket;
    ASSERT_FALSE(run(lp, wait_ticket(*s, last)));
    ASSERT_GT(s->used_bytes() - torn_at, 2048u);
    mem_device crashed(dev.mem);
    for (int i = 0; i < 512; ++i) crashed.mem[torn_at + i] = std::byte{0};

    auto t = open_shard(lp, crashed);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->size(), 1u);
    // A short batch now overwrites the torn batch's first block; its later blocks still hold
    // valid-looking records of the old run. They must stay dead.
    ASSERT_FALSE(run(lp, put_and_wait(*t, "x", "new")));
    mem_device crashed2(crashed.mem);
    auto u = open_shard(lp, crashed2);
    ASSERT_TRUE(u);
    EXPECT_EQ(value_of(*u, "x"), "new");
    EXPECT_EQ(value_of(*u, "k49"), "<none>");
    EXPECT_EQ(u->size(), 2u);
    for (auto* x : {s.get(), t.get(), u.get()}) run(lp, x->close());
}

TEST(Shard, CompactionKeepsLatestValuesAndDropsTheRest) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev, manual());
    ASSERT_TRUE(s);
    std::uint64_t last = 0;
    for (int round = 0; round < 5; ++round)
        for (int i = 0; i < 40; ++i)
            last = s->put("k" + std::to_string(i),
                          "r" + std::to_string(round) + "-" + std::string(200, 'x'), 0)
                       .ticket;
    s->put("dead", "1", 0);
    s->erase("dead");
    last = s->put("expired", "1", kv::now_ms() + 3600 * 1000).ticket;
    last = s->set_expire("expired", kv::now_ms() - 1).ticket;
    ASSERT_FALSE(run(lp, wait_ticket(*s, last)));
    const std::uint64_t used_before = s->used_bytes();
    ASSERT_FALSE(run(lp, s->compact()));
    EXPECT_LT(s->used_bytes(), used_before / 3);
    EXPECT_EQ(s->stats().compactions, 1u);
    for (int i = 0; i < 40; ++i)
        EXPECT_EQ(value_of(*s, "k" + std::to_string(i)).substr(0, 3), "r4-");

    // Writes go on in the new half; a second compaction reuses the first half.
    ASSERT_FALSE(run(lp, put_and_wait(*s, "after", "1")));
    ASSERT_FALSE(run(lp, s->compact()));
    ASSERT_FALSE(run(lp, put_and_wait(*s, "k0", "final")));
    mem_device crashed(dev.mem);
    auto t = open_shard(lp, crashed, manual());
    ASSERT_TRUE(t);
    EXPECT_EQ(t->size(), 41u);
    EXPECT_EQ(value_of(*t, "k0"), "final");
    EXPECT_EQ(value_of(*t, "k1").substr(0, 3), "r4-");
    EXPECT_EQ(value_of(*t, "after"), "1");
    EXPECT_EQ(value_of(*t, "dead"), "<none>");
    EXPECT_EQ(value_of(*t, "expired"), "<none>");
    run(lp, t->close());
    run(lp, s->close());
}

TEST(Shard, InterruptedCompactionLosesNothingAndResumes) {
    convme::loop lp;
    mem_device dev(2u << 20);
    kv::shard_options o = manual();
    o.max_batch_bytes = 4096;  // many small batches, so the failure lands mid-copy
    auto s = open_shard(lp, dev, o);
    ASSERT_TRUE(s);
    std::uint64_t last = 0;
    for (int i = 0; i < 60; ++i)
        last = s->put("k" + std::to_string(i), std::string(1000, char('a' + i % 26)), 0).ticket;
    ASSERT_FALSE(run(lp, wait_ticket(*s, last)));
    dev.fail_after = dev.writes + 4;  // the switch header and 3 batches of copies, then EIO
    EXPECT_TRUE(run(lp, s->compact()));
    EXPECT_TRUE(s->failure());
    mem_device crashed(dev.mem);

    auto t = open_shard(lp, crashed, o);
    ASSERT_TRUE(t);
    run(lp, t->compact());  // open() already resumed it; this waits for it (or runs one more)
    for (int i = 0; i < 60; ++i)
        EXPECT_EQ(value_of(*t, "k" + std::to_string(i)), std::string(1000, char('a' + i % 26)));
    mem_device crashed2(crashed.mem);
    auto u = open_shard(lp, crashed2, o);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->size(), 60u);
    for (int i = 0; i < 60; ++i)
        EXPECT_EQ(value_of(*u, "k" + std::to_string(i)), std::string(1000, char('a' + i % 26)));
    for (auto* x : {s.get(), t.get(), u.get()}) run(lp, x->close());
}

TEST(Shard, AutomaticCompactionLetsOverwritesRunForever) {
    convme::loop lp;
    mem_device dev(1u << 20);
    auto s = open_shard(lp, dev, {}, 256 * 1024);
    ASSERT_TRUE(s);
    std::uint64_t last = 0;
    for (int i = 0; i < 3000; ++i) {  // ~2.7 MB of records through 256 KiB halves
        auto r = s->put("k" + std::to_string(i % 20), std::string(800, 'v'), 0);
        ASSERT_FALSE(r.ec) << r.ec.message() << " at " << i;
        last = r.ticket;
        if (i % 50 == 0) {
            ASSERT_FALSE(run(lp, wait_ticket(*s, last)));
        }
    }
    ASSERT_FALSE(run(lp, wait_ticket(*s, last)));
    EXPECT_GT(s->stats().compactions, 3u);
    run(lp, s->compact());
    mem_device crashed(dev.mem);
    auto t = open_shard(lp, crashed, {}, 256 * 1024);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->size(), 20u);
    run(lp, t->close());
    run(lp, s->close());
}

TEST(Shard, ExpiredEntriesVanishFromReadsAndSweeps) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev);
    ASSERT_TRUE(s);
    s->put("old", "x", kv::now_ms() - 10);
    s->put("live", "x", kv::now_ms() + 3600 * 1000);
    s->put("plain", "x", 0);
    EXPECT_EQ(s->find("old", kv::now_ms()), nullptr);
    s->put("old2", "x", kv::now_ms() - 10);
    EXPECT_EQ(s->sweep_expired(kv::now_ms(), 1 << 20), 1u);
    EXPECT_EQ(s->size(), 2u);
    run(lp, s->close());
}

TEST(Shard, SizeLimitsAndDeviceErrorsAreReported) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_shard(lp, dev, manual(), 256 * 1024);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->put("big", std::string(s->max_record_bytes() + 1, 'x'), 0).ec,
              std::errc::value_too_large);
    // Fill the half with live data: no compaction can help, so writes fail cleanly.
    std::error_code ec;
    for (int i = 0; i < 1000 && !ec; ++i)
        ec = s->put("k" + std::to_string(i), std::string(1000, 'x'), 0).ec;
    EXPECT_EQ(ec, std::errc::no_space_on_device);
    run(lp, s->close());

    mem_device dev2(2u << 20);
    auto t = open_shard(lp, dev2);
    ASSERT_TRUE(t);
    dev2.fail_after = dev2.writes;
    auto r = t->put("k", "v", 0);
    EXPECT_EQ(run(lp, wait_ticket(*t, r.ticket)), std::errc::io_error);
    EXPECT_EQ(t->put("k2", "v", 0).ec, std::errc::io_error);
    run(lp, t->close());
}

// SPDX-License-Identifier: MIT
// Two shards on one device share flushes (flush_hub): writes that completed before another
// shard's flush was issued wait for that flush instead of issuing their own, and become durable
// when it completes; a failed shared flush makes the others flush for themselves.
#include "flush_hub.hpp"

#include <gtest/gtest.h>

#include "kv_test_util.hpp"

using kvtest::mem_device;
using kvtest::run;
using kvtest::run_until;

namespace {

struct two_shards {
    convme::loop lp;
    mem_device dev{4u << 20};
    kv::flush_hub hub;
    std::unique_ptr<kv::shard> a, b;

    two_shards() {
        auto g = kvtest::small_geometry();
        a = std::make_unique<kv::shard>(dev, g, kvtest::manual());
        g.index = 1;
        g.region_offset = 2 * g.half_size;
        b = std::make_unique<kv::shard>(dev, g, kvtest::manual());
        a->set_flush_hub(&hub);
        b->set_flush_hub(&hub);
        EXPECT_FALSE(run(lp, a->open()));
        EXPECT_FALSE(run(lp, b->open()));
        dev.hold = true;
    }
    ~two_shards() {
        dev.hold = false;
        while (!dev.held.empty()) {
            if (dev.held.front()->op == convme::io_op::write)
                dev.release_write(0);
            else
                dev.release_flush();
        }
        run(lp, a->close());
        run(lp, b->close());
    }
    // Put k on s and wait until its batch write is held, then let that write complete.
    std::uint64_t written(kv::shard& s, const std::string& k) {
        const std::size_t before = dev.held_writes();
        auto r = s.put(k, "v", 0);
        EXPECT_FALSE(r.ec);
        EXPECT_TRUE(run_until(lp, [&] { return dev.held_writes() == before + 1; }));
        dev.release_write(dev.held_writes() - 1);
        kvtest::spin(lp);
        return r.ticket;
    }
};

convme::task<void> await_durable(kv::shard& s, std::uint64_t t, std::error_code& ec, bool& done) {
    ec = co_await s.wait_durable(t);
    done = true;
}

}  // namespace

TEST(FlushHub, AShardWaitsForAFlushIssuedAfterItsWritesCompleted) {
    two_shards t;
    const auto a1 = t.written(*t.a, "a1");  // shard a issues flush 1
    ASSERT_EQ(t.dev.held_flushes(), 1u);
    const auto a2 = t.written(*t.a, "a2");  // completes while flush 1 runs: needs flush 2
    const auto b1 = t.written(*t.b, "b1");  // shard b issues flush 2, which covers a2 as well
    ASSERT_EQ(t.dev.held_flushes(), 2u);
    std::error_code ea, eb;
    bool da = false, db = false;
    t.lp.spawn(await_durable(*t.a, a2, ea, da));
    t.lp.spawn(await_durable(*t.b, b1, eb, db));
    t.dev.release_flush();  // flush 1: a1 durable; a waits for flush 2 instead of issuing a third
    kvtest::spin(t.lp);
    EXPECT_EQ(t.dev.held_flushes(), 1u);
    EXPECT_FALSE(da);
    t.dev.release_flush();  // flush 2 (b's) completes: both a2 and b1 are durable
    ASSERT_TRUE(run_until(t.lp, [&] { return da && db; }));
    EXPECT_FALSE(ea);
    EXPECT_FALSE(eb);
    EXPECT_EQ(t.dev.held_flushes(), 0u);
    EXPECT_EQ(t.a->stats().shared_flushes, 1u);
    (void)a1;
}

TEST(FlushHub, AFailedSharedFlushMakesTheOthersFlushThemselves) {
    two_shards t;
    t.written(*t.a, "a1");                  // flush 1 (a)
    const auto a2 = t.written(*t.a, "a2");  // waits for a later flush
    t.written(*t.b, "b1");                  // flush 2 (b), covering a2
    std::error_code ea;
    bool da = false;
    t.lp.spawn(await_durable(*t.a, a2, ea, da));
    t.dev.release_flush();  // flush 1 completes
    kvtest::spin(t.lp);
    ASSERT_EQ(t.dev.held_flushes(), 1u);
    t.dev.release_flush(std::make_error_code(std::errc::io_error));           // b's flush fails
    ASSERT_TRUE(run_until(t.lp, [&] { return t.dev.held_flushes() == 1; }));  // a issues its own
    EXPECT_FALSE(da);
    t.dev.release_flush();
    ASSERT_TRUE(run_until(t.lp, [&] { return da; }));
    EXPECT_FALSE(ea);
    EXPECT_TRUE(t.b->failure());
    EXPECT_FALSE(t.a->failure());
}

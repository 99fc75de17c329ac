// SPDX-License-Identifier: MIT
// A full log (issue 12, bugs 1-3): a full shard must restart, deletions must always succeed
// (they may use the room kept in reserve), and a multi-key command that replies an error must
// have changed nothing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "command_fixture.hpp"
#include "commands.hpp"
#include "kv_test_util.hpp"
#include "store.hpp"

using kvtest::manual;
using kvtest::mem_device;
using kvtest::open_shard;
using kvtest::run;
using kvtest::value_of;
using kvtest::wait_ticket;

namespace {

constexpr std::uint64_t kHalf = 256 * 1024;

// Put 1000-byte values until the shard refuses; returns how many were accepted (all durable).
int fill(convme::loop& lp, kv::shard& s) {
    std::uint64_t last = 0;
    int n = 0;
    for (; n < 100000; ++n) {
        auto r = s.put("fill:" + std::to_string(n), std::string(1000, 'x'), 0);
        if (r.ec) {
            EXPECT_EQ(r.ec, std::errc::no_space_on_device);
            break;
        }
        last = r.ticket;
    }
    EXPECT_FALSE(run(lp, wait_ticket(s, last)));
    return n;
}

}  // namespace

// Bug 1: every start appends an epoch record; with no room left the store could not start.
TEST(FullShard, RestartsAgainAndAgainWithoutFreeSpace) {
    convme::loop lp;
    mem_device dev(2 * kHalf);
    auto s = open_shard(lp, dev, manual(), kHalf);
    ASSERT_TRUE(s);
    const int n = fill(lp, *s);
    ASSERT_GT(n, 100);
    run(lp, s->close());
    std::vector<std::byte> image = dev.mem;
    for (int round = 0; round < 5; ++round) {
        mem_device d(image);
        auto t = open_shard(lp, d, manual(), kHalf);
        ASSERT_TRUE(t) << "restart " << round << " of a full shard failed";
        EXPECT_EQ(t->size(), static_cast<std::size_t>(n));
        EXPECT_EQ(value_of(*t, "fill:0"), std::string(1000, 'x'));
        run(lp, t->close());
        image = d.mem;
    }
}

// Bug 2: deletes, expirations and FLUSHDB on a full shard succeed, and once enough is deleted,
// compaction makes room for new data.
TEST(FullShard, DeletesExpiresAndFlushSucceedAndFreeRoom) {
    convme::loop lp;
    mem_device dev(2 * kHalf);
    kv::shard_options o;  // automatic compaction on
    auto s = open_shard(lp, dev, o, kHalf);
    ASSERT_TRUE(s);
    const int n = fill(lp, *s);
    ASSERT_GT(n, 100);
    auto r = s->set_expire("fill:1", kv::now_ms() + 100000);
    EXPECT_FALSE(r.ec) << r.ec.message();
    std::uint64_t last = r.ticket;
    for (int i = 0; i < n / 2; ++i) {
        auto d = s->erase("fill:" + std::to_string(i));
        ASSERT_FALSE(d.ec) << "delete " << i << ": " << d.ec.message();
        last = d.ticket;
    }
    EXPECT_FALSE(run(lp, wait_ticket(*s, last)));
    EXPECT_EQ(s->size(), static_cast<std::size_t>(n - n / 2));
    // Half of the data is gone: new writes fit again (a compaction freed the dead records).
    auto p = s->put("after", std::string(1000, 'y'), 0);
    EXPECT_FALSE(p.ec) << p.ec.message();
    run(lp, s->compact());
    auto f = s->flush_all();
    EXPECT_FALSE(f.ec) << f.ec.message();
    EXPECT_FALSE(run(lp, wait_ticket(*s, f.ticket)));
    EXPECT_EQ(s->size(), 0u);
    run(lp, s->close());
}

namespace {

// Commands against a 2-shard store small enough to fill quickly, with no compaction behind the
// test's back.
class FullStore : public kvtest::command_fixture {
  protected:
    FullStore() : command_fixture(2, 2u << 20, /*auto_compact=*/false) {}
    // SET 1000-byte values on shard `s` until it answers out of space; returns the keys set.
    std::vector<std::string> fill_shard(unsigned s) {
        std::vector<std::string> keys;
        for (int i = 0; i < 100000; ++i) {
            std::string k = "fill:" + std::to_string(i);
            if (st->shard_of(k) != s) continue;
            const std::string r = exec({"SET", k, std::string(1000, 'x')});
            if (r != "+OK\r\n") {
                EXPECT_EQ(r.substr(0, 18), "-ERR out of space:");
                break;
            }
            keys.push_back(k);
        }
        return keys;
    }
};

}  // namespace

// Bugs 2 and 3: DEL of every key of a full store succeeds as a whole.
TEST_F(FullStore, DelOfEveryKeyOfAFullShardSucceeds) {
    const auto keys = fill_shard(0);
    ASSERT_GT(keys.size(), 50u);
    EXPECT_EQ(exec({"EXPIRE", keys[0], "-1"}), ":1\r\n");
    EXPECT_EQ(exec({"EXPIRE", keys[1], "1000"}), ":1\r\n");
    std::vector<std::string> del{"DEL"};
    del.insert(del.end(), keys.begin() + 1, keys.end());
    EXPECT_EQ(exec(del), ":" + std::to_string(keys.size() - 1) + "\r\n");
    EXPECT_EQ(exec({"DBSIZE"}), ":0\r\n");
    EXPECT_EQ(exec({"FLUSHDB"}), "+OK\r\n");
}

// Bug 3: an MSET that fails on one shard sets nothing on the other.
TEST_F(FullStore, FailedMsetChangesNothing) {
    const std::string a = key_on(1, "a");
    EXPECT_EQ(exec({"SET", a, "old"}), "+OK\r\n");
    fill_shard(0);
    const std::string b = key_on(0, "b");
    const std::string r = exec({"MSET", a, "new", b, std::string(1000, 'y')});
    EXPECT_EQ(r.substr(0, 18), "-ERR out of space:");
    EXPECT_EQ(exec({"GET", a}), "$3\r\nold\r\n");
    EXPECT_EQ(exec({"EXISTS", b}), ":0\r\n");
    // The same MSET without the key of the full shard succeeds as a whole.
    EXPECT_EQ(exec({"MSET", a, "new", key_on(1, "c"), "v"}), "+OK\r\n");
    EXPECT_EQ(exec({"GET", a}), "$3\r\nnew\r\n");
}

// Bug 3: a restart after the full-store deletes still sees them (success is durable).
TEST_F(FullStore, DeletesOnAFullStoreSurviveARestart) {
    const auto keys = fill_shard(1);
    ASSERT_GT(keys.size(), 50u);
    EXPECT_EQ(exec({"DEL", keys[0], keys[1]}), ":2\r\n");
    run(lp, st->close_core(0));
    mem_device copy(dev.mem);
    std::string why;
    auto st2 = run(lp, kv::store::open_layout(copy, 1, {}, why));
    ASSERT_TRUE(st2) << why;
    ASSERT_FALSE(run(lp, st2->open_core(0, why))) << why;
    EXPECT_EQ(st2->at(1).size(), keys.size() - 2);
    EXPECT_EQ(st2->at(1).find(keys[0], kv::now_ms()), nullptr);
    run(lp, st2->close_core(0));
    st.reset();
}

// SPDX-License-Identifier: MIT
// Two standalone loops built with the same core id, on one device of every backend: each loop has
// its own channel (ring, queue pair, completion list), so both do I/O and read back what they
// wrote; the core-id slot of the per-loop table is only the first one's fast path
// (runtime/core/channel_table.hpp). And a request that cannot be served (after drain(), also on a
// loop that drained before its first I/O) fails the same way everywhere: errc::shutting_down,
// the waiter resumed from its loop, not inside submit().
#include <gtest/gtest.h>

#include <barrier>
#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kernel/backend_test_util.hpp"

namespace convme {
namespace {

using testing::fill_pattern;
using testing::temp_dir;

constexpr unsigned shared_core = 3;
constexpr std::size_t block = 4096;
constexpr unsigned blocks_per_round = 8;

struct outcome {
    unsigned ok = 0;          // writes and reads that succeeded
    unsigned mismatches = 0;  // reads that returned other data than was written
    std::string first_error;  // the first failed I/O, described
};

// One loop's round: writes its own blocks with a pattern of (who, round), reads them back and
// compares.
task<void> round(block_device& dev, unsigned who, unsigned rnd, outcome& out) {
    dma_buffer wbuf(block), rbuf(block);
    for (unsigned i = 0; i < blocks_per_round; ++i) {
        const std::uint64_t off = (who * blocks_per_round + i) * block;
        fill_pattern(wbuf.span(), who * 1000 + rnd * 100 + i);
        std::error_code ec = co_await dev.write(off, wbuf.span());
        if (!ec) {
            ++out.ok;
            std::memset(rbuf.data(), 0, block);
            ec = co_await dev.read(off, rbuf.span());
        }
        if (ec) {
            if (out.first_error.empty())
                out.first_error = "loop " + std::to_string(who) + " at " + std::to_string(off) +
                                  ": " + ec.message();
            continue;
        }
        ++out.ok;
        // null: keeps no data, so only the statuses are checked there.
        if (dev.info().backend != "null" && std::memcmp(rbuf.data(), wbuf.data(), block) != 0)
            ++out.mismatches;
    }
}

task<void> drain(block_device& dev) {
    co_await dev.drain();
}

task<std::error_code> read_one(block_device& dev) {
    dma_buffer buf(block);
    co_return co_await dev.read(0, buf.span());
}

void expect_all_served(const outcome& o, unsigned rounds, const std::string& what) {
    EXPECT_EQ(o.first_error, "") << what;
    EXPECT_EQ(o.ok, rounds * blocks_per_round * 2) << what;
    EXPECT_EQ(o.mismatches, 0u) << what;
}

class SharedCoreId : public ::testing::TestWithParam<const char*> {
  protected:
    void SetUp() override {
        ASSERT_TRUE(dir_.ok());
        std::string uri = GetParam();
        if (auto at = uri.find("FILE"); at != std::string::npos)
            uri.replace(at, 4, dir_.file("dev.img"));
        std::error_code ec;
        std::string why;
        dev_ = open_device(uri, ec, why);
        ASSERT_TRUE(dev_) << uri << ": " << why;
        name_ = dev_->info().name;
    }

    temp_dir dir_;
    std::unique_ptr<block_device> dev_;
    std::string name_;
};

// Both loops alive on one thread, taking turns: the second loop's I/O runs while the first one
// still holds the core id's slot (and its queue), then the first works again.
TEST_P(SharedCoreId, TwoLoopsOnOneThreadEachGetTheirOwnChannel) {
    loop a({.core_id = shared_core}), b({.core_id = shared_core});
    outcome oa, ob;
    a.run_until_complete(round(*dev_, 0, 0, oa));
    b.run_until_complete(round(*dev_, 1, 0, ob));
    a.run_until_complete(round(*dev_, 0, 1, oa));
    b.run_until_complete(round(*dev_, 1, 1, ob));
    b.run_until_complete(drain(*dev_));
    a.run_until_complete(round(*dev_, 0, 2, oa));  // b's drain closed only b's channel
    a.run_until_complete(drain(*dev_));
    expect_all_served(oa, 3, name_ + ", first loop");
    expect_all_served(ob, 2, name_ + ", second loop");
}

// Both loops on their own threads at the same time.
TEST_P(SharedCoreId, TwoLoopsOnTwoThreadsEachGetTheirOwnChannel) {
    constexpr unsigned loops = 2, rounds = 3;
    std::barrier sync(loops);  // every loop has done I/O before any drains
    std::vector<outcome> out(loops);
    std::vector<std::thread> threads;
    for (unsigned who = 0; who < loops; ++who)
        threads.emplace_back([&, who] {
            loop l({.core_id = shared_core});
            l.run_until_complete(round(*dev_, who, 0, out[who]));
            sync.arrive_and_wait();
            for (unsigned rnd = 1; rnd < rounds; ++rnd)
                l.run_until_complete(round(*dev_, who, rnd, out[who]));
            sync.arrive_and_wait();
            l.run_until_complete(drain(*dev_));
        });
    for (auto& t : threads) t.join();
    for (unsigned who = 0; who < loops; ++who)
        expect_all_served(out[who], rounds, name_ + ", loop " + std::to_string(who));
}

// After drain() a loop's I/O fails with shutting_down, whether or not it did I/O before, and
// another loop with the same core id is not affected.
TEST_P(SharedCoreId, IoAfterDrainFailsTheSameWay) {
    loop a({.core_id = shared_core}), b({.core_id = shared_core});
    outcome oa;
    a.run_until_complete(round(*dev_, 0, 0, oa));
    a.run_until_complete(drain(*dev_));
    EXPECT_EQ(a.run_until_complete(read_one(*dev_)), make_error_code(errc::shutting_down)) << name_;
    b.run_until_complete(drain(*dev_));  // before b's first I/O
    EXPECT_EQ(b.run_until_complete(read_one(*dev_)), make_error_code(errc::shutting_down)) << name_;
    loop c({.core_id = shared_core});  // a new loop is not a drained one
    outcome oc;
    c.run_until_complete(round(*dev_, 2, 0, oc));
    c.run_until_complete(drain(*dev_));
    expect_all_served(oa, 1, name_ + ", first loop");
    expect_all_served(oc, 1, name_ + ", third loop");
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, SharedCoreId,
                         ::testing::Values("null:?size=16M", "uring:FILE?create_size=16M",
                                           "threadpool:FILE?create_size=16M",
                                           "sim:mem?size=16M&inline=1", "sim:mem?size=16M"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                             const std::string u = p.param;
                             if (u.starts_with("sim:") && u.find("inline=1") != std::string::npos)
                                 return std::string("sim_inline");
                             if (u.starts_with("sim:")) return std::string("sim_threaded");
                             return u.substr(0, u.find(':'));
                         });

}  // namespace
}  // namespace convme

// SPDX-License-Identifier: MIT
// The backends' per-loop table (runtime/core/channel_table.hpp) with a test channel: one channel
// per loop also when loops share a core id, the core-id slot as a fast path only (given up at
// drain, taken by a later loop), channels that publish themselves once ready, and fail_request()
// resuming the waiter from the loop, never inside submit().
#include "runtime/core/channel_table.hpp"

#include <gtest/gtest.h>

#include <convme/block_device.hpp>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <memory>

namespace convme::backends {
namespace {

// Counts what it is given; completes nothing itself.
struct test_channel {
    explicit test_channel(loop* l) : owner_(l), owner_id_(l->unique_id()) {}
    loop* owner() const noexcept { return owner_; }
    std::uint64_t owner_id() const noexcept { return owner_id_; }
    void submit(io_request& r) noexcept {
        if (closed) {
            fail_request(r, make_error_code(errc::shutting_down));
            return;
        }
        ++submitted;
        fail_request(r, {});  // "served": completes with no error
    }
    std::size_t in_flight() const noexcept { return 0; }
    void close() noexcept { closed = true; }
    void retire() noexcept {
        closed = true;
        retired = true;
    }

    loop* owner_;
    std::uint64_t owner_id_;
    unsigned submitted = 0;
    bool closed = false, retired = false;
};

// Put into its slot only by publish().
struct late_channel : test_channel {
    using test_channel::test_channel;
    static constexpr bool publish_when_ready = true;
};

auto maker(loop& l) {
    return [&l] { return std::make_unique<test_channel>(&l); };
}

// Submits one request from a coroutine on `l`; `resumed` says when its waiter ran.
struct probe {
    io_request req{};
    bool resumed = false;
    std::error_code result;
};

task<void> submit_one(channel_table<test_channel>& t, probe& p) {
    struct awaiter {
        channel_table<test_channel>& t;
        probe& p;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) noexcept {
            p.req.waiter = h;
            p.req.owner = loop::current();
            t.submit(p.req, maker(*loop::current()));
            EXPECT_FALSE(p.resumed);  // not resumed inside submit()
        }
        void await_resume() const noexcept {}
    };
    co_await awaiter{t, p};
    p.resumed = true;
    p.result = p.req.status;
}

TEST(ChannelTable, LoopsSharingACoreIdGetAChannelEach) {
    channel_table<test_channel> t;
    loop a({.core_id = 4}), b({.core_id = 4});
    auto ma = maker(a), mb = maker(b);
    test_channel* ca = t.find_or_create(&a, ma);
    test_channel* cb = t.find_or_create(&b, mb);
    ASSERT_NE(ca, nullptr);
    ASSERT_NE(cb, nullptr);
    EXPECT_NE(ca, cb);
    EXPECT_EQ(t.find_fast(&a), ca);       // the first one holds the slot
    EXPECT_EQ(t.find_fast(&b), nullptr);  // the second is found by the locked search
    EXPECT_EQ(t.find(&b), cb);
    EXPECT_EQ(t.find(&a), ca);
}

TEST(ChannelTable, CoreIdsBeyondTheSlotsShareThemModulo256) {
    channel_table<test_channel> t;
    loop a({.core_id = 300}), b({.core_id = 44}), c({.core_id = 1000});
    auto ma = maker(a), mb = maker(b), mc = maker(c);
    test_channel* ca = t.find_or_create(&a, ma);
    test_channel* cb = t.find_or_create(&b, mb);
    test_channel* cc = t.find_or_create(&c, mc);
    EXPECT_EQ(t.find_fast(&a), ca);       // 300 % 256 = 44: the first one holds the slot
    EXPECT_EQ(t.find_fast(&b), nullptr);  // the same slot: found by the locked search
    EXPECT_EQ(t.find(&b), cb);
    EXPECT_EQ(t.find_fast(&c), cc);  // 1000 % 256 = 232, free
    a.run_until_complete(t.drain_current(maker(a)));
    EXPECT_EQ(t.find_fast(&a), nullptr);
    EXPECT_EQ(t.find_fast(&b), nullptr);  // a free slot is taken by the next channel published
}

TEST(ChannelTable, DrainGivesUpTheSlotAndRecordsALoopWithoutIo) {
    channel_table<test_channel> t;
    loop a({.core_id = 1}), b({.core_id = 1});
    auto ma = maker(a);
    test_channel* ca = t.find_or_create(&a, ma);
    a.run_until_complete(t.drain_current(maker(a)));
    EXPECT_TRUE(ca->closed);
    EXPECT_EQ(t.find_fast(&a), nullptr);
    EXPECT_EQ(t.find(&a), ca);  // still there: its I/O fails with shutting_down
    // b drains before any I/O: it gets a channel, closed.
    b.run_until_complete(t.drain_current(maker(b)));
    ASSERT_NE(t.find(&b), nullptr);
    EXPECT_TRUE(t.find(&b)->closed);
    // A later loop with core id 1 takes the free slot.
    loop c({.core_id = 1});
    auto mc = maker(c);
    test_channel* cc = t.find_or_create(&c, mc);
    EXPECT_EQ(t.find_fast(&c), cc);
}

TEST(ChannelTable, PublishWhenReadyChannelsEnterTheSlotOnlyWhenPublished) {
    channel_table<late_channel> t;
    loop a({.core_id = 9});
    auto make = [&a] { return std::make_unique<late_channel>(&a); };
    late_channel* c = t.find_or_create(&a, make);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(t.find_fast(&a), nullptr);
    EXPECT_EQ(t.find(&a), c);
    t.publish(c);
    EXPECT_EQ(t.find_fast(&a), c);
    t.unpublish(c);
    EXPECT_EQ(t.find_fast(&a), nullptr);
}

TEST(ChannelTable, FailRequestResumesTheWaiterFromTheLoop) {
    channel_table<test_channel> t;
    loop a({.core_id = 0});
    probe served, refused;
    a.run_until_complete(submit_one(t, served));
    EXPECT_TRUE(served.resumed);
    EXPECT_FALSE(served.result);
    a.run_until_complete(t.drain_current(maker(a)));
    a.run_until_complete(submit_one(t, refused));
    EXPECT_TRUE(refused.resumed);
    EXPECT_EQ(refused.result, make_error_code(errc::shutting_down));
    EXPECT_EQ(t.find(&a)->submitted, 1u);
}

TEST(ChannelTable, ALoopBuiltWhereADestroyedOneWasGetsAFreshChannel) {
    channel_table<test_channel> t;
    auto storage = std::make_unique<loop>(loop_options{.core_id = 3});
    loop* first = storage.get();
    auto m1 = maker(*first);
    test_channel* old = t.find_or_create(first, m1);
    storage->~loop();
    new (storage.get()) loop(loop_options{.core_id = 3});  // same address, new unique id
    auto m2 = maker(*storage);
    test_channel* fresh = t.find_or_create(storage.get(), m2);
    EXPECT_NE(fresh, old);
    EXPECT_TRUE(old->retired);
    EXPECT_EQ(t.find_fast(storage.get()), fresh);  // took over the dead loop's slot
}

}  // namespace
}  // namespace convme::backends

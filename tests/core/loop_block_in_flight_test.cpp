// SPDX-License-Identifier: MIT
// loop::run() with I/O in flight on pollers whose devices wake the loop on completion
// (poller::max_block_in_flight() > 0): the loop blocks instead of spinning, a wake() gets the
// completion reaped, the block is bounded when no wake-up ever comes, and a pure-polling poller
// next to it still keeps the loop spinning.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <convme/backend.hpp>
#include <convme/loop.hpp>
#include <thread>

#include "eventually.hpp"

namespace {

using namespace std::chrono_literals;
using convme::loop;

using convme_test::eventually;

// One operation in flight until another thread "completes" it (sets `completed`, then wakes).
struct interrupting_io : convme::poller {
    std::chrono::microseconds limit;
    std::atomic<bool> completed{false};
    std::atomic<bool> reaped{false};
    std::atomic<int> polls{0};
    explicit interrupting_io(std::chrono::microseconds l) : limit(l) {}
    bool poll() override {
        ++polls;
        if (reaped.load(std::memory_order_relaxed) || !completed.load(std::memory_order_acquire))
            return false;
        reaped.store(true, std::memory_order_relaxed);
        return true;
    }
    std::size_t in_flight() const override {
        return reaped.load(std::memory_order_relaxed) ? 0 : 1;
    }
    std::chrono::microseconds max_block_in_flight() const override { return limit; }
};

TEST(LoopBlockInFlight, SleepsWhileTheDeviceWorksAndAWakeGetsTheCompletionReaped) {
    loop l;
    interrupting_io io(10s);
    l.add_poller(&io);
    std::thread t([&] { l.run(); });
    ASSERT_TRUE(eventually([&] { return l.statistics().sleeps >= 1; }));
    EXPECT_FALSE(io.reaped.load());
    io.completed.store(true, std::memory_order_release);  // the "device" posts its completion...
    l.wake();                                             // ...then raises the interrupt
    EXPECT_TRUE(eventually([&] { return io.reaped.load(); }));
    l.stop();
    t.join();
    l.remove_poller(&io);
}

TEST(LoopBlockInFlight, BlockIsBoundedWhenNoWakeUpComes) {
    loop l;
    interrupting_io io(1ms);  // e.g. so a driver can scan for timed-out commands
    l.add_poller(&io);
    std::thread t([&] { l.run(); });
    // Every sleep ends by itself and the poller is polled again after each.
    ASSERT_TRUE(eventually([&] { return l.statistics().sleeps >= 5; }));
    const int polls = io.polls.load();
    EXPECT_TRUE(eventually([&] { return io.polls.load() > polls; }));
    io.completed.store(true, std::memory_order_release);  // no wake(): found by a bounded wake-up
    EXPECT_TRUE(eventually([&] { return io.reaped.load(); }));
    l.stop();
    t.join();
    l.remove_poller(&io);
}

TEST(LoopBlockInFlight, APurePollingPollerInFlightKeepsTheLoopSpinning) {
    loop l({.core_id = 0,
            .pin_cpu = -1,
            .spin_before_sleep = 0us,
            .spin_before_sleep_in_flight = 0us});
    interrupting_io waking(10s);
    struct polled_io : convme::poller {
        std::atomic<int> polls{0};
        std::atomic<bool> finished{false};
        bool poll() override {
            ++polls;
            return false;
        }
        std::size_t in_flight() const override { return finished.load() ? 0 : 1; }
    } polled;
    l.add_poller(&waking);
    l.add_poller(&polled);
    std::thread t([&] { l.run(); });
    ASSERT_TRUE(eventually([&] { return polled.polls.load() > 1000; }));
    EXPECT_EQ(l.statistics().sleeps, 0u);
    polled.finished = true;  // only the waking poller is left in flight: now the loop may block
    EXPECT_TRUE(eventually([&] { return l.statistics().sleeps >= 1; }));
    waking.completed.store(true, std::memory_order_release);
    l.wake();
    EXPECT_TRUE(eventually([&] { return waking.reaped.load(); }));
    l.stop();
    t.join();
    l.remove_poller(&waking);
    l.remove_poller(&polled);
}

}  // namespace

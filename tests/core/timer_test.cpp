// SPDX-License-Identifier: MIT
// Timers: deadline order, zero and negative durations, never early.
#include <gtest/gtest.h>

#include <chrono>
#include <convme/loop.hpp>
#include <vector>

namespace {

using namespace std::chrono_literals;
using convme::loop;
using convme::task;

task<void> sleeper(std::vector<int>& out, std::chrono::milliseconds d, int id,
                   std::size_t stop_at) {
    co_await convme::sleep_for(d);
    out.push_back(id);
    if (out.size() == stop_at) loop::current()->stop();
}

TEST(Timer, FireInDeadlineOrder) {
    loop l({.core_id = 0, .pin_cpu = -1, .spin_before_sleep = 0us});
    std::vector<int> order;
    l.spawn(sleeper(order, 30ms, 3, 4));
    l.spawn(sleeper(order, 10ms, 1, 4));
    l.spawn(sleeper(order, 40ms, 4, 4));
    l.spawn(sleeper(order, 20ms, 2, 4));
    l.run();  // sleeps on the eventfd with the next deadline as timeout
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_GE(l.statistics().sleeps, 1u);
}

TEST(Timer, NeverFiresEarly) {
    loop l;
    auto timed = []() -> task<std::chrono::steady_clock::duration> {
        const auto start = std::chrono::steady_clock::now();
        co_await convme::sleep_for(5ms);
        co_return std::chrono::steady_clock::now() - start;
    };
    EXPECT_GE(l.run_until_complete(timed()), 5ms);
}

TEST(Timer, ZeroAndNegativeDurationsCompleteImmediately) {
    loop l;
    auto t = []() -> task<int> {
        co_await convme::sleep_for(0ns);
        co_await convme::sleep_for(-5ms);
        co_await loop::current()->sleep_for(-1h);
        co_return 7;
    };
    auto job = t();
    l.schedule(job.handle());
    l.run_once();  // one iteration suffices: none of the awaits suspends
    ASSERT_TRUE(job.done());
    EXPECT_EQ(job.result(), 7);
}

TEST(Timer, PendingTimerDoesNotBlockShutdown) {
    loop l;
    bool fired = false;
    l.spawn([](bool& f) -> task<void> {
        co_await convme::sleep_for(1h);
        f = true;
    }(fired));
    l.run_once();
    l.stop();
    l.run();  // returns although the timer is pending; the task is destroyed with the loop
    EXPECT_FALSE(fired);
}

}  // namespace

// SPDX-License-Identifier: MIT
// loop: ready-queue order, spawn, run_once, pollers, shutdown drain, cross-thread stop, idle sleep.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <convme/backend.hpp>
#include <convme/detail/frame_pool.hpp>
#include <convme/loop.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "eventually.hpp"

namespace {

using namespace std::chrono_literals;
using convme::loop;
using convme::task;

task<void> record(std::vector<int>& out, int id) {
    out.push_back(id);
    co_return;
}

using convme_test::eventually;

TEST(Loop, ScheduleRunsInFifoOrder) {
    loop l;
    std::vector<int> order;
    auto a = record(order, 1), b = record(order, 2), c = record(order, 3);
    l.schedule(a.handle());
    l.schedule(b.handle());
    l.schedule(c.handle());
    EXPECT_TRUE(l.run_once());
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
    EXPECT_TRUE(a.done() && b.done() && c.done());
    EXPECT_FALSE(l.run_once());  // nothing left to do
    EXPECT_EQ(l.statistics().resumed, 3u);
}

TEST(Loop, ReadyQueueGrowsBeyondInitialCapacity) {
    loop l;
    std::vector<int> order;
    std::vector<task<void>> tasks;
    for (int i = 0; i < 5000; ++i) tasks.push_back(record(order, i));
    for (auto& t : tasks) l.schedule(t.handle());
    l.run_once();
    ASSERT_EQ(order.size(), 5000u);
    for (int i = 0; i < 5000; ++i) ASSERT_EQ(order[i], i);
}

TEST(Loop, CurrentIsSetWhileRunning) {
    loop l;
    EXPECT_EQ(loop::current(), nullptr);
    auto where = []() -> task<loop*> { co_return loop::current(); };
    EXPECT_EQ(l.run_until_complete(where()), &l);
    EXPECT_EQ(loop::current(), nullptr);
}

TEST(Loop, YieldInterleaves) {
    loop l;
    std::vector<int> order;
    auto worker = [](std::vector<int>& out, int id) -> task<void> {
        for (int i = 0; i < 3; ++i) {
            out.push_back(id);
            co_await convme::yield();
        }
    };
    l.spawn(worker(order, 1));
    l.spawn(worker(order, 2));
    while (order.size() < 6) l.run_once();
    EXPECT_EQ(order, (std::vector<int>{1, 2, 1, 2, 1, 2}));
}

TEST(Loop, SpawnedTaskFrameIsFreedOnCompletion) {
    const auto before = convme::detail::frame_pool_thread_stats();
    {
        loop l;
        int done = 0;
        for (int i = 0; i < 100; ++i) {
            l.spawn([](int& d) -> task<void> {
                co_await convme::yield();
                ++d;
            }(done));
        }
        while (done < 100) l.run_once();
        EXPECT_EQ(convme::detail::frame_pool_thread_stats().live, before.live);
    }
}

struct never {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    void await_resume() const noexcept {}
};

TEST(Loop, DestroyingLoopDestroysSuspendedSpawnedTasks) {
    const auto before = convme::detail::frame_pool_thread_stats();
    {
        loop l;
        l.spawn([]() -> task<void> { co_await never{}; }());
        l.run_once();
    }
    EXPECT_EQ(convme::detail::frame_pool_thread_stats().live, before.live);
}

class counting_poller : public convme::poller {
  public:
    bool poll() override {
        ++polls;
        if (pending > 0) {
            --pending;  // one operation completes per poll
            return true;
        }
        return false;
    }
    std::size_t in_flight() const override { return pending; }
    void flush_submissions() override { ++flushes; }

    int polls = 0;
    int flushes = 0;
    std::size_t pending = 0;
};

struct completion_only_poller final : convme::poller {
    completion_only_poller() : poller(/*batches_submissions=*/false) {}
    bool poll() override { return ++polls, false; }
    void flush_submissions() override { ++flushes; }
    int polls = 0;
    int flushes = 0;
};

TEST(Loop, PollersThatDoNotBatchAreNeverFlushed) {
    loop l;
    completion_only_poller p;
    l.add_poller(&p);
    for (int i = 0; i < 3; ++i) l.run_once();
    EXPECT_EQ(p.polls, 3);
    EXPECT_EQ(p.flushes, 0);
    l.remove_poller(&p);
    l.run_once();
    EXPECT_EQ(p.polls, 3);
}

TEST(Loop, PollersArePolledAndFlushedEachIteration) {
    loop l;
    counting_poller p;
    l.add_poller(&p);
    for (int i = 0; i < 5; ++i) l.run_once();
    EXPECT_EQ(p.polls, 5);
    EXPECT_EQ(p.flushes, 5);
    p.pending = 2;
    EXPECT_TRUE(l.run_once());
    EXPECT_TRUE(l.run_once());
    EXPECT_FALSE(l.run_once());
    EXPECT_EQ(l.statistics().polls_with_work, 2u);
    l.remove_poller(&p);
    l.run_once();
    EXPECT_EQ(p.polls, 8);
}

TEST(Loop, PollersThatFlushInPollAreNotFlushedAgainAfterWork) {
    struct self_flushing final : convme::poller {
        self_flushing() : poller(/*batches_submissions=*/true, /*flushes_in_poll=*/true) {}
        bool poll() override { return ++polls, work; }
        void flush_submissions() override { ++flushes; }
        bool work = true;
        int polls = 0;
        int flushes = 0;
    } p;
    loop l;
    counting_poller other;
    other.pending = 3;
    l.add_poller(&p);
    l.add_poller(&other);
    for (int i = 0; i < 3; ++i) l.run_once();
    EXPECT_EQ(p.polls, 3);
    EXPECT_EQ(p.flushes, 3) << "the flush pass only: its poll flushed what it submitted";
    EXPECT_EQ(other.flushes, 6) << "before polling, and again after each poll with work";
    EXPECT_EQ(l.statistics().polls_with_work, 6u);
}

TEST(Loop, PollerAddedWhilePollingIsPolledFromTheNextIteration) {
    loop l;
    counting_poller added;
    struct adder : convme::poller {
        loop* l;
        convme::poller* add;
        bool poll() override {
            if (add) l->add_poller(std::exchange(add, nullptr));
            return false;
        }
    } a;
    a.l = &l;
    a.add = &added;
    l.add_poller(&a);
    l.run_once();
    EXPECT_EQ(added.polls, 0);
    l.run_once();
    EXPECT_EQ(added.polls, 1);
    EXPECT_EQ(added.flushes, 1);
    l.remove_poller(&added);
    l.remove_poller(&a);
}

TEST(Loop, PollerMayRemoveItselfWhilePolled) {
    loop l;
    struct self_removing : convme::poller {
        loop* l;
        int polls = 0;
        bool poll() override {
            ++polls;
            l->remove_poller(this);
            return false;
        }
    } p;
    p.l = &l;
    counting_poller other;
    l.add_poller(&p);
    l.add_poller(&other);
    l.run_once();
    l.run_once();
    EXPECT_EQ(p.polls, 1);
    EXPECT_EQ(other.polls, 2);
}

TEST(Loop, PollerRemovingItselfInAPollWithWorkIsNotFlushedAfterIt) {
    loop l;
    struct self_removing final : convme::poller {
        loop* l = nullptr;
        int polls = 0;
        int flushes = 0;
        bool poll() override {
            ++polls;
            l->remove_poller(this);
            return true;
        }
        void flush_submissions() override { ++flushes; }
    } p;
    p.l = &l;
    counting_poller other;
    l.add_poller(&p);
    l.add_poller(&other);
    EXPECT_TRUE(l.run_once());
    EXPECT_EQ(p.flushes, 1) << "the flush pass only, not the flush after its poll";
    l.run_once();
    EXPECT_EQ(p.polls, 1);
    EXPECT_EQ(other.polls, 2);
    EXPECT_EQ(l.statistics().polls_with_work, 1u);
}

TEST(Loop, InFlightIoBlocksShutdownUntilCompleted) {
    loop l({.core_id = 0, .pin_cpu = -1, .spin_before_sleep = 0us});
    counting_poller p;
    p.pending = 50;
    l.add_poller(&p);
    l.stop();  // requested before run(): run() must still drain the 50 operations
    l.run();
    EXPECT_EQ(p.pending, 0u);
    EXPECT_GE(p.polls, 50);
    EXPECT_FALSE(l.stop_requested());
}

TEST(Loop, ShutdownRunsReadyTasksFirst) {
    loop l;
    int steps = 0;
    l.spawn([](int& s) -> task<void> {
        for (int i = 0; i < 10; ++i) {
            ++s;
            co_await convme::yield();
        }
    }(steps));
    l.stop();
    l.run();
    EXPECT_EQ(steps, 10);
}

TEST(Loop, StopFromAnotherThread) {
    loop l;
    std::atomic<bool> running{false};
    std::thread t([&] {
        l.post([&] { running = true; });
        l.run();
    });
    ASSERT_TRUE(eventually([&] { return running.load(); }));
    l.stop();
    t.join();
    EXPECT_GE(l.statistics().messages, 1u);
}

TEST(Loop, IdleLoopSleepsAndWakesOnPost) {
    loop l({.core_id = 0, .pin_cpu = -1, .spin_before_sleep = 0us});
    std::thread t([&] { l.run(); });
    ASSERT_TRUE(eventually([&] { return l.statistics().sleeps >= 1; }));
    const auto sleeps = l.statistics().sleeps;
    std::atomic<int> ran{0};
    std::atomic<bool> on_loop{false};
    l.post([&] {
        on_loop = loop::current() == &l;
        ++ran;
    });
    ASSERT_TRUE(eventually([&] { return ran.load() == 1; }));
    EXPECT_TRUE(on_loop.load());
    // After running the message it goes back to sleep.
    ASSERT_TRUE(eventually([&] { return l.statistics().sleeps > sleeps; }));
    l.stop();
    t.join();
}

TEST(Loop, NeverSleepsWithIoInFlight) {
    loop l({.core_id = 0, .pin_cpu = -1, .spin_before_sleep = 0us});
    struct slow_io : convme::poller {
        std::atomic<int> polls{0};
        bool poll() override {
            ++polls;
            return false;
        }
        std::size_t in_flight() const override { return 1; }
    } p;
    l.add_poller(&p);
    std::thread t([&] { l.run(); });
    ASSERT_TRUE(eventually([&] { return p.polls.load() > 1000; }));
    EXPECT_EQ(l.statistics().sleeps, 0u);
    // Shutdown waits for the in-flight operation: complete it by removing the poller on the loop.
    l.post([&] { l.remove_poller(&p); });
    l.stop();
    t.join();
}

TEST(Loop, PostFromManyThreads) {
    loop l;
    std::atomic<int> ran{0};
    std::vector<std::thread> producers;
    for (int i = 0; i < 4; ++i)
        producers.emplace_back([&] {
            for (int k = 0; k < 1000; ++k) l.post([&] { ++ran; });
        });
    std::thread runner([&] { l.run(); });
    for (auto& p : producers) p.join();
    ASSERT_TRUE(eventually([&] { return ran.load() == 4000; }));
    l.stop();
    runner.join();
    EXPECT_EQ(ran.load(), 4000);
}

}  // namespace

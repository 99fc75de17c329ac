// SPDX-License-Identifier: MIT
// runtime: several cores, run_on / submit_to in both directions, ring overflow, errors.
#include <gtest/gtest.h>

#include <atomic>
#include <convme/runtime.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using convme::loop;
using convme::runtime;
using convme::runtime_options;
using convme::task;

runtime_options two_cores() {
    runtime_options o;
    o.cores = 2;
    o.pin_threads = false;
    return o;
}

unsigned here() {
    return loop::current()->core_id();
}

TEST(Runtime, RunReturnsMainResultOnCoreZero) {
    runtime rt(two_cores());
    EXPECT_EQ(runtime::current(), nullptr);
    runtime* seen = nullptr;
    const int v = rt.run([](runtime*& s) -> task<int> {
        s = runtime::current();
        co_return static_cast<int>(here()) + 40;
    }(seen));
    EXPECT_EQ(v, 40);
    EXPECT_EQ(seen, &rt);
    EXPECT_EQ(runtime::current(), nullptr);
    EXPECT_EQ(rt.cores(), 2u);
}

TEST(Runtime, RunRethrowsMainException) {
    runtime rt(two_cores());
    auto failing = []() -> task<int> {
        throw std::runtime_error("main failed");
        co_return 0;
    };
    EXPECT_THROW(rt.run(failing()), std::runtime_error);
}

TEST(Runtime, RunOnReturnsValueFromOtherCore) {
    runtime rt(two_cores());
    auto main = []() -> task<std::vector<unsigned>> {
        std::vector<unsigned> cores;
        cores.push_back(here());
        cores.push_back(co_await convme::run_on(1, [] { return here(); }));
        cores.push_back(here());  // resumed back home
        co_return cores;
    };
    EXPECT_EQ(rt.run(main()), (std::vector<unsigned>{0, 1, 0}));
}

TEST(Runtime, RunOnVoidAndTaskReturningFunctions) {
    runtime rt(two_cores());
    auto main = []() -> task<int> {
        std::atomic<int> hits{0};
        co_await convme::run_on(1, [&] { hits += static_cast<int>(here()); });
        // A task-returning function is spawned on the target and may suspend there.
        const int v = co_await convme::run_on(1, [&]() -> task<int> {
            co_await convme::yield();
            co_await convme::sleep_for(std::chrono::milliseconds(1));
            co_return static_cast<int>(here()) * 10;
        });
        co_await convme::run_on(1, []() -> task<void> { co_await convme::yield(); });
        co_return hits.load() + v;
    };
    EXPECT_EQ(rt.run(main()), 11);
}

TEST(Runtime, RunOnPropagatesExceptions) {
    runtime rt(two_cores());
    auto main = []() -> task<int> {
        int caught = 0;
        try {
            co_await convme::run_on(1, []() -> int { throw std::runtime_error("remote"); });
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()) == "remote") ++caught;
        }
        try {
            co_await convme::run_on(1, []() -> task<void> {
                co_await convme::yield();
                throw std::logic_error("remote task");
            });
        } catch (const std::logic_error&) {
            ++caught;
        }
        try {
            co_await convme::run_on(5, [] { return 0; });
        } catch (const std::out_of_range&) {
            ++caught;
        }
        co_return caught;
    };
    EXPECT_EQ(rt.run(main()), 3);
}

TEST(Runtime, RunOnSameCoreRunsInline) {
    runtime rt(two_cores());
    auto main = []() -> task<bool> {
        const loop* before = loop::current();
        const int v = co_await convme::run_on(0, [] { return 3; });
        const int w = co_await convme::run_on(0, []() -> task<int> { co_return 4; });
        co_return loop::current() == before&& v + w == 7;
    };
    EXPECT_TRUE(rt.run(main()));
}

TEST(Runtime, RunOnOutsideRuntimeThrows) {
    loop l;
    EXPECT_THROW(l.run_until_complete(convme::run_on(0, [] { return 1; })), std::logic_error);
}

TEST(Runtime, SubmitToIsFireAndForget) {
    runtime rt(two_cores());
    std::atomic<int> on_core1{0};
    auto main = [](std::atomic<int>& count) -> task<void> {
        for (int i = 0; i < 100; ++i) {
            convme::submit_to(1, [&count] {
                if (here() == 1) ++count;
            });
        }
        convme::submit_to(1, [&count]() -> task<void> {
            co_await convme::yield();
            if (here() == 1) ++count;
        });
        while (count.load() < 101) co_await convme::yield();
    };
    rt.run(main(on_core1));
    EXPECT_EQ(on_core1.load(), 101);
}

TEST(Runtime, ManyMessagesBeyondRingCapacityBothDirections) {
    runtime_options o = two_cores();
    o.message_ring_size = 16;
    runtime rt(o);
    constexpr int N = 3000;
    std::atomic<int> replies{0};
    std::atomic<int> pings_from_1{0};
    auto main = [](std::atomic<int>& rep, std::atomic<int>& pings) -> task<void> {
        // Core 1 floods core 0 while core 0 floods core 1: both rings stay full for a while.
        convme::submit_to(1, [&pings] {
            for (int i = 0; i < N; ++i) convme::submit_to(0, [&pings] { ++pings; });
        });
        for (int i = 0; i < N; ++i) {
            convme::submit_to(1, [&rep] { convme::submit_to(0, [&rep] { ++rep; }); });
        }
        while (rep.load() < N || pings.load() < N) co_await convme::yield();
    };
    rt.run(main(replies, pings_from_1));
    EXPECT_EQ(replies.load(), N);
    EXPECT_EQ(pings_from_1.load(), N);
    EXPECT_GE(rt.loop_of(1).statistics().messages, static_cast<std::uint64_t>(N));
}

TEST(Runtime, ManyConcurrentRunOnCalls) {
    runtime_options o = two_cores();
    o.message_ring_size = 4;
    runtime rt(o);
    auto main = []() -> task<long> {
        std::atomic<long> sum{0};
        int finished = 0;
        for (int i = 0; i < 200; ++i) {
            loop::current()->spawn([](std::atomic<long>& s, int& f, int i) -> task<void> {
                s += co_await convme::run_on(1, [i] { return i; });
                ++f;
            }(sum, finished, i));
        }
        while (finished < 200) co_await convme::yield();
        co_return sum.load();
    };
    EXPECT_EQ(rt.run(main()), 199L * 200 / 2);
}

TEST(Runtime, SendFromForeignThreadUsesPost) {
    runtime rt(two_cores());
    std::atomic<int> ran_on{-1};
    auto main = [](runtime& r, std::atomic<int>& on) -> task<void> {
        std::thread([&] { r.send(1, [&on] { on = static_cast<int>(here()); }); }).join();
        while (on.load() < 0) co_await convme::yield();
    };
    rt.run(main(rt, ran_on));
    EXPECT_EQ(ran_on.load(), 1);
}

TEST(Runtime, MoreCoresThanCpusWithPinning) {
    runtime_options o;
    o.cores = std::thread::hardware_concurrency() + 2;
    o.pin_threads = true;
    o.spin_before_sleep = std::chrono::microseconds(50);
    runtime rt(o);
    auto main = [](unsigned n) -> task<unsigned> {
        unsigned sum = 0;
        for (unsigned c = 0; c < n; ++c) sum += co_await convme::run_on(c, [] { return here(); });
        co_return sum;
    };
    const unsigned n = o.cores;
    EXPECT_EQ(rt.run(main(n)), n * (n - 1) / 2);
}

TEST(Runtime, CurrentInsideOtherCores) {
    runtime rt(two_cores());
    auto main = [](runtime& r) -> task<bool> {
        runtime* seen = co_await convme::run_on(1, [] { return runtime::current(); });
        co_return seen == &r;
    };
    EXPECT_TRUE(rt.run(main(rt)));
}

TEST(Runtime, RunTwiceAndDestroyWithoutRun) {
    {
        runtime idle(two_cores());  // never run: destructor has nothing to join
    }
    runtime rt(two_cores());
    auto one = []() -> task<int> { co_return co_await convme::run_on(1, [] { return 1; }); };
    EXPECT_EQ(rt.run(one()), 1);
    EXPECT_EQ(rt.run(one()), 1);
}

TEST(Runtime, SingleCore) {
    runtime_options o;
    o.cores = 1;
    o.pin_threads = false;
    runtime rt(o);
    auto main = []() -> task<int> {
        int v = co_await convme::run_on(0, [] { return 5; });
        co_return v;
    };
    EXPECT_EQ(rt.run(main()), 5);
}

TEST(Runtime, ZeroCoresIsRejected) {
    runtime_options o;
    o.cores = 0;
    EXPECT_THROW(runtime rt(o), std::invalid_argument);
}

}  // namespace

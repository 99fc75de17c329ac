// SPDX-License-Identifier: MIT
// Library-internal building blocks: SPSC ring, ready queue, timer heap.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/core/ready_queue.hpp"
#include "runtime/core/spsc_ring.hpp"
#include "runtime/core/timer_heap.hpp"

namespace {

using convme::detail::ready_queue;
using convme::detail::spsc_ring;
using convme::detail::timer_heap;

TEST(SpscRing, RejectsBadCapacity) {
    EXPECT_THROW(spsc_ring<int>(3), std::invalid_argument);
    EXPECT_THROW(spsc_ring<int>(0), std::invalid_argument);
    EXPECT_NO_THROW(spsc_ring<int>(4));
}

TEST(SpscRing, FullEmptyAndWrapAround) {
    spsc_ring<int> r(4);
    int out = 0;
    EXPECT_FALSE(r.try_pop(out));
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 4; ++i) {
            int v = round * 10 + i;
            ASSERT_TRUE(r.try_push(v));
        }
        int extra = 99;
        EXPECT_FALSE(r.try_push(extra));
        EXPECT_EQ(extra, 99);  // untouched when full
        for (int i = 0; i < 4; ++i) {
            ASSERT_TRUE(r.try_pop(out));
            EXPECT_EQ(out, round * 10 + i);
        }
        EXPECT_TRUE(r.empty());
    }
}

TEST(SpscRing, DestroysQueuedElements) {
    auto counted = std::make_shared<int>(0);
    {
        spsc_ring<std::shared_ptr<int>> r(8);
        for (int i = 0; i < 5; ++i) {
            auto copy = counted;
            ASSERT_TRUE(r.try_push(copy));
        }
        EXPECT_EQ(counted.use_count(), 6);
    }
    EXPECT_EQ(counted.use_count(), 1);
}

TEST(SpscRing, TwoThreadsKeepOrder) {
    spsc_ring<std::unique_ptr<long>> r(64);
    constexpr long N = 200000;
    std::thread producer([&] {
        for (long i = 0; i < N; ++i) {
            auto v = std::make_unique<long>(i);
            while (!r.try_push(v)) std::this_thread::yield();
        }
    });
    long expected = 0;
    std::unique_ptr<long> out;
    while (expected < N) {
        if (r.try_pop(out)) {
            ASSERT_EQ(*out, expected);
            ++expected;
        } else {
            std::this_thread::yield();
        }
    }
    producer.join();
    EXPECT_TRUE(r.empty());
}

TEST(ReadyQueue, FifoAcrossGrowth) {
    ready_queue q(4);
    std::vector<int> markers(100);
    // Handles are only stored, never resumed: any distinct addresses will do.
    auto handle_of = [&](int i) { return std::coroutine_handle<>::from_address(&markers[i]); };
    for (int i = 0; i < 3; ++i) q.push(handle_of(i));
    EXPECT_EQ(q.pop(), handle_of(0));  // head moves, so growth must unwrap the ring
    for (int i = 3; i < 100; ++i) q.push(handle_of(i));
    EXPECT_EQ(q.size(), 99u);
    for (int i = 1; i < 100; ++i) ASSERT_EQ(q.pop(), handle_of(i));
    EXPECT_TRUE(q.empty());
}

TEST(ReadyQueue, FullExactlyAtCapacityAfterPopsAndClear) {
    ready_queue q(4);
    std::vector<int> markers(16);
    auto handle_of = [&](int i) { return std::coroutine_handle<>::from_address(&markers[i]); };
    // Wrap the ring a few times at size <= 4: no growth, FIFO kept.
    int next = 0, expect = 0;
    for (int round = 0; round < 6; ++round) {
        while (q.size() < 4) q.push(handle_of(next++ % 16));
        for (int k = 0; k < 3; ++k) ASSERT_EQ(q.pop(), handle_of(expect++ % 16));
    }
    q.clear();
    EXPECT_TRUE(q.empty());
    for (int i = 0; i < 5; ++i) q.push(handle_of(i));  // the fifth grows the cleared ring
    EXPECT_EQ(q.size(), 5u);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(q.pop(), handle_of(i));
    EXPECT_TRUE(q.empty());
}

TEST(ReadyQueue, PushRangeKeepsOrderAcrossTheRingsEndAndGrowth) {
    ready_queue q(8);
    std::vector<int> markers(64);
    auto handle_of = [&](int i) { return std::coroutine_handle<>::from_address(&markers[i]); };
    std::vector<std::coroutine_handle<>> batch;
    for (int i = 0; i < 64; ++i) batch.push_back(handle_of(i));
    int expect = 0;
    auto pop_all = [&] {
        while (!q.empty()) ASSERT_EQ(q.pop(), handle_of(expect++ % 64));
    };
    q.push_range(batch.data(), 1);  // one handle: a store
    q.push_range(batch.data() + 1, 4);
    pop_all();
    q.push_range(batch.data() + 5, 6);  // tail at 5 of 8: crosses the ring's end
    EXPECT_EQ(q.size(), 6u);
    pop_all();
    q.push(handle_of(11));
    q.push_range(batch.data() + 12, 20);  // grows twice a ring holding one handle
    EXPECT_EQ(q.size(), 21u);
    pop_all();
    EXPECT_EQ(expect, 32);
    q.push_range(batch.data() + 32, 32);  // a full ring's worth, across its end
    pop_all();
    EXPECT_EQ(expect, 64);
}

TEST(TimerHeap, PopsDueInDeadlineThenArmingOrder) {
    timer_heap h;
    std::vector<int> markers(5);
    auto handle_of = [&](int i) { return std::coroutine_handle<>::from_address(&markers[i]); };
    const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    using std::chrono::milliseconds;
    h.add(t0 + milliseconds(30), handle_of(0));
    h.add(t0 + milliseconds(10), handle_of(1));
    h.add(t0 + milliseconds(20), handle_of(2));
    h.add(t0 + milliseconds(10), handle_of(3));  // same deadline as 1, armed later
    h.add(t0 + milliseconds(50), handle_of(4));
    EXPECT_EQ(h.next_deadline(), t0 + milliseconds(10));
    std::vector<std::coroutine_handle<>> fired;
    EXPECT_EQ(
        h.pop_due(t0 + milliseconds(30), [&](std::coroutine_handle<> c) { fired.push_back(c); }),
        4u);
    EXPECT_EQ(fired, (std::vector<std::coroutine_handle<>>{handle_of(1), handle_of(3), handle_of(2),
                                                           handle_of(0)}));
    EXPECT_EQ(h.size(), 1u);
    EXPECT_EQ(h.pop_due(t0, [&](std::coroutine_handle<>) {}), 0u);
}

}  // namespace

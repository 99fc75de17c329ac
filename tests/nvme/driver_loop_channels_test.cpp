// SPDX-License-Identifier: MIT
// The driver's per-loop state (one nvme_channel per loop in the backends' channel table): loops
// sharing a core id get a queue pair each, a core id beyond the table's slots still gets one, a
// drained loop's queue is deleted while another loop with the same core id keeps its own, a
// creation error is remembered per loop, and a loop left without a queue forwards even when it
// shares its core id with the loop that has one.
#include <atomic>
#include <chrono>
#include <convme/error.hpp>
#include <thread>
#include <vector>

#include "nvme/driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;

// Writes `n` blocks from block `lba0` on and reads them back; counts the pairs that matched.
task<void> write_read(block_device& dev, std::uint64_t lba0, int n, int& ok) {
    dma_buffer w(4096), r(4096);
    for (int i = 0; i < n; ++i) {
        fill(static_cast<std::byte*>(w.data()), 4096, static_cast<std::uint32_t>(lba0 + i));
        const std::uint64_t off = (lba0 + static_cast<std::uint64_t>(i)) * 4096;
        if (co_await dev.write(off, w.span())) continue;
        std::memset(r.data(), 0, 4096);
        if (co_await dev.read(off, r.span())) continue;
        if (same(static_cast<std::byte*>(w.data()), static_cast<std::byte*>(r.data()), 4096)) ++ok;
    }
}

task<void> drain(block_device& dev) {
    co_await dev.drain();
}

TEST(DriverLoopChannels, LoopsSharingACoreIdGetAQueueEach) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop a({.core_id = 5}), b({.core_id = 5});
    int ok_a = 0, ok_b = 0;
    a.run_until_complete(write_read(*s.dev, 0, 16, ok_a));
    b.run_until_complete(write_read(*s.dev, 64, 16, ok_b));
    EXPECT_EQ(s.stats().io_queues, 2u);
    a.run_until_complete(write_read(*s.dev, 128, 16, ok_a));
    b.run_until_complete(drain(*s.dev));
    EXPECT_EQ(s.stats().io_queues, 1u);  // b's queue deleted, a's kept
    a.run_until_complete(write_read(*s.dev, 192, 16, ok_a));
    a.run_until_complete(drain(*s.dev));
    EXPECT_EQ(s.stats().io_queues, 0u);
    EXPECT_EQ(ok_a, 48);
    EXPECT_EQ(ok_b, 16);
}

TEST(DriverLoopChannels, CoreIdBeyondTheSlotsStillGetsAQueue) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l({.core_id = 1000});
    int ok = 0;
    l.run_until_complete(write_read(*s.dev, 0, 16, ok));
    EXPECT_EQ(ok, 16);
    EXPECT_EQ(s.stats().io_queues, 1u);
    l.run_until_complete(drain(*s.dev));
    EXPECT_EQ(s.stats().io_queues, 0u);
}

// A new loop with the core id of a drained one is not drained: the state is per loop, not per
// core id.
TEST(DriverLoopChannels, ALaterLoopWithADrainedLoopsCoreIdWorks) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    int ok = 0;
    {
        loop a({.core_id = 2});
        a.run_until_complete(write_read(*s.dev, 0, 8, ok));
        a.run_until_complete(drain(*s.dev));
    }
    loop b({.core_id = 2});
    b.run_until_complete(write_read(*s.dev, 8, 8, ok));
    EXPECT_EQ(ok, 16);
    EXPECT_EQ(s.stats().io_queues, 1u);
    b.run_until_complete(drain(*s.dev));
}

task<std::error_code> read_block(block_device& dev) {
    dma_buffer b(4096);
    co_return co_await dev.read(0, b.span());
}

// A failed queue creation is remembered for that loop (its later I/O fails the same way without
// another Create) and only for that loop: another one with the same core id gets its queue.
TEST(DriverLoopChannels, ACreationErrorIsRememberedPerLoop) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    sim::fault f;
    f.what = sim::fault::kind::error_status;
    f.admin = true;
    f.opcode = nvme::admin_op::create_io_cq;
    f.status = nvme::make_status(nvme::sct::generic, nvme::sc::invalid_field);
    s.ctrl->inject(f);
    loop a({.core_id = 6}), b({.core_id = 6});
    const std::error_code first = a.run_until_complete(read_block(*s.dev));
    ASSERT_TRUE(first);
    const auto admin_before = s.ctrl->stats().admin_commands;
    EXPECT_EQ(a.run_until_complete(read_block(*s.dev)), first);
    EXPECT_EQ(s.ctrl->stats().admin_commands, admin_before);  // no second Create
    int ok = 0;
    b.run_until_complete(write_read(*s.dev, 0, 8, ok));
    EXPECT_EQ(ok, 8);
    EXPECT_EQ(s.stats().io_queues, 1u);
    EXPECT_EQ(a.run_until_complete(read_block(*s.dev)), first);
    b.run_until_complete(drain(*s.dev));
    a.run_until_complete(drain(*s.dev));
}

// The controller grants one I/O queue; two loops with the same core id on their own threads: the
// first owns the queue, the second forwards to it.
TEST(DriverLoopChannels, ALoopWithoutAQueueForwardsToOneWithTheSameCoreId) {
    auto cfg = inline_config();
    cfg.inline_mode = false;
    cfg.max_io_queues = 1;
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    std::atomic<bool> first_has_queue{false}, second_done{false};
    int ok_first = 0, ok_second = 0;
    std::thread first([&] {
        loop l({.core_id = 7});
        l.spawn([](block_device& d, int& ok, std::atomic<bool>& ready,
                   std::atomic<bool>& other_done) -> task<void> {
            co_await write_read(d, 0, 8, ok);  // creates the only queue
            ready = true;
            // Serves the other loop's forwarded I/O while it runs.
            while (!other_done.load()) co_await sleep_for(1ms);
            co_await d.drain();
            loop::current()->stop();
        }(*s.dev, ok_first, first_has_queue, second_done));
        l.run();
    });
    std::thread second([&] {
        while (!first_has_queue.load()) std::this_thread::yield();
        loop l({.core_id = 7});
        l.run_until_complete(write_read(*s.dev, 64, 8, ok_second));
        l.run_until_complete(drain(*s.dev));
        second_done = true;
    });
    second.join();
    first.join();
    EXPECT_EQ(ok_first, 8);
    EXPECT_EQ(ok_second, 8);
    EXPECT_EQ(s.stats().forwarded, 16u);  // a write and a read per block
}

}  // namespace
}  // namespace convme::driver::testing

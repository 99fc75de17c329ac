// SPDX-License-Identifier: MIT
// The NVMe driver on the simulated controller with its device thread, driven by loop::run(): the
// device notifies completions, so the loop sleeps instead of spinning while only the device has
// work; coroutines still resume, shutdown still waits for in-flight I/O, and lost completions still
// time out.
#include <chrono>
#include <vector>

#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

sim::controller_config threaded_config(std::chrono::nanoseconds latency) {
    auto c = inline_config();
    c.inline_mode = false;
    c.latency = latency;
    return c;
}

struct read_result {
    std::error_code ec;
    clock_type::duration took{};
    bool done = false;
};

// One read; stops the loop when it is back.
task<void> timed_read(block_device& dev, dma_buffer& b, read_result& out) {
    const auto t0 = clock_type::now();
    out.ec = co_await dev.read(0, b.span());
    out.took = clock_type::now() - t0;
    out.done = true;
    loop::current()->stop();
}

TEST(DriverSimThreaded, LoopSleepsWhileASlowIoIsInFlightAndResumesTheCoroutine) {
    sim_device s(threaded_config(20ms));
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer b(4096);
    read_result warm, r;
    l.spawn(timed_read(*s.dev, b, warm));  // creates the queue pair
    l.run();
    ASSERT_TRUE(warm.done);
    const auto sleeps_before = l.statistics().sleeps;
    l.spawn(timed_read(*s.dev, b, r));
    l.run();
    ASSERT_TRUE(r.done);
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_GE(r.took, 20ms);  // the model's latency (the sim never completes early)
    EXPECT_LT(r.took, 10s);   // generous: it completes, woken by the device's notification
    // 20 ms with the read in flight and nothing else to do: the loop blocked on its eventfd.
    EXPECT_GE(l.statistics().sleeps, sleeps_before + 1);
    RecordProperty("loop_sleeps", std::to_string(l.statistics().sleeps - sleeps_before));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimThreaded, ManyReadsWithoutModelLatencyAllComplete) {
    sim_device s(threaded_config(0ns));
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    std::vector<dma_buffer> bufs;
    for (int i = 0; i < 8; ++i) bufs.emplace_back(4096);
    int done = 0, bad = 0;
    for (int i = 0; i < 8; ++i)
        l.spawn([](block_device& dev, dma_buffer& b, int i, int& done, int& bad) -> task<void> {
            for (int k = 0; k < 500; ++k)
                if (co_await dev.read(std::uint64_t((i * 500 + k) % 4096) * 4096, b.span())) ++bad;
            if (++done == 8) loop::current()->stop();
        }(*s.dev, bufs[i], i, done, bad));
    l.run();
    EXPECT_EQ(done, 8);
    EXPECT_EQ(bad, 0);
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimThreaded, ShutdownWaitsForInFlightIo) {
    sim_device s(threaded_config(20ms));
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    std::vector<dma_buffer> bufs;
    for (int i = 0; i < 16; ++i) bufs.emplace_back(4096);
    int done = 0, bad = 0;
    for (int i = 0; i < 16; ++i)
        l.spawn([](block_device& dev, dma_buffer& b, int i, int& done, int& bad) -> task<void> {
            if (co_await dev.read(std::uint64_t(i) * 4096, b.span())) ++bad;
            ++done;
        }(*s.dev, bufs[i], i, done, bad));
    l.stop();  // before run(): run() starts the reads, then must wait until all 16 are back
    l.run();
    EXPECT_EQ(done, 16);
    EXPECT_EQ(bad, 0);
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimThreaded, LostCompletionStillTimesOutWhileTheLoopSleeps) {
    nvme_options o;
    o.io_timeout = 100ms;
    sim_device s(threaded_config(0ns), o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer b(4096);
    read_result warm, lost, after;
    l.spawn(timed_read(*s.dev, b, warm));
    l.run();
    ASSERT_FALSE(warm.ec) << warm.ec.message();
    sim::fault f;
    f.what = sim::fault::kind::drop_completion;
    f.opcode = nvme::io_opcode::read;
    s.ctrl->inject(f);
    const auto sleeps_before = l.statistics().sleeps;
    l.spawn(timed_read(*s.dev, b, lost));
    l.run();
    ASSERT_TRUE(lost.done);
    EXPECT_EQ(lost.ec, make_error_code(errc::timeout)) << lost.ec.message();
    EXPECT_LT(lost.took,
              30s);  // generous: the health scan ran although no completion woke the loop
    EXPECT_GT(l.statistics().sleeps, sleeps_before);
    EXPECT_GE(s.stats().aborts_sent, 1u);
    // The controller was reset and the queue re-created: I/O works again.
    l.spawn(timed_read(*s.dev, b, after));
    l.run();
    EXPECT_FALSE(after.ec) << after.ec.message();
    l.run_until_complete(s.dev->drain());
}

}  // namespace
}  // namespace convme::driver::testing

// SPDX-License-Identifier: MIT
// Completion modes (completion=poll|interrupt|hybrid) on the threaded simulator, whose device
// thread signals the MSI-X vector of a CQ created with IEN=1 through the eventfd bound with
// pci_device::bind_irq_eventfd, as vfio-pci does for a real function; and loops without a queue
// of their own (fewer queues than loops), which forward their I/O to a loop that has one.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "driver_sim_fixture.hpp"
#include "runtime/core/device_uri.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// hybrid with a fixed window of `spin` (spin_us=N).
nvme_options mode(completion_mode m, std::chrono::microseconds spin = 100us) {
    nvme_options o;
    o.completion = m;
    o.hybrid_spin_auto = false;
    o.hybrid_spin = spin;
    return o;
}

struct qd1_result {
    int ok = 0, bad = 0, slow = 0;  // slow: took >= 90 ms (a sleep that only the backstop ended)
    clock_type::duration worst{};
};

// `n` write+read+verify pairs at QD1 on block `lba0`.., then stops the loop.
task<void> qd1(block_device& dev, std::uint64_t lba0, int n, qd1_result& out, bool finish = true) {
    dma_buffer w(4096), r(4096);
    for (int i = 0; i < n; ++i) {
        fill(static_cast<std::byte*>(w.data()), 4096, static_cast<std::uint32_t>(i + lba0));
        const std::uint64_t off = (lba0 + static_cast<std::uint64_t>(i % 64)) * 4096;
        for (int k = 0; k < 2; ++k) {
            const auto t0 = clock_type::now();
            const std::error_code ec =
                k == 0 ? co_await dev.write(off, w.span()) : co_await dev.read(off, r.span());
            const auto took = clock_type::now() - t0;
            out.worst = std::max(out.worst, took);
            if (took >= 90ms) ++out.slow;
            if (ec) ++out.bad;
        }
        if (same(static_cast<std::byte*>(w.data()), static_cast<std::byte*>(r.data()), 4096))
            ++out.ok;
        else
            ++out.bad;
    }
    if (!finish) co_return;
    co_await dev.drain();
    loop::current()->stop();
}

// qd1() for `n` pairs on block 0.. on a fresh loop, run to its end; the loop's sleeps in
// `loop_sleeps` when given.
qd1_result run_pairs(block_device& dev, int n, std::uint64_t* loop_sleeps = nullptr) {
    loop l;
    qd1_result r;
    l.spawn(qd1(dev, 0, n, r));
    l.run();
    if (loop_sleeps) *loop_sleeps = l.statistics().sleeps;
    return r;
}

TEST(DriverIrq, InterruptModeSleepsWhileIoIsInFlightAndTheVectorWakesTheLoop) {
    sim_device s(threaded_config(2ms), mode(completion_mode::interrupt));
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_NE(
        s.dev->info().name.find("[completion=interrupt, msix 9 vectors, irq masked while awake]"),
        std::string::npos)
        << s.dev->info().name;
    std::uint64_t sleeps = 0;
    const qd1_result r = run_pairs(*s.dev, 20, &sleeps);
    EXPECT_EQ(r.ok, 20);
    EXPECT_EQ(r.bad, 0);
    // 40 I/Os of 2 ms each: the loop slept on the vector's eventfd for (nearly) every one.
    EXPECT_GE(sleeps, 30u);
    const auto st = s.stats();
    EXPECT_GE(st.irq_sleeps, 30u);
}

// The race of the sleep: a completion posted between the loop's last poll and its ppoll. With a
// zero-latency device thread on another CPU it happens all the time; a lost wake-up would only be
// ended by the backstop (one health interval, 100 ms here), so it shows as a slow I/O. With the
// vector always enabled (irq_mask=off): with irq_mask=awake, hybrid's unmask (the simulator's
// lock) gives a zero-latency device the time to complete before the loop's last look, so it
// would rarely sleep at all; that race has its own test (driver_irq_mask_test.cpp,
// complete_at_unmask).
TEST(DriverIrq, NoCompletionIsLostBetweenTheLastPollAndTheSleep) {
    for (auto m : {completion_mode::interrupt, completion_mode::hybrid}) {
        nvme_options o = mode(m, 5us);
        o.irq_mask_awake = false;
        sim_device s(threaded_config(0ns), o);
        ASSERT_TRUE(s.dev) << s.why;
        loop l;
        qd1_result r;
        const auto t0 = clock_type::now();
        l.spawn(qd1(*s.dev, 0, 1500, r));
        l.run();
        const auto took = clock_type::now() - t0;
        EXPECT_EQ(r.ok, 1500) << completion_mode_name(m);
        EXPECT_EQ(r.bad, 0);
        // A systematic race would lose a good share of 3000 wake-ups (minutes of backstops); allow
        // a few slow I/Os for a descheduled thread on a loaded machine.
        EXPECT_LE(r.slow, 3)
            << completion_mode_name(m) << ": worst I/O "
            << std::chrono::duration_cast<std::chrono::milliseconds>(r.worst).count() << " ms";
        RecordProperty(
            std::string(completion_mode_name(m)) + "_ms",
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
        RecordProperty(std::string(completion_mode_name(m)) + "_irq_sleeps",
                       std::to_string(s.stats().irq_sleeps));
        EXPECT_GT(s.stats().irq_sleeps, 0u);
    }
}

TEST(DriverIrq, HybridSpinsThroughFastCompletionsInsteadOfSleeping) {
    // 1 s spin window: every completion of a zero-latency device arrives inside it.
    sim_device s(threaded_config(0ns), mode(completion_mode::hybrid, 1s));
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_NE(s.dev->info().name.find("completion=hybrid"), std::string::npos);
    loop l;
    qd1_result r;
    l.spawn(qd1(*s.dev, 0, 200, r));
    l.run();
    EXPECT_EQ(r.ok, 200);
    EXPECT_LE(s.stats().irq_sleeps, 40u);  // 400 I/Os; a few for a descheduled device thread
}

// One read of a command the model never completes (30 s), with io_timeout 200 ms: the error it
// ends with, how long it took, and whether the driver timed it out or sent an Abort.
struct stuck_read {
    std::error_code ec;
    clock_type::duration took{};
    std::uint64_t timeouts_and_aborts = 0;
};

stuck_read read_that_never_completes(nvme_options o) {
    o.io_timeout = 200ms;
    sim_device s(threaded_config(30s), o);
    EXPECT_TRUE(s.dev) << s.why;
    stuck_read r;
    if (!s.dev) return r;
    loop l;
    dma_buffer b(4096);
    const auto t0 = clock_type::now();
    l.spawn([](block_device& d, dma_buffer& b, std::error_code& ec) -> task<void> {
        ec = co_await d.read(0, b.span());
        loop::current()->stop();
    }(*s.dev, b, r.ec));
    l.run();
    r.took = clock_type::now() - t0;
    r.timeouts_and_aborts = s.stats().timeouts + s.stats().aborts_sent;
    return r;
}

TEST(DriverIrq, TimeoutsStillFireWhileTheLoopSleeps) {
    // io_timeout must still Abort it (the loop wakes every health interval even with no
    // interrupt coming).
    const stuck_read r = read_that_never_completes(mode(completion_mode::interrupt));
    EXPECT_TRUE(r.ec);
    EXPECT_LT(r.took, 20s);
    EXPECT_GE(r.timeouts_and_aborts, 1u);
}

TEST(DriverIrq, TimeoutsStillFireWhileHybridSpins) {
    // hybrid reads the clock (and scans for timeouts) only every few spin turns; with a 2 s
    // window the Abort must still come at io_timeout, while the loop is still spinning (no
    // sleep), not after the window.
    auto o = mode(completion_mode::hybrid);
    o.hybrid_spin_auto = false;
    o.hybrid_spin = 2s;
    const stuck_read r = read_that_never_completes(o);
    EXPECT_TRUE(r.ec);
    EXPECT_LT(r.took, 1500ms);
    EXPECT_GE(r.timeouts_and_aborts, 1u);
}

TEST(DriverIrq, InterruptModeNeedsVectors) {
    sim_device s(inline_config(), mode(completion_mode::hybrid));
    EXPECT_FALSE(s.dev);
    EXPECT_NE(s.why.find("needs MSI-X interrupt vectors"), std::string::npos) << s.why;
    EXPECT_NE(s.why.find("inline"), std::string::npos) << s.why;
}

// The provider's default mode (vfio: hybrid) on a function without usable interrupts: the open
// falls back to poll, says why in device_info, and I/O works. Asked for by name it fails (above).
TEST(DriverIrq, DefaultModeFallsBackToPollWithoutVectorsAndSaysWhy) {
    auto o = mode(completion_mode::hybrid);
    o.completion_by_default = true;
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    const std::string& name = s.dev->info().name;
    EXPECT_NE(name.find("[completion=poll (hybrid, the default, needs MSI-X interrupts: sim "
                        "inline mode"),
              std::string::npos)
        << name;
    const qd1_result r = run_pairs(*s.dev, 8);
    EXPECT_EQ(r.ok, 8);
    EXPECT_EQ(r.bad, 0);
    EXPECT_EQ(s.stats().irq_sleeps, 0u);
}

// With vectors, the default mode is kept: the probe routes vector 1 and unroutes it again.
TEST(DriverIrq, DefaultModeKeepsHybridWhereVectorsWork) {
    auto o = mode(completion_mode::hybrid);
    o.completion_by_default = true;
    sim_device s(threaded_config(0ns), o);
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_NE(s.dev->info().name.find("[completion=hybrid, msix"), std::string::npos)
        << s.dev->info().name;
    const qd1_result r = run_pairs(*s.dev, 8);
    EXPECT_EQ(r.ok, 8);
    EXPECT_EQ(r.bad, 0);
}

TEST(DriverIrq, InterruptCoalescingIsSetAndReported) {
    auto o = mode(completion_mode::interrupt);
    o.coalesce_threshold = 8;
    o.coalesce_time_us = 200;
    sim_device s(threaded_config(0ns), o);
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_NE(s.dev->info().name.find("coalescing thr=8 time=200us"), std::string::npos)
        << s.dev->info().name;
}

TEST(DriverIrq, UriKeys) {
    device_uri u;
    u.scheme = "sim";
    u.target = "mem";
    nvme_options o;
    std::string why;
    EXPECT_TRUE(o.hybrid_spin_auto);  // spin_us=auto is the default
    u.params = {};
    ASSERT_TRUE(parse_nvme_options(u, o, why)) << why;
    EXPECT_TRUE(o.completion_by_default);  // sim's default (poll) came from the caller
    EXPECT_EQ(o.completion, completion_mode::poll);
    u.params = {{"completion", "hybrid"}, {"spin_us", "30"}, {"irq_coalesce", "4"}};
    ASSERT_TRUE(parse_nvme_options(u, o, why)) << why;
    EXPECT_EQ(o.completion, completion_mode::hybrid);
    EXPECT_FALSE(o.hybrid_spin_auto);
    EXPECT_EQ(o.hybrid_spin, 30us);
    EXPECT_EQ(o.coalesce_threshold, 4u);
    u.params = {{"spin_us", "auto"}, {"spin_max_us", "400"}};
    ASSERT_TRUE(parse_nvme_options(u, o, why)) << why;
    EXPECT_TRUE(o.hybrid_spin_auto);
    EXPECT_EQ(o.hybrid_spin_max, 400us);
    u.params = {{"spin_us", "often"}};
    EXPECT_FALSE(parse_nvme_options(u, o, why));
    EXPECT_NE(why.find("spin_us=auto"), std::string::npos) << why;
    u.params = {{"completion", "irq"}};
    EXPECT_FALSE(parse_nvme_options(u, o, why));
    EXPECT_NE(why.find("completion"), std::string::npos) << why;
    // irq_mask=awake (the default) | off: driver_irq_mask_test.cpp.
    EXPECT_TRUE(nvme_options{}.irq_mask_awake);
    u.params = {{"irq_mask", "off"}};
    ASSERT_TRUE(parse_nvme_options(u, o, why)) << why;
    EXPECT_FALSE(o.irq_mask_awake);
    u.params = {{"irq_mask", "awake"}};
    ASSERT_TRUE(parse_nvme_options(u, o, why)) << why;
    EXPECT_TRUE(o.irq_mask_awake);
    u.params = {{"irq_mask", "sometimes"}};
    EXPECT_FALSE(parse_nvme_options(u, o, why));
    EXPECT_NE(why.find("irq_mask"), std::string::npos) << why;
    EXPECT_NE(why.find("awake"), std::string::npos) << why;
}

// Fewer I/O queues than loops: 4 loops on their own threads, the controller grants 1 (the sim's
// max_queues, QEMU's max_ioqpairs). Each loop writes and verifies its own region; the loops
// without a queue forward to the one that has it, and every I/O succeeds.
void many_loops(completion_mode m, std::uint32_t queues) {
    sim_device s(threaded_config(0ns, queues), mode(m));
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_NE(s.dev->info().name.find("[io queues " + std::to_string(queues) + ":"),
              std::string::npos)
        << s.dev->info().name;
    constexpr unsigned loops = 4;
    std::vector<std::unique_ptr<loop>> ls;
    for (unsigned i = 0; i < loops; ++i)
        ls.push_back(std::make_unique<loop>(loop_options{.core_id = i}));
    std::vector<qd1_result> res(loops);
    // Loop 0 does its first I/O first, so it owns the queue; the others then start. Loop 0 keeps
    // serving the others' forwarded I/O, and drains (deletes its queue) only after they finished.
    std::atomic<bool> first_done{false};
    std::atomic<unsigned> finished{0};
    std::vector<std::thread> th;
    for (unsigned i = 0; i < loops; ++i)
        th.emplace_back([&, i] {
            if (i != 0)
                while (!first_done.load()) std::this_thread::yield();
            loop& l = *ls[i];
            l.spawn([](block_device& d, unsigned i, qd1_result& r, std::atomic<bool>& first,
                       std::atomic<unsigned>& finished) -> task<void> {
                dma_buffer b(4096);
                (void)co_await d.read(0,
                                      b.span());  // creates (or fails to create) this loop's queue
                if (i == 0) first = true;
                co_await qd1(d, 1000 + i * 100, 150, r, false);
                finished.fetch_add(1);
                // A loop with a queue serves forwarded I/O only while it runs: drain after
                // everyone.
                while (finished.load() != loops) co_await sleep_for(1ms);
                co_await d.drain();
                loop::current()->stop();
            }(*s.dev, i, res[i], first_done, finished));
            l.run();
        });
    for (auto& t : th) t.join();
    for (unsigned i = 0; i < loops; ++i) {
        EXPECT_EQ(res[i].ok, 150) << "loop " << i;
        EXPECT_EQ(res[i].bad, 0) << "loop " << i;
    }
    EXPECT_GE(s.stats().forwarded, (loops - queues) * 300u);
}

TEST(DriverIrq, FewerQueuesThanLoopsForwardToALoopWithAQueue) {
    many_loops(completion_mode::poll, 1);
}
TEST(DriverIrq, FewerQueuesThanLoopsInHybridMode) {
    many_loops(completion_mode::hybrid, 2);
}

}  // namespace
}  // namespace convme::driver::testing

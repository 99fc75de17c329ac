// SPDX-License-Identifier: MIT
// Controller resets with several loops on the simulated controller's device thread, made hostile:
// CC.EN=0 takes `disable_delay` during which the device keeps fetching and posting, CC.EN=1 takes
// `enable_delay`. Each test names the bug of issue 11 it guards against.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "driver/nvme/controller.hpp"
#include "driver/nvme/io_queue.hpp"
#include "driver_sim_fixture.hpp"
#include "eventually.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using convme_test::eventually;

sim::controller_config hostile_config() {
    auto c = inline_config(16ull << 20, 512);
    c.inline_mode = false;  // the device thread runs beside the loops, as hardware does
    c.max_io_queues = 8;
    return c;
}

controller& ctrl_of(block_device& dev) {
    controller* c = nvme_controller_of(dev);
    EXPECT_NE(c, nullptr);
    return *c;
}

// Block k of a test area holds pattern(k, version).
void pattern(std::byte* p, std::size_t n, std::uint64_t block, std::uint32_t version) {
    for (std::size_t i = 0; i < n; i += 8) {
        const std::uint64_t v =
            (block << 32) ^ (std::uint64_t{version} << 8) ^ (i * 0x9e3779b97f4a7c15ull);
        std::memcpy(p + i, &v, 8);
    }
}

// A loop on its own thread. Work is posted to it; it runs until stop().
struct loop_thread {
    loop l;
    std::thread t;
    explicit loop_thread(unsigned core) : l(loop_options{core}) {
        t = std::thread([this] { l.run(); });
    }
    ~loop_thread() {
        l.stop();
        if (t.joinable()) t.join();
    }
    // Run `make()` (a task) on the loop and wait for its result.
    template <typename T, typename F>
    T run(F make) {
        std::promise<T> done;
        auto fut = done.get_future();
        l.post([this, make, &done]() mutable {
            l.spawn([](F make, std::promise<T>& done) -> task<void> {
                done.set_value(co_await make());
            }(make, done));
        });
        return fut.get();
    }
};

task<std::error_code> read_block(block_device& dev, std::uint64_t lba, dma_buffer& b) {
    co_return co_await dev.read(lba * 512, b.span());
}

// Blocks [first, first + count) in 4 KiB writes (few commands: the CQ stays on its first pass).
task<std::error_code> write_pattern(block_device& dev, std::uint64_t first, std::uint64_t count) {
    dma_buffer b(4096);
    for (std::uint64_t k = first; k < first + count; k += 8) {
        const std::uint64_t n = std::min<std::uint64_t>(8, first + count - k);
        for (std::uint64_t j = 0; j < n; ++j) pattern(b.data() + j * 512, 512, k + j, 1);
        if (auto ec = co_await dev.write(k * 512, std::span<std::byte>(b.data(), n * 512)))
            co_return ec;
    }
    co_return std::error_code{};
}

// A reset on its own thread (as from another loop or a health check), checked to succeed.
std::thread reset_in_background(controller& c) {
    return std::thread([&c] {
        std::string why;
        EXPECT_EQ(c.reset(c.generation(), why), 0) << why;
    });
}

// A read right after a reset: commands caught by it fail as aborted; up to 3 attempts.
std::error_code read_past_the_reset(loop_thread& l, block_device& dev, std::uint64_t lba,
                                    dma_buffer& buf) {
    std::error_code ec;
    for (int attempt = 0; attempt < 3; ++attempt) {
        ec = l.run<std::error_code>([&] { return read_block(dev, lba, buf); });
        if (ec != make_error_code(errc::aborted)) break;
    }
    return ec;
}

bool holds_pattern(const dma_buffer& buf, std::uint64_t lba) {
    dma_buffer want(512);
    pattern(want.data(), 512, lba, 1);
    return same(buf.data(), want.data(), 512);
}

// After a reset: one read of block `lba` gets past it and returns what write_pattern wrote there.
void expect_read_past_the_reset(loop_thread& l, block_device& dev, std::uint64_t lba) {
    dma_buffer buf(512);
    std::error_code ec = read_past_the_reset(l, dev, lba, buf);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(holds_pattern(buf, lba));
}

// After a reset: `times` reads of block `lba` on `l` all succeed, the last with the right data.
void expect_reads_back(loop_thread& l, block_device& dev, std::uint64_t lba, int times) {
    dma_buffer buf(512);
    int failures = 0;
    for (int i = 0; i < times; ++i)
        if (l.run<std::error_code>([&] { return read_block(dev, lba, buf); })) ++failures;
    EXPECT_EQ(failures, 0);
    EXPECT_TRUE(holds_pattern(buf, lba));
}

// What a group of verifying readers saw (shared by readers on several loops).
struct reader_counts {
    std::atomic<bool> stop{false};
    std::atomic<int> mismatches{0}, ok{0}, lost{0}, other{0}, done{0};
};

// Reader `i` walks blocks of [0, 64) (block (n * stride + i * spread) % 64 on its n-th read) until
// told to stop, checking each against write_pattern's data; a read lost in a reset (aborted or
// timed out) is allowed and counted apart. A buffer is poisoned first: a read that moved no data
// shows.
struct reader_walk {
    std::uint64_t stride, spread;
    std::chrono::microseconds stagger{0};  // reader i starts after i * stagger
};
task<void> verifying_reader(block_device& dev, int i, reader_walk walk, reader_counts& c) {
    dma_buffer buf(512), want(512);
    if (walk.stagger.count() > 0) co_await loop::current()->sleep_for(walk.stagger * i);
    for (std::uint64_t n = 0; !c.stop.load(); ++n) {
        const std::uint64_t k =
            (n * walk.stride + static_cast<std::uint64_t>(i) * walk.spread) % 64;
        std::memset(buf.data(), 0xee, 512);
        const auto ec = co_await dev.read(k * 512, buf.span());
        if (!ec) {
            pattern(want.data(), 512, k, 1);
            if (!same(buf.data(), want.data(), 512)) ++c.mismatches;
            ++c.ok;
        } else if (ec == make_error_code(errc::aborted) || ec == make_error_code(errc::timeout)) {
            ++c.lost;
        } else {
            ++c.other;
        }
    }
    ++c.done;
}

void start_readers(loop_thread& lt, block_device& dev, int n, reader_walk walk, reader_counts& c) {
    lt.l.post([&lt, &dev, n, walk, &c] {
        for (int i = 0; i < n; ++i) lt.l.spawn(verifying_reader(dev, i, walk, c));
    });
}

// Waits (up to 3 s, for a loaded host) until `more` reads have succeeded since the call; returns
// how many did.
int reads_ok_since_now(reader_counts& c, int more) {
    const int at_start = c.ok.load();
    eventually([&] { return c.ok.load() - at_start >= more; }, 3s);
    return c.ok.load() - at_start;
}

// What most reset tests start from: a hostile device and loop B (core 1), which writes the test
// pattern to blocks [0, n) with wrote(n). B stops before the device closes. Tests take references
// to s and b (not a structured binding: clang 14 cannot capture one in a lambda).
struct reset_rig {
    sim_device s;
    loop_thread b{1};
    reset_rig(const sim::controller_config& cfg, std::chrono::milliseconds io_timeout,
              bool shadow_doorbells = true)
        : s(cfg, options(io_timeout, shadow_doorbells)) {}
    bool wrote(std::uint64_t n) {
        return s.dev && !b.run<std::error_code>([&] { return write_pattern(*s.dev, 0, n); });
    }
    static nvme_options options(std::chrono::milliseconds io_timeout, bool shadow_doorbells) {
        nvme_options o;
        o.io_timeout = io_timeout;
        o.shadow_doorbells = shadow_doorbells;
        return o;
    }
};

task<bool> drain_dev(block_device& dev) {
    co_await dev.drain();
    co_return true;
}

// Bug 1: the generation moved before CC.EN=0/RDY=0, so another loop wiped its rings while the
// controller still posted into them; a new command then "completed" with a stale CQE (a read
// returned the poisoned buffer), the real CQE was skipped, the CQ head doorbell ran past the
// tail and the queue hung. Several rounds, each with a fresh controller (shadow doorbells on and
// off), a reset while 8 staggered reads are in flight on another loop's queue.
TEST(DriverSimReset, ReadsInFlightOnAnotherLoopNeverCompleteWithStaleCompletions) {
    constexpr int rounds = 5;
    int total_ok = 0, total_failed = 0;
    for (int round = 0; round < rounds; ++round) {
        auto cfg = hostile_config();
        cfg.latency = 5ms;         // reads sit in the device when the reset starts...
        cfg.disable_delay = 40ms;  // ...and complete during the disable window
        nvme_options o;
        o.io_timeout = 2s;
        o.shadow_doorbells = round % 2 == 0;  // both doorbell paths
        sim_device s(cfg, o);
        ASSERT_TRUE(s.dev) << s.why;
        reader_counts reads;
        int ok_after_reset = 0;
        {
            loop_thread b(1);
            ASSERT_FALSE((b.run<std::error_code>([&] { return write_pattern(*s.dev, 0, 64); })));
            // Staggered: the reads' completions are spread over the disable window.
            start_readers(b, *s.dev, 8, {.stride = 7, .spread = 13, .stagger = 700us}, reads);
            std::this_thread::sleep_for(9ms);  // reads in flight in the device
            std::string why;
            controller& c = ctrl_of(*s.dev);
            EXPECT_EQ(c.reset(c.generation(), why), 0) << why;
            // The queue is re-created and reads go on: 50 more at 5 ms per read and 8 readers
            // take about 30 ms; a wedged queue never gets there.
            ok_after_reset = reads_ok_since_now(reads, 50);
            reads.stop = true;
            const auto t_stop = clock_type::now();
            while (reads.done.load() < 8) std::this_thread::sleep_for(1ms);
            EXPECT_LT(clock_type::now() - t_stop, 500ms)
                << "round " << round << ": reads hung after the reset";
            EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
        }
        EXPECT_EQ(reads.mismatches.load(), 0)
            << "round " << round << ": a successful read returned data it never read";
        EXPECT_EQ(reads.other.load(), 0) << "round " << round;
        const auto st = s.ctrl->stats();
        EXPECT_EQ(st.invalid_doorbell_writes, 0u)
            << "round " << round << ": " << s.ctrl->last_diagnostic();
        EXPECT_EQ(st.dma_lifetime_violations, 0u) << s.ctrl->last_diagnostic();
        EXPECT_GE(ok_after_reset, 50) << "round " << round << ": reads must go on after the reset";
        total_ok += reads.ok.load();
        total_failed += reads.lost.load();
    }
    RecordProperty("reads_ok", std::to_string(total_ok));
    RecordProperty("reads_lost_in_reset", std::to_string(total_failed));
}

// Blocks a loop's thread (it neither polls nor acknowledges resets) until released: what a loop
// busy in user code looks like to a reset. The reset then gives up waiting for its
// acknowledgement after 2 s and goes on with the re-enable, so the queue notices the new
// generation only while the controller is enabling (CSTS.RDY still 0, Doorbell Buffer Config not
// yet re-sent): the window in which bugs 2 and 3 struck.
struct blocked_loop {
    std::atomic<bool> release{false}, blocked{false};
    void block(loop& l) {
        l.post([this] {
            blocked = true;
            eventually([this] { return release.load(); });
        });
        eventually([this] { return blocked.load(); }, 5s);
    }
};

bool wait_enabling(sim_device& s) {
    return eventually([&] { return s.ctrl->stats().enabling; }, 5s);
}

// Bug 2: a loop that recovered while the reset was half done copied its doorbells while Doorbell
// Buffer Config was still off, so its queue used MMIO doorbells only while the controller took
// the SQ tail from the (zeroed) shadow slot: nothing on that queue ran any more.
TEST(DriverSimReset, QueueRecoveringDuringAResetUsesTheNewGenerationsShadowDoorbells) {
    auto cfg = hostile_config();
    cfg.enable_delay = 400ms;
    reset_rig r(cfg, 400ms);
    ASSERT_TRUE(r.wrote(4)) << r.s.why;
    sim_device& s = r.s;
    loop_thread& b = r.b;
    controller& c = ctrl_of(*s.dev);
    ASSERT_TRUE(s.stats().shadow_doorbells);
    dma_buffer buf(512);
    blocked_loop stuck;
    stuck.block(b.l);  // B is busy: it will not acknowledge the reset
    std::thread resetter = reset_in_background(c);
    ASSERT_TRUE(wait_enabling(s)) << "the reset should be waiting for CSTS.RDY=1 now";
    EXPECT_EQ(c.counters().quiesce_timeouts.load(), 1u);
    // B comes back while the reset is half done and recovers its queue now.
    stuck.release = true;
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(s.ctrl->stats().enabling) << "B should have recovered while the controller enabled";
    std::error_code ec = read_past_the_reset(b, *s.dev, 1, buf);
    resetter.join();
    EXPECT_FALSE(ec) << ec.message() << " (the queue's doorbells do not reach the controller)";
    EXPECT_TRUE(holds_pattern(buf, 1));
    for (int i = 0; i < 4; ++i)
        EXPECT_FALSE(b.run<std::error_code>([&] { return read_block(*s.dev, 2, buf); }));
    EXPECT_EQ(s.ctrl->stats().invalid_doorbell_writes, 0u) << s.ctrl->last_diagnostic();
    EXPECT_EQ(s.stats().resets, 1u) << "the queue needed more resets to work again";
    EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
}

// Bug 3: a queue took the generation outside the admin lock and was then created after another
// reset had completed: labelled with the old generation, the healthy queue looked stale, its
// requests were failed and its rings wiped while the controller was still running it, and it was
// "re-created" over itself (Invalid Queue Identifier). B recovers (reads the generation) during
// the first reset, and a second reset takes the admin lock before B's queue creation does.
TEST(DriverSimReset, QueueCreatedAfterASecondResetIsNotMistakenForStale) {
    auto cfg = hostile_config();
    cfg.enable_delay = 300ms;
    reset_rig r(cfg, 2s);
    ASSERT_TRUE(r.wrote(4)) << r.s.why;
    sim_device& s = r.s;
    loop_thread& b = r.b;
    controller& c = ctrl_of(*s.dev);
    dma_buffer buf(512);
    blocked_loop stuck;
    stuck.block(b.l);
    const std::uint32_t g0 = c.generation();
    std::thread first([&] {
        std::string why;
        EXPECT_EQ(c.reset(g0, why), 0) << why;
    });
    ASSERT_TRUE(wait_enabling(s));
    // A second reset queues up behind the first (it saw the first's generation)...
    std::thread second([&, g1 = c.generation()] {
        std::string why;
        EXPECT_EQ(c.reset(g1, why), 0) << why;
    });
    std::this_thread::sleep_for(30ms);
    // ...and only then does B notice the first: it re-creates its queue behind both resets.
    stuck.release = true;
    first.join();
    second.join();
    std::error_code ec = read_past_the_reset(b, *s.dev, 1, buf);
    EXPECT_FALSE(ec) << ec.message();
    // The queue keeps working: it was not mistaken for a stale one (which costs its in-flight
    // I/O and a reset of its own).
    expect_reads_back(b, *s.dev, 2, 8);
    EXPECT_EQ(s.stats().resets, 2u) << "a healthy queue was taken for a stale one and reset again";
    EXPECT_EQ(s.ctrl->stats().invalid_doorbell_writes, 0u) << s.ctrl->last_diagnostic();
    EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
}

// Bug 3, first creation: a loop that creates its queue while a reset is disabling the controller
// waits for the admin lock the reset holds; the generation its queue belongs to is the one in
// which it was created (read under that lock), not the one before the reset.
TEST(DriverSimReset, QueueFirstCreatedDuringAResetBelongsToTheNewGeneration) {
    auto cfg = hostile_config();
    cfg.disable_delay = 300ms;
    nvme_options o;
    o.io_timeout = 2s;
    sim_device s(cfg, o);
    ASSERT_TRUE(s.dev) << s.why;
    loop_thread a(1);
    ASSERT_FALSE((a.run<std::error_code>([&] { return write_pattern(*s.dev, 0, 8); })));
    controller& c = ctrl_of(*s.dev);
    std::thread resetter = reset_in_background(c);
    const auto t0 = clock_type::now();
    while (!s.ctrl->stats().disabling && clock_type::now() - t0 < 5s)
        std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(s.ctrl->stats().disabling);
    loop_thread b(2);  // its first I/O creates its queue, behind the reset
    dma_buffer buf(512);
    EXPECT_FALSE(b.run<std::error_code>([&] { return read_block(*s.dev, 3, buf); }));
    resetter.join();
    expect_reads_back(b, *s.dev, 3, 8);
    EXPECT_EQ(s.stats().resets, 1u) << "the new queue was taken for a stale one and reset again";
    EXPECT_EQ(s.ctrl->stats().invalid_doorbell_writes, 0u) << s.ctrl->last_diagnostic();
    EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
    EXPECT_TRUE(a.run<bool>([&] { return drain_dev(*s.dev); }));
}

// Bug 1, the other half of the ordering: a reset re-enables the controller only after every
// queue acknowledged the new generation. B is busy in user code with a read committed to its SQ
// but not yet rung; when it gets back to its loop it rings that doorbell. Against the
// re-enabled controller, which has no I/O queue 1 any more, that is an invalid doorbell write
// (and, once another queue got id 1, a tail the controller would run with); while the reset waits
// for B, it goes to a disabled controller, which drops it.
TEST(DriverSimReset, ResetWaitsForABusyLoopBeforeReenabling) {
    auto cfg = hostile_config();
    cfg.disable_delay = 10ms;
    // every doorbell is an MMIO write the controller sees
    reset_rig r(cfg, 2s, /*shadow_doorbells=*/false);
    ASSERT_TRUE(r.wrote(8)) << r.s.why;
    sim_device& s = r.s;
    loop_thread& b = r.b;
    controller& c = ctrl_of(*s.dev);
    std::atomic<bool> release{false}, blocked{false}, read_done{false};
    std::error_code read_ec;
    dma_buffer buf(512);
    b.l.post([&] {
        b.l.spawn([](block_device& dev, dma_buffer& buf, std::error_code& ec,
                     std::atomic<bool>& done) -> task<void> {
            ec = co_await dev.read(512, buf.span());
            done = true;
        }(*s.dev, buf, read_ec, read_done));
        b.l.spawn([](std::atomic<bool>& release, std::atomic<bool>& blocked) -> task<void> {
            blocked = true;  // the read is in the SQ, its doorbell not rung yet
            const auto t0 = clock_type::now();
            while (!release.load() && clock_type::now() - t0 < 10s)
                std::this_thread::sleep_for(1ms);
            co_return;
        }(release, blocked));
    });
    const auto t0 = clock_type::now();
    while (!blocked.load() && clock_type::now() - t0 < 5s) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(blocked.load());
    std::thread resetter = reset_in_background(c);
    std::this_thread::sleep_for(300ms);  // the reset must still be waiting for B now
    release = true;
    resetter.join();
    while (!read_done.load() && clock_type::now() - t0 < 10s) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(read_done.load());
    EXPECT_TRUE(!read_ec || read_ec == make_error_code(errc::aborted)) << read_ec.message();
    EXPECT_EQ(c.counters().quiesce_timeouts.load(), 0u);
    expect_reads_back(b, *s.dev, 3, 4);
    EXPECT_EQ(s.ctrl->stats().invalid_doorbell_writes, 0u)
        << "B rang a doorbell of the re-enabled controller: " << s.ctrl->last_diagnostic();
    EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
}

// A queue whose command timed out sends an Abort, which waits for the admin lock; a reset holds
// that lock while it waits for every queue's acknowledgement. The queue is parked while it waits,
// so the reset goes on at once instead of stalling for its 2 s limit and re-enabling without it.
TEST(DriverSimReset, QueueSendingAnAbortDoesNotHoldUpAReset) {
    auto cfg = hostile_config();
    cfg.disable_delay = 400ms;
    reset_rig r(cfg, 100ms);
    ASSERT_TRUE(r.wrote(8)) << r.s.why;
    sim_device& s = r.s;
    loop_thread& b = r.b;
    controller& c = ctrl_of(*s.dev);
    sim::fault late;
    late.what = sim::fault::kind::late_completion;
    late.opcode = nvme::io_opcode::read;
    late.delay = 5s;
    s.ctrl->inject(late);
    std::atomic<bool> read_done{false};
    std::error_code read_ec;
    dma_buffer buf(512);
    b.l.post([&] {
        b.l.spawn([](block_device& dev, dma_buffer& buf, std::error_code& ec,
                     std::atomic<bool>& done) -> task<void> {
            ec = co_await dev.read(512, buf.span());
            done = true;
        }(*s.dev, buf, read_ec, read_done));
    });
    std::this_thread::sleep_for(20ms);  // fetched, held by the device; times out during the reset
    std::string why;
    const auto t0 = clock_type::now();
    EXPECT_EQ(c.reset(c.generation(), why), 0) << why;
    const auto took = clock_type::now() - t0;
    EXPECT_EQ(c.counters().quiesce_timeouts.load(), 0u)
        << "the reset waited for a queue blocked on the admin lock it holds";
    EXPECT_LT(took, 1500ms);
    while (!read_done.load() && clock_type::now() - t0 < 10s) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(read_done.load());
    EXPECT_TRUE(read_ec == make_error_code(errc::aborted) ||
                read_ec == make_error_code(errc::timeout))
        << read_ec.message();
    for (int i = 0; i < 4; ++i)
        EXPECT_FALSE(b.run<std::error_code>([&] { return read_block(*s.dev, 3, buf); }));
    EXPECT_EQ(s.ctrl->stats().invalid_doorbell_writes, 0u) << s.ctrl->last_diagnostic();
    EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
}

// A controller that fails again (CSTS.CFS) while a reset enables it is disabled and enabled once
// more, not given up for good (the stress tests hit this: every loop's I/O then failed with
// "controller fatal" until the device was reopened).
TEST(DriverSimReset, FatalStatusWhileTheResetEnablesIsResetAgain) {
    auto cfg = hostile_config();
    cfg.enable_delay = 200ms;
    reset_rig r(cfg, 2s);
    ASSERT_TRUE(r.wrote(8)) << r.s.why;
    sim_device& s = r.s;
    loop_thread& b = r.b;
    controller& c = ctrl_of(*s.dev);
    std::thread resetter = reset_in_background(c);
    ASSERT_TRUE(wait_enabling(s));
    s.ctrl->set_fatal();
    resetter.join();
    EXPECT_FALSE(c.broken());
    expect_read_past_the_reset(b, *s.dev, 3);
    EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
}

// The next `count` Create I/O Submission Queue commands fail with Internal Error.
void fail_create_sq(sim::simulated_controller& ctrl, std::uint32_t count) {
    sim::fault f;
    f.admin = true;
    f.opcode = nvme::admin_op::create_io_sq;
    f.status = nvme::make_status(nvme::sct::generic, nvme::sc::internal_error);
    f.count = count;
    ctrl.inject(f);
}

// recover() re-creates its queue pair after a reset; a controller that fails the re-creation is
// reset again and the re-creation retried, at most io_queue::max_recreate_attempts times in all.
// Two failed re-creations: the third succeeds and the loop's I/O goes on with the right data.
TEST(DriverSimReset, QueueWhoseReCreationFailsIsResetAgainAndRecovers) {
    reset_rig r(hostile_config(), 2s);
    ASSERT_TRUE(r.wrote(8)) << r.s.why;
    sim_device& s = r.s;
    loop_thread& b = r.b;
    fail_create_sq(*s.ctrl, io_queue::max_recreate_attempts - 1);
    controller& c = ctrl_of(*s.dev);
    const auto resets_before = s.ctrl->stats().resets;
    reset_in_background(c).join();
    expect_read_past_the_reset(b, *s.dev, 3);
    // The background reset, then one more per failed re-creation.
    EXPECT_EQ(s.ctrl->stats().resets - resets_before, io_queue::max_recreate_attempts);
    EXPECT_FALSE(c.broken());
    EXPECT_EQ(s.ctrl->stats().invalid_doorbell_writes, 0u) << s.ctrl->last_diagnostic();
    EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
}

// A controller that fails every re-creation: the loop gives up after max_recreate_attempts
// (bounded, no reset storm) and its I/O fails with "controller fatal" instead of hanging.
TEST(DriverSimReset, QueueWhoseReCreationAlwaysFailsGivesUpAfterTheBoundedAttempts) {
    reset_rig r(hostile_config(), 2s);
    ASSERT_TRUE(r.wrote(8)) << r.s.why;
    sim_device& s = r.s;
    loop_thread& b = r.b;
    fail_create_sq(*s.ctrl, 1000);
    controller& c = ctrl_of(*s.dev);
    const auto resets_before = s.ctrl->stats().resets;
    reset_in_background(c).join();
    dma_buffer buf(512);
    const auto t0 = clock_type::now();
    std::error_code ec;
    for (int i = 0; i < 3; ++i)  // later reads meet the failed queue at once
        ec = b.run<std::error_code>([&] { return read_block(*s.dev, 3, buf); });
    EXPECT_EQ(ec, make_error_code(errc::controller_fatal)) << ec.message();
    EXPECT_LT(clock_type::now() - t0, 10s);
    EXPECT_EQ(s.ctrl->stats().resets - resets_before, io_queue::max_recreate_attempts);
    EXPECT_EQ(s.ctrl->stats().invalid_doorbell_writes, 0u) << s.ctrl->last_diagnostic();
}

// Task of issue 14 / lab finding: QEMU 7.2's emulated NVMe segfaults when CC.EN=0 meets I/O it
// still runs (guest-multiloop-reset). A reset of a controller that still answers does what
// Linux's nvme_dev_disable does: the loops stop, every I/O SQ and CQ is deleted, then CC.EN=0.
// Two loops keep 8 reads each in the device (100 ms latency) when the reset comes. The model
// counts disables that find I/O queues (and I/O commands held) and would otherwise see both.
// The reads caught by the deletion fail as aborted (the model answers them "aborted due to SQ
// deletion"), none with another error, none with wrong data, and I/O goes on on both loops.
TEST(DriverSimReset, ResetOfALiveControllerDeletesItsIoQueuesBeforeDisabling) {
    for (int round = 0; round < 2; ++round) {
        auto cfg = hostile_config();
        cfg.latency = 100ms;  // every read is still in the device when the Delete SQ comes
        cfg.disable_delay = 20ms;
        nvme_options o;
        o.io_timeout = 2s;
        o.shadow_doorbells = round == 0;
        sim_device s(cfg, o);
        ASSERT_TRUE(s.dev) << s.why;
        reader_counts reads;
        sim::controller_stats at_reset;  // right after the reset
        {
            loop_thread a(1), b(2);
            ASSERT_FALSE((a.run<std::error_code>([&] { return write_pattern(*s.dev, 0, 64); })));
            for (loop_thread* lt : {&a, &b})
                start_readers(*lt, *s.dev, 8, {.stride = 5, .spread = 11}, reads);
            std::this_thread::sleep_for(30ms);  // 16 reads in the device
            controller& c = ctrl_of(*s.dev);
            std::string why;
            EXPECT_EQ(c.reset(c.generation(), why), 0) << why;
            at_reset = s.ctrl->stats();
            EXPECT_GE(reads_ok_since_now(reads, 50), 50) << "round " << round << ": I/O must go on";
            reads.stop = true;
            while (reads.done.load() < 16) std::this_thread::sleep_for(1ms);
            EXPECT_EQ(c.counters().resets_deleting_queues.load(), 1u);
            EXPECT_EQ(c.counters().queues_deleted_by_reset.load(), 2u);
            EXPECT_TRUE(a.run<bool>([&] { return drain_dev(*s.dev); }));
            EXPECT_TRUE(b.run<bool>([&] { return drain_dev(*s.dev); }));
        }
        const auto& st = at_reset;
        EXPECT_EQ(st.resets, 1u);
        EXPECT_EQ(st.disables_with_io_queues, 0u)
            << "round " << round << ": CC.EN=0 while the I/O queues still existed; "
            << s.ctrl->last_diagnostic();
        EXPECT_EQ(st.disables_with_io_in_flight, 0u)
            << "round " << round << ": CC.EN=0 while the controller held I/O commands";
        EXPECT_EQ(reads.mismatches.load(), 0) << "round " << round;
        EXPECT_EQ(reads.other.load(), 0) << "round " << round << ": only aborted/timeout may fail";
        EXPECT_GT(reads.lost.load(), 0)
            << "round " << round << ": the reset caught no read in flight (" << reads.ok.load()
            << " ok)";
        EXPECT_EQ(st.invalid_doorbell_writes, 0u) << s.ctrl->last_diagnostic();
        EXPECT_EQ(st.dma_lifetime_violations, 0u) << s.ctrl->last_diagnostic();
    }
}

}  // namespace
}  // namespace convme::driver::testing

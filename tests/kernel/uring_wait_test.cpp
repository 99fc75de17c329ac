// SPDX-License-Identifier: MIT
// uring wait=block|poll: with wait=block the loop sleeps on its eventfd while I/O is in flight and
// the ring's CQ eventfd wakes it; wait=poll keeps spinning. Only counts and data are asserted,
// never timings. The I/O goes to a real filesystem with O_DIRECT so that it is actually in flight
// (page-cache hits complete inside io_uring_submit and never leave the loop idle).
#include <gtest/gtest.h>

#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "backend_test_util.hpp"
#include "eventually.hpp"
#include "runtime/kernel/uring_device.hpp"
#include "runtime/kernel/uring_probe.hpp"
#include "uring_test_fixture.hpp"

using namespace convme;
using convme::testing::fill_pattern;

namespace {

constexpr std::size_t MiB = 1024 * 1024;

// /var/tmp: a disk-backed filesystem where O_DIRECT I/O takes real time (/tmp may be tmpfs).
// fallback=0: these tests are about the ring, never the thread pool.
class UringWait : public convme::testing::uring_test {
  protected:
    UringWait() : uring_test(std::getenv("TMPDIR") ? nullptr : "/var/tmp", "fallback=0&") {}
};

// Runs `body` on `l` (l.run() on this thread), stopping the loop when it finishes.
void run_and_stop(loop& l, task<void> body) {
    l.spawn([](task<void> b) -> task<void> {
        co_await std::move(b);
        loop::current()->stop();
    }(std::move(body)));
    l.run();
}

// Writes `size` bytes of pattern in 1 MiB writes, reads them back in 8 MiB reads.
task<void> write_then_read_back(block_device& dev, std::size_t size, bool& same) {
    dma_buffer w(size), r(size);
    fill_pattern(w.span(), 7);
    for (std::size_t off = 0; off < size; off += MiB)
        EXPECT_FALSE(co_await dev.write(off, w.subspan(off, MiB)));
    for (std::size_t off = 0; off < size; off += 8 * MiB)
        EXPECT_FALSE(co_await dev.read(off, r.subspan(off, 8 * MiB)));
    same = std::memcmp(w.data(), r.data(), size) == 0;
    co_await dev.drain();
}

TEST_F(UringWait, UriSelectsTheWaitMode) {
    // One at a time: a device holds an exclusive lock on its file while open.
    auto mode_of = [&](const std::string& query) {
        auto dev = open(query);
        return dev && as_uring(*dev).config().block_in_flight;
    };
    EXPECT_TRUE(mode_of("create_size=1M&wait=block"));
    EXPECT_FALSE(mode_of("create_size=1M&wait=poll"));
    EXPECT_FALSE(mode_of("create_size=1M"));  // the default: lowest latency
    std::error_code ec;
    std::string why;
    EXPECT_EQ(open_device("uring:" + dir.file("dev.img") + "?wait=maybe", ec, why), nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("wait='maybe' must be one of block, poll"), std::string::npos) << why;
}

TEST_F(UringWait, BlockSleepsWhileIoIsInFlightAndGetsWokenByTheRing) {
    auto dev = open("create_size=32M&wait=block");
    ASSERT_TRUE(dev);
    auto& u = as_uring(*dev);
    if (!u.target().direct)
        GTEST_SKIP() << "no O_DIRECT here, I/O would not be in flight: " << dev->info().name;
    loop l;
    bool same = false;
    run_and_stop(l, write_then_read_back(*dev, 32 * MiB, same));
    EXPECT_TRUE(same);
    const backends::uring_stats s = u.stats();
    if (s.notify_refused != 0)
        GTEST_SKIP() << "io_uring_register_eventfd refused here: the loop polls";
    EXPECT_EQ(s.notify_rings, 1u);
    // Every sleep happened with I/O in flight (the body never idles otherwise), and the ring
    // armed its notifications before them.
    EXPECT_GE(s.notify_arms, 1u);
    EXPECT_GE(l.statistics().sleeps, 1u);
}

TEST_F(UringWait, PollNeverSleepsWhileIoIsInFlight) {
    auto dev = open("create_size=32M&wait=poll");
    ASSERT_TRUE(dev);
    auto& u = as_uring(*dev);
    loop l;
    bool same = false;
    run_and_stop(l, write_then_read_back(*dev, 32 * MiB, same));
    EXPECT_TRUE(same);
    EXPECT_EQ(u.stats().notify_rings, 0u);
    EXPECT_EQ(u.stats().notify_arms, 0u);
    EXPECT_EQ(l.statistics().sleeps, 0u);
}

struct progress {
    int done = 0;
    int wrong = 0;
};

// One of `qd` workers: reads 4 KiB blocks i, i+qd, ... and checks them against `expect`.
task<void> read_worker(block_device& dev, const dma_buffer& expect, int first, int qd, int ops,
                       progress& p) {
    dma_buffer b(4096);
    const std::size_t blocks = expect.size() / 4096;
    for (int i = first; i < ops; i += qd) {
        const std::size_t blk = (static_cast<std::size_t>(i) * 2654435761u) % blocks;  // scattered
        auto ec = co_await dev.read(blk * 4096, b.span());
        if (ec || std::memcmp(b.data(), expect.data() + blk * 4096, 4096) != 0) ++p.wrong;
        ++p.done;
    }
}

TEST_F(UringWait, ManyConcurrentIosAllCompleteWithTheRightData) {
    auto dev = open("create_size=8M&wait=block");
    ASSERT_TRUE(dev);
    constexpr int qd = 32, ops = 4096;
    dma_buffer expect(8 * MiB);
    fill_pattern(expect.span(), 11);
    progress p;
    std::atomic<bool> finished{false};
    loop l;
    std::thread t([&] {
        run_and_stop(l, [&]() -> task<void> {
            EXPECT_FALSE(co_await dev->write(0, expect.span()));
            for (int w = 0; w < qd; ++w)
                loop::current()->spawn(read_worker(*dev, expect, w, qd, ops, p));
            while (p.done < ops) co_await sleep_for(std::chrono::microseconds{100});
            co_await dev->drain();
        }());
        finished = true;
    });
    // A lost wake-up would only slow the loop down (its sleeps are bounded), never hang it, but
    // keep a generous bound so a bug fails the test instead of the CTest timeout.
    if (!convme_test::eventually([&] { return finished.load(); }, std::chrono::seconds{60})) {
        ADD_FAILURE() << "hung after " << p.done << " of " << ops << " reads";
        std::abort();
    }
    t.join();
    EXPECT_EQ(p.done, ops);
    EXPECT_EQ(p.wrong, 0);
}

task<void> read_counted(block_device& dev, std::span<std::byte> b, std::uint64_t off, int& done,
                        std::error_code& first) {
    if (auto ec = co_await dev.read(off, b); ec && !first) first = ec;
    ++done;
}

// Starts `n` 1 MiB reads, then asks the loop to stop while they are queued or in flight.
task<void> start_reads_then_stop(block_device& dev, dma_buffer& buf, int n, int& done,
                                 std::error_code& first) {
    for (int i = 0; i < n; ++i) {
        const std::size_t off = static_cast<std::size_t>(i) * MiB;
        loop::current()->spawn(read_counted(dev, buf.subspan(off, MiB), off, done, first));
    }
    loop::current()->stop();
    co_return;
}

TEST_F(UringWait, ShutdownWithIoInFlightStillDrains) {
    auto dev = open("create_size=16M&wait=block");
    ASSERT_TRUE(dev);
    constexpr int n = 16;
    dma_buffer buf(16 * MiB);
    int done = 0;
    std::error_code first;
    loop l;
    l.spawn(start_reads_then_stop(*dev, buf, n, done, first));
    l.run();  // returns only once nothing is in flight
    EXPECT_EQ(done, n);
    EXPECT_FALSE(first) << first.message();
    l.run_until_complete(dev->drain());
}

}  // namespace

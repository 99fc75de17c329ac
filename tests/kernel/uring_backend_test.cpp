// SPDX-License-Identifier: MIT
// io_uring-specific behaviour: fixed buffers, batching, SQ overflow, ring options, short
// transfers, the O_DIRECT fallback and per-core rings under a runtime.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <convme/runtime.hpp>
#include <cstring>

#include "backend_test_util.hpp"
#include "runtime/kernel/file_target.hpp"
#include "runtime/kernel/uring_device.hpp"
#include "runtime/kernel/uring_probe.hpp"
#include "seccomp_denial.hpp"
#include "uring_test_fixture.hpp"

using namespace convme;
using convme::testing::fill_pattern;

namespace {

using Uring = convme::testing::uring_test;

struct counter {
    int done = 0;
    std::error_code first;
};

task<void> write_one(block_device& dev, std::uint64_t off, std::span<const std::byte> b,
                     counter& c) {
    auto ec = co_await dev.write(off, b);
    if (ec && !c.first) c.first = ec;
    ++c.done;
}

task<void> read_one(block_device& dev, std::uint64_t off, std::span<std::byte> b, counter& c) {
    auto ec = co_await dev.read(off, b);
    if (ec && !c.first) c.first = ec;
    ++c.done;
}

task<void> wait_count(const counter& c, int n) {
    while (c.done < n) co_await yield();
}

// Writes `n` blocks of `blk` bytes concurrently, reads them back concurrently, returns the first
// error.
task<std::error_code> concurrent_roundtrip(block_device& dev, dma_buffer& w, dma_buffer& r, int n,
                                           std::size_t blk) {
    counter wc, rc;
    loop* l = loop::current();
    for (int i = 0; i < n; ++i)
        l->spawn(write_one(dev, static_cast<std::uint64_t>(i) * blk,
                           w.subspan(static_cast<std::size_t>(i) * blk, blk), wc));
    co_await wait_count(wc, n);
    for (int i = 0; i < n; ++i)
        l->spawn(read_one(dev, static_cast<std::uint64_t>(i) * blk,
                          r.subspan(static_cast<std::size_t>(i) * blk, blk), rc));
    co_await wait_count(rc, n);
    co_return wc.first ? wc.first : rc.first;
}

TEST_F(Uring, CreateFillZeroAllocatesTheNewSpaceAndIsReported) {
    const std::string path = dir.file("dev.img");
    {
        auto dev = open("create_size=1M");  // the default: a hole
        ASSERT_TRUE(dev);
        EXPECT_EQ(dev->info().name.find("create_fill"), std::string::npos) << dev->info().name;
    }
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 1 << 20);
    EXPECT_LT(st.st_blocks * 512, 1 << 20);  // sparse
    {
        // Extends 1M -> 3M with written zeros (also from an unaligned end, made below).
        auto dev = open("create_size=3M&create_fill=zero");
        ASSERT_TRUE(dev);
        EXPECT_NE(dev->info().name.find("create_fill=zero"), std::string::npos) << dev->info().name;
        EXPECT_EQ(dev->info().capacity, 3u << 20);
        auto body = [&]() -> task<void> {
            dma_buffer buf(4096);
            fill_pattern(buf.span(), 7);
            EXPECT_FALSE(co_await dev->write(2u << 20, buf.span()));
            dma_buffer back(4096);
            EXPECT_FALSE(co_await dev->read(2u << 20, back.span()));
            EXPECT_EQ(std::memcmp(buf.data(), back.data(), 4096), 0);
            EXPECT_FALSE(co_await dev->read((2u << 20) + 4096, back.span()));
            EXPECT_EQ(back.span()[0], std::byte{0});
            EXPECT_EQ(back.span()[4095], std::byte{0});
            co_await dev->drain();
        };
        convme::testing::run_on_fresh_loop(body());
    }
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 3 << 20);
    EXPECT_GE(st.st_blocks * 512, 2 << 20);  // the added 2M are allocated, not a hole
    ASSERT_EQ(::truncate(path.c_str(), (3 << 20) + 100), 0);  // an unaligned end
    {
        auto dev = open("create_size=4M&create_fill=zero");
        ASSERT_TRUE(dev);
        EXPECT_EQ(dev->info().capacity, 4u << 20);
    }
    std::error_code ec;
    std::string why;
    EXPECT_EQ(open_device("uring:" + path + "?create_size=4M&create_fill=yes", ec, why), nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("create_fill='yes' must be one of sparse, zero"), std::string::npos) << why;
    EXPECT_EQ(open_device("threadpool:" + path + "?create_fill=zero", ec, why), nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("create_fill"), std::string::npos) << why;
}

TEST_F(Uring, SyncSelectsFsyncOrFdatasyncForFlush) {
    {
        auto dev = open("create_size=1M&create_fill=zero&sync=datasync");
        ASSERT_TRUE(dev);
        EXPECT_TRUE(as_uring(*dev).config().datasync);
        auto body = [&]() -> task<void> {
            dma_buffer buf(4096);
            fill_pattern(buf.span(), 3);
            EXPECT_FALSE(co_await dev->write(0, buf.span()));
            EXPECT_FALSE(co_await dev->flush());  // fdatasync
            dma_buffer back(4096);
            EXPECT_FALSE(co_await dev->read(0, back.span()));
            EXPECT_EQ(std::memcmp(buf.data(), back.data(), 4096), 0);
            co_await dev->drain();
        };
        convme::testing::run_on_fresh_loop(body());
    }
    {
        auto dev = open("create_size=1M");  // the default: a full fsync
        ASSERT_TRUE(dev);
        EXPECT_FALSE(as_uring(*dev).config().datasync);
    }
    std::error_code ec;
    std::string why;
    EXPECT_EQ(open_device("uring:" + dir.file("dev.img") + "?sync=always", ec, why), nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("sync='always' must be one of fsync, datasync, dsync"), std::string::npos)
        << why;
}

TEST_F(Uring, SyncDsyncMakesEveryWriteDurableAndSaysSo) {
    {
        auto dev = open("create_size=1M&create_fill=zero&sync=dsync");
        ASSERT_TRUE(dev);
        EXPECT_TRUE(as_uring(*dev).config().dsync_writes);
        EXPECT_TRUE(as_uring(*dev).config().datasync);  // an explicit flush is fdatasync
        EXPECT_TRUE(dev->info().writes_durable);
        EXPECT_NE(dev->info().name.find("sync=dsync"), std::string::npos) << dev->info().name;
        auto body = [&]() -> task<void> {
            dma_buffer buf(8192);
            fill_pattern(buf.span(), 5);
            EXPECT_FALSE(co_await dev->write(0, buf.span()));  // an RWF_DSYNC write
            EXPECT_FALSE(co_await dev->write(8192, buf.span().subspan(0, 4096)));  // plain span
            EXPECT_FALSE(co_await dev->flush());                                   // still allowed
            dma_buffer back(8192);
            EXPECT_FALSE(co_await dev->read(0, back.span()));
            EXPECT_EQ(std::memcmp(buf.data(), back.data(), 8192), 0);
            co_await dev->drain();
        };
        convme::testing::run_on_fresh_loop(body());
    }
    for (const char* params : {"create_size=1M", "create_size=1M&sync=datasync"}) {
        auto dev = open(params);
        ASSERT_TRUE(dev);
        EXPECT_FALSE(as_uring(*dev).config().dsync_writes) << params;
        EXPECT_FALSE(dev->info().writes_durable) << params;  // a write needs a flush
    }
}

TEST_F(Uring, DmaBuffersUseFixedBuffersAndPlainSpansDoNot) {
    auto dev = open("create_size=1M");
    ASSERT_TRUE(dev);
    auto& u = as_uring(*dev);
    ASSERT_TRUE(u.config().fixed_buffers);
    auto body = [&]() -> task<void> {
        dma_buffer buf(64 * 1024);
        fill_pattern(buf.span(), 1);
        EXPECT_FALSE(co_await dev->write(0, buf.subspan(0, 4096)));
        EXPECT_FALSE(co_await dev->write(8192, buf.subspan(8192, 8192)));
        EXPECT_FALSE(co_await dev->read(65536, buf.span()));
        backends::uring_stats s = u.stats();
        EXPECT_EQ(s.fixed_buffer_ios, 3u);
        EXPECT_EQ(s.buffer_registrations, 1u);  // registered once, reused for every subspan
        EXPECT_EQ(s.plain_ios, 0u);

        // Memory that is not a dma_buffer goes through plain read/write.
        void* raw = std::aligned_alloc(4096, 4096);
        std::span<std::byte> plain(static_cast<std::byte*>(raw), 4096);
        EXPECT_FALSE(co_await dev->read(0, plain));
        dma_buffer first(4096);
        fill_pattern(first.span(), 1);  // what the first write stored at offset 0
        EXPECT_EQ(std::memcmp(plain.data(), first.data(), 4096), 0);
        std::free(raw);
        EXPECT_EQ(u.stats().plain_ios, 1u);
        EXPECT_EQ(u.stats().fixed_buffer_ios, 3u);

        // Freeing the buffer drops its slot.
        { dma_buffer gone = std::move(buf); }
        EXPECT_EQ(u.stats().buffer_unregistrations, 1u);

        // A new buffer (possibly at the same address, with a recycled id) is registered afresh.
        dma_buffer again(64 * 1024);
        EXPECT_FALSE(co_await dev->read(8192, again.subspan(0, 8192)));
        EXPECT_EQ(u.stats().buffer_registrations,
                  2u);  // `first` did no I/O, so only `again` is new
        dma_buffer expect(64 * 1024);
        fill_pattern(expect.span(), 1);
        EXPECT_EQ(std::memcmp(again.data(), expect.data() + 8192, 8192), 0);
        co_await dev->drain();
    };
    convme::testing::run_on_fresh_loop(body());
}

TEST_F(Uring, FixedBuffersCanBeTurnedOff) {
    auto dev = open("create_size=1M&fixed_buffers=0&fixed_files=0");
    ASSERT_TRUE(dev);
    auto& u = as_uring(*dev);
    dma_buffer w(64 * 4096), r(64 * 4096);
    fill_pattern(w.span(), 2);
    std::error_code ec = convme::testing::run_on_fresh_loop([&]() -> task<std::error_code> {
        auto e = co_await concurrent_roundtrip(*dev, w, r, 64, 4096);
        co_await dev->drain();
        co_return e;
    }());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
    EXPECT_EQ(u.stats().fixed_buffer_ios, 0u);
    EXPECT_EQ(u.stats().plain_ios, 128u);
}

TEST_F(Uring, SubmissionsAreBatchedPerLoopIteration) {
    auto dev = open("create_size=1M");
    ASSERT_TRUE(dev);
    auto& u = as_uring(*dev);
    dma_buffer w(64 * 4096), r(64 * 4096);
    fill_pattern(w.span(), 3);
    std::error_code ec = convme::testing::run_on_fresh_loop([&]() -> task<std::error_code> {
        auto e = co_await concurrent_roundtrip(*dev, w, r, 64, 4096);
        co_await dev->drain();
        co_return e;
    }());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
    backends::uring_stats s = u.stats();
    EXPECT_EQ(s.sqes, 128u);
    EXPECT_EQ(s.rings_opened, 1u);
    // 128 requests from 64 concurrent coroutines need far fewer than 128 io_uring_submit calls.
    EXPECT_LE(s.submit_calls, s.sqes / 4) << "submit calls " << s.submit_calls;
}

TEST_F(Uring, TinyRingParksRequestsAndStillCompletesThemAll) {
    auto dev = open("create_size=1M&entries=4");
    ASSERT_TRUE(dev);
    EXPECT_EQ(dev->info().queue_depth, 4u);
    auto& u = as_uring(*dev);
    dma_buffer w(64 * 4096), r(64 * 4096);
    fill_pattern(w.span(), 4);
    std::error_code ec = convme::testing::run_on_fresh_loop([&]() -> task<std::error_code> {
        auto e = co_await concurrent_roundtrip(*dev, w, r, 64, 4096);
        co_await dev->drain();
        co_return e;
    }());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
    EXPECT_GT(u.stats().overflowed, 0u);
}

TEST_F(Uring, ReadPastEndOfShrunkFileReportsEio) {
    auto dev = open("create_size=1M");
    ASSERT_TRUE(dev);
    auto& u = as_uring(*dev);
    // Someone else truncates the file under the open device.
    ASSERT_EQ(::truncate(dir.file("dev.img").c_str(), 512 * 1024 - 4096), 0);
    dma_buffer buf(8192);
    std::error_code beyond, spanning;
    convme::testing::run_on_fresh_loop([&]() -> task<void> {
        beyond = co_await dev->read(768 * 1024, buf.span());
        spanning = co_await dev->read(512 * 1024 - 8192, buf.span());  // first half exists
        co_await dev->drain();
    }());
    EXPECT_EQ(beyond, errno_code(EIO));
    EXPECT_EQ(spanning, errno_code(EIO));
    EXPECT_GE(u.stats().short_retries, 1u);  // the existing half was read, the rest retried
}

TEST_F(Uring, SqpollOption) {
    auto dev = open("create_size=1M&sqpoll=1");
    ASSERT_TRUE(dev);
    const std::string& name = dev->info().name;
    if (name.find("sqpoll refused") != std::string::npos)
        GTEST_SKIP() << "kernel refused SQPOLL: " << name;
    EXPECT_NE(name.find("sqpoll"), std::string::npos) << name;
    EXPECT_TRUE(as_uring(*dev).config().sqpoll);
    dma_buffer w(16 * 4096), r(16 * 4096);
    fill_pattern(w.span(), 5);
    std::error_code ec = convme::testing::run_on_fresh_loop([&]() -> task<std::error_code> {
        auto e = co_await concurrent_roundtrip(*dev, w, r, 16, 4096);
        if (!e) e = co_await dev->flush();
        co_await dev->drain();
        co_return e;
    }());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
}

TEST_F(Uring, IopollOption) {
    auto dev = open("create_size=1M&iopoll=1");
    ASSERT_TRUE(dev);
    const std::string& name = dev->info().name;
    if (name.find("iopoll refused") != std::string::npos ||
        name.find("iopoll ignored") != std::string::npos)
        GTEST_SKIP() << "polled I/O not available here: " << name;
    EXPECT_TRUE(as_uring(*dev).config().iopoll);
    dma_buffer w(16 * 4096), r(16 * 4096);
    fill_pattern(w.span(), 6);
    std::error_code ec = convme::testing::run_on_fresh_loop([&]() -> task<std::error_code> {
        auto e = co_await concurrent_roundtrip(*dev, w, r, 16, 4096);
        // fsync and fallocate cannot run on a polled ring: they go through the second ring.
        if (!e) e = co_await dev->flush();
        if (!e) e = co_await dev->write_zeroes(0, 4096);
        co_await dev->drain();
        co_return e;
    }());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
    if (as_uring(*dev).stats().iopoll_fallbacks > 0)
        std::printf(
            "note: the device has no poll queues; the ring fell back to interrupt completions\n");
}

TEST_F(Uring, IopollWithoutDirectIsExplained) {
    auto dev = open("create_size=1M&iopoll=1&direct=0");
    ASSERT_TRUE(dev);
    EXPECT_NE(dev->info().name.find("iopoll ignored: polled completions need O_DIRECT"),
              std::string::npos)
        << dev->info().name;
    EXPECT_FALSE(as_uring(*dev).config().iopoll);
}

// The filesystem refusing O_DIRECT (EINVAL, as tmpfs did before Linux 6.6), made real with a
// seccomp filter on openat(O_DIRECT) in a forked child.
TEST_F(Uring, RefusedODirectFallsBackToBufferedWithANote) {
    auto out = convme::testing::run_with_denials(
        {{__NR_openat, EINVAL, static_cast<unsigned>(O_DIRECT), 2}}, [&]() -> std::string {
            auto dev = open("create_size=1M");
            if (!dev) return "open failed";
            std::string failed;
            if (dev->info().name.find("buffered: the filesystem refused O_DIRECT") ==
                std::string::npos)
                failed += "no note in " + dev->info().name + "\n";
            if (as_uring(*dev).target().direct) failed += "still direct\n";
            dma_buffer w(4096), r(4096);
            fill_pattern(w.span(), 8);
            std::error_code ec = convme::testing::run_on_fresh_loop([&]() -> task<std::error_code> {
                auto e = co_await dev->write(4096, w.span());
                if (!e) e = co_await dev->read(4096, r.span());
                co_await dev->drain();
                co_return e;
            }());
            if (ec) failed += "I/O: " + ec.message() + "\n";
            if (std::memcmp(w.data(), r.data(), 4096) != 0) failed += "data differs\n";
            return failed;
        });
    if (out.skipped) GTEST_SKIP() << out.why_skipped;
    EXPECT_EQ(out.failures, "");
}

TEST_F(Uring, EntriesOutOfRangeIsABadUri) {
    std::error_code ec;
    std::string why;
    EXPECT_EQ(open_device("uring:" + dir.file("x") + "?create_size=1M&entries=0", ec, why),
              nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("entries='0' must be an integer from 1 to 32768"), std::string::npos) << why;
}

task<void> fill_region(block_device& dev, dma_buffer& buf, std::uint64_t base, int blocks,
                       bool& done) {
    for (int i = 0; i < blocks; ++i) {
        auto ec = co_await dev.write(base + static_cast<std::uint64_t>(i) * 4096,
                                     buf.subspan(static_cast<std::size_t>(i) * 4096, 4096));
        if (ec) throw io_error(ec, "region write");
    }
    co_await dev.drain();
    done = true;
}

TEST_F(Uring, TwoCoresEachWriteTheirOwnRegion) {
    auto dev = open("create_size=1M");
    ASSERT_TRUE(dev);
    auto& u = as_uring(*dev);
    constexpr int blocks = 32;
    dma_buffer a(blocks * 4096), b(blocks * 4096), back(2 * blocks * 4096);
    fill_pattern(a.span(), 100);
    fill_pattern(b.span(), 200);
    bool done0 = false, done1 = false;
    runtime_options opts;
    opts.cores = 2;
    opts.pin_threads = false;
    {
        runtime rt(opts);
        rt.run([&]() -> task<void> {
            // Core 1 writes the upper region while core 0 writes the lower one.
            loop::current()->spawn(fill_region(*dev, a, 0, blocks, done0));
            co_await run_on(1, [&] { return fill_region(*dev, b, blocks * 4096, blocks, done1); });
            while (!done0) co_await yield();
        }());
    }
    EXPECT_TRUE(done0 && done1);
    EXPECT_EQ(u.stats().rings_opened, 2u);  // one ring per loop
    std::error_code ec = convme::testing::run_on_fresh_loop([&]() -> task<std::error_code> {
        auto e = co_await dev->read(0, back.span());
        co_await dev->drain();
        co_return e;
    }());
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::memcmp(back.data(), a.data(), a.size()), 0);
    EXPECT_EQ(std::memcmp(back.data() + a.size(), b.data(), b.size()), 0);
}

}  // namespace

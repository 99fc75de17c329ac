// SPDX-License-Identifier: MIT
// The sim: URI backend end to end: open_device("sim:...") -> simulated controller -> NVMe driver,
// I/O through a loop, in inline mode and with the device thread; URI error messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/loop.hpp>
#include <cstdio>
#include <cstring>
#include <string>

namespace convme {
namespace {

std::unique_ptr<block_device> open_ok(const std::string& uri) {
    std::error_code ec;
    std::string why;
    auto dev = open_device(uri, ec, why);
    EXPECT_TRUE(dev) << uri << ": " << why;
    return dev;
}

task<void> write_read_verify(block_device& dev, std::uint64_t offset, std::size_t len,
                             std::uint8_t seed) {
    dma_buffer out(len), in(len);
    for (std::size_t i = 0; i < len; ++i)
        out.data()[i] = std::byte(static_cast<std::uint8_t>(i * 7 + seed));
    std::error_code ec = co_await dev.write(offset, out.span());
    EXPECT_FALSE(ec) << ec.message();
    ec = co_await dev.read(offset, in.span());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::memcmp(out.data(), in.data(), len), 0);
}

task<void> all_sizes(block_device& dev) {
    // A 4 KiB I/O, a 512 B I/O at an odd block and a 1 MiB I/O (split by MDTS / PRP lists).
    co_await write_read_verify(dev, 8192, 4096, 1);
    co_await write_read_verify(dev, 512 * 3, 512, 2);
    co_await write_read_verify(dev, 1 << 20, 1 << 20, 3);
    co_await dev.drain();
}

void roundtrip(const std::string& uri) {
    auto dev = open_ok(uri);
    if (!dev) return;
    EXPECT_EQ(dev->info().capacity, 64u << 20);
    loop l;
    l.run_until_complete(all_sizes(*dev));
}

TEST(SimBackend, RoundTripInline) {
    roundtrip("sim:mem?size=64M&inline=1");
}
TEST(SimBackend, RoundTripDeviceThread) {
    roundtrip("sim:mem?size=64M");
}
TEST(SimBackend, RoundTripWithoutShadowDoorbells) {
    roundtrip("sim:mem?size=64M&inline=1&dbbc=0");
}
TEST(SimBackend, RoundTripHostPage64K) {
    roundtrip("sim:mem?size=64M&inline=1&host_page=65536");
}

// Many commands in flight against the device thread, shadow doorbells on, small queues so the
// rings wrap often: every I/O must complete with the right data (no lost doorbells).
task<void> stress_worker(block_device& dev, unsigned id, unsigned rounds, unsigned& done,
                         unsigned& bad) {
    dma_buffer out(4096), in(4096);
    for (unsigned r = 0; r < rounds; ++r) {
        std::uint64_t off = (std::uint64_t{id} * 64 + r % 64) * 4096;
        std::memset(out.data(), static_cast<int>((id * 31 + r) & 0xff), 4096);
        if (co_await dev.write(off, out.span())) ++bad;
        if (co_await dev.read(off, in.span())) ++bad;
        if (std::memcmp(out.data(), in.data(), 4096) != 0) ++bad;
    }
    ++done;
}

TEST(SimBackend, ManyInFlightWithDeviceThread) {
    auto dev = open_ok("sim:mem?size=64M&qd=16&timeout_ms=60000");
    ASSERT_TRUE(dev);
    loop l;
    unsigned done = 0, bad = 0;
    const unsigned workers = 40, rounds = 60;
    for (unsigned i = 0; i < workers; ++i) l.spawn(stress_worker(*dev, i, rounds, done, bad));
    while (done < workers) l.run_once();
    l.run_until_complete(dev->drain());
    EXPECT_EQ(bad, 0u);
}

TEST(SimBackend, FileBackedDataSurvivesReopen) {
    std::string path = "/tmp/convme_sim_backend_" + std::to_string(::getpid());
    std::remove(path.c_str());
    std::string uri = "sim:file=" + path + "?size=8M&inline=1";
    dma_buffer buf(4096);
    {
        auto dev = open_ok(uri);
        ASSERT_TRUE(dev);
        std::memset(buf.data(), 0x3c, 4096);
        loop l;
        l.run_until_complete([](block_device& d, dma_buffer& b) -> task<void> {
            EXPECT_FALSE(co_await d.write(4096, b.span()));
            EXPECT_FALSE(co_await d.flush());
            co_await d.drain();
        }(*dev, buf));
    }
    {
        auto dev = open_ok(uri);
        ASSERT_TRUE(dev);
        std::memset(buf.data(), 0, 4096);
        loop l;
        l.run_until_complete([](block_device& d, dma_buffer& b) -> task<void> {
            EXPECT_FALSE(co_await d.read(4096, b.span()));
            co_await d.drain();
        }(*dev, buf));
        EXPECT_EQ(static_cast<std::uint8_t>(buf.data()[4095]), 0x3c);
    }
    std::remove(path.c_str());
}

TEST(SimBackend, BadUrisNameTheProblem) {
    auto expect_error = [](const std::string& uri, const std::string& needle) {
        std::error_code ec;
        std::string why;
        auto dev = open_device(uri, ec, why);
        EXPECT_FALSE(dev) << uri;
        EXPECT_TRUE(ec) << uri;
        EXPECT_NE(why.find(needle), std::string::npos) << uri << " -> " << why;
    };
    expect_error("sim:mem?size=huge", "size");
    expect_error("sim:mem?sizee=1G", "sizee");
    expect_error("sim:mem?lba=100", "lba");
    expect_error("sim:mem?qd=zero", "qd");
    expect_error("sim:disk", "disk");
    expect_error("sim:file=/nonexistent-dir/a/b.img?size=1M", "/nonexistent-dir/a/b.img");
    expect_error("sim:mem?size=1M&ns=2&inline=1", "");  // namespace 2 does not exist
    expect_error("sim:mem?bad_lba=-1", "bad_lba");
    expect_error("sim:mem?bad_lba=8&bad_blocks=many", "bad_blocks");
}

// bad_lba/bad_blocks: reads and writes touching the bad region fail with the NVMe media errors,
// every time; the blocks around it keep working.
TEST(SimBackend, BadBlocksFailWithMediaErrorsEveryTime) {
    for (const char* uri : {"sim:mem?size=1M&inline=1&bad_lba=16&bad_blocks=8",
                            "sim:mem?size=1M&bad_lba=16&bad_blocks=8"}) {
        auto dev = open_ok(uri);
        if (!dev) continue;
        loop l;
        l.run_until_complete([](block_device& dev) -> task<void> {
            dma_buffer buf(8192);
            const std::error_code read_error = make_nvme_error(0x281);         // SCT 2h, SC 81h
            const std::error_code write_fault = make_nvme_error(0x280);        // SCT 2h, SC 80h
            EXPECT_FALSE(co_await dev.write(0, std::span(buf.data(), 4096)));  // blocks 0-7
            EXPECT_FALSE(co_await dev.read(24 * 512, std::span(buf.data(), 4096)));  // 24-31
            for (int attempt = 0; attempt < 2; ++attempt) {
                EXPECT_EQ(co_await dev.read(16 * 512, std::span(buf.data(), 512)), read_error);
                // 8 KiB from block 8 reaches into the bad region by its second half.
                EXPECT_EQ(co_await dev.read(8 * 512, buf.span()), read_error);
                EXPECT_EQ(co_await dev.write(23 * 512, std::span(buf.data(), 512)), write_fault);
            }
            EXPECT_FALSE(co_await dev.read(15 * 512, std::span(buf.data(), 512)));
            co_await dev.drain();
        }(*dev));
    }
}

}  // namespace
}  // namespace convme

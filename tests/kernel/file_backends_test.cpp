// SPDX-License-Identifier: MIT
// Behaviour shared by the uring and threadpool backends, run against both on temp files.
#include <gtest/gtest.h>

#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <cstring>
#include <random>

#include "backend_test_util.hpp"
#include "runtime/kernel/uring_probe.hpp"

using namespace convme;
using convme::testing::fill_pattern;
using convme::testing::temp_dir;

namespace {

struct io_stats {
    int done = 0;
    std::error_code first_error;
};

task<void> write_then_count(block_device& dev, std::uint64_t off, std::span<const std::byte> buf,
                            io_stats& s) {
    std::error_code ec = co_await dev.write(off, buf);
    if (ec && !s.first_error) s.first_error = ec;
    ++s.done;
}

task<void> read_then_count(block_device& dev, std::uint64_t off, std::span<std::byte> buf,
                           io_stats& s) {
    std::error_code ec = co_await dev.read(off, buf);
    if (ec && !s.first_error) s.first_error = ec;
    ++s.done;
}

task<void> wait_for(const io_stats& s, int n) {
    while (s.done < n) co_await yield();
}

class FileBackend : public ::testing::TestWithParam<const char*> {
  protected:
    void SetUp() override {
        ASSERT_TRUE(dir.ok()) << "mkdtemp failed";
        std::string why;
        if (std::string(GetParam()) == "uring" && backends::uring_available(why) != 0)
            GTEST_SKIP() << "io_uring unavailable here: " << why;
    }
    std::unique_ptr<block_device> open(const std::string& query = "create_size=8M") {
        std::string uri = std::string(GetParam()) + ":" + dir.file("dev.img") +
                          (query.empty() ? "" : "?" + query);
        std::error_code ec;
        std::string why;
        auto dev = open_device(uri, ec, why);
        EXPECT_NE(dev, nullptr) << uri << ": " << why;
        if (dev) {
            EXPECT_EQ(dev->info().backend, GetParam());
        }
        return dev;
    }
    temp_dir dir;
};

TEST_P(FileBackend, InfoDescribesFile) {
    auto dev = open();
    ASSERT_TRUE(dev);
    const device_info& info = dev->info();
    EXPECT_EQ(info.capacity, 8u << 20);
    EXPECT_GE(info.block_size, 512u);
    EXPECT_NE(info.name.find(dir.file("dev.img")), std::string::npos) << info.name;
    // The name says which mode is in use: O_DIRECT, or buffered with the reason (qemu-user, as in
    // the aarch64 CI stage, does not pass statx's direct-I/O alignment through).
    EXPECT_TRUE(info.name.find("O_DIRECT") != std::string::npos ||
                info.name.find("(buffered: ") != std::string::npos)
        << info.name;
    EXPECT_GT(info.queue_depth, 0u);
}

TEST_P(FileBackend, WriteReadVerifySeveralSizes) {
    auto dev = open();
    ASSERT_TRUE(dev);
    const std::uint64_t bs = dev->info().block_size;
    dma_buffer wbuf(1 << 20), rbuf(1 << 20);
    std::mt19937_64 rng(42);
    auto body = [&]() -> task<void> {
        for (std::uint64_t size :
             {bs, std::uint64_t{4096}, std::uint64_t{65536}, std::uint64_t{1} << 20}) {
            for (int rep = 0; rep < 4; ++rep) {
                std::uint64_t blocks = (dev->info().capacity - size) / bs;
                std::uint64_t off = (rng() % (blocks + 1)) * bs;
                auto w = wbuf.subspan(0, size);
                auto r = rbuf.subspan(0, size);
                fill_pattern(w, size * 31 + static_cast<std::uint64_t>(rep));
                std::memset(r.data(), 0, size);
                EXPECT_FALSE(co_await dev->write(off, w)) << "size " << size << " off " << off;
                EXPECT_FALSE(co_await dev->read(off, r)) << "size " << size << " off " << off;
                EXPECT_EQ(std::memcmp(w.data(), r.data(), size), 0)
                    << "size " << size << " off " << off;
            }
        }
        co_await dev->drain();
    };
    convme::testing::run_on_fresh_loop(body());
}

TEST_P(FileBackend, SixtyFourConcurrentRequestsFromOneLoop) {
    auto dev = open();
    ASSERT_TRUE(dev);
    constexpr int qd = 64;
    constexpr std::size_t blk = 4096;
    dma_buffer wbuf(qd * blk), rbuf(qd * blk);
    fill_pattern(wbuf.span(), 7);
    io_stats ws, rs;
    auto body = [&]() -> task<void> {
        loop* l = loop::current();
        // Scattered, non-sequential placement: request i goes to block (i * 37) % 1024.
        for (int i = 0; i < qd; ++i)
            l->spawn(write_then_count(*dev, static_cast<std::uint64_t>((i * 37) % 1024) * blk,
                                      wbuf.subspan(static_cast<std::size_t>(i) * blk, blk), ws));
        co_await wait_for(ws, qd);
        for (int i = 0; i < qd; ++i)
            l->spawn(read_then_count(*dev, static_cast<std::uint64_t>((i * 37) % 1024) * blk,
                                     rbuf.subspan(static_cast<std::size_t>(i) * blk, blk), rs));
        co_await wait_for(rs, qd);
        co_await dev->drain();
    };
    convme::testing::run_on_fresh_loop(body());
    EXPECT_FALSE(ws.first_error) << ws.first_error.message();
    EXPECT_FALSE(rs.first_error) << rs.first_error.message();
    EXPECT_EQ(std::memcmp(wbuf.data(), rbuf.data(), qd * blk), 0);
}

TEST_P(FileBackend, FlushSucceeds) {
    auto dev = open();
    ASSERT_TRUE(dev);
    dma_buffer buf(4096);
    fill_pattern(buf.span(), 3);
    auto body = [&]() -> task<std::error_code> {
        std::error_code ec = co_await dev->write(0, buf.span());
        if (!ec) ec = co_await dev->flush();
        co_await dev->drain();
        co_return ec;
    };
    std::error_code ec = convme::testing::run_on_fresh_loop(body());
    EXPECT_FALSE(ec) << ec.message();
}

TEST_P(FileBackend, WriteZeroesReadsBackZeroes) {
    auto dev = open();
    ASSERT_TRUE(dev);
    dma_buffer buf(64 * 1024);
    fill_pattern(buf.span(), 9);
    std::vector<std::byte> zeros(16 * 1024);
    auto body = [&]() -> task<std::error_code> {
        if (auto ec = co_await dev->write(0, buf.span())) co_return ec;
        if (auto ec = co_await dev->write_zeroes(16 * 1024, 16 * 1024)) co_return ec;
        std::memset(buf.data(), 0xAB, buf.size());
        std::error_code ec = co_await dev->read(0, buf.span());
        co_await dev->drain();
        co_return ec;
    };
    std::error_code ec = convme::testing::run_on_fresh_loop(body());
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::memcmp(buf.data() + 16 * 1024, zeros.data(), zeros.size()), 0);
    // The data around the zeroed range is untouched.
    dma_buffer expect(64 * 1024);
    fill_pattern(expect.span(), 9);
    EXPECT_EQ(std::memcmp(buf.data(), expect.data(), 16 * 1024), 0);
    EXPECT_EQ(std::memcmp(buf.data() + 32 * 1024, expect.data() + 32 * 1024, 32 * 1024), 0);
}

TEST_P(FileBackend, TrimReadsBackZeroesOnFiles) {
    auto dev = open();
    ASSERT_TRUE(dev);
    dma_buffer buf(64 * 1024);
    fill_pattern(buf.span(), 11);
    auto body = [&]() -> task<std::error_code> {
        if (auto ec = co_await dev->write(0, buf.span())) co_return ec;
        std::error_code trim_ec = co_await dev->trim(0, 64 * 1024);
        if (!trim_ec) trim_ec = co_await dev->read(0, buf.span());
        co_await dev->drain();
        co_return trim_ec;
    };
    std::error_code ec = convme::testing::run_on_fresh_loop(body());
    if (ec == make_error_code(errc::unsupported))
        GTEST_SKIP() << "the filesystem under /tmp cannot punch holes";
    ASSERT_FALSE(ec) << ec.message();
    std::vector<std::byte> zeros(buf.size());
    // A punched hole in a file reads back as zeroes.
    EXPECT_EQ(std::memcmp(buf.data(), zeros.data(), zeros.size()), 0);
}

TEST_P(FileBackend, InvalidRequestsAreRejectedWithClearMessages) {
    auto dev = open();
    ASSERT_TRUE(dev);
    const std::uint64_t bs = dev->info().block_size;
    const std::uint64_t cap = dev->info().capacity;
    dma_buffer buf(2 * 4096);
    struct outcome {
        std::error_code zero, mis_off, mis_len, range, mis_buf;
        std::string range_msg, mis_off_msg;
    } o;
    auto body = [&]() -> task<void> {
        o.zero = co_await dev->read(0, buf.subspan(0, 0));
        o.mis_off = co_await dev->read(1, buf.subspan(0, bs));
        o.mis_len = co_await dev->write(0, buf.subspan(0, bs + 1));
        o.range = co_await dev->read(cap, buf.subspan(0, bs));
        if (dev->info().mem_alignment > 1) o.mis_buf = co_await dev->read(0, buf.subspan(1, bs));
        try {
            co_await dev->write(cap - bs, buf.subspan(0, 2 * bs)).or_throw();
        } catch (const io_error& e) {
            o.range_msg = e.what();
        }
        try {
            co_await dev->write(bs / 2, buf.subspan(0, bs)).or_throw();
        } catch (const io_error& e) {
            o.mis_off_msg = e.what();
        }
        co_await dev->drain();
    };
    convme::testing::run_on_fresh_loop(body());
    EXPECT_EQ(o.zero, make_error_code(errc::zero_length));
    EXPECT_EQ(o.mis_off, make_error_code(errc::misaligned_offset));
    EXPECT_EQ(o.mis_len, make_error_code(errc::misaligned_length));
    EXPECT_EQ(o.range, make_error_code(errc::out_of_range));
    if (dev->info().mem_alignment > 1) {
        EXPECT_EQ(o.mis_buf, make_error_code(errc::misaligned_buffer));
    }
    EXPECT_NE(o.range_msg.find("capacity is " + std::to_string(cap)), std::string::npos)
        << o.range_msg;
    EXPECT_NE(o.range_msg.find(dev->info().name), std::string::npos) << o.range_msg;
    EXPECT_NE(o.mis_off_msg.find("block size"), std::string::npos) << o.mis_off_msg;
}

TEST_P(FileBackend, IoAfterDrainGetsShuttingDown) {
    auto dev = open();
    ASSERT_TRUE(dev);
    dma_buffer buf(4096);
    auto body = [&]() -> task<std::error_code> {
        if (auto ec = co_await dev->write(0, buf.span())) co_return ec;
        co_await dev->drain();
        co_return co_await dev->read(0, buf.span());
    };
    EXPECT_EQ(convme::testing::run_on_fresh_loop(body()), make_error_code(errc::shutting_down));
}

TEST_P(FileBackend, LaterLoopsGetAFreshQueueEvenAtTheSameAddress) {
    auto dev = open();
    ASSERT_TRUE(dev);
    dma_buffer w(4096), r(4096);
    fill_pattern(w.span(), 12);
    // Loop 1 writes and drains; loop 2 (typically built at the same stack address) does I/O
    // without draining; loop 3 reads. None may inherit an earlier loop's state.
    auto write_and_drain = [&]() -> task<std::error_code> {
        auto e = co_await dev->write(0, w.span());
        co_await dev->drain();
        co_return e;
    };
    auto flush_only = [&]() -> task<std::error_code> { co_return co_await dev->flush(); };
    auto read_back = [&]() -> task<std::error_code> {
        auto e = co_await dev->read(0, r.span());
        co_await dev->drain();
        co_return e;
    };
    EXPECT_FALSE(convme::testing::run_on_fresh_loop(write_and_drain()));
    EXPECT_FALSE(convme::testing::run_on_fresh_loop(flush_only()));
    EXPECT_FALSE(convme::testing::run_on_fresh_loop(read_back()));
    EXPECT_EQ(std::memcmp(w.data(), r.data(), 4096), 0);
}

TEST_P(FileBackend, BufferedModeWithDirectOff) {
    auto dev = open("create_size=1M&direct=0");
    ASSERT_TRUE(dev);
    EXPECT_NE(dev->info().name.find("buffered: direct=0"), std::string::npos) << dev->info().name;
    EXPECT_EQ(dev->info().mem_alignment, 1u);
    // Unaligned memory is fine without O_DIRECT.
    std::vector<std::byte> w(4096 + 1), r(4096 + 1);
    fill_pattern(w, 5);
    auto body = [&]() -> task<std::error_code> {
        if (auto ec = co_await dev->write(512, std::span<const std::byte>(w).subspan(1, 4096)))
            co_return ec;
        std::error_code ec = co_await dev->read(512, std::span<std::byte>(r).subspan(1, 4096));
        co_await dev->drain();
        co_return ec;
    };
    EXPECT_FALSE(convme::testing::run_on_fresh_loop(body()));
    EXPECT_EQ(std::memcmp(w.data() + 1, r.data() + 1, 4096), 0);
}

TEST_P(FileBackend, OpenErrorsNameTheProblem) {
    std::error_code ec;
    std::string why;
    std::string base = std::string(GetParam()) + ":";
    EXPECT_EQ(open_device(base + dir.file("missing.img"), ec, why), nullptr);
    EXPECT_TRUE(ec == std::errc::no_such_file_or_directory) << ec.message();
    EXPECT_NE(why.find("create_size="), std::string::npos) << why;
    EXPECT_NE(why.find("missing.img"), std::string::npos) << why;

    EXPECT_EQ(open_device(base + dir.file("x.img") + "?bogus=1", ec, why), nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("unknown parameter 'bogus'"), std::string::npos) << why;
    EXPECT_NE(why.find("create_size"), std::string::npos) << why;  // the known ones are listed

    EXPECT_EQ(open_device(base + dir.file("x.img") + "?create_size=lots", ec, why), nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("create_size='lots'"), std::string::npos) << why;

    EXPECT_EQ(open_device(base + dir.file("x.img") + "?direct=maybe", ec, why), nullptr);
    EXPECT_NE(why.find("not a boolean"), std::string::npos) << why;

    EXPECT_EQ(open_device(base + dir.path(), ec, why), nullptr);
    EXPECT_FALSE(why.empty());
}

TEST_P(FileBackend, ExistingFileKeepsItsSizeAndPartialBlockIsCut) {
    {
        std::FILE* f = std::fopen(dir.file("dev.img").c_str(), "wb");
        ASSERT_NE(f, nullptr);
        std::vector<char> data(10000, 'x');
        std::fwrite(data.data(), 1, data.size(), f);
        std::fclose(f);
    }
    auto dev = open("");
    ASSERT_TRUE(dev);
    EXPECT_EQ(dev->info().capacity, 10000u - 10000u % dev->info().block_size);
}

TEST_P(FileBackend, CreateSizeExtendsAnExistingFileAndKeepsItsData) {
    {
        std::FILE* f = std::fopen(dir.file("dev.img").c_str(), "wb");
        ASSERT_NE(f, nullptr);
        std::vector<char> data(4096, 'q');
        std::fwrite(data.data(), 1, data.size(), f);
        std::fclose(f);
    }
    auto dev = open("create_size=64K");
    ASSERT_TRUE(dev);
    EXPECT_EQ(dev->info().capacity, 64u * 1024);
    dma_buffer buf(4096);
    auto body = [&]() -> task<std::error_code> {
        auto e = co_await dev->read(0, buf.span());
        co_await dev->drain();
        co_return e;
    };
    EXPECT_FALSE(convme::testing::run_on_fresh_loop(body()));
    EXPECT_EQ(static_cast<char>(buf.data()[4095]), 'q');
    // A create_size smaller than the file never shrinks it.
    dev.reset();
    dev = open("create_size=4K");
    ASSERT_TRUE(dev);
    EXPECT_EQ(dev->info().capacity, 64u * 1024);
}

TEST_P(FileBackend, TmpfsWorksDirectOrBuffered) {
    if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm on this system";
    temp_dir shm("/dev/shm");
    ASSERT_TRUE(shm.ok());
    std::error_code ec;
    std::string why;
    auto dev =
        open_device(std::string(GetParam()) + ":" + shm.file("t.img") + "?create_size=1M", ec, why);
    ASSERT_NE(dev, nullptr) << why;
    const std::string& name = dev->info().name;
    // Kernels before 6.6 refuse O_DIRECT on tmpfs; newer ones accept it. Either way I/O works.
    EXPECT_TRUE(name.find("(O_DIRECT") != std::string::npos ||
                name.find("buffered:") != std::string::npos)
        << name;
    dma_buffer buf(4096), back(4096);
    fill_pattern(buf.span(), 21);
    auto body = [&]() -> task<std::error_code> {
        if (auto e = co_await dev->write(4096, buf.span())) co_return e;
        auto e = co_await dev->read(4096, back.span());
        if (!e) {
            EXPECT_EQ(std::memcmp(buf.data(), back.data(), 4096), 0);
        }
        // tmpfs has no FALLOC_FL_ZERO_RANGE: write_zeroes punches a hole instead.
        if (!e) e = co_await dev->write_zeroes(4096, 4096);
        if (!e) e = co_await dev->read(4096, back.span());
        co_await dev->drain();
        co_return e;
    };
    ec = convme::testing::run_on_fresh_loop(body());
    EXPECT_FALSE(ec) << ec.message();
    std::vector<std::byte> zeros(4096);
    EXPECT_EQ(std::memcmp(back.data(), zeros.data(), 4096), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, FileBackend, ::testing::Values("uring", "threadpool"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace

// SPDX-License-Identifier: MIT
// The null: backend: URI parameters and their errors, success for every valid operation without
// moving data, completion on the loop's next iteration (never inline), FIFO completion order,
// validation errors that never reach the backend, drain, and several loops at once.
#include <gtest/gtest.h>

#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/loop.hpp>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace convme {
namespace {

std::unique_ptr<block_device> open_ok(const std::string& uri) {
    std::error_code ec;
    std::string why;
    auto dev = open_device(uri, ec, why);
    EXPECT_TRUE(dev) << uri << ": " << why;
    return dev;
}

std::string open_error(const std::string& uri) {
    std::error_code ec;
    std::string why;
    auto dev = open_device(uri, ec, why);
    EXPECT_FALSE(dev) << uri;
    EXPECT_EQ(ec, make_error_code(errc::bad_uri)) << uri;
    return why;
}

TEST(NullBackend, Defaults) {
    for (const char* uri : {"null:", "null:?size=1G"}) {
        auto dev = open_ok(uri);
        ASSERT_TRUE(dev);
        EXPECT_EQ(dev->info().backend, "null");
        EXPECT_EQ(dev->info().capacity, 1ull << 30);
        EXPECT_EQ(dev->info().block_size, 512u);
        EXPECT_TRUE(dev->info().supports_flush);
        EXPECT_TRUE(dev->info().supports_trim);
        EXPECT_TRUE(dev->info().supports_write_zeroes);
    }
}

TEST(NullBackend, Parameters) {
    auto dev = open_ok("null:?size=64M&lba=4096");
    ASSERT_TRUE(dev);
    EXPECT_EQ(dev->info().capacity, 64ull << 20);
    EXPECT_EQ(dev->info().block_size, 4096u);
}

TEST(NullBackend, UriErrorsNameTheFault) {
    EXPECT_NE(open_error("null:mem").find("takes no target"), std::string::npos);
    EXPECT_NE(open_error("null:?sise=1G").find("unknown parameter 'sise'"), std::string::npos);
    EXPECT_NE(open_error("null:?lba=3000").find("power of two"), std::string::npos);
    EXPECT_NE(open_error("null:?lba=256").find("lba"), std::string::npos);
    EXPECT_NE(open_error("null:?size=1000").find("multiple of lba"), std::string::npos);
    EXPECT_NE(open_error("null:?size=0").find("positive"), std::string::npos);
    EXPECT_NE(open_error("null:?size=big").find("not a size"), std::string::npos);
}

task<void> every_op(block_device& dev) {
    dma_buffer buf(8192);
    std::memset(buf.data(), 0x5a, buf.size());
    EXPECT_FALSE(co_await dev.read(4096, buf.span()));
    for (std::size_t i = 0; i < buf.size(); ++i)
        EXPECT_EQ(buf.data()[i], std::byte{0x5a}) << i;  // no data moves
    EXPECT_FALSE(co_await dev.write(0, buf.span()));
    EXPECT_FALSE(co_await dev.flush());
    EXPECT_FALSE(co_await dev.write_zeroes(512, 1 << 20));
    EXPECT_FALSE(co_await dev.trim(0, dev.info().capacity));
    // The last block, and validation errors, which never reach the backend.
    EXPECT_FALSE(co_await dev.read(dev.info().capacity - 512, buf.span().first(512)));
    EXPECT_EQ(co_await dev.read(dev.info().capacity, buf.span().first(512)),
              make_error_code(errc::out_of_range));
    EXPECT_EQ(co_await dev.read(100, buf.span().first(512)),
              make_error_code(errc::misaligned_offset));
    EXPECT_EQ(co_await dev.read(0, buf.span().first(100)),
              make_error_code(errc::misaligned_length));
    EXPECT_EQ(co_await dev.read(0, buf.span().subspan(1, 512)),
              make_error_code(errc::misaligned_buffer));
    EXPECT_EQ(co_await dev.read(0, buf.span().first(0)), make_error_code(errc::zero_length));
    co_await dev.write(0, buf.span()).or_throw();
    co_await dev.drain();
}

TEST(NullBackend, EveryOperationSucceeds) {
    auto dev = open_ok("null:?size=64M");
    ASSERT_TRUE(dev);
    loop l;
    l.run_until_complete(every_op(*dev));
}

task<void> one_read(block_device& dev, std::span<std::byte> buf, int& state) {
    state = 1;
    std::error_code ec = co_await dev.read(0, buf);
    EXPECT_FALSE(ec);
    state = 2;
}

TEST(NullBackend, CompletesOnTheNextIterationNeverInline) {
    auto dev = open_ok("null:");
    ASSERT_TRUE(dev);
    dma_buffer buf(4096);
    loop l;
    int state = 0;
    l.spawn(one_read(*dev, buf.span(), state));
    l.run_once();  // runs up to the submit; the poll completes it, the waiter waits for the next
                   // batch
    EXPECT_EQ(state, 1);
    l.run_once();
    EXPECT_EQ(state, 2);
    l.run_until_complete(dev->drain());
}

task<void> ordered_read(block_device& dev, std::span<std::byte> buf, unsigned id,
                        std::vector<unsigned>& order) {
    EXPECT_FALSE(co_await dev.read(std::uint64_t{id} * 4096, buf));
    order.push_back(id);
}

TEST(NullBackend, ManyInFlightCompleteInSubmissionOrder) {
    auto dev = open_ok("null:");
    ASSERT_TRUE(dev);
    dma_buffer buf(4096);
    loop l;
    std::vector<unsigned> order;
    constexpr unsigned n = 300;  // more than the ready queue's initial 256
    for (unsigned i = 0; i < n; ++i) l.spawn(ordered_read(*dev, buf.span(), i, order));
    while (order.size() < n) l.run_once();
    for (unsigned i = 0; i < n; ++i) EXPECT_EQ(order[i], i);
    l.run_until_complete(dev->drain());
}

task<void> after_drain(block_device& dev) {
    dma_buffer buf(4096);
    EXPECT_FALSE(co_await dev.read(0, buf.span()));
    co_await dev.drain();
    EXPECT_EQ(co_await dev.read(0, buf.span()), make_error_code(errc::shutting_down));
}

TEST(NullBackend, IoAfterDrainFailsWithShuttingDown) {
    auto dev = open_ok("null:");
    ASSERT_TRUE(dev);
    loop l;
    l.run_until_complete(after_drain(*dev));
}

task<void> reads(block_device& dev, unsigned count, unsigned& done) {
    dma_buffer buf(4096);
    for (unsigned i = 0; i < count; ++i)
        if (!co_await dev.read((i % 1024) * 4096ull, buf.span())) ++done;
    co_await dev.drain();
}

TEST(NullBackend, LoopsOnSeveralThreads) {
    auto dev = open_ok("null:");
    ASSERT_TRUE(dev);
    constexpr unsigned loops = 4, count = 5000;
    std::vector<unsigned> done(loops, 0);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < loops; ++i)
        threads.emplace_back([&, i] {
            loop l(loop_options{.core_id = i});
            l.run_until_complete(reads(*dev, count, done[i]));
        });
    for (auto& t : threads) t.join();
    for (unsigned i = 0; i < loops; ++i) EXPECT_EQ(done[i], count) << i;
}

TEST(NullBackend, TwoLoopsWithTheSameCoreId) {
    auto dev = open_ok("null:");
    ASSERT_TRUE(dev);
    loop a, b;  // both core id 0: the second is found by the table's locked search
    unsigned done_a = 0, done_b = 0;
    a.run_until_complete(reads(*dev, 100, done_a));
    b.run_until_complete(reads(*dev, 100, done_b));
    EXPECT_EQ(done_a, 100u);
    EXPECT_EQ(done_b, 100u);
}

}  // namespace
}  // namespace convme

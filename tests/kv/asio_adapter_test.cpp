// SPDX-License-Identifier: MIT
// convme/asio.hpp: an io_context driven by a convme loop; Asio coroutines doing convme I/O with
// asio::use_awaitable; convme coroutines awaiting Asio operations with convme::use_loop.
#include <gtest/gtest.h>

#include <convme/asio.hpp>
#include <cstring>
#include <thread>

#include "kv_mem_device.hpp"

namespace {

template <typename Pred>
bool spin_until(convme::loop& lp, Pred done) {
    for (int i = 0; i < 1000000 && !done(); ++i) lp.run_once();
    return done();
}

}  // namespace

TEST(AsioAdapter, AwaitableCoroutineReadsAndWritesThroughConvme) {
    convme::loop lp;
    asio::io_context io;
    convme::asio_poller poller(io);
    lp.add_poller(&poller);
    kvtest::mem_device dev(1 << 16);

    bool done = false;
    std::string got;
    std::error_code bad_ec;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            alignas(4096) static std::byte wmem[512], rmem[512];
            std::span<std::byte> w(wmem), r(rmem);
            std::memcpy(w.data(), "hello from asio", 15);
            co_await convme::async_write(dev, 1024, w, asio::use_awaitable);
            co_await convme::async_flush(dev, asio::use_awaitable);
            co_await convme::async_read(dev, 1024, r, asio::use_awaitable);
            got.assign(reinterpret_cast<const char*>(r.data()), 15);
            // Errors arrive as error codes too (here: a misaligned offset).
            co_await convme::async_read(dev, 3, r,
                                        asio::redirect_error(asio::use_awaitable, bad_ec));
            int v = co_await convme::async_run([]() -> convme::task<int> { co_return 41 + 1; }(),
                                               asio::use_awaitable);
            if (v == 42) done = true;
        },
        asio::detached);

    ASSERT_TRUE(spin_until(lp, [&] { return done; }));
    EXPECT_EQ(got, "hello from asio");
    EXPECT_EQ(bad_ec, convme::errc::misaligned_offset);
    lp.remove_poller(&poller);
}

TEST(AsioAdapter, CallbackTokenIsInvokedThroughTheIoContext) {
    convme::loop lp;
    asio::io_context io;
    convme::asio_poller poller(io);
    lp.add_poller(&poller);
    kvtest::mem_device dev(1 << 16);
    alignas(4096) static std::byte mem[512];
    std::span<std::byte> buf(mem);
    int calls = 0;
    std::thread::id ran_on;
    std::error_code got = std::make_error_code(std::errc::io_error);
    // Started from inside the io_context (as Asio code would), on the loop's thread.
    asio::post(io, [&] {
        convme::async_read(dev, 0, buf, [&](std::error_code ec) {
            ++calls;
            got = ec;
            ran_on = std::this_thread::get_id();
        });
    });
    ASSERT_TRUE(spin_until(lp, [&] { return calls == 1; }));
    EXPECT_FALSE(got);
    // A plain callback has no associated executor: it runs on the loop's thread, not on a pool.
    EXPECT_EQ(ran_on, std::this_thread::get_id());
    lp.remove_poller(&poller);
}

TEST(AsioAdapter, ConvmeTaskAwaitsAsioOperationsWithUseLoop) {
    convme::loop lp;
    asio::io_context io;
    convme::asio_poller poller(io);
    lp.add_poller(&poller);

    asio::local::stream_protocol::socket a(io), b(io);
    asio::local::connect_pair(a, b);
    // A named lambda: the coroutine refers to its captures, which must outlive it.
    auto body = [&]() -> convme::task<std::string> {
        asio::steady_timer timer(io, std::chrono::milliseconds(1));
        std::error_code tec = co_await timer.async_wait(convme::use_loop);
        if (tec) co_return "timer: " + tec.message();
        auto [wec, wn] =
            co_await asio::async_write(a, asio::buffer(std::string_view("ping")), convme::use_loop);
        if (wec || wn != 4) co_return "write failed";
        char buf[8] = {};
        auto [rec, rn] = co_await b.async_read_some(asio::buffer(buf), convme::use_loop);
        if (rec) co_return "read: " + rec.message();
        co_return std::string(buf, rn);
    };
    EXPECT_EQ(lp.run_until_complete(body()), "ping");
    lp.remove_poller(&poller);
}

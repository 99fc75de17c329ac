// SPDX-License-Identifier: MIT
// Limits the NVMe spec gives the host (issue 11, bug 9): Write Zeroes / Dataset Management sizes
// (WZSL, DMRSL, DMRL), the shutdown time (RTD3E), no CC.EN=0 while the controller is still
// enabling, and a controller that misreports the SQ head.
#include <chrono>

#include "driver/nvme/controller.hpp"
#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;

TEST(DriverSimLimits, WriteZeroesAndTrimAreSplitPerWzslDmrslAndDmrl) {
    auto cfg = inline_config(16ull << 20, 512);
    cfg.wzsl = 1;     // 2 x 4 KiB: 16 blocks per Write Zeroes
    cfg.dmrsl = 100;  // blocks per range
    cfg.dmrl = 2;     // ranges per Dataset Management
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer b(64 * 1024);
    fill(b.data(), b.size(), 3);
    auto io = [&](auto make) { return l.run_until_complete(make()); };
    ASSERT_FALSE(
        io([&]() -> task<std::error_code> { co_return co_await s.dev->write(0, b.span()); }));
    EXPECT_FALSE(io([&]() -> task<std::error_code> {
        co_return co_await s.dev->write_zeroes(0, 64 * 1024);
    })) << "64 KiB of Write Zeroes must go out as commands of at most WZSL (8 KiB)";
    std::vector<std::byte> got(64 * 1024);
    ASSERT_EQ(s.ctrl->peek(1, 0, got.data(), got.size()), 0);
    EXPECT_EQ(std::count(got.begin(), got.end(), std::byte{0}), static_cast<long>(got.size()));
    ASSERT_FALSE(
        io([&]() -> task<std::error_code> { co_return co_await s.dev->write(0, b.span()); }));
    EXPECT_FALSE(io([&]() -> task<std::error_code> {
        co_return co_await s.dev->trim(0, 1000 * 512);
    })) << "1000 blocks of deallocate must use ranges of <= 100 blocks, <= 2 per command";
    ASSERT_EQ(s.ctrl->peek(1, 0, got.data(), 1000 * 512 < got.size() ? 1000 * 512 : got.size()), 0);
    EXPECT_EQ(std::count(got.begin(), got.end(), std::byte{0}), static_cast<long>(got.size()));
    EXPECT_GE(s.stats().split_requests, 2u);
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimLimits, ShutdownWaitsAsLongAsRtd3eSays) {
    auto cfg = inline_config();
    cfg.timeout_500ms = 1;        // CAP.TO: 500 ms
    cfg.rtd3e_us = 3'000'000;     // the controller says a shutdown may take 3 s
    cfg.shutdown_delay = 1500ms;  // and takes 1.5 s
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    controller& c = *nvme_controller_of(*s.dev);
    std::string why;
    EXPECT_EQ(c.shutdown(why), 0) << why;
}

TEST(DriverSimLimits, ShutdownTimeoutIsClampedTo60Seconds) {
    auto cfg = inline_config();
    cfg.rtd3e_us = 120'000'000;
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_EQ(nvme_controller_of(*s.dev)->shutdown_timeout(), 60000ms);
}

TEST(DriverSimLimits, ControllerStillEnablingIsNotDisabledHalfway) {
    // Someone (a crashed previous user) set CC.EN=1; the controller takes 300 ms to get ready.
    auto cfg = inline_config();
    cfg.inline_mode = false;
    cfg.enable_delay = 300ms;
    auto ctrl = std::make_shared<sim::simulated_controller>(cfg);
    auto other = sim::make_pci_device(ctrl);
    ASSERT_EQ(other->enable_bus_master(), 0);
    other->write32(nvme::reg::cc,
                   nvme::cc::en | (6u << nvme::cc::iosqes_shift) | (4u << nvme::cc::iocqes_shift));
    ASSERT_TRUE(ctrl->stats().enabling);
    std::error_code ec;
    std::string why;
    auto dev = make_nvme_block_device(sim::make_pci_device(ctrl), {}, ec, why);
    ASSERT_TRUE(dev) << why << " (the driver cleared CC.EN while the controller was enabling)";
    EXPECT_EQ(ctrl->last_diagnostic().find("CC.EN cleared while"), std::string::npos)
        << ctrl->last_diagnostic();
    loop l;
    dma_buffer b(4096);
    EXPECT_FALSE(l.run_until_complete([](block_device& d, dma_buffer& b) -> task<std::error_code> {
        co_return co_await d.read(0, b.span());
    }(*dev, b)));
    l.run_until_complete(dev->drain());
}

TEST(DriverSimLimits, LaggingSqHeadCannotWedgeTheQueue) {
    auto cfg = inline_config();
    cfg.sqhd_lag = 7;  // one less than the queue depth: every CQE claims the SQ is full
    nvme_options o;
    o.queue_depth = 8;
    sim_device s(cfg, o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer b(4096);
    int done = 0, bad = 0;
    l.spawn([](block_device& d, dma_buffer& b, int& done, int& bad) -> task<void> {
        for (int i = 0; i < 64; ++i) {
            if (co_await d.read(std::uint64_t(i % 16) * 4096, b.span())) ++bad;
            ++done;
        }
    }(*s.dev, b, done, bad));
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (done < 64 && std::chrono::steady_clock::now() < deadline) l.run_once();
    ASSERT_EQ(done, 64)
        << "the queue is wedged: submissions wait for an SQ head the controller never reports";
    EXPECT_EQ(bad, 0);
    l.run_until_complete(s.dev->drain());
}

}  // namespace
}  // namespace convme::driver::testing

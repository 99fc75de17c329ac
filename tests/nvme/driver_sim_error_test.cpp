// SPDX-License-Identifier: MIT
// Failure handling of the NVMe driver on the simulated controller: error statuses, lost
// completions (timeout -> Abort -> controller reset), fatal status, surprise removal.
#include <vector>

#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

sim::fault io_fault(sim::fault::kind k, std::uint8_t opcode, std::uint16_t status = 0) {
    sim::fault f;
    f.what = k;
    f.admin = false;
    f.opcode = opcode;
    f.status = status;
    return f;
}

task<std::error_code> read_at(block_device& dev, std::uint64_t off, dma_buffer& b) {
    co_return co_await dev.read(off, b.span());
}
task<std::error_code> write_at(block_device& dev, std::uint64_t off, dma_buffer& b) {
    co_return co_await dev.write(off, b.span());
}

TEST(DriverSimErrors, ErrorStatusBecomesNvmeErrorCode) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    s.ctrl->inject(io_fault(sim::fault::kind::error_status, nvme::io_opcode::read,
                            nvme::make_status(nvme::sct::media, nvme::sc::unrecovered_read_error)));
    loop l;
    dma_buffer b(4096);
    auto ec = l.run_until_complete(read_at(*s.dev, 0, b));
    EXPECT_EQ(ec, make_nvme_error(0x281));
    EXPECT_EQ(&ec.category(), &nvme_category());
    EXPECT_NE(ec.message().find("Unrecovered Read Error"), std::string::npos) << ec.message();
    // The fault was one-shot: the next read succeeds.
    EXPECT_FALSE(l.run_until_complete(read_at(*s.dev, 0, b)));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimErrors, SplitRequestReportsFirstErrorAndStopsIssuing) {
    auto cfg = inline_config();
    cfg.mdts = 0 + 1;  // 8 KiB per command
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    auto f = io_fault(sim::fault::kind::error_status, nvme::io_opcode::write,
                      nvme::make_status(nvme::sct::generic, nvme::sc::data_transfer_error));
    f.skip = 1;  // the second part fails
    s.ctrl->inject(f);
    loop l;
    dma_buffer b(64 * 1024);
    auto ec = l.run_until_complete(write_at(*s.dev, 0, b));
    EXPECT_EQ(ec, make_nvme_error(0x004));
    EXPECT_EQ(s.stats().split_requests, 1u);
    EXPECT_EQ(l.run_until_complete(read_at(*s.dev, 0, b)), std::error_code{});
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimErrors, LostCompletionTimesOutAbortsResetsAndRecovers) {
    nvme_options o;
    o.io_timeout = std::chrono::milliseconds(40);
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer acked(4096), lost(4096), back(4096);
    fill(acked.data(), 4096, 1);
    fill(lost.data(), 4096, 2);
    // An acknowledged write first...
    ASSERT_FALSE(l.run_until_complete(write_at(*s.dev, 0, acked)));
    // ...then a write whose completion the controller never posts (and never executes).
    s.ctrl->inject(io_fault(sim::fault::kind::drop_completion, nvme::io_opcode::write));
    auto ec = l.run_until_complete(write_at(*s.dev, 8192, lost));
    EXPECT_EQ(ec, make_error_code(errc::timeout)) << ec.message();
    EXPECT_NE(ec.message().find("timed out"), std::string::npos);
    const auto st = s.stats();
    EXPECT_GE(st.aborts_sent, 1u);
    EXPECT_EQ(st.resets, 1u);
    EXPECT_GE(st.timeouts, 1u);
    EXPECT_GE(s.ctrl->stats().aborts, 1u);
    EXPECT_GE(s.ctrl->stats().resets, 1u);
    // The device keeps working, and the acknowledged write survived the reset.
    EXPECT_FALSE(l.run_until_complete(read_at(*s.dev, 0, back)));
    EXPECT_TRUE(same(back.data(), acked.data(), 4096));
    EXPECT_FALSE(l.run_until_complete(write_at(*s.dev, 8192, lost)));
    EXPECT_FALSE(l.run_until_complete(read_at(*s.dev, 8192, back)));
    EXPECT_TRUE(same(back.data(), lost.data(), 4096));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimErrors, ResetFailsOtherInFlightCommandsAsAborted) {
    nvme_options o;
    o.io_timeout = std::chrono::milliseconds(40);
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    // Every read vanishes inside the controller (fetched, never completed, not abortable).
    auto f = io_fault(sim::fault::kind::drop_completion, nvme::io_opcode::read);
    f.count = 4;
    s.ctrl->inject(f);
    loop l;
    std::vector<dma_buffer> bufs;
    for (int i = 0; i < 4; ++i) bufs.emplace_back(4096);
    std::vector<std::error_code> results(4);
    int done = 0;
    auto start = [&](int i) {
        l.spawn(
            [](block_device& dev, dma_buffer& b, std::error_code& out, int& done) -> task<void> {
                out = co_await dev.read(0, b.span());
                ++done;
            }(*s.dev, bufs[i], results[i], done));
    };
    start(0);
    while (s.stats().aborts_sent == 0) l.run_once();  // first timeout: Abort sent for command 0
    // Half a timeout later, three more commands: still young when command 0's second timeout
    // resets the controller, so they fail as aborted (not timed out).
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(20)) l.run_once();
    for (int i = 1; i < 4; ++i) start(i);
    while (done < 4) l.run_once();
    EXPECT_EQ(results[0], make_error_code(errc::timeout));
    for (int i = 1; i < 4; ++i) {
        EXPECT_EQ(results[i], make_error_code(errc::aborted)) << i;
        EXPECT_NE(results[i].message().find("reset"), std::string::npos);
    }
    EXPECT_EQ(s.stats().resets, 1u);
    EXPECT_FALSE(l.run_until_complete(read_at(*s.dev, 0, bufs[0])));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimErrors, AbortOfASlowCommandReportsTimeoutWithoutReset) {
    nvme_options o;
    o.io_timeout = std::chrono::milliseconds(40);
    auto cfg = inline_config();
    cfg.latency = std::chrono::milliseconds(2000);  // still queued in the device when aborted
    sim_device s(cfg, o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer b(4096);
    auto ec = l.run_until_complete(read_at(*s.dev, 0, b));
    EXPECT_EQ(ec, make_error_code(errc::timeout));
    EXPECT_EQ(s.stats().aborts_sent, 1u);
    EXPECT_EQ(s.stats().resets, 0u) << "the Abort worked: no reset needed";
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimErrors, ControllerFatalStatusTriggersReset) {
    nvme_options o;
    o.io_timeout = std::chrono::milliseconds(40);
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer b(4096);
    ASSERT_FALSE(l.run_until_complete(read_at(*s.dev, 0, b)));
    s.ctrl->set_fatal();
    // Submitted to a controller in fatal state: never executed; the health check sees CFS,
    // resets, and the command fails as aborted.
    auto ec = l.run_until_complete(read_at(*s.dev, 0, b));
    EXPECT_EQ(ec, make_error_code(errc::aborted)) << ec.message();
    EXPECT_EQ(s.stats().resets, 1u);
    EXPECT_FALSE(l.run_until_complete(write_at(*s.dev, 4096, b)));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimErrors, SurpriseRemovalFailsEveryWaiterWithDeviceGone) {
    auto cfg = inline_config();
    cfg.latency = std::chrono::milliseconds(200);
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    std::vector<dma_buffer> bufs;
    for (int i = 0; i < 6; ++i) bufs.emplace_back(4096);
    std::vector<std::error_code> results(6);
    int done = 0;
    for (int i = 0; i < 6; ++i) {
        l.spawn([](block_device& dev, dma_buffer& b, int i, std::error_code& out,
                   int& done) -> task<void> {
            out = i % 2 ? co_await dev.write(std::uint64_t(i) * 4096, b.span())
                        : co_await dev.read(std::uint64_t(i) * 4096, b.span());
            ++done;
        }(*s.dev, bufs[i], i, results[i], done));
    }
    for (int i = 0; i < 3; ++i) l.run_once();  // submitted and fetched, completions pending
    s.ctrl->remove();
    while (done < 6) l.run_once();
    for (int i = 0; i < 6; ++i) EXPECT_EQ(results[i], make_error_code(errc::device_gone)) << i;
    // Later I/O fails at once too, drain and destruction do not hang.
    EXPECT_EQ(l.run_until_complete(read_at(*s.dev, 0, bufs[0])),
              make_error_code(errc::device_gone));
    l.run_until_complete(s.dev->drain());
    s.dev.reset();
}

TEST(DriverSimErrors, OpeningARemovedDeviceFailsClearly) {
    auto ctrl = std::make_shared<sim::simulated_controller>(inline_config());
    ctrl->remove();
    std::error_code ec;
    std::string why;
    auto dev = make_nvme_block_device(sim::make_pci_device(ctrl), {}, ec, why);
    EXPECT_FALSE(dev);
    EXPECT_EQ(ec, make_error_code(errc::device_gone));
    EXPECT_NE(why.find("all-ones"), std::string::npos) << why;
}

}  // namespace
}  // namespace convme::driver::testing

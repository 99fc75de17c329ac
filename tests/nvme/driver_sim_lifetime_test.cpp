// SPDX-License-Identifier: MIT
// DMA memory lifetime (issue 11, bug 4): memory the controller may still write must stay
// allocated until its completion arrived or the controller was disabled. The simulated IOMMU
// reuses freed IOVAs first-fit, so a late DMA into freed memory lands in whatever took its
// place: the checksums below see it, and the model also counts the violation.
#include <chrono>
#include <convme/nvme_spec.hpp>
#include <numeric>

#include "driver/nvme/controller.hpp"
#include "driver/nvme/dma_block.hpp"
#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;

std::uint64_t checksum(const dma_block& b) {
    const auto* p = b.as<const std::uint8_t>();
    std::uint64_t h = 1469598103934665603ull;
    for (std::size_t i = 0; i < b.size(); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

void fill_block(dma_block& b, std::uint8_t seed) {
    auto* p = b.as<std::uint8_t>();
    for (std::size_t i = 0; i < b.size(); ++i) p[i] = static_cast<std::uint8_t>(i * 7 + seed);
}

// How late the late admin completions come: far beyond the 60 ms admin timeout, so that a host
// thread descheduled for a while on a loaded machine still notices its deadline first.
constexpr auto late_delay = 1000ms;

sim::fault late_admin(std::uint8_t opcode, std::chrono::nanoseconds delay, std::uint32_t nsid = 0) {
    sim::fault f;
    f.what = sim::fault::kind::late_completion;
    f.admin = true;
    f.opcode = opcode;
    f.delay = delay;
    f.nsid = nsid;
    return f;
}

// Steps the model until it has posted `n` late completions (or 5 s passed).
void wait_late(sim_device& s, controller& c, std::uint64_t n) {
    const auto t0 = std::chrono::steady_clock::now();
    while (s.ctrl->stats().late_completions < n && std::chrono::steady_clock::now() - t0 < 5s) {
        c.dev().step();
        c.admin_poll();
    }
    // One more pass so the completion itself is reaped.
    c.dev().step();
    c.admin_poll();
}

TEST(DriverSimLifetime, TimedOutIdentifyKeepsItsBufferUntilTheLateCompletion) {
    nvme_options o;
    o.admin_timeout = 60ms;
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    controller& c = *nvme_controller_of(*s.dev);
    s.ctrl->inject(late_admin(nvme::admin_op::identify, late_delay, 1));
    nvme::identify_namespace id{};
    std::string why;
    EXPECT_EQ(c.identify_namespace(1, id, why), -ETIMEDOUT) << why;
    // The next DMA allocation of the same size: with the identify buffer freed, it would get
    // the same IOVA, and the late Identify would overwrite it.
    dma_block victim;
    ASSERT_EQ(victim.allocate(c.dev(), 4096, 4096), 0);
    fill_block(victim, 3);
    const std::uint64_t before = checksum(victim);
    wait_late(s, c, 1);
    ASSERT_EQ(s.ctrl->stats().late_completions, 1u);
    EXPECT_EQ(checksum(victim), before)
        << "the late Identify wrote into memory that was freed and reused";
    EXPECT_EQ(s.ctrl->stats().dma_lifetime_violations, 0u) << s.ctrl->last_diagnostic();
    // The command id came back with the late completion: admin commands keep working.
    EXPECT_EQ(c.identify_namespace(1, id, why), 0) << why;
    EXPECT_EQ(id.nsze, (16ull << 20) / 512);
}

// A reset frees a timed-out command's memory only once the controller is disabled: during the
// disable window (CC.EN=0 written, CSTS.RDY still 1) the controller goes on executing, and the
// late Identify writes its data then.
TEST(DriverSimLifetime, ResetKeepsATimedOutCommandsBufferUntilTheControllerIsDisabled) {
    auto cfg = inline_config();
    cfg.disable_delay = late_delay + 500ms;
    nvme_options o;
    o.admin_timeout = 60ms;
    sim_device s(cfg, o);
    ASSERT_TRUE(s.dev) << s.why;
    controller& c = *nvme_controller_of(*s.dev);
    s.ctrl->inject(late_admin(nvme::admin_op::identify, late_delay, 1));
    nvme::identify_namespace id{};
    std::string why;
    EXPECT_EQ(c.identify_namespace(1, id, why), -ETIMEDOUT) << why;
    ASSERT_EQ(s.ctrl->stats().late_completions, 0u);
    EXPECT_EQ(c.reset(c.generation(), why), 0) << why;
    EXPECT_EQ(s.ctrl->stats().late_completions, 1u)
        << "the late Identify should have completed while the controller was disabling";
    EXPECT_EQ(s.ctrl->stats().dma_lifetime_violations, 0u)
        << "the reset freed the timed-out Identify's buffer before CSTS.RDY=0: "
        << s.ctrl->last_diagnostic();
    EXPECT_EQ(c.identify_namespace(1, id, why), 0) << why;
    EXPECT_EQ(id.nsze, (16ull << 20) / 512);
}

TEST(DriverSimLifetime, TimedOutAdminPassthroughKeepsItsBouncePages) {
    nvme_options o;
    o.admin_timeout = 60ms;
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    controller& c = *nvme_controller_of(*s.dev);
    s.ctrl->inject(late_admin(nvme::admin_op::get_log_page, late_delay));
    loop l;
    std::vector<std::byte> log(512);
    nvme::sqe cmd{};
    cmd.opcode = nvme::admin_op::get_log_page;
    cmd.nsid = 0xffffffffu;
    cmd.cdw10 = ((512 / 4 - 1) << 16) | nvme::log_page::smart_health;
    nvme::cqe out{};
    const auto ec = l.run_until_complete(nvme_admin_passthrough(*s.dev, cmd, log, out));
    EXPECT_EQ(ec, make_error_code(errc::timeout)) << ec.message();
    dma_block victim;
    ASSERT_EQ(victim.allocate(c.dev(), 4096, 4096), 0);
    fill_block(victim, 9);
    const std::uint64_t before = checksum(victim);
    wait_late(s, c, 1);
    ASSERT_EQ(s.ctrl->stats().late_completions, 1u);
    EXPECT_EQ(checksum(victim), before) << "the late Get Log Page wrote into a freed bounce page";
    EXPECT_EQ(s.ctrl->stats().dma_lifetime_violations, 0u) << s.ctrl->last_diagnostic();
    EXPECT_FALSE(l.run_until_complete(nvme_admin_passthrough(*s.dev, cmd, log, out)));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimLifetime, FailedQueueDeletionKeepsTheRingsUntilTheControllerIsDisabled) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer b(4096);
    ASSERT_FALSE(l.run_until_complete([](block_device& d, dma_buffer& b) -> task<std::error_code> {
        co_return co_await d.read(0, b.span());
    }(*s.dev, b)));
    sim::fault f;
    f.admin = true;
    f.opcode = nvme::admin_op::delete_io_sq;
    f.status = nvme::make_status(nvme::sct::generic, nvme::sc::internal_error);
    s.ctrl->inject(f);
    l.run_until_complete(s.dev->drain());  // Delete SQ fails: the SQ (and CQ) live on in the device
    EXPECT_EQ(s.ctrl->stats().dma_lifetime_violations, 0u) << s.ctrl->last_diagnostic();
    EXPECT_FALSE(s.ctrl->stats().fatal) << s.ctrl->last_diagnostic();
    s.dev.reset();  // disables the controller, then frees what it kept
    EXPECT_EQ(s.ctrl->stats().dma_lifetime_violations, 0u) << s.ctrl->last_diagnostic();
}

TEST(DriverSimLifetime, ClosingDisablesTheControllerBeforeRingsAndBuffersGoAway) {
    nvme_options o;
    o.io_timeout = 30s;
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer held(4096);
    ASSERT_FALSE(l.run_until_complete([](block_device& d, dma_buffer& b) -> task<std::error_code> {
        co_return co_await d.read(0, b.span());
    }(*s.dev, held)));
    // A read the device still holds when the device is closed, on a queue whose Delete fails.
    sim::fault late;
    late.what = sim::fault::kind::late_completion;
    late.opcode = nvme::io_opcode::read;
    late.delay = 20s;
    s.ctrl->inject(late);
    sim::fault del;
    del.admin = true;
    del.opcode = nvme::admin_op::delete_io_sq;
    del.status = nvme::make_status(nvme::sct::generic, nvme::sc::internal_error);
    s.ctrl->inject(del);
    bool done = false;
    l.spawn([](block_device& d, dma_buffer& b, bool& done) -> task<void> {
        (void)co_await d.read(4096, b.span());
        done = true;
    }(*s.dev, held, done));
    for (int i = 0; i < 10; ++i) l.run_once();  // fetched: now held by the device for 20 s
    ASSERT_FALSE(done);
    s.dev.reset();
    EXPECT_EQ(s.ctrl->stats().dma_lifetime_violations, 0u)
        << "rings freed or the I/O buffer unmapped while the device still held a read on it: "
        << s.ctrl->last_diagnostic();
}

}  // namespace
}  // namespace convme::driver::testing

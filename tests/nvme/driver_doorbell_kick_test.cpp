// SPDX-License-Identifier: MIT
// A controller that loses a shadow doorbell update (it forgets to publish EventIdx for a tail it
// took, so the host's next tail goes to the shadow slot only and waits for an MMIO write). Without
// a remedy the queue stalls until the I/O timeout, an Abort and a reset; the driver rewrites the
// doorbell registers after two quiet health ticks, so every I/O completes, verified, without a
// timeout.
#include <chrono>
#include <vector>

#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;

TEST(DriverDoorbellKick, LostShadowTailUpdatesAreRecoveredWithoutATimeout) {
    auto cfg = inline_config();
    cfg.forget_eventidx_every = 150;  // inline: deterministic, a stall every ~150 tails
    nvme_options o;
    o.io_timeout = 800ms;  // health ticks every 100 ms: a stall is kicked after 200-300 ms
    sim_device s(cfg, o);
    ASSERT_TRUE(s.dev) << s.why;
    ASSERT_TRUE(s.stats().shadow_doorbells);
    loop l;
    constexpr int workers = 8, per_worker = 40;
    std::vector<dma_buffer> bufs;
    for (int i = 0; i < workers; ++i) bufs.emplace_back(4096);
    for (int round = 0; round < 2; ++round) {
        int done = 0, bad = 0;
        for (int i = 0; i < workers; ++i)
            l.spawn([](block_device& dev, dma_buffer& b, int i, int& done, int& bad) -> task<void> {
                for (int k = 0; k < per_worker; ++k) {
                    const std::uint64_t off = std::uint64_t(i * per_worker + k) * 4096;
                    fill(b.data(), 4096, static_cast<std::uint32_t>(i * 1000 + k));
                    if (co_await dev.write(off, b.span())) ++bad;
                    std::memset(b.data(), 0, 4096);
                    if (co_await dev.read(off, b.span())) ++bad;
                    dma_buffer want(4096);
                    fill(want.data(), 4096, static_cast<std::uint32_t>(i * 1000 + k));
                    if (!same(b.data(), want.data(), 4096)) ++bad;
                }
                if (++done == workers) loop::current()->stop();
            }(*s.dev, bufs[i], i, done, bad));
        l.run();
        ASSERT_EQ(done, workers);
        EXPECT_EQ(bad, 0) << "round " << round;
        const auto st = s.stats();
        ASSERT_EQ(st.timeouts, 0u)
            << "round " << round << ": a lost doorbell waited for the timeout";
        EXPECT_EQ(st.aborts_sent, 0u);
        EXPECT_EQ(st.resets, 0u);
    }
    const auto st = s.stats();
    EXPECT_GT(s.ctrl->stats().forgotten_eventidx, 0u);
    EXPECT_GT(st.doorbell_kicks, 0u);
    std::printf("forgotten EventIdx updates %llu, doorbell kicks %llu\n",
                static_cast<unsigned long long>(s.ctrl->stats().forgotten_eventidx),
                static_cast<unsigned long long>(st.doorbell_kicks));
    EXPECT_EQ(s.ctrl->stats().invalid_doorbell_writes, 0u);
    l.run_until_complete(s.dev->drain());
}

}  // namespace
}  // namespace convme::driver::testing

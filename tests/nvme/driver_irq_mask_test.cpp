// SPDX-License-Identifier: MIT
// irq_mask=awake: each queue's MSI-X vector is masked while its loop is awake and unmasked just
// before the loop sleeps (io_queue_irq.cpp). The threaded simulator models the Mask and Pending
// bits of each vector (a signal due while masked sets Pending and is sent on unmask), so these
// tests see both what masking saves (interrupts a spinning loop does not need) and that it loses
// no wake-up, with several loops masking and unmasking at once.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "driver_sim_fixture.hpp"
#include "forwarding_pci_device.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

nvme_options irq_mode(completion_mode m, std::chrono::microseconds spin, bool mask) {
    nvme_options o;
    o.completion = m;
    o.hybrid_spin_auto = false;
    o.hybrid_spin = spin;
    o.irq_mask_awake = mask;
    return o;
}

struct tally {
    std::atomic<int> ok{0}, bad{0};
    std::atomic<int> slow{0};  // I/Os of >= 90 ms: a sleep only the 100 ms backstop ended
};

// `n` write+read+verify pairs on blocks lba0..lba0+15.
task<void> verify_pairs(block_device& dev, std::uint64_t lba0, int n, tally& t) {
    dma_buffer w(4096), r(4096);
    for (int i = 0; i < n; ++i) {
        fill(static_cast<std::byte*>(w.data()), 4096, static_cast<std::uint32_t>(lba0 * 977 + i));
        const std::uint64_t off = (lba0 + static_cast<std::uint64_t>(i % 16)) * 4096;
        for (int k = 0; k < 2; ++k) {
            const auto t0 = clock_type::now();
            const std::error_code ec =
                k == 0 ? co_await dev.write(off, w.span()) : co_await dev.read(off, r.span());
            if (clock_type::now() - t0 >= 90ms) ++t.slow;
            if (ec) ++t.bad;
        }
        if (same(static_cast<std::byte*>(w.data()), static_cast<std::byte*>(r.data()), 4096))
            ++t.ok;
        else
            ++t.bad;
    }
}

// `depth` verify_pairs at once on this loop; the last to finish drains and stops it (no
// coroutine polls for the end, so the loop is idle, and may sleep, whenever I/O is in flight).
task<void> pairs_then_finish(block_device& dev, std::uint64_t lba, int n, tally& t,
                             std::shared_ptr<unsigned> left) {
    co_await verify_pairs(dev, lba, n, t);
    if (--*left != 0) co_return;
    co_await dev.drain();
    loop::current()->stop();
}

void spawn_pairs(loop& l, block_device& dev, unsigned index, unsigned depth, int n, tally& t) {
    auto left = std::make_shared<unsigned>(depth);
    for (unsigned d = 0; d < depth; ++d)
        l.spawn(pairs_then_finish(dev, 64 + (index * depth + d) * 16, n, t, left));
}

TEST(DriverIrqMask, HybridTakesNoInterruptForCompletionsItSpinsThrough) {
    // A 50 us device and a 1 s window: hybrid reaps every completion while it spins. (The
    // device is slower than the loop's 5 us of idling before it first asks prepare_to_block(),
    // which is where the vector gets masked.)
    for (bool mask : {true, false}) {
        sim_device s(threaded_config(50us), irq_mode(completion_mode::hybrid, 1s, mask));
        ASSERT_TRUE(s.dev) << s.why;
        EXPECT_NE(s.dev->info().name.find(mask ? "irq masked while awake" : "irq mask off"),
                  std::string::npos)
            << s.dev->info().name;
        loop l;
        tally t;
        spawn_pairs(l, *s.dev, 0, 1, 200, t);
        l.run();
        EXPECT_EQ(t.ok.load(), 200);
        EXPECT_EQ(t.bad.load(), 0);
        const auto st = s.ctrl->stats();
        RecordProperty(mask ? "masked_interrupts" : "unmasked_interrupts",
                       std::to_string(st.interrupts));
        if (mask) {
            // 400 I/Os; a few may complete before the loop idled long enough to mask.
            EXPECT_LE(st.interrupts, 40u);
            EXPECT_GE(st.interrupts_held, 300u);
        } else {
            EXPECT_GE(st.interrupts, 300u);  // one per completion, each for nothing
            EXPECT_EQ(st.interrupts_held, 0u);
        }
    }
}

// Three loops on their own threads, each with its own queue and vector, at QD1, on
// a device about as fast as hybrid's window: every I/O is a chance to lose a wake-up (mask while
// awake, unmask, recheck, sleep), and Pending signals from completions reaped while masked fire
// on every unmask. A lost wake-up shows as an I/O only the backstop ended.
void no_lost_wakeups(completion_mode m) {
    // hybrid: a window shorter than the device's latency, so that every I/O spins masked, then
    // unmasks and may sleep.
    // complete_at_unmask: at every unmask one more completion lands just before it, so each
    // sleep races a completion that only the Pending bit or the look after the unmask catches.
    auto cfg = threaded_config(100us);
    cfg.complete_at_unmask = true;
    sim_device s(cfg, irq_mode(m, 50us, true));
    ASSERT_TRUE(s.dev) << s.why;
    constexpr unsigned loops = 3, depth = 1;  // QD1: no other completion hides a lost one
    constexpr int pairs = 150;
    std::vector<std::unique_ptr<loop>> ls;
    for (unsigned i = 0; i < loops; ++i)
        ls.push_back(std::make_unique<loop>(loop_options{.core_id = i}));
    std::vector<std::unique_ptr<tally>> res;
    for (unsigned i = 0; i < loops; ++i) res.push_back(std::make_unique<tally>());
    std::vector<std::thread> th;
    for (unsigned i = 0; i < loops; ++i)
        th.emplace_back([&, i] {
            spawn_pairs(*ls[i], *s.dev, i, depth, pairs, *res[i]);
            ls[i]->run();
        });
    for (auto& t : th) t.join();
    for (unsigned i = 0; i < loops; ++i) {
        EXPECT_EQ(res[i]->ok.load(), static_cast<int>(depth) * pairs)
            << completion_mode_name(m) << " loop " << i;
        EXPECT_EQ(res[i]->bad.load(), 0) << "loop " << i;
        // A systematic race would lose many of ~1400 wake-ups; a few slow I/Os may be a
        // descheduled thread on a loaded machine.
        EXPECT_LE(res[i]->slow.load(), 3) << completion_mode_name(m) << " loop " << i;
    }
    const auto st = s.ctrl->stats();
    // Signals were held while the loops were masked (hybrid: each of its spins; interrupt mode
    // masks only while a loop is busy), and in interrupt mode the loops slept on their vectors.
    // (hybrid may never sleep here: every unmask is followed by a completion, which the look
    // after the unmask finds.)
    if (m == completion_mode::hybrid) {
        EXPECT_GT(st.interrupts_held, 0u);
    } else {
        EXPECT_GT(st.interrupts, 0u);
        EXPECT_GT(s.stats().irq_sleeps, 0u);
    }
    EXPECT_EQ(s.stats().timeouts, 0u);
    ::testing::Test::RecordProperty(std::string(completion_mode_name(m)) + "_interrupts",
                                    std::to_string(st.interrupts));
    ::testing::Test::RecordProperty(std::string(completion_mode_name(m)) + "_held",
                                    std::to_string(st.interrupts_held));
}

TEST(DriverIrqMask, NoWakeUpIsLostInHybridModeWithThreeLoops) {
    no_lost_wakeups(completion_mode::hybrid);
}
TEST(DriverIrqMask, NoWakeUpIsLostInInterruptModeWithThreeLoops) {
    no_lost_wakeups(completion_mode::interrupt);
}

TEST(DriverIrqMask, DeviceThatCannotMaskKeepsItsVectorsUnmaskedAndSaysWhy) {
    // The simulator can mask; a device that cannot (pci_device's default) must still serve I/O.
    struct no_mask_device final : forwarding_pci_device {
        using forwarding_pci_device::forwarding_pci_device;
        std::string irq_mask_unavailable() const override {
            return pci_device::irq_mask_unavailable();
        }
        void mask_irq(std::uint16_t v, bool m) noexcept override { pci_device::mask_irq(v, m); }
    };
    auto ctrl = std::make_shared<sim::simulated_controller>(threaded_config(0ns));
    std::error_code ec;
    std::string why;
    auto dev = make_nvme_block_device(std::make_unique<no_mask_device>(sim::make_pci_device(ctrl)),
                                      irq_mode(completion_mode::hybrid, 20us, true), ec, why);
    ASSERT_TRUE(dev) << why;
    EXPECT_NE(dev->info().name.find("irq mask unavailable: this device cannot mask its vectors"),
              std::string::npos)
        << dev->info().name;
    loop l;
    tally t;
    spawn_pairs(l, *dev, 0, 2, 50, t);
    l.run();
    EXPECT_EQ(t.ok.load(), 100);
    EXPECT_EQ(t.bad.load(), 0);
    EXPECT_EQ(ctrl->stats().interrupts_held, 0u);
}

}  // namespace
}  // namespace convme::driver::testing

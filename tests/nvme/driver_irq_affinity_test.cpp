// SPDX-License-Identifier: MIT
// The irq_affinity hook: a queue created with an interrupt vector asks its pci_device, on the
// owning loop's thread, to steer that vector there (vfio: /proc/irq, see
// tests/vfio/irq_affinity_test.cpp); poll queues never ask; the device's note reaches
// device_info.name and nvme_irq_affinity(). The threaded simulator behind a forwarding
// pci_device that records the calls.
#include <convme/nvme.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "driver_sim_fixture.hpp"
#include "forwarding_pci_device.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;

struct steer_call {
    std::uint16_t vector;
    std::thread::id thread;
};

class recording_device final : public forwarding_pci_device {
  public:
    using forwarding_pci_device::forwarding_pci_device;
    void steer_irq_to_caller(std::uint16_t v) noexcept override {
        std::lock_guard g(mu_);
        calls_.push_back({v, std::this_thread::get_id()});
    }
    std::string irq_affinity_note() const override {
        std::lock_guard g(mu_);
        return calls_.empty() ? "irq affinity=loop"
                              : "irq affinity: steered " + std::to_string(calls_.size());
    }

    std::vector<steer_call> calls() const {
        std::lock_guard g(mu_);
        return calls_;
    }

  private:
    mutable std::mutex mu_;
    std::vector<steer_call> calls_;
};

struct recorded {
    recording_device* dev = nullptr;
    std::unique_ptr<block_device> blk;
    std::string why;
};

recorded open_recorded(completion_mode m) {
    auto cfg = inline_config();
    cfg.inline_mode = false;
    cfg.latency = 200us;
    cfg.max_io_queues = 4;
    auto ctrl = std::make_shared<sim::simulated_controller>(cfg);
    auto rec = std::make_unique<recording_device>(sim::make_pci_device(ctrl));
    recorded r;
    r.dev = rec.get();
    nvme_options o;
    o.completion = m;
    std::error_code ec;
    r.blk = make_nvme_block_device(std::move(rec), o, ec, r.why);
    return r;
}

task<void> one_read(block_device& dev, std::thread::id& where) {
    where = std::this_thread::get_id();
    dma_buffer b(4096);
    EXPECT_FALSE(co_await dev.read(0, b.span()));
    co_await dev.drain();
    loop::current()->stop();
}

TEST(DriverIrqAffinity, AQueueWithAVectorAsksOnItsLoopsThread) {
    for (completion_mode m : {completion_mode::interrupt, completion_mode::hybrid}) {
        recorded r = open_recorded(m);
        ASSERT_TRUE(r.blk) << r.why;
        EXPECT_NE(r.blk->info().name.find("irq affinity=loop]"), std::string::npos)
            << r.blk->info().name;
        EXPECT_EQ(nvme_irq_affinity(*r.blk), "irq affinity=loop");
        std::thread::id loop_thread;
        std::thread t([&] {
            loop l;
            l.spawn(one_read(*r.blk, loop_thread));
            l.run();
        });
        t.join();
        const auto calls = r.dev->calls();
        ASSERT_EQ(calls.size(), 1u);
        EXPECT_EQ(calls[0].vector, 1u);  // queue 1, vector 1
        EXPECT_EQ(calls[0].thread, loop_thread);
        EXPECT_EQ(nvme_irq_affinity(*r.blk), "irq affinity: steered 1");
    }
}

TEST(DriverIrqAffinity, PollQueuesNeverAsk) {
    recorded r = open_recorded(completion_mode::poll);
    ASSERT_TRUE(r.blk) << r.why;
    EXPECT_EQ(r.blk->info().name.find("irq affinity"), std::string::npos) << r.blk->info().name;
    std::thread::id loop_thread;
    loop l;
    l.spawn(one_read(*r.blk, loop_thread));
    l.run();
    EXPECT_TRUE(r.dev->calls().empty());
    EXPECT_EQ(nvme_irq_affinity(*r.blk), "");
}

}  // namespace
}  // namespace convme::driver::testing

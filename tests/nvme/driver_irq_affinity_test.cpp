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

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;

struct steer_call {
    std::uint16_t vector;
    std::thread::id thread;
};

class recording_device final : public pci_device {
  public:
    explicit recording_device(std::unique_ptr<pci_device> inner) : in_(std::move(inner)) {}
    std::string name() const override { return in_->name(); }
    const char* kind() const noexcept override { return in_->kind(); }
    volatile std::uint32_t* bar0() noexcept override { return in_->bar0(); }
    std::size_t bar0_size() const noexcept override { return in_->bar0_size(); }
    std::uint32_t read32(std::uint32_t o) noexcept override { return in_->read32(o); }
    void write32(std::uint32_t o, std::uint32_t v) noexcept override { in_->write32(o, v); }
    int alloc_dma(std::size_t s, std::size_t a, dma_region& out) noexcept override {
        return in_->alloc_dma(s, a, out);
    }
    void free_dma(dma_region& r) noexcept override { in_->free_dma(r); }
    int map_dma(void* p, std::size_t s) noexcept override { return in_->map_dma(p, s); }
    int unmap_dma(void* p, std::size_t s) noexcept override { return in_->unmap_dma(p, s); }
    int translate(const void* p, std::uint64_t& iova) const noexcept override {
        return in_->translate(p, iova);
    }
    std::size_t host_page_size() const noexcept override { return in_->host_page_size(); }
    std::size_t max_contiguous_dma() const noexcept override { return in_->max_contiguous_dma(); }
    int enable_bus_master() noexcept override { return in_->enable_bus_master(); }
    int function_reset() noexcept override { return in_->function_reset(); }
    bool set_completion_notify(std::uint16_t cq, void (*fn)(void*), void* ctx) noexcept override {
        return in_->set_completion_notify(cq, fn, ctx);
    }
    unsigned irq_vectors() const noexcept override { return in_->irq_vectors(); }
    std::string irq_unavailable() const override { return in_->irq_unavailable(); }
    int bind_irq_eventfd(std::uint16_t v, int efd) noexcept override {
        return in_->bind_irq_eventfd(v, efd);
    }
    void steer_irq_to_caller(std::uint16_t v) noexcept override {
        std::lock_guard g(mu_);
        calls_.push_back({v, std::this_thread::get_id()});
    }
    std::string irq_affinity_note() const override {
        std::lock_guard g(mu_);
        return calls_.empty() ? "irq affinity=loop"
                              : "irq affinity: steered " + std::to_string(calls_.size());
    }
    void loop_attached(loop& l) override { in_->loop_attached(l); }
    void loop_detached(loop& l) noexcept override { in_->loop_detached(l); }
    void step() noexcept override { in_->step(); }
    const std::string& last_error() const noexcept override { return in_->last_error(); }

    std::vector<steer_call> calls() const {
        std::lock_guard g(mu_);
        return calls_;
    }

  private:
    std::unique_ptr<pci_device> in_;
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

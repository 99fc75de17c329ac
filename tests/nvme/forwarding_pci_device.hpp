// SPDX-License-Identifier: MIT
// A pci_device that forwards every call to another one (the simulator's, in these tests), so a
// test can override just the calls it records or takes away.
#pragma once

#include <memory>
#include <string>

#include "driver/nvme/pci_device.hpp"

namespace convme::driver::testing {

class forwarding_pci_device : public pci_device {
  public:
    explicit forwarding_pci_device(std::unique_ptr<pci_device> inner) : in_(std::move(inner)) {}
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
    void steer_irq_to_caller(std::uint16_t v) noexcept override { in_->steer_irq_to_caller(v); }
    std::string irq_affinity_note() const override { return in_->irq_affinity_note(); }
    std::string irq_mask_unavailable() const override { return in_->irq_mask_unavailable(); }
    void mask_irq(std::uint16_t v, bool masked) noexcept override { in_->mask_irq(v, masked); }
    void loop_attached(loop& l) override { in_->loop_attached(l); }
    void loop_detached(loop& l) noexcept override { in_->loop_detached(l); }
    void step() noexcept override { in_->step(); }
    const std::string& last_error() const noexcept override { return in_->last_error(); }

  private:
    std::unique_ptr<pci_device> in_;
};

}  // namespace convme::driver::testing

// SPDX-License-Identifier: MIT
// RAII owner of one alloc_dma region (queue rings, PRP list pools, identify buffers).
#pragma once

#include <utility>

#include "driver/nvme/pci_device.hpp"

namespace convme::driver {

class dma_block {
  public:
    dma_block() = default;
    dma_block(const dma_block&) = delete;
    dma_block& operator=(const dma_block&) = delete;
    dma_block(dma_block&& o) noexcept
        : dev_(std::exchange(o.dev_, nullptr)), r_(std::exchange(o.r_, {})) {}
    dma_block& operator=(dma_block&& o) noexcept {
        if (this != &o) {
            release();
            dev_ = std::exchange(o.dev_, nullptr);
            r_ = std::exchange(o.r_, {});
        }
        return *this;
    }
    ~dma_block() { release(); }

    // 0 or -errno (dev.last_error() explains).
    int allocate(pci_device& dev, std::size_t size, std::size_t align) noexcept {
        release();
        dma_region r;
        if (int rc = dev.alloc_dma(size, align, r); rc != 0) return rc;
        dev_ = &dev;
        r_ = r;
        return 0;
    }
    void release() noexcept {
        if (dev_) dev_->free_dma(r_);
        dev_ = nullptr;
        r_ = {};
    }

    bool valid() const noexcept { return dev_ != nullptr; }
    void* data() const noexcept { return r_.vaddr; }
    template <typename T>
    T* as() const noexcept {
        return static_cast<T*>(r_.vaddr);
    }
    std::uint64_t iova() const noexcept { return r_.iova; }
    std::size_t size() const noexcept { return r_.size; }

  private:
    pci_device* dev_ = nullptr;
    dma_region r_{};
};

}  // namespace convme::driver

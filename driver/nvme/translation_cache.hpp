// SPDX-License-Identifier: MIT
// Per-queue cache of host-page translations in front of pci_device::translate() (which takes a
// lock and searches a map in both the VFIO and the simulated implementation). Direct-mapped by
// virtual page number; valid because a mapping is linear within one host page. Every unmap the
// driver does bumps dma_mapper::epoch(), which empties the cache on its next use, so a freed and
// reused buffer address never sees a stale IOVA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "driver/nvme/dma_mapper.hpp"
#include "driver/nvme/pci_device.hpp"

namespace convme::driver {

class translation_cache {
  public:
    void init(pci_device& dev, const dma_mapper& mapper) noexcept {
        dev_ = &dev;
        mapper_ = &mapper;
        shift_ = 0;
        while ((std::size_t(1) << shift_) < dev.host_page_size()) ++shift_;
        offset_mask_ = (std::uintptr_t(1) << shift_) - 1;
        clear();
    }

    // The hit path alone: true with iova set if the page is cached and no unmap happened since it
    // was filled (the epoch is checked on every hit: an unmap empties the cache). False: ask
    // translate(). Small and call-free, so a caller that inlines it needs no saved registers.
    bool lookup(const void* p, std::uint64_t& iova) const noexcept {
        const auto va = reinterpret_cast<std::uintptr_t>(p);
        const std::uintptr_t page = va >> shift_;
        const entry& e = entries_[page % entries];
        if (e.page != page || mapper_->epoch() != epoch_) [[unlikely]]
            return false;
        iova = e.iova_page + (va & offset_mask_);
        return true;
    }

    // prp_translate_fn-compatible: ctx is the translation_cache. The hit inline, a miss or a stale
    // epoch out of line.
    static int translate(void* ctx, const void* p, std::uint64_t& iova) noexcept {
        auto* self = static_cast<translation_cache*>(ctx);
        if (self->lookup(p, iova)) [[likely]]
            return 0;
        return self->miss(p, iova);
    }

    // Out of line, so the hit path inlined into the driver's submit saves no registers for it.
    [[gnu::noinline]] int miss(const void* p, std::uint64_t& iova) noexcept {
        const std::uint64_t epoch = mapper_->epoch();
        if (epoch != epoch_) {
            clear();
            epoch_ = epoch;
        }
        const auto va = reinterpret_cast<std::uintptr_t>(p);
        const std::uintptr_t page = va >> shift_;
        if (int rc = dev_->translate(p, iova); rc != 0) return rc;
        entry& e = entries_[page % entries];
        e.page = page;
        e.iova_page = iova - (va & offset_mask_);
        return 0;
    }

    void clear() noexcept {
        for (entry& e : entries_) e.page = ~std::uintptr_t(0);
    }

  private:
    static constexpr std::size_t entries =
        256;  // 4 KiB per queue; 64 thrashed with 32 buffers in two mappings
    struct entry {
        std::uintptr_t page = ~std::uintptr_t(0);
        std::uint64_t iova_page = 0;
    };
    entry entries_[entries];
    pci_device* dev_ = nullptr;
    const dma_mapper* mapper_ = nullptr;
    std::uint64_t epoch_ = 0;
    std::uintptr_t offset_mask_ = 4095;
    unsigned shift_ = 12;
};

}  // namespace convme::driver

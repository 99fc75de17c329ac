// SPDX-License-Identifier: MIT
#include "driver/nvme/dma_mapper.hpp"

#include <cerrno>

namespace convme::driver {

dma_mapper::dma_mapper(pci_device& dev) : dev_(dev) {
    add_dma_buffer_observer(this);
}

dma_mapper::~dma_mapper() {
    remove_dma_buffer_observer(this);
    std::lock_guard lk(mu_);
    for (auto& [base, size] : mapped_) (void)dev_.unmap_dma(reinterpret_cast<void*>(base), size);
    mapped_.clear();
}

int dma_mapper::map_locked(std::uintptr_t base, std::size_t size) noexcept {
    if (int rc = dev_.map_dma(reinterpret_cast<void*>(base), size); rc != 0) return rc;
    try {
        mapped_.emplace(base, size);
    } catch (...) {
        (void)dev_.unmap_dma(reinterpret_cast<void*>(base), size);
        return -ENOMEM;
    }
    return 0;
}

int dma_mapper::ensure_mapped(const void* p, std::size_t len) noexcept {
    if (len == 0) len = 1;
    std::lock_guard lk(mu_);
    std::uint64_t iova = 0;
    dma_region_ref ref;
    if (find_dma_region(p, len, ref)) {
        if (dev_.translate(ref.base, iova) == 0) {
            // The buffer start is mapped; check the range really is (partial overlap with an
            // earlier plain-memory mapping is resolved page by page below).
        } else if (int rc = map_locked(reinterpret_cast<std::uintptr_t>(ref.base), ref.size);
                   rc == 0) {
            return 0;
        }
    }
    // Plain memory (or a leftover gap): map each run of unmapped host pages.
    const std::size_t page = dev_.host_page_size();
    const auto first = reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t(page) - 1);
    const auto end =
        (reinterpret_cast<std::uintptr_t>(p) + len + page - 1) & ~(std::uintptr_t(page) - 1);
    std::uintptr_t run = 0;
    for (std::uintptr_t a = first; a <= end; a += page) {
        const bool unmapped =
            a < end && dev_.translate(reinterpret_cast<const void*>(a), iova) != 0;
        if (unmapped) {
            if (!run) run = a;
            continue;
        }
        if (run) {
            if (int rc = map_locked(run, a - run); rc != 0) return rc;
            run = 0;
        }
    }
    return 0;
}

void dma_mapper::on_dma_buffer_free(const dma_region_ref& region) noexcept {
    const auto lo = reinterpret_cast<std::uintptr_t>(region.base);
    const auto hi = lo + region.size;
    std::lock_guard lk(mu_);
    for (auto it = mapped_.begin(); it != mapped_.end();) {
        if (it->first < hi && it->first + it->second > lo) {
            (void)dev_.unmap_dma(reinterpret_cast<void*>(it->first), it->second);
            epoch_.fetch_add(1, std::memory_order_acq_rel);
            it = mapped_.erase(it);
        } else {
            ++it;
        }
    }
}

std::size_t dma_mapper::mappings() const {
    std::lock_guard lk(mu_);
    return mapped_.size();
}

}  // namespace convme::driver

// SPDX-License-Identifier: MIT
#include "driver/sim/sim_iova.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "driver/nvme/hex_string.hpp"

namespace convme::sim {
namespace {
std::size_t round_up(std::size_t v, std::size_t a) {
    return (v + a - 1) / a * a;
}
bool is_pow2(std::size_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}
using driver::hex;
}  // namespace

iova_space::iova_space(std::size_t host_page) : page_(host_page) {}

iova_space::~iova_space() {
    for (auto& [iova, m] : by_iova_)
        if (m.owned) std::free(m.host);
}

std::uint64_t iova_space::reserve(std::size_t size, std::size_t align, std::size_t offset_in_page) {
    // One unmapped guard page after every mapping: an overrun faults instead of hitting a
    // neighbour.
    const std::uint64_t need = round_up(offset_in_page + size, page_) + page_;
    if (align == 0) align = page_;
    // First fit among freed ranges (lowest address first), as IOVA allocators reuse addresses.
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        const std::uint64_t start = it->first, end = it->second;
        const std::uint64_t base = round_up(start, align);
        if (base + need > end) continue;
        free_.erase(it);
        if (base > start) free_.emplace(start, base);
        if (base + need < end) free_.emplace(base + need, end);
        return base + offset_in_page;
    }
    std::uint64_t base = round_up(next_iova_, align);
    if (base > next_iova_) release(next_iova_, base - next_iova_);
    next_iova_ = base + need;
    return base + offset_in_page;
}

void iova_space::release(std::uint64_t base, std::size_t bytes) {
    std::uint64_t start = base, end = base + bytes;
    auto next = free_.lower_bound(start);
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->second == start) {
            start = prev->first;
            free_.erase(prev);
        }
    }
    if (next != free_.end() && next->first == end) {
        end = next->second;
        free_.erase(next);
    }
    free_.emplace(start, end);
}

int iova_space::alloc(std::size_t size, std::size_t align, driver::dma_region& out) noexcept {
    if (size == 0 || (align != 0 && !is_pow2(align))) return -EINVAL;
    std::size_t a = align > page_ ? align : page_;
    std::size_t bytes = round_up(size, page_);
    void* p = std::aligned_alloc(a, bytes);
    if (!p) return -ENOMEM;
    std::memset(p, 0, bytes);
    std::unique_lock lock(mu_);
    std::uint64_t iova = reserve(bytes, a, 0);
    auto* host = static_cast<std::byte*>(p);
    by_iova_[iova] = mapping{iova, host, bytes, true};
    by_host_[reinterpret_cast<std::uintptr_t>(host)] = iova;
    out.vaddr = p;
    out.iova = iova;
    out.size = bytes;
    out.cookie = iova;
    return 0;
}

void iova_space::free(driver::dma_region& region) noexcept {
    if (!region.vaddr) return;
    std::unique_lock lock(mu_);
    auto it = by_iova_.find(region.iova);
    if (it == by_iova_.end() || !it->second.owned || it->second.host != region.vaddr) return;
    by_host_.erase(reinterpret_cast<std::uintptr_t>(it->second.host));
    std::free(it->second.host);
    release(it->second.iova, it->second.size + page_);  // the range and its guard page
    by_iova_.erase(it);
    ++generation_;
    region = driver::dma_region{};
}

int iova_space::map(void* vaddr, std::size_t size) noexcept {
    if (!vaddr || size == 0) return -EINVAL;
    const auto start = reinterpret_cast<std::uintptr_t>(vaddr);
    const std::uintptr_t end = start + size;
    const std::uintptr_t first_page = start / page_ * page_;
    std::unique_lock lock(mu_);
    // Overlapping an earlier range or alloc_dma memory is refused, as VFIO does (-EEXIST).
    auto next = ranges_.lower_bound(start);
    if (next != ranges_.end() && next->first < end) return -EEXIST;
    if (next != ranges_.begin() && std::prev(next)->first + std::prev(next)->second > start)
        return -EEXIST;
    for (std::uintptr_t pg = first_page; pg < end; pg += page_) {
        const mapping* m = find_host(reinterpret_cast<const void*>(pg));
        if (m && m->owned) return -EEXIST;
    }
    // Host pages seen for the first time get consecutive IOVA pages (one reservation).
    std::size_t fresh = 0;
    for (std::uintptr_t pg = first_page; pg < end; pg += page_) fresh += page_iova_.count(pg) == 0;
    if (fresh) {
        std::uint64_t iova = reserve(fresh * page_, page_, 0);
        for (std::uintptr_t pg = first_page; pg < end; pg += page_)
            if (page_iova_.emplace(pg, iova).second) iova += page_;
    }
    for (std::uintptr_t pg = first_page; pg < end; pg += page_) {
        auto [it, added] = pages_.try_emplace(pg, page_ref{page_iova_.at(pg), 0});
        ++it->second.refs;
        if (!added) continue;
        by_iova_[it->second.iova] =
            mapping{it->second.iova, reinterpret_cast<std::byte*>(pg), page_, false};
        by_host_[pg] = it->second.iova;
    }
    ranges_[start] = size;
    return 0;
}

int iova_space::unmap(void* vaddr, std::size_t size) noexcept {
    const auto start = reinterpret_cast<std::uintptr_t>(vaddr);
    std::unique_lock lock(mu_);
    auto r = ranges_.find(start);
    if (r == ranges_.end()) return -ENOENT;
    if (r->second != size) return -EINVAL;
    for (std::uintptr_t pg = start / page_ * page_; pg < start + size; pg += page_) {
        auto it = pages_.find(pg);
        if (it == pages_.end() || --it->second.refs > 0) continue;
        by_iova_.erase(it->second.iova);
        by_host_.erase(pg);
        pages_.erase(it);
    }
    ranges_.erase(r);
    ++generation_;
    return 0;
}

const iova_space::mapping* iova_space::find_host(const void* p) const {
    auto addr = reinterpret_cast<std::uintptr_t>(p);
    auto it = by_host_.upper_bound(addr);
    if (it == by_host_.begin()) return nullptr;
    --it;
    const mapping& m = by_iova_.at(it->second);
    return addr < it->first + m.size ? &m : nullptr;
}

const iova_space::mapping* iova_space::find_iova(std::uint64_t iova) const {
    auto it = by_iova_.upper_bound(iova);
    if (it == by_iova_.begin()) return nullptr;
    --it;
    return iova < it->first + it->second.size ? &it->second : nullptr;
}

int iova_space::translate(const void* vaddr, std::uint64_t& iova) const noexcept {
    std::shared_lock lock(mu_);
    const mapping* m = find_host(vaddr);
    if (!m) return -EFAULT;
    iova = m->iova + static_cast<std::uint64_t>(static_cast<const std::byte*>(vaddr) - m->host);
    return 0;
}

void iova_space::set_bus_master(bool on) noexcept {
    std::unique_lock lock(mu_);
    bus_master_ = on;
}

std::uint64_t iova_space::generation() const noexcept {
    std::shared_lock lock(mu_);
    return generation_;
}

std::byte* iova_space::resolve(std::uint64_t iova, std::size_t len, std::string* why) const {
    std::shared_lock lock(mu_);
    if (!bus_master_) {
        if (why)
            *why = "DMA to " + hex(iova) +
                   " while PCI bus mastering is disabled: call "
                   "pci_device::enable_bus_master() before enabling the controller";
        return nullptr;
    }
    const mapping* m = find_iova(iova);
    if (m && iova + len <= m->iova + m->size) return m->host + (iova - m->iova);
    if (why) {
        if (m) {
            *why = "DMA range " + hex(iova) + "+" + std::to_string(len) +
                   " runs past the end of its mapping (" + hex(m->iova) + "+" +
                   std::to_string(m->size) + ")";
        } else if (find_host(reinterpret_cast<const void*>(static_cast<std::uintptr_t>(iova)))) {
            *why = "DMA to " + hex(iova) +
                   ", which is the VIRTUAL address of mapped memory, not "
                   "an IOVA: the driver must pass pci_device::translate() / dma_region::iova "
                   "addresses to the device";
        } else {
            *why = "DMA to unmapped IOVA " + hex(iova) +
                   " (not from alloc_dma/map_dma+translate, or already freed)";
        }
    }
    return nullptr;
}

}  // namespace convme::sim

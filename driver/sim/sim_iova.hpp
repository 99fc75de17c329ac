// SPDX-License-Identifier: MIT
// The simulated IOMMU: device addresses (IOVAs) live in their own space, starting at 0x1000_0000,
// and a table maps them to host memory. Because an IOVA is never equal to the virtual address of
// the same byte, a driver that hands the device virtual addresses is caught (the device sees an
// unmapped address and reports a Data Transfer Error) instead of silently working.
//
// Like a real IOVA allocator (VFIO users, the kernel's iova rcache), DMA memory released with
// free() returns its IOVA range to a first-fit free list, so the next allocation usually gets the
// same device address: a device that still writes to a freed buffer corrupts whatever took its
// place, silently, as hardware would.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>

#include "driver/nvme/pci_device.hpp"

namespace convme::sim {

class iova_space {
  public:
    static constexpr std::uint64_t first_iova = 0x1000'0000;

    explicit iova_space(std::size_t host_page);
    ~iova_space();
    iova_space(const iova_space&) = delete;
    iova_space& operator=(const iova_space&) = delete;

    std::size_t host_page() const noexcept { return page_; }

    // ---- Host side (the pci_device face).
    int alloc(std::size_t size, std::size_t align, driver::dma_region& out) noexcept;
    void free(driver::dma_region& region) noexcept;
    int map(void* vaddr, std::size_t size) noexcept;
    int unmap(void* vaddr, std::size_t size) noexcept;
    int translate(const void* vaddr, std::uint64_t& iova) const noexcept;
    void set_bus_master(bool on) noexcept;

    // ---- Device side. Host pointer for [iova, iova + len) if the whole range lies inside one
    // mapping and bus mastering is on; nullptr otherwise (then `why` says which check failed).
    std::byte* resolve(std::uint64_t iova, std::size_t len, std::string* why = nullptr) const;
    // Bumped whenever a mapping disappears, so cached queue pointers can be re-validated.
    std::uint64_t generation() const noexcept;

  private:
    struct mapping {
        std::uint64_t iova;
        std::byte* host;
        std::size_t size;
        bool owned;  // allocated by alloc() (freed by free()), else a piece of a map() range
    };
    const mapping* find_iova(std::uint64_t iova) const;
    const mapping* find_host(const void* p) const;
    std::uint64_t reserve(std::size_t size, std::size_t align, std::size_t offset_in_page);
    void release(std::uint64_t base, std::size_t bytes);  // back to the free list (merged)
    std::map<std::uint64_t, std::uint64_t> free_;         // freed IOVA ranges: start -> end

    std::size_t page_;
    mutable std::shared_mutex mu_;
    std::map<std::uint64_t, mapping> by_iova_;         // key: first IOVA
    std::map<std::uintptr_t, std::uint64_t> by_host_;  // key: first host byte -> first IOVA
    // Like an IOMMU, map() works in whole host pages: the range is rounded out, each page is
    // mapped once (reference counted when ranges share a page, which happens when the sim
    // reports 64 KiB host pages on a 4 KiB machine) and always at the same IOVA page. Drivers
    // may rely on translation being linear within a host page, as it is on hardware.
    struct page_ref {
        std::uint64_t iova;
        unsigned refs;
    };
    std::map<std::uintptr_t, page_ref> pages_;           // mapped host page -> IOVA page, refs
    std::map<std::uintptr_t, std::uint64_t> page_iova_;  // host page -> IOVA page (kept forever)
    std::map<std::uintptr_t, std::size_t> ranges_;       // map() ranges: start -> size
    std::uint64_t next_iova_ = first_iova;
    std::uint64_t generation_ = 0;
    bool bus_master_ = false;
};

}  // namespace convme::sim

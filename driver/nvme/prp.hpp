// SPDX-License-Identifier: MIT
// PRP (Physical Region Page) description of a data buffer for one NVMe command.
//
// PRP1 points at the first byte (any dword-aligned offset inside its memory page); the following
// memory pages must each start at offset 0. Up to two pages: PRP2 is the second page. More: PRP2
// points at a PRP list (array of 8-byte page addresses); when a list does not fit in what is left
// of its memory page, the page's last entry points at the next list segment ("chaining").
// The buffer is translated per memory page (MPS), because its pages need not be contiguous in IOVA
// space (VFIO no-IOMMU: physical addresses).
#pragma once

#include <cstddef>
#include <cstdint>

namespace convme::driver {

// Device address of a CPU address, 0 or -errno (-EFAULT: not mapped).
using prp_translate_fn = int (*)(void* ctx, const void* p, std::uint64_t& iova) noexcept;

// Preallocated memory for PRP list entries. `entries` is the capacity; if another segment follows
// and is needed, the last entry becomes the link, so the segment must end exactly at a memory page
// boundary (checked).
struct prp_list_segment {
    std::uint64_t* vaddr = nullptr;
    std::uint64_t iova = 0;
    std::uint32_t entries = 0;
};

struct prp_pair {
    std::uint64_t prp1 = 0;
    std::uint64_t prp2 = 0;
};

// Number of memory pages [buf, buf+len) touches given its offset in the first page.
constexpr std::size_t prp_pages_spanned(std::uintptr_t addr, std::size_t len,
                                        std::size_t page_size) noexcept {
    if (len == 0) return 0;
    const std::uintptr_t first = addr & ~(std::uintptr_t(page_size) - 1);
    const std::uintptr_t last = (addr + len - 1) & ~(std::uintptr_t(page_size) - 1);
    return static_cast<std::size_t>((last - first) / page_size) + 1;
}

// List entries needed for a transfer touching `pages` memory pages (0 when PRP1/PRP2 suffice);
// links between segments are not counted.
constexpr std::size_t prp_list_entries(std::size_t pages) noexcept {
    return pages > 2 ? pages - 1 : 0;
}

// Fill `out` for [buf, buf+len). page_size is the controller memory page size (power of two,
// >= 4096). Returns 0, -EINVAL (zero length, first address not dword aligned, a page not page
// aligned in IOVA space, a chained segment not ending at a page boundary), -E2BIG (the segments
// cannot hold the list) or the translate error.
int build_prps(const void* buf, std::size_t len, std::size_t page_size, prp_translate_fn translate,
               void* ctx, const prp_list_segment* segments, unsigned nsegments,
               prp_pair& out) noexcept;

}  // namespace convme::driver

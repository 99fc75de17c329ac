// SPDX-License-Identifier: MIT
// Hands out IO virtual address ranges for VFIO DMA mappings, only inside the ranges the IOMMU
// reports as usable (VFIO_IOMMU_GET_INFO IOVA-range capability), so reserved windows such as the
// x86 MSI range 0xfee00000-0xfeefffff or the SMMU MSI window are never used. First fit over a
// free list; freed ranges are coalesced and reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace convme::driver::vfio {

struct iova_range {
    std::uint64_t first = 0;  // inclusive
    std::uint64_t last = 0;   // inclusive (the UAPI's `end`)
};

class iova_allocator {
  public:
    iova_allocator() = default;
    // `ranges`: usable IOVA windows (inclusive bounds, any order, may overlap). `granule`: the
    // IOMMU page size (power of two); every range handed out starts and ends on it. Addresses
    // below `floor` are not used unless nothing usable lies above it.
    iova_allocator(const std::vector<iova_range>& ranges, std::uint64_t granule,
                   std::uint64_t floor = 0x10000000);

    // 0 and iova set, -EINVAL for a zero size / bad alignment, -ENOSPC when nothing fits.
    // size is rounded up to the granule; align (power of two, 0 = granule) at least the granule.
    int allocate(std::uint64_t size, std::uint64_t align, std::uint64_t& iova);
    // Return a range obtained from allocate() (same size as requested). -EINVAL if it overlaps
    // free space (double free) or lies outside the managed ranges.
    int release(std::uint64_t iova, std::uint64_t size);

    std::uint64_t granule() const noexcept { return granule_; }
    std::uint64_t free_bytes() const noexcept;
    // The free list, for tests and diagnostics.
    std::vector<iova_range> free_ranges() const;

  private:
    std::uint64_t round_up(std::uint64_t v) const noexcept {
        return (v + granule_ - 1) & ~(granule_ - 1);
    }
    std::map<std::uint64_t, std::uint64_t> free_;  // first -> last (inclusive), disjoint, coalesced
    std::vector<iova_range> managed_;
    std::uint64_t granule_ = 4096;
};

// Ranges to assume when the kernel does not report any (pre-5.4 kernels): everything below 2^39
// except the x86 MSI window.
std::vector<iova_range> default_iova_ranges();

}  // namespace convme::driver::vfio

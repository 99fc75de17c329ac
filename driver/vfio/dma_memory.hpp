// Locked host memory for device DMA: anonymous pages (hugepages when the system has them and the
// request is big enough), mlock'ed so the kernel never moves them while a device may write. Plus
// the physical-address lookup (/proc/self/pagemap) that no-IOMMU mode needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace convme::driver::vfio {

struct page_block {
    void* addr = nullptr;
    std::size_t length = 0;   // bytes mapped (multiple of the page size used)
    std::size_t page = 0;     // page size backing it (4096, 2 MiB...)
    bool huge = false;
};

std::size_t base_page_size() noexcept;
// Default hugepage size from /proc/meminfo (0 if unknown) and how many are free right now.
std::size_t default_hugepage_size() noexcept;
std::uint64_t free_hugepages(std::size_t hugepage_size) noexcept;

// Map, zero and lock `size` bytes. prefer_huge: try MAP_HUGETLB first (falls back silently to
// ordinary pages unless require_huge). Returns 0 or -errno with `why` naming the cause and the
// fix (RLIMIT_MEMLOCK: current value and how to raise it).
int allocate_locked(std::size_t size, bool prefer_huge, bool require_huge, page_block& out,
                    std::string& why) noexcept;
void release_locked(page_block& block) noexcept;

// Lock caller memory (page-rounded) for DMA, with the same RLIMIT_MEMLOCK explanation on failure.
int lock_range(void* addr, std::size_t size, std::string& why) noexcept;
void unlock_range(void* addr, std::size_t size) noexcept;

// RLIMIT_MEMLOCK soft limit in bytes (UINT64_MAX = unlimited) and the explanation text used when
// locking fails.
std::uint64_t memlock_limit() noexcept;
std::string memlock_advice(std::uint64_t limit_bytes, std::size_t wanted);

// Physical address of a (locked, touched) virtual address via /proc/self/pagemap. -EPERM with an
// explanation when the kernel hides PFNs (reading PFNs needs CAP_SYS_ADMIN), -EFAULT when the page
// is not present.
int virt_to_phys(const void* addr, std::uint64_t& phys, std::string& why) noexcept;

}  // namespace convme::driver::vfio

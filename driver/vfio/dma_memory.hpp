// SPDX-License-Identifier: MIT
// Locked host memory for device DMA: anonymous pages (hugepages when the system has them and the
// request is big enough), mlock'ed and MADV_DONTFORK'ed, plus the physical-address lookup
// (/proc/self/pagemap) that no-IOMMU mode needs.
//
// Why both: mlock keeps pages resident but does not stop migration (compaction moves mlocked
// pages while vm.compact_unevictable_allowed=1, the default), and after a fork() the parent's next
// store into a copy-on-write page moves it to a new physical page while the device keeps writing
// the old one. With an IOMMU, VFIO's long-term pin protects mapped pages; without one nothing
// does, so no-IOMMU DMA memory comes from hugetlbfs pages (never migrated by compaction, never
// swapped) carved up by hugepage_pool, and every DMA mapping is MADV_DONTFORK in every mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace convme::driver::vfio {

struct page_block {
    void* addr = nullptr;
    std::size_t length = 0;  // bytes mapped (multiple of the page size used)
    std::size_t page = 0;    // page size backing it (4096, 2 MiB...)
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

// Exclude [addr, addr+size) (page-rounded) from fork(): the child gets no copy, so the parent's
// pages are never turned copy-on-write under a device. 0 or -errno with why.
int dontfork_range(void* addr, std::size_t size, std::string& why) noexcept;

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

// Physically contiguous DMA memory for no-IOMMU mode, carved out of hugetlbfs pages (each
// hugepage is one physically contiguous, unmovable chunk) in base-page units, first fit, so a
// 4 KiB identify buffer does not take a whole 2 MiB page. Not thread-safe (the caller locks).
struct hugepage_piece {
    void* addr = nullptr;
    std::uint64_t phys = 0;
    std::size_t size = 0;   // rounded to the base page
    std::size_t chunk = 0;  // index of the hugepage it came from
};

class hugepage_pool {
  public:
    // Provides one chunk of `size` bytes (a hugepage) and its physical address. The default maps
    // a locked, MADV_DONTFORK MAP_HUGETLB page; tests substitute ordinary memory.
    using chunk_fn = int (*)(std::size_t size, page_block& out, std::uint64_t& phys,
                             std::string& why);
    explicit hugepage_pool(std::size_t hugepage, chunk_fn get = nullptr,
                           void (*put)(page_block&) = nullptr);
    ~hugepage_pool();
    hugepage_pool(const hugepage_pool&) = delete;
    hugepage_pool& operator=(const hugepage_pool&) = delete;

    // size <= hugepage, align a power of two <= hugepage. 0 or -errno with why.
    int allocate(std::size_t size, std::size_t align, hugepage_piece& out, std::string& why);
    void release(const hugepage_piece& piece) noexcept;
    std::size_t chunks() const noexcept;  // hugepages held now

  private:
    struct chunk {
        page_block block;
        std::uint64_t phys = 0;
        std::map<std::size_t, std::size_t> free;  // offset -> length
        std::size_t used = 0;
    };
    std::size_t huge_, unit_;
    chunk_fn get_;
    void (*put_)(page_block&);
    std::vector<chunk> chunks_;
};

}  // namespace convme::driver::vfio

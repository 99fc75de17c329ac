// SPDX-License-Identifier: MIT
// IOVA allocation inside the IOMMU's usable ranges.
#include "driver/vfio/iova_allocator.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

namespace convme::driver::vfio {
namespace {

bool inside_any(const std::vector<iova_range>& ranges, std::uint64_t first, std::uint64_t last) {
    for (const auto& r : ranges)
        if (first >= r.first && last <= r.last) return true;
    return false;
}

// The x86 layout VFIO reports behind intel-iommu: everything but the MSI window, 39-bit space.
const std::vector<iova_range> x86_ranges = {{0, 0xfedfffff}, {0xfef00000, 0x7fffffffff}};

TEST(IovaAllocator, StartsAtTheFloorInsideRanges) {
    iova_allocator a(x86_ranges, 4096);
    std::uint64_t iova = 0;
    ASSERT_EQ(a.allocate(4096, 0, iova), 0);
    EXPECT_EQ(iova, 0x10000000u);
}

TEST(IovaAllocator, SkipsTheMsiHole) {
    // Only 1 MiB below the hole above the floor, then the window 0xfee00000-0xfeefffff.
    std::vector<iova_range> ranges = {{0x10000000, 0x100fffff}, {0x10200000, 0x1fffffff}};
    iova_allocator a(ranges, 4096);
    std::uint64_t first = 0, second = 0;
    ASSERT_EQ(a.allocate(0x80000, 0, first), 0);    // 512 KiB fits in the first range
    ASSERT_EQ(a.allocate(0x100000, 0, second), 0);  // 1 MiB does not fit in the rest
    EXPECT_EQ(first, 0x10000000u);
    EXPECT_EQ(second, 0x10200000u);
    EXPECT_TRUE(inside_any(ranges, second, second + 0x100000 - 1));
}

TEST(IovaAllocator, NeverHandsOutAnythingOutsideTheRanges) {
    std::vector<iova_range> ranges = {
        {0x10000000, 0x10003fff}, {0x20000000, 0x20007fff}, {0x30001000, 0x30001fff}};
    iova_allocator a(ranges, 4096);
    std::uint64_t iova = 0;
    int count = 0;
    while (a.allocate(4096, 0, iova) == 0) {
        EXPECT_TRUE(inside_any(ranges, iova, iova + 4095)) << std::hex << iova;
        ++count;
    }
    EXPECT_EQ(count, 4 + 8 + 1);
    EXPECT_EQ(a.free_bytes(), 0u);
}

TEST(IovaAllocator, SmmuLayoutBelowFloorStillWorks) {
    // arm64 SMMUv3: the MSI window 0x8000000-0x80fffff is reserved.
    std::vector<iova_range> ranges = {{0, 0x7ffffff}, {0x8100000, 0xffffffffffff}};
    iova_allocator a(ranges, 4096);
    std::uint64_t iova = 0;
    ASSERT_EQ(a.allocate(1 << 20, 0, iova), 0);
    EXPECT_EQ(iova, 0x10000000u);
    EXPECT_FALSE(iova <= 0x80fffff && iova + (1 << 20) > 0x8000000);
}

TEST(IovaAllocator, UsesLowRangesWhenNothingLiesAboveTheFloor) {
    std::vector<iova_range> ranges = {{0, 0xfffff}};
    iova_allocator a(ranges, 4096);
    std::uint64_t iova = 0;
    ASSERT_EQ(a.allocate(4096, 0, iova), 0);
    EXPECT_EQ(iova, 4096u);  // never IOVA 0
}

TEST(IovaAllocator, AlignsToGranuleAndRequestedAlignment) {
    std::vector<iova_range> ranges = {{0x10001000, 0x1fffffff}};
    iova_allocator a(ranges, 0x10000);  // 64 KiB IOMMU pages
    std::uint64_t iova = 0;
    ASSERT_EQ(a.allocate(100, 0, iova), 0);
    EXPECT_EQ(iova % 0x10000, 0u);
    EXPECT_GE(iova, 0x10001000u);
    std::uint64_t big = 0;
    ASSERT_EQ(a.allocate(0x10000, 0x200000, big), 0);
    EXPECT_EQ(big % 0x200000, 0u);
    EXPECT_GE(big, iova + 0x10000);
    EXPECT_EQ(a.allocate(4096, 3, iova), -EINVAL);  // not a power of two
    EXPECT_EQ(a.allocate(0, 0, iova), -EINVAL);
}

TEST(IovaAllocator, RangesAreTrimmedToTheGranule) {
    std::vector<iova_range> ranges = {{0x10000800, 0x10002fff}};  // unaligned start
    iova_allocator a(ranges, 4096);
    auto free = a.free_ranges();
    ASSERT_EQ(free.size(), 1u);
    EXPECT_EQ(free[0].first, 0x10001000u);
    EXPECT_EQ(free[0].last, 0x10002fffu);
}

TEST(IovaAllocator, FreedRangesAreReusedAndCoalesced) {
    iova_allocator a({{0x10000000, 0x1000ffff}}, 4096);  // 16 pages
    std::uint64_t p[4];
    for (auto& x : p) ASSERT_EQ(a.allocate(4096, 0, x), 0);
    ASSERT_EQ(a.release(p[1], 4096), 0);
    std::uint64_t again = 0;
    ASSERT_EQ(a.allocate(4096, 0, again), 0);
    EXPECT_EQ(again, p[1]);  // first fit reuses the hole

    // Free everything: the free list collapses back into one range.
    ASSERT_EQ(a.release(p[0], 4096), 0);
    ASSERT_EQ(a.release(again, 4096), 0);
    ASSERT_EQ(a.release(p[3], 4096), 0);
    ASSERT_EQ(a.release(p[2], 4096), 0);
    auto free = a.free_ranges();
    ASSERT_EQ(free.size(), 1u);
    EXPECT_EQ(free[0].first, 0x10000000u);
    EXPECT_EQ(free[0].last, 0x1000ffffu);
}

TEST(IovaAllocator, ExhaustionIsEnospcAndDoubleFreeIsRejected) {
    iova_allocator a({{0x10000000, 0x10001fff}}, 4096);
    std::uint64_t x = 0, y = 0, z = 0;
    ASSERT_EQ(a.allocate(4096, 0, x), 0);
    ASSERT_EQ(a.allocate(4096, 0, y), 0);
    EXPECT_EQ(a.allocate(4096, 0, z), -ENOSPC);
    EXPECT_EQ(a.allocate(8192, 0, z), -ENOSPC);
    ASSERT_EQ(a.release(x, 4096), 0);
    EXPECT_EQ(a.release(x, 4096), -EINVAL);           // double free
    EXPECT_EQ(a.release(0x20000000, 4096), -EINVAL);  // never managed
    EXPECT_EQ(a.release(0x10000800, 4096), -EINVAL);  // not granule aligned
    EXPECT_EQ(a.allocate(8192, 0, z), -ENOSPC);       // only one page free, fragmented
    ASSERT_EQ(a.release(y, 4096), 0);
    EXPECT_EQ(a.allocate(8192, 0, z), 0);
    EXPECT_EQ(z, 0x10000000u);
}

TEST(IovaAllocator, OverlappingAndUnsortedRangesMerge) {
    iova_allocator a({{0x30000000, 0x3fffffff}, {0x10000000, 0x2fffffff}, {0x20000000, 0x30000fff}},
                     4096);
    auto free = a.free_ranges();
    ASSERT_EQ(free.size(), 1u);
    EXPECT_EQ(free[0].first, 0x10000000u);
    EXPECT_EQ(free[0].last, 0x3fffffffu);
}

TEST(IovaAllocator, DefaultRangesAvoidTheX86MsiWindow) {
    iova_allocator a(default_iova_ranges(), 4096);
    for (const auto& r : a.free_ranges())
        EXPECT_FALSE(r.first <= 0xfeefffff && r.last >= 0xfee00000);
}

}  // namespace
}  // namespace convme::driver::vfio

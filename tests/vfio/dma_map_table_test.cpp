// SPDX-License-Identifier: MIT
// Address translation bookkeeping (IOMMU: linear; no-IOMMU: per physical page).
#include "driver/vfio/dma_map_table.hpp"

#include <gtest/gtest.h>

namespace convme::driver::vfio {
namespace {

const void* at(std::uintptr_t a) {
    return reinterpret_cast<const void*>(a);
}

TEST(DmaMapTable, LinearMappingTranslatesWithOffset) {
    dma_map_table t;
    dma_mapping m;
    m.user = 0x7f0000001100;
    m.user_size = 0x3000;
    m.start = 0x7f0000001000;
    m.length = 0x4000;
    m.iova = 0x10000000;
    t.insert(m);
    EXPECT_EQ(t.translate(at(0x7f0000001100)), 0x10000100u);
    EXPECT_EQ(t.translate(at(0x7f0000004fff)), 0x10003fffu);
    EXPECT_FALSE(t.translate(at(0x7f0000005000)).has_value());
    EXPECT_FALSE(t.translate(at(0x7f0000000fff)).has_value());
}

TEST(DmaMapTable, PerPageMappingUsesEachPagesAddress) {
    dma_map_table t;
    dma_mapping m;
    m.user = m.start = 0x1000000;
    m.user_size = m.length = 3 * 4096;
    m.page = 4096;
    m.pages = {0xabc000, 0x123000, 0x777000};  // not contiguous
    t.insert(m);
    EXPECT_EQ(t.translate(at(0x1000010)), 0xabc010u);
    EXPECT_EQ(t.translate(at(0x1001000)), 0x123000u);
    EXPECT_EQ(t.translate(at(0x1002ffe)), 0x777ffeu);
}

TEST(DmaMapTable, FindsAShortMappingBehindALongOne) {
    dma_map_table t;
    dma_mapping big;
    big.user = big.start = 0x100000;
    big.user_size = big.length = 0x100000;
    big.iova = 0x40000000;
    t.insert(big);
    dma_mapping small;
    small.user = small.start = 0x300000;
    small.user_size = small.length = 0x1000;
    small.iova = 0x50000000;
    t.insert(small);
    EXPECT_EQ(t.translate(at(0x1fffff)), 0x400fffffu);
    EXPECT_EQ(t.translate(at(0x300800)), 0x50000800u);
    EXPECT_FALSE(t.translate(at(0x250000)).has_value());
}

TEST(DmaMapTable, RemoveByRangeAndByHandle) {
    dma_map_table t;
    dma_mapping a;
    a.user = a.start = 0x10000;
    a.user_size = a.length = 0x1000;
    a.iova = 0x1000;
    t.insert(a);
    dma_mapping b = a;
    b.user = b.start = 0x20000;
    b.iova = 0x2000;
    b.handle = 7;
    t.insert(b);
    EXPECT_FALSE(t.remove(0x10000, 0x2000).has_value());  // wrong size
    EXPECT_FALSE(t.remove(0x20000, 0x1000).has_value());  // alloc_dma regions are not user mappings
    auto r = t.remove(0x10000, 0x1000);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->iova, 0x1000u);
    EXPECT_FALSE(t.translate(at(0x10000)).has_value());
    auto h = t.remove_handle(7);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace convme::driver::vfio

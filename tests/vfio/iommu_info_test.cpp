// SPDX-License-Identifier: MIT
// Parsing of the VFIO_IOMMU_GET_INFO capability chain from synthetic replies.
#include "driver/vfio/iommu_info.hpp"

#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <cstring>
#include <vector>

namespace convme::driver::vfio {
namespace {

// Builds a reply: header, then an IOVA range cap and optionally a DMA_AVAIL cap.
std::vector<std::byte> make_reply(const std::vector<vfio_iova_range>& ranges, int dma_avail = -1,
                                  bool loop = false) {
    std::vector<std::byte> buf(sizeof(vfio_iommu_type1_info));
    vfio_iommu_type1_info info{};
    info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
    info.iova_pgsizes = 0x40201000;  // 4K | 2M | 1G
    info.cap_offset = sizeof info;

    const std::size_t range_off = buf.size();
    vfio_iommu_type1_info_cap_iova_range cap{};
    cap.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
    cap.header.version = 1;
    cap.nr_iovas = static_cast<__u32>(ranges.size());
    const std::size_t range_len = sizeof cap + ranges.size() * sizeof(vfio_iova_range);
    const std::size_t avail_off = range_off + ((range_len + 7) & ~std::size_t{7});
    cap.header.next =
        dma_avail >= 0 ? static_cast<__u32>(avail_off) : (loop ? static_cast<__u32>(range_off) : 0);
    buf.resize(avail_off);
    std::memcpy(buf.data() + range_off, &cap, sizeof cap);
    std::memcpy(buf.data() + range_off + sizeof cap, ranges.data(),
                ranges.size() * sizeof(vfio_iova_range));
    if (dma_avail >= 0) {
        vfio_iommu_type1_info_dma_avail a{};
        a.header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
        a.header.version = 1;
        a.avail = static_cast<__u32>(dma_avail);
        buf.resize(avail_off + sizeof a);
        std::memcpy(buf.data() + avail_off, &a, sizeof a);
    }
    info.argsz = static_cast<__u32>(buf.size());
    std::memcpy(buf.data(), &info, sizeof info);
    return buf;
}

TEST(IommuInfo, ParsesRangesPageSizesAndDmaAvail) {
    auto buf = make_reply({{0, 0xfedfffff}, {0xfef00000, 0x7fffffffff}}, 65535);
    iommu_info info;
    std::string why;
    ASSERT_TRUE(parse_iommu_info(buf.data(), buf.size(), info, why)) << why;
    EXPECT_EQ(info.page_sizes, 0x40201000u);
    ASSERT_EQ(info.ranges.size(), 2u);
    EXPECT_EQ(info.ranges[0].last, 0xfedfffffu);
    EXPECT_EQ(info.ranges[1].first, 0xfef00000u);
    ASSERT_TRUE(info.dma_avail.has_value());
    EXPECT_EQ(*info.dma_avail, 65535u);
    EXPECT_EQ(info.granule(4096), 4096u);
    EXPECT_EQ(info.granule(65536), 65536u);  // never below the host page
}

TEST(IommuInfo, NoCapabilitiesMeansNoRanges) {
    std::vector<std::byte> buf(sizeof(vfio_iommu_type1_info));
    vfio_iommu_type1_info info{};
    info.argsz = sizeof info;
    info.flags = VFIO_IOMMU_INFO_PGSIZES;
    info.iova_pgsizes = 0x10000;
    std::memcpy(buf.data(), &info, sizeof info);
    iommu_info out;
    std::string why;
    ASSERT_TRUE(parse_iommu_info(buf.data(), buf.size(), out, why));
    EXPECT_TRUE(out.ranges.empty());
    EXPECT_FALSE(out.dma_avail.has_value());
    EXPECT_EQ(out.granule(4096), 0x10000u);
}

TEST(IommuInfo, RejectsLoopsAndTruncation) {
    iommu_info out;
    std::string why;
    auto looping = make_reply({{0x1000, 0xffff}}, -1, /*loop=*/true);
    EXPECT_FALSE(parse_iommu_info(looping.data(), looping.size(), out, why));
    EXPECT_NE(why.find("malformed"), std::string::npos) << why;

    auto ok = make_reply({{0x1000, 0xffff}, {0x20000, 0x2ffff}});
    auto cut = ok;
    cut.resize(cut.size() - 8);  // second range truncated
    EXPECT_FALSE(parse_iommu_info(cut.data(), cut.size(), out, why));

    auto bad_off = ok;
    vfio_iommu_type1_info info;
    std::memcpy(&info, bad_off.data(), sizeof info);
    info.cap_offset = 100000;
    std::memcpy(bad_off.data(), &info, sizeof info);
    EXPECT_FALSE(parse_iommu_info(bad_off.data(), bad_off.size(), out, why));

    EXPECT_FALSE(parse_iommu_info(ok.data(), 4, out, why));
}

}  // namespace
}  // namespace convme::driver::vfio

// SPDX-License-Identifier: MIT
// PRP builder against a fake translation table (no device needed).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <vector>

#include "driver/nvme/prp.hpp"

namespace convme::driver {
namespace {

// Maps each `page`-sized virtual page to an arbitrary, non-contiguous IOVA page (as in VFIO
// no-IOMMU mode), or leaves it unmapped.
struct fake_iommu {
    std::size_t page;
    std::map<std::uintptr_t, std::uint64_t> pages;  // va page -> iova page
    std::uint64_t misalign = 0;                     // add to every translation (to test checks)

    static int translate(void* ctx, const void* p, std::uint64_t& iova) noexcept {
        auto* self = static_cast<fake_iommu*>(ctx);
        const auto va = reinterpret_cast<std::uintptr_t>(p);
        auto it = self->pages.find(va & ~(std::uintptr_t(self->page) - 1));
        if (it == self->pages.end()) return -EFAULT;
        iova = it->second + (va & (self->page - 1)) + self->misalign;
        return 0;
    }
    // Map n pages starting at va; IOVAs descend from a high address so they are not contiguous.
    void map(std::uintptr_t va, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i)
            pages[va + i * page] = 0x100000000ull - (i + 1) * 2 * page;
    }
};

struct list_pages {
    std::vector<std::uint64_t> mem;
    std::vector<prp_list_segment> segs;
    list_pages(std::size_t page, unsigned count) : mem(page / 8 * count) {
        for (unsigned i = 0; i < count; ++i)
            segs.push_back({mem.data() + i * (page / 8), 0x7000'0000ull + i * 4 * page,
                            static_cast<std::uint32_t>(page / 8)});
    }
};

const void* at(std::uintptr_t va) {
    return reinterpret_cast<const void*>(va);
}

TEST(Prp, SinglePageUsesOnlyPrp1) {
    fake_iommu m{4096, {}};
    m.map(0x10000, 1);
    prp_pair out;
    ASSERT_EQ(build_prps(at(0x10000), 4096, 4096, &fake_iommu::translate, &m, nullptr, 0, out), 0);
    EXPECT_EQ(out.prp1, m.pages[0x10000]);
    EXPECT_EQ(out.prp2, 0u);
    // Offset inside the page, still one page.
    ASSERT_EQ(build_prps(at(0x10200), 512, 4096, &fake_iommu::translate, &m, nullptr, 0, out), 0);
    EXPECT_EQ(out.prp1, m.pages[0x10000] + 0x200);
    EXPECT_EQ(out.prp2, 0u);
}

TEST(Prp, TwoPagesUsePrp2AsSecondPage) {
    fake_iommu m{4096, {}};
    m.map(0x10000, 2);
    prp_pair out;
    ASSERT_EQ(build_prps(at(0x10000), 8192, 4096, &fake_iommu::translate, &m, nullptr, 0, out), 0);
    EXPECT_EQ(out.prp1, m.pages[0x10000]);
    EXPECT_EQ(out.prp2, m.pages[0x11000]);
    // 4 KiB at offset 0x800 also touches two pages.
    ASSERT_EQ(build_prps(at(0x10800), 4096, 4096, &fake_iommu::translate, &m, nullptr, 0, out), 0);
    EXPECT_EQ(out.prp1, m.pages[0x10000] + 0x800);
    EXPECT_EQ(out.prp2, m.pages[0x11000]);
}

TEST(Prp, ListForMoreThanTwoPages) {
    fake_iommu m{4096, {}};
    m.map(0x20000, 8);
    list_pages lp(4096, 1);
    prp_pair out;
    ASSERT_EQ(
        build_prps(at(0x20000), 8 * 4096, 4096, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
        0);
    EXPECT_EQ(out.prp1, m.pages[0x20000]);
    EXPECT_EQ(out.prp2, lp.segs[0].iova);
    for (int i = 1; i < 8; ++i) EXPECT_EQ(lp.mem[i - 1], m.pages[0x20000 + i * 4096]) << i;
}

TEST(Prp, MisalignedStartNeedsOneMoreEntry) {
    fake_iommu m{4096, {}};
    m.map(0x20000, 4);
    list_pages lp(4096, 1);
    prp_pair out;
    // 3 pages of data starting 4 bytes into the first page: touches 4 pages.
    ASSERT_EQ(
        build_prps(at(0x20004), 3 * 4096, 4096, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
        0);
    EXPECT_EQ(out.prp1, m.pages[0x20000] + 4);
    EXPECT_EQ(out.prp2, lp.segs[0].iova);
    EXPECT_EQ(lp.mem[0], m.pages[0x21000]);
    EXPECT_EQ(lp.mem[1], m.pages[0x22000]);
    EXPECT_EQ(lp.mem[2], m.pages[0x23000]);
    EXPECT_EQ(prp_pages_spanned(0x20004, 3 * 4096, 4096), 4u);
    EXPECT_EQ(prp_list_entries(4), 3u);
}

TEST(Prp, ChainsListPagesWhenOnePageIsNotEnough) {
    fake_iommu m{4096, {}};
    const std::size_t pages = 512 + 100;  // 611 list entries: more than one 512-entry list page
    m.map(0x100000, pages);
    list_pages lp(4096, 2);
    prp_pair out;
    ASSERT_EQ(build_prps(at(0x100000), pages * 4096, 4096, &fake_iommu::translate, &m,
                         lp.segs.data(), 2, out),
              0);
    EXPECT_EQ(out.prp2, lp.segs[0].iova);
    // Entries 0..510 of the first list page are data pages 1..511, entry 511 links to page two.
    for (std::size_t i = 0; i < 511; ++i)
        ASSERT_EQ(lp.mem[i], m.pages[0x100000 + (i + 1) * 4096]) << i;
    EXPECT_EQ(lp.mem[511], lp.segs[1].iova);
    for (std::size_t i = 0; i < pages - 1 - 511; ++i)
        ASSERT_EQ(lp.mem[512 + i], m.pages[0x100000 + (512 + i) * 4096]) << i;
}

TEST(Prp, ExactlyFullListPageNeedsNoLink) {
    fake_iommu m{4096, {}};
    m.map(0x100000, 513);  // 512 list entries: fills the page exactly
    list_pages lp(4096, 1);
    prp_pair out;
    ASSERT_EQ(build_prps(at(0x100000), 513 * 4096, 4096, &fake_iommu::translate, &m, lp.segs.data(),
                         1, out),
              0);
    EXPECT_EQ(lp.mem[511], m.pages[0x100000 + 512 * 4096]);
    // One more page does not fit without a second segment.
    m.map(0x100000, 514);
    EXPECT_EQ(build_prps(at(0x100000), 514 * 4096, 4096, &fake_iommu::translate, &m, lp.segs.data(),
                         1, out),
              -E2BIG);
}

TEST(Prp, SixtyFourKiBPages) {
    fake_iommu m{65536, {}};
    m.map(0x1000000, 4);
    list_pages lp(65536, 1);
    prp_pair out;
    ASSERT_EQ(
        build_prps(at(0x1000000), 65536, 65536, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
        0);
    EXPECT_EQ(out.prp2, 0u);
    ASSERT_EQ(build_prps(at(0x1000000 + 4096), 65536, 65536, &fake_iommu::translate, &m,
                         lp.segs.data(), 1, out),
              0);
    EXPECT_EQ(out.prp1, m.pages[0x1000000] + 4096);
    EXPECT_EQ(out.prp2, m.pages[0x1010000]);
    ASSERT_EQ(build_prps(at(0x1000000), 3 * 65536, 65536, &fake_iommu::translate, &m,
                         lp.segs.data(), 1, out),
              0);
    EXPECT_EQ(out.prp2, lp.segs[0].iova);
    EXPECT_EQ(lp.mem[0], m.pages[0x1010000]);
    EXPECT_EQ(lp.mem[1], m.pages[0x1020000]);
}

TEST(Prp, ListSegmentMayStartMidPage) {
    // A small per-command area (e.g. 256 bytes inside a page) is a valid PRP list.
    fake_iommu m{4096, {}};
    m.map(0x20000, 5);
    std::vector<std::uint64_t> mem(32);
    prp_list_segment seg{mem.data(), 0x5000'0100ull, 32};
    prp_pair out;
    ASSERT_EQ(build_prps(at(0x20000), 5 * 4096, 4096, &fake_iommu::translate, &m, &seg, 1, out), 0);
    EXPECT_EQ(out.prp2, 0x5000'0100ull);
    EXPECT_EQ(mem[3], m.pages[0x24000]);
}

TEST(Prp, RejectsBadInputWithEinval) {
    fake_iommu m{4096, {}};
    m.map(0x20000, 4);
    list_pages lp(4096, 1);
    prp_pair out;
    EXPECT_EQ(build_prps(at(0x20000), 0, 4096, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
              -EINVAL);
    EXPECT_EQ(
        build_prps(at(0x20002), 512, 4096, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
        -EINVAL)
        << "first entry must be dword aligned";
    EXPECT_EQ(
        build_prps(at(0x20000), 512, 3000, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
        -EINVAL)
        << "page size must be a power of two >= 4096";
    m.misalign = 8;  // pages that do not start at offset 0 in IOVA space
    EXPECT_EQ(
        build_prps(at(0x20000), 3 * 4096, 4096, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
        -EINVAL);
}

TEST(Prp, ChainFromSegmentNotEndingAtPageBoundaryIsRejected) {
    fake_iommu m{4096, {}};
    m.map(0x20000, 8);
    std::vector<std::uint64_t> a(4), b(16);
    prp_list_segment segs[2] = {{a.data(), 0x5000'0100ull, 4}, {b.data(), 0x6000'0000ull, 16}};
    prp_pair out;
    EXPECT_EQ(build_prps(at(0x20000), 8 * 4096, 4096, &fake_iommu::translate, &m, segs, 2, out),
              -EINVAL);
}

TEST(Prp, UnmappedPageReportsTranslateError) {
    fake_iommu m{4096, {}};
    m.map(0x20000, 2);  // third page missing
    list_pages lp(4096, 1);
    prp_pair out;
    EXPECT_EQ(
        build_prps(at(0x20000), 3 * 4096, 4096, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
        -EFAULT);
    EXPECT_EQ(
        build_prps(at(0x90000), 512, 4096, &fake_iommu::translate, &m, lp.segs.data(), 1, out),
        -EFAULT);
}

}  // namespace
}  // namespace convme::driver

// SPDX-License-Identifier: MIT
// dma_buffer: alignment, zero fill, rounding, registry lookups, observers, move semantics.
#include <gtest/gtest.h>
#include <unistd.h>

#include <convme/dma_buffer.hpp>
#include <cstdint>
#include <vector>

namespace {

using convme::dma_buffer;
using convme::dma_region_ref;

TEST(DmaBuffer, PageAlignedZeroFilledAndRounded) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    dma_buffer b(1000);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % page, 0u);
    EXPECT_EQ(b.size(), page);
    for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b.data()[i], std::byte{0});
    b.data()[b.size() - 1] = std::byte{1};  // writable to the end
    EXPECT_NE(b.id(), 0u);
    EXPECT_FALSE(b.empty());
    EXPECT_EQ(b.subspan(page - 10, 10).size(), 10u);
}

TEST(DmaBuffer, LargeBufferFallsBackOrUsesHugepages) {
    dma_buffer b(3 << 20);
    EXPECT_GE(b.size(), std::size_t{3} << 20);
    if (b.hugepage_backed()) {
        EXPECT_EQ(b.size() % (2 << 20), 0u);
    }
    b.data()[b.size() - 1] = std::byte{7};
    // Whether it is locked depends on RLIMIT_MEMLOCK; if not, a warning explains how to fix it.
    if (!b.locked()) {
        EXPECT_NE(convme::dma_lock_warning().find("RLIMIT_MEMLOCK"), std::string::npos);
    }
}

TEST(DmaBuffer, ZeroSizeIsAnError) {
    EXPECT_THROW(dma_buffer b(0), std::system_error);
    std::error_code ec;
    dma_buffer b = dma_buffer::allocate(0, ec);
    EXPECT_EQ(ec, std::errc::invalid_argument);
    EXPECT_TRUE(b.empty());
    dma_buffer ok = dma_buffer::allocate(4096, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(ok.size(), 4096u);
}

TEST(DmaBuffer, RegistryFindsContainingBuffer) {
    dma_buffer a(4096), b(16384);
    dma_region_ref r;
    ASSERT_TRUE(convme::find_dma_region(b.data() + 100, 512, r));
    EXPECT_EQ(r.base, b.data());
    EXPECT_EQ(r.size, b.size());
    EXPECT_EQ(r.id, b.id());
    ASSERT_TRUE(convme::find_dma_region(a.data(), a.size(), r));
    EXPECT_EQ(r.id, a.id());
    EXPECT_FALSE(convme::find_dma_region(b.data() + b.size() - 512, 1024, r));  // runs past the end
    // The byte after b is not b (it may belong to an adjacent mapping such as a).
    if (convme::find_dma_region(b.data() + b.size(), 1, r)) {
        EXPECT_NE(r.id, b.id());
    }
    int on_stack = 0;
    EXPECT_FALSE(convme::find_dma_region(&on_stack, sizeof on_stack, r));
    EXPECT_FALSE(convme::find_dma_region(nullptr, 1, r));
}

TEST(DmaBuffer, IdsAreSmallAndReused) {
    std::uint32_t freed;
    {
        dma_buffer x(4096);
        freed = x.id();
    }
    dma_buffer y(4096);
    EXPECT_EQ(y.id(), freed);
}

struct recording_observer : convme::dma_buffer_observer {
    std::vector<dma_region_ref> freed;
    bool still_registered = true;
    bool readable = false;
    void on_dma_buffer_free(const dma_region_ref& region) noexcept override {
        freed.push_back(region);
        dma_region_ref r;
        still_registered = convme::find_dma_region(region.base, region.size, r);
        readable = region.base[0] == std::byte{0x42};  // memory still mapped
    }
};

TEST(DmaBuffer, ObserversHearAboutFreesBeforeUnmap) {
    recording_observer obs;
    convme::add_dma_buffer_observer(&obs);
    std::byte* base;
    std::uint32_t id;
    {
        dma_buffer b(8192);
        b.data()[0] = std::byte{0x42};
        base = b.data();
        id = b.id();
    }
    convme::remove_dma_buffer_observer(&obs);
    ASSERT_EQ(obs.freed.size(), 1u);
    EXPECT_EQ(obs.freed[0].base, base);
    EXPECT_EQ(obs.freed[0].id, id);
    EXPECT_EQ(obs.freed[0].size, 8192u);
    EXPECT_FALSE(obs.still_registered);
    EXPECT_TRUE(obs.readable);
    { dma_buffer c(4096); }
    EXPECT_EQ(obs.freed.size(), 1u);  // removed observers hear nothing
}

TEST(DmaBuffer, MoveTransfersOwnership) {
    recording_observer obs;
    convme::add_dma_buffer_observer(&obs);
    dma_buffer a(4096);
    std::byte* p = a.data();
    const auto id = a.id();
    dma_buffer b(std::move(a));
    EXPECT_TRUE(a.empty());
    EXPECT_EQ(a.data(), nullptr);
    EXPECT_EQ(b.data(), p);
    EXPECT_EQ(b.id(), id);
    dma_region_ref r;
    EXPECT_TRUE(convme::find_dma_region(p, 4096, r));

    dma_buffer c(4096);
    std::byte* q = c.data();
    c = std::move(b);  // frees c's old memory
    EXPECT_EQ(c.data(), p);
    ASSERT_EQ(obs.freed.size(), 1u);
    EXPECT_EQ(obs.freed[0].base, q);
    convme::remove_dma_buffer_observer(&obs);
}

}  // namespace

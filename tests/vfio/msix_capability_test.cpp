// SPDX-License-Identifier: MIT
// find_msix_capability on config-space images: QEMU nvme's layout (MSI-X behind PM and PCIe),
// and the malformed lists a broken or hostile function could present.
#include "driver/vfio/msix_capability.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace convme::driver::vfio {
namespace {

struct config_image {
    std::array<std::uint8_t, 256> b{};
    config_image() { b[0x06] = 0x10; }  // Status: capability list present
    void cap(std::uint8_t at, std::uint8_t id, std::uint8_t next) {
        b[at] = id;
        b[at + 1] = next;
    }
    void msix(std::uint8_t at, std::uint8_t next, std::uint16_t vectors, std::uint32_t table) {
        cap(at, 0x11, next);
        const std::uint16_t ctl = static_cast<std::uint16_t>(vectors - 1);
        b[at + 2] = ctl & 0xff;
        b[at + 3] = ctl >> 8;
        for (int i = 0; i < 4; ++i) b[at + 4 + i] = (table >> (8 * i)) & 0xff;
    }
};

TEST(MsixCapability, FoundBehindOtherCapabilities) {
    config_image c;
    c.b[0x34] = 0x40;
    c.cap(0x40, 0x01, 0x60);         // power management
    c.msix(0x60, 0x80, 65, 0x2000);  // 65 vectors, table at BAR0 + 0x2000
    c.cap(0x80, 0x10, 0x00);         // PCI Express, last
    std::string why;
    const auto m = find_msix_capability(c.b, why);
    ASSERT_TRUE(m) << why;
    EXPECT_EQ(m->offset, 0x60);
    EXPECT_EQ(m->table_size, 65);
    EXPECT_EQ(m->table_bar, 0);
    EXPECT_EQ(m->table_offset, 0x2000u);
    EXPECT_EQ(msix_control_offset(*m, 0), 0x200cu);
    EXPECT_EQ(msix_control_offset(*m, 3), 0x2000u + 3 * 16 + 12);
}

TEST(MsixCapability, TableInAnotherBarIsReported) {
    config_image c;
    c.b[0x34] = 0x50;
    c.msix(0x50, 0x00, 8, 0x0004 | 4);  // BIR 4
    std::string why;
    const auto m = find_msix_capability(c.b, why);
    ASSERT_TRUE(m) << why;
    EXPECT_EQ(m->table_bar, 4);
    EXPECT_EQ(m->table_offset, 0u);
}

TEST(MsixCapability, NoCapabilityListOrNoMsix) {
    config_image c;
    c.b[0x06] = 0;
    std::string why;
    EXPECT_FALSE(find_msix_capability(c.b, why));
    EXPECT_NE(why.find("no capability list"), std::string::npos) << why;
    config_image d;
    d.b[0x34] = 0x40;
    d.cap(0x40, 0x05, 0x00);  // MSI only
    EXPECT_FALSE(find_msix_capability(d.b, why));
    EXPECT_NE(why.find("no MSI-X capability"), std::string::npos) << why;
}

TEST(MsixCapability, MalformedListsEndWithAReason) {
    config_image loop;
    loop.b[0x34] = 0x40;
    loop.cap(0x40, 0x01, 0x50);
    loop.cap(0x50, 0x05, 0x40);  // back to the first: a loop
    std::string why;
    EXPECT_FALSE(find_msix_capability(loop.b, why));
    EXPECT_NE(why.find("malformed"), std::string::npos) << why;
    config_image header;
    header.b[0x34] = 0x10;  // into the standard header
    EXPECT_FALSE(find_msix_capability(header.b, why));
    EXPECT_NE(why.find("malformed"), std::string::npos) << why;
    std::array<std::uint8_t, 64> small{};
    EXPECT_FALSE(find_msix_capability(small, why));
    EXPECT_NE(why.find("256"), std::string::npos) << why;
}

}  // namespace
}  // namespace convme::driver::vfio

// SPDX-License-Identifier: MIT
// Namespaces the driver must not open as plain 512/4096-byte NVM namespaces (issue 11, bugs 6 and
// 7), and the names of the status codes those command sets define.
#include <convme/error.hpp>
#include <convme/nvme_spec.hpp>

#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

sim::controller_config with_namespaces(std::vector<sim::namespace_config> ns) {
    auto c = inline_config();
    c.namespaces = std::move(ns);
    return c;
}

TEST(DriverSimNamespaces, ExtendedLbaMetadataNamespaceIsRefusedNamingTheFormatToPick) {
    sim::namespace_config md{16ull << 20, 512};
    md.metadata_size = 8;
    md.extended_lba = true;
    sim_device s(with_namespaces({md}));
    ASSERT_FALSE(s.dev) << "a 512+8 extended-LBA namespace must not be driven as 512-byte blocks";
    EXPECT_EQ(s.ec, errno_code(-ENOTSUP)) << s.ec.message();
    EXPECT_NE(s.why.find("metadata"), std::string::npos) << s.why;
    EXPECT_NE(s.why.find("520 B per block"), std::string::npos) << s.why;
    EXPECT_NE(s.why.find("LBA format 0 (512 B data)"), std::string::npos) << s.why;
    EXPECT_NE(s.why.find("nvme format"), std::string::npos) << s.why;
}

TEST(DriverSimNamespaces, SeparateMetadataNamespaceIsRefused) {
    sim::namespace_config md{16ull << 20, 4096};
    md.metadata_size = 64;
    sim_device s(with_namespaces({md}));
    ASSERT_FALSE(s.dev);
    EXPECT_NE(s.why.find("separate buffer"), std::string::npos) << s.why;
    EXPECT_NE(s.why.find("LBA format 0 (4096 B data)"), std::string::npos) << s.why;
}

TEST(DriverSimNamespaces, ZonedNamespaceIsRefusedAndAnNvmNamespaceBesideItOpens) {
    sim::namespace_config nvm{16ull << 20, 512}, zoned{16ull << 20, 512};
    zoned.csi = nvme::csi::zoned;
    nvme_options o;
    o.nsid = 2;
    sim_device z(with_namespaces({nvm, zoned}), o);
    ASSERT_FALSE(z.dev) << "a zoned namespace must not be opened as a random-write block device";
    EXPECT_EQ(z.ec, errno_code(-ENOTSUP));
    EXPECT_NE(z.why.find("Zoned Namespace command set"), std::string::npos) << z.why;
    EXPECT_NE(z.why.find("Zone Invalid Write"), std::string::npos) << z.why;
    EXPECT_NE(z.why.find("ns=N"), std::string::npos) << z.why;

    o.nsid = 1;
    sim_device n(with_namespaces({nvm, zoned}), o);
    ASSERT_TRUE(n.dev) << n.why;
    loop l;
    dma_buffer b(4096);
    fill(b.data(), 4096, 5);
    EXPECT_FALSE(l.run_until_complete([](block_device& d, dma_buffer& b) -> task<std::error_code> {
        co_return co_await d.write(8192,
                                   b.span());  // not at a zone start: fine on an NVM namespace
    }(*n.dev, b)));
    l.run_until_complete(n.dev->drain());
}

TEST(NvmeStatusNames, EveryZonedAndCommandSetStatusHasAName) {
    for (unsigned sc = 0xb8; sc <= 0xbf; ++sc) {
        const auto m = make_nvme_error(static_cast<int>(0x100 | sc)).message();
        EXPECT_EQ(m.find("unknown"), std::string::npos) << std::hex << sc << ": " << m;
    }
    for (unsigned sc = 0x29; sc <= 0x2d; ++sc)  // I/O Command Set related admin statuses
        EXPECT_EQ(make_nvme_error(static_cast<int>(0x100 | sc)).message().find("unknown"),
                  std::string::npos)
            << sc;
    EXPECT_EQ(make_nvme_error(0x183).message(), "Command Size Limit Exceeded (SCT 0x1 SC 0x83)");
    EXPECT_EQ(make_nvme_error(0x024).message(), "Admin Command Media Not Ready (SCT 0x0 SC 0x24)");
}

}  // namespace
}  // namespace convme::driver::testing

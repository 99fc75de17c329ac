// SPDX-License-Identifier: MIT
#include "driver/vfio/msix_capability.hpp"

#include "driver/nvme/hex_string.hpp"

namespace convme::driver::vfio {

namespace {
constexpr std::uint8_t status_reg = 0x06, cap_list_bit = 0x10, cap_ptr_reg = 0x34;
constexpr std::uint8_t cap_id_msix = 0x11;
constexpr std::uint8_t header_end = 0x40;  // capabilities live after the standard header

std::uint16_t le16(std::span<const std::uint8_t> c, std::size_t at) {
    return static_cast<std::uint16_t>(c[at] | (c[at + 1] << 8));
}
std::uint32_t le32(std::span<const std::uint8_t> c, std::size_t at) {
    return std::uint32_t(le16(c, at)) | (std::uint32_t(le16(c, at + 2)) << 16);
}
}  // namespace

std::optional<msix_capability> find_msix_capability(std::span<const std::uint8_t> config,
                                                    std::string& why) {
    if (config.size() < 256) {
        why = "config space image of " + std::to_string(config.size()) + " bytes (need 256)";
        return std::nullopt;
    }
    if (!(le16(config, status_reg) & cap_list_bit)) {
        why = "the function has no capability list (Status bit 4 clear)";
        return std::nullopt;
    }
    std::uint8_t at = config[cap_ptr_reg] & 0xfc;
    // 48 capabilities of 4 bytes fill 0x40..0xff: more hops than that is a loop.
    for (int hops = 0; at != 0; ++hops) {
        if (at < header_end || hops >= 48) {
            why = "malformed capability list (pointer " + hex(at) + " after " +
                  std::to_string(hops) + " capabilities)";
            return std::nullopt;
        }
        if (config[at] == cap_id_msix) {
            msix_capability c;
            c.offset = at;
            c.table_size = static_cast<std::uint16_t>((le16(config, at + 2) & 0x7ff) + 1);
            const std::uint32_t table = le32(config, at + 4);
            c.table_bar = static_cast<std::uint8_t>(table & 7);
            c.table_offset = table & ~7u;
            return c;
        }
        at = config[at + 1] & 0xfc;
    }
    why = "no MSI-X capability in the capability list";
    return std::nullopt;
}

}  // namespace convme::driver::vfio

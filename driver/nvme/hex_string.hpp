// SPDX-License-Identifier: MIT
// "0x1f": register values, addresses and offsets in error messages (driver, sim and vfio).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace convme::driver {

inline std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace convme::driver

// SPDX-License-Identifier: MIT
// A vfio: device_uri built field by field (no parsing), for tests of what the scheme does with
// its target and keys.
#pragma once

#include <convme/device.hpp>
#include <map>
#include <string>
#include <utility>

namespace convme::test {

inline device_uri vfio_test_uri(std::string target,
                                std::map<std::string, std::string> params = {}) {
    device_uri u;
    u.scheme = "vfio";
    u.target = std::move(target);
    u.params = std::move(params);
    return u;
}

}  // namespace convme::test

// SPDX-License-Identifier: MIT
// The scheme-independent half of URI parsing: "scheme:target?k=v&k2=v2" split into a device_uri,
// with the query checked for empty, duplicate and malformed parameters. The registry
// (runtime/open/device_registry.cpp) checks the scheme and its target; each backend reads its
// parameters with runtime/core/uri_params.hpp.
#pragma once

#include <convme/device.hpp>
#include <string>
#include <string_view>

namespace convme {

// False with `why` on an empty URI, whitespace, a missing scheme or a malformed query.
bool split_device_uri(std::string_view uri, device_uri& out, std::string& why);

}  // namespace convme

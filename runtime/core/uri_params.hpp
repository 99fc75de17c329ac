// SPDX-License-Identifier: MIT
// The one reader of device URI query parameters, used by every scheme, so the same input gets the
// same answer everywhere: unknown keys list the known ones, malformed values name the key and the
// expected form.
#pragma once

#include <convme/device.hpp>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace convme::backends {

// False (and `why`, listing the known keys) if the URI has a parameter in neither `known` nor
// `more` (a layer's own keys plus those of the layer it passes the URI on to).
bool check_known_params(const device_uri& uri, std::span<const std::string_view> known,
                        std::span<const std::string_view> more, std::string& why);
inline bool check_known_params(const device_uri& uri, std::initializer_list<std::string_view> known,
                               std::string& why) {
    return check_known_params(uri, std::span(known.begin(), known.size()), {}, why);
}
// 0/1/true/false/yes/no/on/off. Missing key: `out` = def.
bool param_bool(const device_uri& uri, std::string_view key, bool def, bool& out, std::string& why);
// Decimal integer in [min, max]. Missing key: `out` = def.
bool param_uint(const device_uri& uri, std::string_view key, std::uint64_t def, std::uint64_t min,
                std::uint64_t max, std::uint64_t& out, std::string& why);
// One of `choices` (e.g. wait=poll|block). Missing key: `out` = def.
bool param_choice(const device_uri& uri, std::string_view key,
                  std::initializer_list<std::string_view> choices, std::string_view def,
                  std::string& out, std::string& why);
// Size with K/M/G/T suffix (see parse_size). Missing key: `out` = def.
bool param_size(const device_uri& uri, std::string_view key, std::uint64_t def, std::uint64_t& out,
                std::string& why);

}  // namespace convme::backends

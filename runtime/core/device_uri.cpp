// SPDX-License-Identifier: MIT
// Splitting a device URI into scheme, target and query parameters, and size suffixes. Which schemes
// exist and what their targets look like is the registry's business (runtime/open/).
#include "runtime/core/device_uri.hpp"

#include <cctype>
#include <limits>

namespace convme {
namespace {

bool has_space(std::string_view s) noexcept {
    for (char c : s)
        if (std::isspace(static_cast<unsigned char>(c)) || c == '\0') return true;
    return false;
}

bool parse_query(std::string_view query, device_uri& out, std::string& why) {
    if (query.empty()) {
        why = "empty query after '?': remove the '?' or add key=value parameters";
        return false;
    }
    while (true) {
        std::size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        if (item.empty()) {
            why = "empty parameter in query (stray '&')";
            return false;
        }
        std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) {
            why = "parameter '" + std::string(item) + "' has no '=': write it as key=value";
            return false;
        }
        std::string key(item.substr(0, eq));
        std::string value(item.substr(eq + 1));
        if (key.empty()) {
            why = "parameter '" + std::string(item) + "' has an empty key";
            return false;
        }
        if (value.empty()) {
            why = "parameter '" + key + "' has an empty value";
            return false;
        }
        if (!out.params.emplace(key, value).second) {
            why = "parameter '" + key + "' given twice";
            return false;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return true;
}

}  // namespace

bool split_device_uri(std::string_view uri, device_uri& out, std::string& why) try {
    out = device_uri{};
    if (uri.empty()) {
        why = "empty device URI";
        return false;
    }
    if (has_space(uri)) {
        why = "device URI '" + std::string(uri) + "' contains whitespace";
        return false;
    }
    std::size_t colon = uri.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        why = "device URI '" + std::string(uri) + "' has no scheme (expected scheme:target)";
        return false;
    }
    out.scheme = std::string(uri.substr(0, colon));
    std::string_view rest = uri.substr(colon + 1);
    std::size_t q = rest.find('?');
    out.target = std::string(rest.substr(0, q));
    if (q != std::string_view::npos && !parse_query(rest.substr(q + 1), out, why)) {
        why = out.scheme + ": " + why;
        return false;
    }
    return true;
} catch (const std::bad_alloc&) {
    why = "out of memory while parsing the device URI";
    return false;
}

bool parse_size(std::string_view text, std::uint64_t& out) noexcept {
    std::size_t i = 0;
    std::uint64_t value = 0;
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        auto digit = static_cast<std::uint64_t>(text[i] - '0');
        if (value > (max - digit) / 10) return false;  // overflow
        value = value * 10 + digit;
        ++i;
    }
    if (i == 0) return false;
    std::string_view suffix = text.substr(i);
    unsigned shift = 0;
    if (!suffix.empty()) {
        switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
            case 'K':
                shift = 10;
                break;
            case 'M':
                shift = 20;
                break;
            case 'G':
                shift = 30;
                break;
            case 'T':
                shift = 40;
                break;
            case 'B':
                shift = 0;
                break;
            default:
                return false;
        }
        if (std::toupper(static_cast<unsigned char>(suffix[0])) == 'B') {
            suffix.remove_prefix(1);
        } else {
            suffix.remove_prefix(1);
            // Optional "B" or "iB" after the multiplier.
            if (suffix == "B" || suffix == "b" || suffix == "iB" || suffix == "ib") suffix = {};
        }
        if (!suffix.empty()) return false;
    }
    if (shift != 0 && value > (max >> shift)) return false;
    out = value << shift;
    return true;
}

}  // namespace convme

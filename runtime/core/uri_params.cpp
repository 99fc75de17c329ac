// SPDX-License-Identifier: MIT
#include "runtime/core/uri_params.hpp"

#include <charconv>

namespace convme::backends {
namespace {
const std::string* find_param(const device_uri& uri, std::string_view key) {
    auto it = uri.params.find(std::string(key));
    return it == uri.params.end() ? nullptr : &it->second;
}
}  // namespace

bool check_known_params(const device_uri& uri, std::span<const std::string_view> known,
                        std::span<const std::string_view> more, std::string& why) {
    for (const auto& [key, value] : uri.params) {
        bool ok = false;
        for (std::string_view k : known) ok = ok || key == k;
        for (std::string_view k : more) ok = ok || key == k;
        if (ok) continue;
        why = uri.scheme + ": unknown parameter '" + key + "' (known:";
        for (auto list : {known, more})
            for (std::string_view k : list) {
                why += ' ';
                why.append(k);
            }
        why += ")";
        return false;
    }
    return true;
}

bool param_bool(const device_uri& uri, std::string_view key, bool def, bool& out,
                std::string& why) {
    const std::string* v = find_param(uri, key);
    if (!v) {
        out = def;
        return true;
    }
    if (*v == "1" || *v == "true" || *v == "yes" || *v == "on") {
        out = true;
        return true;
    }
    if (*v == "0" || *v == "false" || *v == "no" || *v == "off") {
        out = false;
        return true;
    }
    why = uri.scheme + ": parameter " + std::string(key) + "='" + *v +
          "' is not a boolean (use 0 or 1)";
    return false;
}

bool param_uint(const device_uri& uri, std::string_view key, std::uint64_t def, std::uint64_t min,
                std::uint64_t max, std::uint64_t& out, std::string& why) {
    const std::string* v = find_param(uri, key);
    if (!v) {
        out = def;
        return true;
    }
    std::uint64_t value = 0;
    auto [end, err] = std::from_chars(v->data(), v->data() + v->size(), value);
    if (err != std::errc{} || end != v->data() + v->size() || value < min || value > max) {
        why = uri.scheme + ": parameter " + std::string(key) + "='" + *v +
              "' must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
        return false;
    }
    out = value;
    return true;
}

bool param_choice(const device_uri& uri, std::string_view key,
                  std::initializer_list<std::string_view> choices, std::string_view def,
                  std::string& out, std::string& why) {
    const std::string* v = find_param(uri, key);
    if (!v) {
        out = std::string(def);
        return true;
    }
    for (std::string_view c : choices) {
        if (*v != c) continue;
        out = *v;
        return true;
    }
    why = uri.scheme + ": parameter " + std::string(key) + "='" + *v + "' must be one of";
    const char* sep = " ";
    for (std::string_view c : choices) {
        why += sep;
        why.append(c);
        sep = ", ";
    }
    return false;
}

bool param_size(const device_uri& uri, std::string_view key, std::uint64_t def, std::uint64_t& out,
                std::string& why) {
    const std::string* v = find_param(uri, key);
    if (!v) {
        out = def;
        return true;
    }
    if (!parse_size(*v, out)) {
        why = uri.scheme + ": parameter " + std::string(key) + "='" + *v +
              "' is not a size (examples: 4096, 64M, 1G)";
        return false;
    }
    return true;
}

}  // namespace convme::backends

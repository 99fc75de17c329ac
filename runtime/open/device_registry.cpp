// SPDX-License-Identifier: MIT
// open_device(uri): the one place that knows every URI scheme. Each entry names its scheme, what
// its target looks like, how to check the target and how to open it; everything else about a
// backend stays in its own room.
#include <array>
#include <convme/device.hpp>

#include "driver/sim/sim_device.hpp"
#include "driver/vfio/vfio_device.hpp"
#include "runtime/core/device_uri.hpp"
#include "runtime/kernel/kernel_devices.hpp"
#include "runtime/null/null_device.hpp"

namespace convme {
namespace {

struct scheme_entry {
    std::string_view scheme;
    std::string_view target_hint;  // for "missing target" errors; empty: the target may be empty
    bool (*check_target)(device_uri& uri, std::string& why);
    std::unique_ptr<block_device> (*open)(const device_uri& uri, std::error_code& ec,
                                          std::string& why);
};

constexpr std::array<scheme_entry, 5> schemes{{
    {"uring", "a file or block device path", backends::check_file_target,
     backends::open_uring_or_fallback},
    {"threadpool", "a file or block device path", backends::check_file_target,
     backends::make_threadpool_device},
    {"sim", "'mem' or 'file=/path'", sim::check_sim_target, sim::open_sim_device},
    {"vfio", "a PCI address like 0000:01:00.0", driver::vfio::check_vfio_target,
     driver::vfio::open_vfio_device},
    {"null", "", null_backend::check_null_target, null_backend::open_null_device},
}};

std::string known_schemes() {
    std::string s;
    for (const auto& e : schemes) {
        if (!s.empty()) s += ", ";
        s.append(e.scheme);
    }
    return s;
}

const scheme_entry* find_scheme(std::string_view name) noexcept {
    for (const auto& e : schemes)
        if (e.scheme == name) return &e;
    return nullptr;
}

}  // namespace

bool parse_device_uri(std::string_view uri, device_uri& out, std::string& why) noexcept try {
    if (!split_device_uri(uri, out, why)) {
        if (uri.empty() || out.scheme.empty())
            why += " (schemes: " + known_schemes() + "; e.g. uring:/path, sim:mem, null:)";
        return false;
    }
    const scheme_entry* e = find_scheme(out.scheme);
    if (!e) {
        why = "unknown scheme '" + out.scheme + "' (known: " + known_schemes() + ")";
        return false;
    }
    if (out.target.empty() && !e->target_hint.empty()) {
        why = out.scheme + ": missing target after '" + out.scheme + ":' (expected ";
        why.append(e->target_hint);
        why += ")";
        return false;
    }
    return e->check_target(out, why);
} catch (const std::bad_alloc&) {
    why = "out of memory while parsing the device URI";
    return false;
}

std::unique_ptr<block_device> open_device(std::string_view uri, std::error_code& ec,
                                          std::string& why) noexcept try {
    ec.clear();
    why.clear();
    device_uri parsed;
    if (!parse_device_uri(uri, parsed, why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }
    std::unique_ptr<block_device> dev = find_scheme(parsed.scheme)->open(parsed, ec, why);
    if (!dev) {
        if (!ec) ec = make_error_code(errc::unsupported);
        if (why.empty()) why = parsed.scheme + ": could not open '" + parsed.target + "'";
    }
    return dev;
} catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    why = "out of memory while opening the device";
    return nullptr;
} catch (const std::exception& e) {
    ec = make_error_code(errc::unsupported);
    why = std::string("opening the device failed: ") + e.what();
    return nullptr;
}

std::unique_ptr<block_device> open_device(std::string_view uri) {
    std::error_code ec;
    std::string why;
    auto dev = open_device(uri, ec, why);
    if (!dev) throw std::system_error(ec, why);
    return dev;
}

}  // namespace convme

// Opening a block device by URI: parsing, size suffixes, dispatch to the backend factories, and the
// automatic io_uring -> thread-pool fallback.
#include <convme/device.hpp>

#include "runtime/backends/factories.hpp"
#include "runtime/backends/threadpool_device.hpp"
#include "runtime/backends/uring_probe.hpp"

#include <cctype>
#include <cstdio>
#include <limits>

namespace convme {
namespace {

constexpr const char* known_schemes = "uring, threadpool, sim, vfio";

bool is_hex(char c) noexcept { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

bool all_hex(std::string_view s, std::size_t n) noexcept {
    if (s.size() != n) return false;
    for (char c : s)
        if (!is_hex(c)) return false;
    return true;
}

// PCI address: dddd:bb:dd.f, also bb:dd.f (domain 0000). Normalised to lower-case dddd:bb:dd.f.
bool normalize_bdf(std::string_view in, std::string& out) {
    std::string s(in);
    if (s.size() == 7) s = "0000:" + s;
    if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
    std::string_view v(s);
    if (!all_hex(v.substr(0, 4), 4) || !all_hex(v.substr(5, 2), 2) || !all_hex(v.substr(8, 2), 2))
        return false;
    if (s[11] < '0' || s[11] > '7') return false;
    unsigned dev = static_cast<unsigned>(std::stoul(s.substr(8, 2), nullptr, 16));
    if (dev > 0x1f) return false;
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out = std::move(s);
    return true;
}

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

bool check_target(device_uri& out, std::string& why) {
    const std::string& s = out.scheme;
    if (out.target.empty()) {
        why = s + ": missing target after '" + s + ":'";
        if (s == "uring" || s == "threadpool") why += " (expected a file or block device path)";
        if (s == "sim") why += " (expected 'mem' or 'file=/path')";
        if (s == "vfio") why += " (expected a PCI address like 0000:01:00.0)";
        return false;
    }
    if (s == "uring" || s == "threadpool") {
        // Accept the URL-ish "uring:///path" as well.
        if (out.target.rfind("//", 0) == 0) out.target.erase(0, 2);
        if (out.target.empty()) {
            why = s + ": missing path after '" + s + "://'";
            return false;
        }
        return true;
    }
    if (s == "sim") {
        if (out.target == "mem") return true;
        if (out.target.rfind("file=", 0) == 0) {
            if (out.target.size() > 5) return true;
            why = "sim: 'file=' needs a path, e.g. sim:file=/tmp/sim.img";
            return false;
        }
        why = "sim: unknown target '" + out.target + "' (expected 'mem' or 'file=/path')";
        return false;
    }
    // vfio
    std::string bdf;
    if (!normalize_bdf(out.target, bdf)) {
        why = "vfio: '" + out.target +
              "' is not a PCI address (expected dddd:bb:dd.f or bb:dd.f in hex, e.g. 0000:01:00.0; "
              "see lspci -D)";
        return false;
    }
    out.target = std::move(bdf);
    return true;
}

}  // namespace

bool parse_device_uri(std::string_view uri, device_uri& out, std::string& why) noexcept try {
    out = device_uri{};
    if (uri.empty()) {
        why = "empty device URI (expected e.g. uring:/path, threadpool:/path, sim:mem, vfio:0000:01:00.0)";
        return false;
    }
    if (has_space(uri)) {
        why = "device URI '" + std::string(uri) + "' contains whitespace";
        return false;
    }
    std::size_t colon = uri.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        why = "device URI '" + std::string(uri) + "' has no scheme (expected scheme:target, schemes: " +
              known_schemes + ")";
        return false;
    }
    out.scheme = std::string(uri.substr(0, colon));
    if (out.scheme != "uring" && out.scheme != "threadpool" && out.scheme != "sim" &&
        out.scheme != "vfio") {
        why = "unknown scheme '" + out.scheme + "' (known: " + known_schemes + ")";
        return false;
    }
    std::string_view rest = uri.substr(colon + 1);
    std::size_t q = rest.find('?');
    out.target = std::string(rest.substr(0, q));
    if (!check_target(out, why)) return false;
    if (q != std::string_view::npos && !parse_query(rest.substr(q + 1), out, why)) {
        why = out.scheme + ": " + why;
        return false;
    }
    return true;
} catch (...) {
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
            case 'K': shift = 10; break;
            case 'M': shift = 20; break;
            case 'G': shift = 30; break;
            case 'T': shift = 40; break;
            case 'B': shift = 0; break;
            default: return false;
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

namespace {

bool param_is_off(const device_uri& uri, const char* key) {
    auto it = uri.params.find(key);
    return it != uri.params.end() &&
           (it->second == "0" || it->second == "false" || it->second == "no" || it->second == "off");
}

// The uring URI turned into a threadpool URI: only parameters both backends understand survive.
device_uri threadpool_equivalent(const device_uri& uri) {
    device_uri tp;
    tp.scheme = "threadpool";
    tp.target = uri.target;
    for (const char* key : {"direct", "create_size", "lock"}) {
        auto it = uri.params.find(key);
        if (it != uri.params.end()) tp.params.emplace(it->first, it->second);
    }
    return tp;
}

std::unique_ptr<block_device> open_uring_or_fallback(const device_uri& uri, std::error_code& ec,
                                                     std::string& why) {
    std::string unavailable;
    int rc = backends::uring_available(unavailable);
    if (rc == 0 || param_is_off(uri, "fallback")) return backends::make_uring_device(uri, ec, why);
    std::fprintf(stderr,
                 "convme: %s; using the thread-pool backend for %s instead (add ?fallback=0 to "
                 "fail instead)\n",
                 unavailable.c_str(), uri.target.c_str());
    auto dev = backends::make_threadpool_device(threadpool_equivalent(uri), ec, why);
    if (auto* tp = dynamic_cast<backends::threadpool_device*>(dev.get()))
        tp->add_note("fallback: io_uring unavailable");
    return dev;
}

}  // namespace

std::unique_ptr<block_device> open_device(std::string_view uri, std::error_code& ec,
                                          std::string& why) noexcept try {
    ec.clear();
    why.clear();
    device_uri parsed;
    if (!parse_device_uri(uri, parsed, why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }
    std::unique_ptr<block_device> dev;
    if (parsed.scheme == "uring") dev = open_uring_or_fallback(parsed, ec, why);
    else if (parsed.scheme == "threadpool") dev = backends::make_threadpool_device(parsed, ec, why);
    else if (parsed.scheme == "sim") dev = backends::make_sim_device(parsed, ec, why);
    else dev = backends::make_vfio_device(parsed, ec, why);
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

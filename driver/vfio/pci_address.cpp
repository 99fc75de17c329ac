// SPDX-License-Identifier: MIT
#include "driver/vfio/pci_address.hpp"

#include <cctype>
#include <cstdio>

namespace convme::driver::vfio {
namespace {

bool parse_hex(std::string_view s, std::size_t digits, unsigned max, unsigned& out) {
    if (s.size() != digits) return false;
    unsigned v = 0;
    for (char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
        int d = std::isdigit(static_cast<unsigned char>(c))
                    ? c - '0'
                    : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
        v = v * 16 + static_cast<unsigned>(d);
    }
    if (v > max) return false;
    out = v;
    return true;
}

}  // namespace

bool normalize_bdf(std::string_view text, std::string& out, std::string& why) {
    std::string_view rest = text;
    unsigned domain = 0, bus = 0, dev = 0, fn = 0;
    // Optional domain: present when there are two colons.
    auto first = rest.find(':');
    auto last = rest.rfind(':');
    bool ok = first != std::string_view::npos;
    if (ok && first != last) {
        ok = parse_hex(rest.substr(0, first), 4, 0xffff, domain);
        rest = rest.substr(first + 1);
    }
    if (ok) {
        auto colon = rest.find(':');
        auto dot = rest.find('.');
        ok = colon != std::string_view::npos && dot != std::string_view::npos && dot > colon &&
             parse_hex(rest.substr(0, colon), 2, 0xff, bus) &&
             parse_hex(rest.substr(colon + 1, dot - colon - 1), 2, 0x1f, dev) &&
             parse_hex(rest.substr(dot + 1), 1, 7, fn);
    }
    if (!ok) {
        // Built by appending: gcc 12 -O3 warns falsely (-Wrestrict) on "lit" + std::string.
        std::string msg(1, '\'');
        msg.append(text);
        msg +=
            "' is not a PCI address; expected DDDD:BB:DD.F or BB:DD.F as printed by lspci -D "
            "(e.g. 0000:01:00.0)";
        why = std::move(msg);
        return false;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", domain, bus, dev, fn);
    out = buf;
    return true;
}

}  // namespace convme::driver::vfio

// SPDX-License-Identifier: MIT
// libFuzzer target: the RESP parser must never crash, hang or read out of bounds on any input,
// whether it arrives in one piece or split at arbitrary points.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "resp_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // The first byte picks a split size so partial input paths are exercised too.
    const std::size_t step = 1 + data[0] % 17;
    std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
    kv::resp::parser_limits lim;
    lim.max_bulk = 1 << 16;  // keep memory small while still hitting the limit checks
    lim.max_inline = 1 << 12;
    kv::resp::parser p(lim);
    std::string carry;
    for (std::size_t off = 0; off < all.size(); off += step) {
        carry.append(all.substr(off, step));
        std::size_t pos = 0;
        for (;;) {
            auto r = p.feed(std::string_view(carry).substr(pos));
            pos += r.consumed;
            if (r.status == kv::resp::parse_status::command) {
                p.next();
                continue;
            }
            if (r.status == kv::resp::parse_status::error) return 0;
            break;
        }
        carry.erase(0, pos);
    }
    return 0;
}

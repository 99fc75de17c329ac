// SPDX-License-Identifier: MIT
// The parser's fast path: a multibulk command that has arrived whole and is plainly formed
// (every count a positive decimal without sign or leading zero) is read in one pass, each argument
// copied once. Anything else -- incomplete, odd, or an error -- is left untouched for the state
// machine in resp_parser.cpp, which then decides exactly as before.
#include "resp_parser.hpp"

namespace kv::resp {

namespace {
// A count of at most 9 digits at p, ended by a CR with one more byte after it (the byte Redis
// skips unread): p ends after both. Null for anything parse_int64 might read otherwise (sign,
// leading zero, no digit) or that has not arrived: the state machine then decides.
inline const char* plain_count(const char* p, const char* end, std::size_t& out) noexcept {
    const char* const first = p;
    std::size_t v = 0;
    unsigned d;
    while (p != end && (d = static_cast<unsigned char>(*p) - unsigned{'0'}) <= 9 && p - first < 9) {
        v = v * 10 + d;
        ++p;
    }
    if (p == first || (*first == '0' && p - first > 1) || end - p < 2 || *p != '\r') return nullptr;
    out = v;
    return p + 2;
}
}  // namespace

std::size_t parser::parse_whole(std::string_view in) {
    const char* const begin = in.data();
    const char* const end = begin + in.size();
    std::size_t n = 0;
    const char* p = plain_count(begin + 1, end, n);  // in[0] == '*'
    if (p == nullptr || n == 0 || n > limits_.max_args) return 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t len = 0;
        if (p == end || *p != '$' || (p = plain_count(p + 1, end, len)) == nullptr ||
            len > limits_.max_bulk || static_cast<std::size_t>(end - p) < len + 2) {
            args_.clear();
            return 0;
        }
        args_.emplace_back(p, len);
        p += len + 2;  // the two bytes after a payload are skipped unread, as Redis does
    }
    state_ = state::done;
    return static_cast<std::size_t>(p - begin);
}

}  // namespace kv::resp

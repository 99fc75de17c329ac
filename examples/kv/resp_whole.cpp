// SPDX-License-Identifier: MIT
// The parser's fast path: a multibulk command that has arrived whole and is plainly formed
// (every count a positive decimal without sign or leading zero) is read in one pass, each argument
// copied once. Anything else -- incomplete, odd, or an error -- is left untouched for the state
// machine in resp_parser.cpp, which then decides exactly as before.
#include "resp_parser.hpp"

namespace kv::resp {

namespace {
// A count of at most 9 digits at in[pos] ended by a CR with one more byte after it (the byte
// Redis skips unread); pos ends after both. False for anything parse_int64 might read otherwise.
bool plain_count(std::string_view in, std::size_t& pos, std::size_t& out) noexcept {
    const std::size_t start = pos;
    std::size_t v = 0;
    while (pos < in.size() && in[pos] >= '0' && in[pos] <= '9' && pos - start < 9)
        v = v * 10 + static_cast<std::size_t>(in[pos++] - '0');
    const std::size_t digits = pos - start;
    if (digits == 0 || (in[start] == '0' && digits > 1)) return false;
    if (pos + 1 >= in.size() || in[pos] != '\r') return false;
    pos += 2;
    out = v;
    return true;
}
}  // namespace

std::size_t parser::parse_whole(std::string_view in) {
    std::size_t pos = 1, n = 0;  // in[0] == '*'
    if (!plain_count(in, pos, n) || n == 0 || n > limits_.max_args) return 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t len = 0;
        if (pos >= in.size() || in[pos] != '$') break;
        ++pos;
        if (!plain_count(in, pos, len) || len > limits_.max_bulk || in.size() - pos < len + 2)
            break;
        args_.emplace_back(in.data() + pos, len);
        pos += len + 2;  // the two bytes after a payload are skipped unread, as Redis does
    }
    if (args_.size() != n) {
        args_.clear();
        return 0;
    }
    state_ = state::done;
    return pos;
}

}  // namespace kv::resp

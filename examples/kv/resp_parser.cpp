// SPDX-License-Identifier: MIT
#include "resp_parser.hpp"

#include <algorithm>
#include <cctype>
#include <climits>

namespace kv::resp {

bool parse_int64(std::string_view s, long long& out) noexcept {
    // As Redis reads integers: no sign but '-', no leading zeros, no "-0", at most 20 characters.
    if (s.empty() || s.size() > 20) return false;
    if (s == "0") {
        out = 0;
        return true;
    }
    bool neg = s[0] == '-';
    std::size_t i = neg ? 1 : 0;
    if (i == s.size() || s[i] < '1' || s[i] > '9') return false;
    unsigned long long v = 0;
    const unsigned long long limit = neg ? 9223372036854775808ull : 9223372036854775807ull;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = static_cast<unsigned>(s[i] - '0');
        if (v > (limit - d) / 10) return false;
        v = v * 10 + d;
    }
    out = neg ? (v == 9223372036854775808ull ? LLONG_MIN : -static_cast<long long>(v))
              : static_cast<long long>(v);
    return true;
}

void parser::next() noexcept {
    args_.clear();
    state_ = state::start;
    expected_args_ = 0;
    bulk_left_ = 0;
}

parse_result parser::fail(std::string msg, std::size_t consumed) {
    error_ = "Protocol error: " + std::move(msg);
    return {parse_status::error, consumed};
}

namespace {
// Position of the '\n' ending the first line, or npos.
std::size_t find_eol(std::string_view in) {
    return in.find('\n');
}
// Multibulk and bulk headers end at the first CR; like Redis, the byte after it is skipped
// unread. Position of that CR, or npos while it (or the byte after it) has not arrived.
std::size_t find_header_end(std::string_view in) {
    const std::size_t cr = in.find('\r');
    return cr == std::string_view::npos || cr + 1 >= in.size() ? std::string_view::npos : cr;
}
std::string_view strip_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

bool split_inline(std::string_view line, std::vector<std::string>& out) {
    std::size_t i = 0, n = line.size();
    auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
    };
    while (true) {
        while (i < n && is_space(line[i])) ++i;
        if (i == n) return true;
        std::string cur;
        bool in_dq = false, in_sq = false;
        for (;;) {
            if (in_dq) {
                if (i == n) return false;
                char c = line[i];
                if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_value(line[i + 2]) >= 0 &&
                    hex_value(line[i + 3]) >= 0) {
                    cur.push_back(
                        static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])));
                    i += 4;
                } else if (c == '\\' && i + 1 < n) {
                    char e = line[i + 1];
                    switch (e) {
                        case 'n':
                            cur.push_back('\n');
                            break;
                        case 'r':
                            cur.push_back('\r');
                            break;
                        case 't':
                            cur.push_back('\t');
                            break;
                        case 'b':
                            cur.push_back('\b');
                            break;
                        case 'a':
                            cur.push_back('\a');
                            break;
                        default:
                            cur.push_back(e);
                            break;
                    }
                    i += 2;
                } else if (c == '"') {
                    ++i;
                    // A closing quote must be followed by a space or the end (as in Redis).
                    if (i < n && !is_space(line[i])) return false;
                    break;
                } else {
                    cur.push_back(c);
                    ++i;
                }
            } else if (in_sq) {
                if (i == n) return false;
                char c = line[i];
                if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
                    cur.push_back('\'');
                    i += 2;
                } else if (c == '\'') {
                    ++i;
                    if (i < n && !is_space(line[i])) return false;
                    break;
                } else {
                    cur.push_back(c);
                    ++i;
                }
            } else {
                if (i == n || is_space(line[i])) break;
                if (line[i] == '"' && cur.empty()) {
                    in_dq = true;
                } else if (line[i] == '\'' && cur.empty()) {
                    in_sq = true;
                } else {
                    cur.push_back(line[i]);
                }
                ++i;
            }
        }
        out.push_back(std::move(cur));
    }
}

parse_result parser::parse_inline(std::string_view input) {
    std::size_t eol = find_eol(input);
    if (eol == std::string_view::npos) {
        if (input.size() > limits_.max_inline) return fail("too big inline request", 0);
        return {parse_status::need_more, 0};
    }
    if (eol > limits_.max_inline) return fail("too big inline request", 0);
    std::string_view line = strip_cr(input.substr(0, eol));
    if (!split_inline(line, args_)) {
        args_.clear();
        return fail("unbalanced quotes in request", eol + 1);
    }
    state_ = state::done;
    return {parse_status::command, eol + 1};
}

parse_result parser::feed(std::string_view input) {
    std::size_t pos = 0;
    for (;;) {
        std::string_view in = input.substr(pos);
        switch (state_) {
            case state::done:
                return {parse_status::command, pos};
            case state::start: {
                if (in.empty()) return {parse_status::need_more, pos};
                if (in[0] != '*') {
                    auto r = parse_inline(in);
                    return {r.status, pos + r.consumed};
                }
                std::size_t eol = find_header_end(in);
                if (eol == std::string_view::npos) {
                    if (in.size() > limits_.max_inline)
                        return fail("too big mbulk count string", pos);
                    return {parse_status::need_more, pos};
                }
                long long n = 0;
                if (!parse_int64(in.substr(1, eol - 1), n) ||
                    n > static_cast<long long>(limits_.max_args))
                    return fail("invalid multibulk length", pos + eol + 2);
                pos += eol + 2;
                if (n <= 0) {  // "*0" and "*-1" are empty commands: skipped, like Redis
                    state_ = state::done;
                    break;
                }
                expected_args_ = static_cast<std::size_t>(n);
                args_.reserve(std::min<std::size_t>(expected_args_, 1024));
                state_ = state::bulk_header;
                break;
            }
            case state::bulk_header: {
                if (args_.size() == expected_args_) {
                    state_ = state::done;
                    break;
                }
                if (in.empty()) return {parse_status::need_more, pos};
                if (in[0] != '$')
                    return fail(std::string("expected '$', got '") + in[0] + "'", pos);
                std::size_t eol = find_header_end(in);
                if (eol == std::string_view::npos) {
                    if (in.size() > limits_.max_inline)
                        return fail("too big bulk count string", pos);
                    return {parse_status::need_more, pos};
                }
                long long len = 0;
                if (!parse_int64(in.substr(1, eol - 1), len) || len < 0 ||
                    static_cast<unsigned long long>(len) > limits_.max_bulk)
                    return fail("invalid bulk length", pos + eol + 2);
                pos += eol + 2;
                bulk_left_ = static_cast<std::size_t>(len);
                args_.emplace_back();
                // Reserve up front only for modest sizes: a client announcing 512 MiB and then
                // sending nothing must not make us allocate it.
                args_.back().reserve(std::min<std::size_t>(bulk_left_, 1 << 20));
                state_ = state::bulk_body;
                break;
            }
            case state::bulk_body: {
                std::size_t take = std::min(bulk_left_, in.size());
                args_.back().append(in.data(), take);
                bulk_left_ -= take;
                pos += take;
                if (bulk_left_ > 0) return {parse_status::need_more, pos};
                state_ = state::bulk_crlf;
                break;
            }
            case state::bulk_crlf: {
                // The two bytes after a payload are its CRLF; Redis skips them without looking.
                if (in.size() < 2) return {parse_status::need_more, pos};
                pos += 2;
                state_ = state::bulk_header;
                break;
            }
        }
    }
}

}  // namespace kv::resp

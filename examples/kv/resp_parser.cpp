// SPDX-License-Identifier: MIT
#include "resp_parser.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <optional>

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

namespace {
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

// The byte a backslash escape stands for inside double quotes (\n \r \t \b \a; any other
// byte, \\ and \" included, for itself).
char unescape(char e) {
    switch (e) {
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case 't':
            return '\t';
        case 'b':
            return '\b';
        case 'a':
            return '\a';
        default:
            return e;
    }
}

// After a closing quote at line[i - 1]: it must be followed by a space or the end (as in Redis).
bool ends_argument(std::string_view line, std::size_t i) {
    return i == line.size() || is_space(line[i]);
}

// From after an opening double quote to after its closing one; false if it does not close.
bool read_double_quoted(std::string_view line, std::size_t& i, std::string& out) {
    const std::size_t n = line.size();
    for (;;) {
        if (i == n) return false;
        const char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_value(line[i + 2]) >= 0 &&
            hex_value(line[i + 3]) >= 0) {
            out.push_back(static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])));
            i += 4;
        } else if (c == '\\' && i + 1 < n) {
            out.push_back(unescape(line[i + 1]));
            i += 2;
        } else if (c == '"') {
            return ends_argument(line, ++i);
        } else {
            out.push_back(c);
            ++i;
        }
    }
}

// From after an opening single quote to after its closing one (\' is a quote); false if it does
// not close.
bool read_single_quoted(std::string_view line, std::size_t& i, std::string& out) {
    const std::size_t n = line.size();
    for (;;) {
        if (i == n) return false;
        const char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
            out.push_back('\'');
            i += 2;
        } else if (c == '\'') {
            return ends_argument(line, ++i);
        } else {
            out.push_back(c);
            ++i;
        }
    }
}

// One argument starting at line[i] (not a space); i ends after it. A quote opens a quoted
// argument only as its first byte; elsewhere it is an ordinary byte.
bool read_argument(std::string_view line, std::size_t& i, std::string& out) {
    if (line[i] == '"') return read_double_quoted(line, ++i, out);
    if (line[i] == '\'') return read_single_quoted(line, ++i, out);
    while (i < line.size() && !is_space(line[i])) out.push_back(line[i++]);
    return true;
}
}  // namespace

bool split_inline(std::string_view line, std::vector<std::string>& out) {
    std::size_t i = 0;
    for (;;) {
        while (i < line.size() && is_space(line[i])) ++i;
        if (i == line.size()) return true;
        std::string arg;
        if (!read_argument(line, i, arg)) return false;
        out.push_back(std::move(arg));
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

// feed()'s steps, one per state: each consumes from `in` (which starts at `pos` of the fed input),
// advancing pos and the state, and returns nothing to go on or the result feed() returns.

// Where the header line at the start of `in` ends (its CR, in eol); until it has arrived,
// need_more, or an error once it is longer than an inline request may be.
std::optional<parse_result> parser::header_end(std::string_view in, std::size_t pos,
                                               const char* too_big, std::size_t& eol) {
    eol = find_header_end(in);
    if (eol != std::string_view::npos) return std::nullopt;
    if (in.size() > limits_.max_inline) return fail(too_big, pos);
    return parse_result{parse_status::need_more, pos};
}

// "*<n>\r\n", or an inline command.
std::optional<parse_result> parser::read_multibulk_header(std::string_view in, std::size_t& pos) {
    if (in.empty()) return parse_result{parse_status::need_more, pos};
    if (in[0] != '*') {
        auto r = parse_inline(in);
        return parse_result{r.status, pos + r.consumed};
    }
    std::size_t eol = 0;
    if (auto r = header_end(in, pos, "too big mbulk count string", eol)) return r;
    long long n = 0;
    if (!parse_int64(in.substr(1, eol - 1), n) || n > static_cast<long long>(limits_.max_args))
        return fail("invalid multibulk length", pos + eol + 2);
    pos += eol + 2;
    if (n <= 0) {  // "*0" and "*-1" are empty commands: skipped, like Redis
        state_ = state::done;
        return std::nullopt;
    }
    expected_args_ = static_cast<std::size_t>(n);
    args_.reserve(std::min<std::size_t>(expected_args_, 1024));
    state_ = state::bulk_header;
    return std::nullopt;
}

// "$<len>\r\n" of the next argument, or the end of the command.
std::optional<parse_result> parser::read_bulk_header(std::string_view in, std::size_t& pos) {
    if (args_.size() == expected_args_) {
        state_ = state::done;
        return std::nullopt;
    }
    if (in.empty()) return parse_result{parse_status::need_more, pos};
    if (in[0] != '$') return fail(std::string("expected '$', got '") + in[0] + "'", pos);
    std::size_t eol = 0;
    if (auto r = header_end(in, pos, "too big bulk count string", eol)) return r;
    long long len = 0;
    if (!parse_int64(in.substr(1, eol - 1), len) || len < 0 ||
        static_cast<unsigned long long>(len) > limits_.max_bulk)
        return fail("invalid bulk length", pos + eol + 2);
    pos += eol + 2;
    bulk_left_ = static_cast<std::size_t>(len);
    args_.emplace_back();
    // Reserve up front only for modest sizes: a client announcing 512 MiB and then sending
    // nothing must not make us allocate it.
    args_.back().reserve(std::min<std::size_t>(bulk_left_, 1 << 20));
    state_ = state::bulk_body;
    return std::nullopt;
}

// The argument's payload, as much of it as has arrived.
std::optional<parse_result> parser::read_bulk_body(std::string_view in, std::size_t& pos) {
    const std::size_t take = std::min(bulk_left_, in.size());
    args_.back().append(in.data(), take);
    bulk_left_ -= take;
    pos += take;
    if (bulk_left_ > 0) return parse_result{parse_status::need_more, pos};
    state_ = state::bulk_crlf;
    return std::nullopt;
}

// The two bytes after a payload are its CRLF; Redis skips them without looking.
std::optional<parse_result> parser::skip_bulk_crlf(std::string_view in, std::size_t& pos) {
    if (in.size() < 2) return parse_result{parse_status::need_more, pos};
    pos += 2;
    state_ = state::bulk_header;
    return std::nullopt;
}

parse_result parser::feed(std::string_view input) {
    std::size_t pos = 0;
    if (state_ == state::start && !input.empty() && input[0] == '*') pos = parse_whole(input);
    for (;;) {
        const std::string_view in = input.substr(pos);
        std::optional<parse_result> r;
        switch (state_) {
            case state::done:
                return {parse_status::command, pos};
            case state::start:
                r = read_multibulk_header(in, pos);
                break;
            case state::bulk_header:
                r = read_bulk_header(in, pos);
                break;
            case state::bulk_body:
                r = read_bulk_body(in, pos);
                break;
            case state::bulk_crlf:
                r = skip_bulk_crlf(in, pos);
                break;
        }
        if (r) return *r;
    }
}

}  // namespace kv::resp

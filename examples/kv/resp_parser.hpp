// SPDX-License-Identifier: MIT
// Incremental RESP2 request parser: multibulk ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline
// ("GET k\r\n") commands, fed with whatever bytes a socket read returned. It consumes input as it
// goes (bulk payloads are copied out piece by piece), so a request split over many reads is parsed
// in linear time and the caller can drop consumed bytes. Limits follow Redis: a bulk of at most
// 512 MiB, at most 1024*1024 arguments, inline requests and header lines of at most 64 KiB.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kv::resp {

struct parser_limits {
    std::size_t max_bulk = 512ull * 1024 * 1024;
    std::size_t max_args = 1024 * 1024;
    std::size_t max_inline = 64 * 1024;
};

enum class parse_status {
    command,    // a whole command is in args() (may be empty: a blank line or "*0", skip it)
    need_more,  // every byte was consumed or kept; feed more
    error,      // protocol error: error() holds the message; reply it and close the connection
};

struct parse_result {
    parse_status status;
    std::size_t consumed;  // bytes of the input used, also on need_more and error
};

class parser {
  public:
    explicit parser(parser_limits limits = {}) : limits_(limits) {}

    // Parse from `input`. After status::command, read args() then call next() before feeding
    // the rest of the input (input.substr(consumed)).
    parse_result feed(std::string_view input);

    std::vector<std::string>& args() noexcept { return args_; }
    const std::string& error() const noexcept { return error_; }
    // Forget the finished command (keeps the argument vector's capacity).
    void next() noexcept;

  private:
    enum class state { start, bulk_header, bulk_body, bulk_crlf, done };
    parse_result fail(std::string msg, std::size_t consumed);
    parse_result parse_inline(std::string_view input);
    // A whole, plainly formed multibulk command at the start of `in` (resp_whole.cpp): the bytes
    // it used, or 0 (nothing consumed) to leave it to the state machine.
    std::size_t parse_whole(std::string_view in);
    // feed()'s steps (resp_parser.cpp).
    std::optional<parse_result> header_end(std::string_view in, std::size_t pos,
                                           const char* too_big, std::size_t& eol);
    std::optional<parse_result> read_multibulk_header(std::string_view in, std::size_t& pos);
    std::optional<parse_result> read_bulk_header(std::string_view in, std::size_t& pos);
    std::optional<parse_result> read_bulk_body(std::string_view in, std::size_t& pos);
    std::optional<parse_result> skip_bulk_crlf(std::string_view in, std::size_t& pos);

    parser_limits limits_;
    state state_ = state::start;
    std::vector<std::string> args_;
    std::size_t expected_args_ = 0;
    std::size_t bulk_left_ = 0;
    std::string error_;
};

// Split an inline request line like Redis does: whitespace separated, "double quotes" with
// \n \r \t \b \a \\ \" \xHH escapes, 'single quotes' with \'. Returns false on unbalanced quotes.
bool split_inline(std::string_view line, std::vector<std::string>& out);

// Decimal integer as Redis reads one: optional '-', no leading zeros, no "-0", no spaces, no
// overflow.
bool parse_int64(std::string_view s, long long& out) noexcept;

}  // namespace kv::resp

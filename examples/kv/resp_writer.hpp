// SPDX-License-Identifier: MIT
// RESP2 reply encoders: append one reply to an output buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kv::resp {

inline void simple(std::string& out, std::string_view s) {
    out += '+';
    out += s;
    out += "\r\n";
}
// `msg` starts with the error kind, e.g. "ERR wrong number of arguments for 'get' command".
// CR/LF inside it are replaced so the reply stays one line.
inline void error(std::string& out, std::string_view msg) {
    out += '-';
    for (char c : msg) out += (c == '\r' || c == '\n') ? ' ' : c;
    out += "\r\n";
}
inline void integer(std::string& out, long long v) {
    out += ':';
    out += std::to_string(v);
    out += "\r\n";
}
inline void bulk(std::string& out, std::string_view s) {
    out += '$';
    out += std::to_string(s.size());
    out += "\r\n";
    out += s;
    out += "\r\n";
}
inline void null_bulk(std::string& out) {
    out += "$-1\r\n";
}
inline void array_header(std::string& out, std::size_t n) {
    out += '*';
    out += std::to_string(n);
    out += "\r\n";
}
inline void ok(std::string& out) {
    out += "+OK\r\n";
}

}  // namespace kv::resp

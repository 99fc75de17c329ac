// SPDX-License-Identifier: MIT
// Internal: the command table shared by the command_*.cpp files.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "resp_writer.hpp"

namespace kv::cmd {

using args_t = std::vector<std::string>;
using handler = convme::task<void> (*)(command_context&, args_t&, std::string&);

enum class keys : std::uint8_t {
    none,   // no key
    one,    // args[1]
    all,    // args[1..]
    pairs,  // args[1], args[3], ... (MSET)
    every,  // every shard (DBSIZE, FLUSHDB)
};

struct spec {
    std::string_view name;  // lower case
    int arity;              // Redis convention: n = exactly n args (with the name), -n = at least n
    handler fn;
    keys key_args = keys::none;  // which arguments are keys (MULTI needs their shards)
    // For COMMAND / COMMAND INFO: space-separated command flags, ACL categories and key flags.
    std::string_view flags = {};
    std::string_view acl = {};
    std::string_view key_flags = {};
};

// Every command, in table order (COMMAND lists them).
std::span<const spec> all_commands() noexcept;

// The table entry for a command name (any case), or nullptr.
const spec* lookup(std::string_view name) noexcept;
// Run a command that is not queued by MULTI (name, arity and unknown-command errors included).
convme::task<void> dispatch(command_context& ctx, const spec* s, args_t& a, std::string& out);
// Inside MULTI: check the command and queue it (+QUEUED) or reply its error (command_multi.cpp).
void queue_in_transaction(command_context& ctx, const spec* s, args_t& a, std::string& out);
// Error replies shared by dispatch and MULTI's queueing.
void unknown_command(std::string& out, const args_t& a);
bool arity_ok(const spec& s, std::size_t argc) noexcept;
void wrong_arity(std::string& out, const spec& s);
// A task with nothing left to do, for handlers that answered without waiting.
convme::task<void> done();

// Handlers (command_strings.cpp, command_keys.cpp, command_server.cpp).
convme::task<void> get(command_context&, args_t&, std::string&);
convme::task<void> set(command_context&, args_t&, std::string&);
convme::task<void> setnx(command_context&, args_t&, std::string&);
convme::task<void> setex(command_context&, args_t&, std::string&);
convme::task<void> mget(command_context&, args_t&, std::string&);
convme::task<void> mset(command_context&, args_t&, std::string&);
convme::task<void> incr(command_context&, args_t&, std::string&);
convme::task<void> decr(command_context&, args_t&, std::string&);
convme::task<void> incrby(command_context&, args_t&, std::string&);
convme::task<void> decrby(command_context&, args_t&, std::string&);
convme::task<void> strlen(command_context&, args_t&, std::string&);
convme::task<void> del(command_context&, args_t&, std::string&);
convme::task<void> exists(command_context&, args_t&, std::string&);
convme::task<void> expire(command_context&, args_t&, std::string&);
convme::task<void> pexpire(command_context&, args_t&, std::string&);
convme::task<void> ttl(command_context&, args_t&, std::string&);
convme::task<void> pttl(command_context&, args_t&, std::string&);
convme::task<void> persist(command_context&, args_t&, std::string&);
convme::task<void> dbsize(command_context&, args_t&, std::string&);
convme::task<void> flushdb(command_context&, args_t&, std::string&);
convme::task<void> ping(command_context&, args_t&, std::string&);
convme::task<void> echo(command_context&, args_t&, std::string&);
convme::task<void> quit(command_context&, args_t&, std::string&);
convme::task<void> command(command_context&, args_t&, std::string&);
convme::task<void> info(command_context&, args_t&, std::string&);
convme::task<void> config(command_context&, args_t&, std::string&);
convme::task<void> select(command_context&, args_t&, std::string&);
convme::task<void> client(command_context&, args_t&, std::string&);
convme::task<void> time(command_context&, args_t&, std::string&);
convme::task<void> multi(command_context&, args_t&, std::string&);
convme::task<void> exec(command_context&, args_t&, std::string&);
convme::task<void> discard(command_context&, args_t&, std::string&);

// ASCII case-insensitive comparison (command options).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
        if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
        if (x != y) return false;
    }
    return true;
}

// Reply for a storage error (no space, value too large, failed device).
void storage_error(std::string& out, std::error_code ec);
inline void wrong_type_int(std::string& out) {
    resp::error(out, "ERR value is not an integer or out of range");
}

}  // namespace kv::cmd

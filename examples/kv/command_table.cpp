// SPDX-License-Identifier: MIT
// Command table, dispatch and the per-connection durability wait.
#include "command_table.hpp"

#include <algorithm>
#include <array>

namespace kv {

namespace {
using namespace cmd;
constexpr keys K0 = keys::none, K1 = keys::one, KA = keys::all, KP = keys::pairs, KE = keys::every;
// Flags and categories as convme-kv behaves (what COMMAND reports).
constexpr std::string_view RO = "RO access", RW = "RW access update", OW = "OW update",
                           RM = "RM delete", RWU = "RW update";
constexpr std::array<spec, 34> kTable{{
    {"get", 2, get, K1, "readonly fast", "@read @string @fast", RO},
    {"set", -3, set, K1, "write denyoom", "@write @string @slow", RW},
    {"setnx", 3, setnx, K1, "write denyoom fast", "@write @string @fast", OW},
    {"setex", 4, setex, K1, "write denyoom", "@write @string @slow", OW},
    {"mget", -2, mget, KA, "readonly fast", "@read @string @fast", RO},
    {"mset", -3, mset, KP, "write denyoom", "@write @string @slow", OW},
    {"incr", 2, incr, K1, "write denyoom fast", "@write @string @fast", RW},
    {"decr", 2, decr, K1, "write denyoom fast", "@write @string @fast", RW},
    {"incrby", 3, incrby, K1, "write denyoom fast", "@write @string @fast", RW},
    {"decrby", 3, decrby, K1, "write denyoom fast", "@write @string @fast", RW},
    {"strlen", 2, strlen, K1, "readonly fast", "@read @string @fast", "RO"},
    {"del", -2, del, KA, "write", "@keyspace @write @slow", RM},
    {"unlink", -2, del, KA, "write fast", "@keyspace @write @fast", RM},
    {"exists", -2, exists, KA, "readonly fast", "@keyspace @read @fast", "RO"},
    {"expire", -3, expire, K1, "write fast", "@keyspace @write @fast", RWU},
    {"pexpire", -3, pexpire, K1, "write fast", "@keyspace @write @fast", RWU},
    {"ttl", 2, ttl, K1, "readonly fast", "@keyspace @read @fast", "RO access"},
    {"pttl", 2, pttl, K1, "readonly fast", "@keyspace @read @fast", "RO access"},
    {"persist", 2, persist, K1, "write fast", "@keyspace @write @fast", RWU},
    {"dbsize", 1, dbsize, KE, "readonly fast", "@keyspace @read @fast", {}},
    {"flushdb", -1, flushdb, KE, "write", "@keyspace @write @slow @dangerous", {}},
    {"flushall", -1, flushdb, KE, "write", "@keyspace @write @slow @dangerous", {}},
    {"ping", -1, ping, K0, "fast", "@fast @connection", {}},
    {"echo", 2, echo, K0, "fast", "@fast @connection", {}},
    {"quit", -1, quit, K0, "allow_busy fast no_auth", "@fast @connection", {}},
    {"command", -1, command, K0, "loading stale", "@slow @connection", {}},
    {"info", -1, info, K0, "loading stale", "@slow @dangerous", {}},
    {"config", -2, config, K0, "admin noscript loading stale", "@admin @slow @dangerous", {}},
    {"select", 2, select, K0, "loading stale fast", "@fast @connection", {}},
    {"client", -2, client, K0, "noscript loading stale", "@slow @connection", {}},
    {"time", 1, time, K0, "loading stale fast", "@fast", {}},
    {"multi", 1, multi, K0, "noscript loading stale fast allow_busy", "@fast @transaction", {}},
    {"exec", 1, exec, K0, "noscript loading stale skip_slowlog", "@slow @transaction", {}},
    {"discard", 1, discard, K0, "noscript loading stale fast allow_busy", "@fast @transaction", {}},
}};
}  // namespace

namespace cmd {
std::span<const spec> all_commands() noexcept {
    return kTable;
}

const spec* lookup(std::string_view name) noexcept {
    if (name.size() > 16) return nullptr;
    char low[16];
    for (std::size_t i = 0; i < name.size(); ++i)
        low[i] = static_cast<char>((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    std::string_view key(low, name.size());
    for (const auto& s : kTable)  // first byte before memcmp: most names differ there
        if (s.name.size() == key.size() && s.name[0] == low[0] && s.name == key && s.fn != nullptr)
            return &s;
    return nullptr;
}

namespace {
// What C's "%.*s" prints of `s`: at most `max` bytes, up to the first NUL.
std::string_view c_prefix(std::string_view s, std::size_t max) {
    s = s.substr(0, std::min(max, s.size()));
    const std::size_t nul = s.find('\0');
    return nul == std::string_view::npos ? s : s.substr(0, nul);
}
}  // namespace

void unknown_command(std::string& out, const args_t& a) {
    // Redis quotes arguments while what it quoted so far is under 128 bytes.
    std::string quoted;
    for (std::size_t i = 1; i < a.size() && quoted.size() < 128; ++i) {
        const std::size_t room = 128 - quoted.size();
        quoted += '\'';
        quoted += c_prefix(a[i], room);
        quoted += "' ";
    }
    std::string msg = "ERR unknown command '";
    msg += c_prefix(a[0], 128);
    msg += "', with args beginning with: ";
    msg += quoted;
    resp::error(out, msg);
}

bool arity_ok(const spec& s, std::size_t argc) noexcept {
    const long long n = static_cast<long long>(argc);
    return s.arity > 0 ? n == s.arity : n >= -s.arity;
}

void wrong_arity(std::string& out, const spec& s) {
    resp::error(out, "ERR wrong number of arguments for '" + std::string(s.name) + "' command");
}

convme::task<void> done() {
    co_return;
}

// dispatch() and execute() are plain functions returning the handler's own task: as coroutines
// around it they cost two more frames and resumptions per command.
convme::task<void> dispatch(command_context& ctx, const spec* s, args_t& a, std::string& out) {
    if (s == nullptr) {
        unknown_command(out, a);
        return done();
    }
    if (!arity_ok(*s, a.size())) {
        wrong_arity(out, *s);
        return done();
    }
    return s->fn(ctx, a, out);
}
}  // namespace cmd

server_counters& counters() noexcept {
    static server_counters c;
    return c;
}

std::size_t command_count() noexcept {
    return static_cast<std::size_t>(
        std::count_if(kTable.begin(), kTable.end(), [](const spec& s) { return s.fn != nullptr; }));
}

bool command_context::has_pending() const noexcept {
    return failure_ ||
           std::any_of(pending_.begin(), pending_.end(), [](std::uint64_t t) { return t != 0; });
}

convme::task<std::error_code> command_context::wait_durable_on(unsigned core) {
    std::error_code first;
    for (unsigned s = 0; s < pending_.size(); ++s) {
        if (st_.core_of(s) != core || pending_[s] == 0) continue;
        const std::uint64_t t = std::exchange(pending_[s], 0);
        std::error_code ec = co_await st_.at(s).wait_durable(t);
        if (ec && !first) first = ec;
    }
    co_return first;
}

convme::task<std::error_code> command_context::wait_durable() {
    std::error_code first = std::exchange(failure_, {});
    for (unsigned s = 0; s < pending_.size(); ++s) {
        const std::uint64_t t = std::exchange(pending_[s], 0);
        if (t == 0) continue;
        shard& sh = st_.at(s);
        std::error_code ec;
        if (st_.core_of(s) == current_core())
            ec = co_await sh.wait_durable(t);
        else
            ec = co_await convme::run_on(st_.core_of(s), [&sh, t] { return sh.wait_durable(t); });
        if (ec && !first) first = ec;
    }
    co_return first;
}

convme::task<void> execute(command_context& ctx, std::vector<std::string>& args, std::string& out) {
    if (args.empty()) return done();
    counters().commands.fetch_add(1, std::memory_order_relaxed);
    const spec* s = lookup(args[0]);
    if (ctx.in_transaction() &&
        !(s && (s->fn == multi || s->fn == exec || s->fn == discard || s->fn == quit))) {
        queue_in_transaction(ctx, s, args, out);
        return done();
    }
    return dispatch(ctx, s, args, out);
}

bool glob_match(std::string_view p, std::string_view t) noexcept {
    std::size_t pi = 0, ti = 0, star_p = std::string_view::npos, star_t = 0;
    while (ti < t.size()) {
        if (pi < p.size()) {
            char c = p[pi];
            if (c == '*') {
                star_p = pi++;
                star_t = ti;
                continue;
            }
            if (c == '?') {
                ++pi;
                ++ti;
                continue;
            }
            if (c == '[') {
                std::size_t j = pi + 1;
                bool negate = j < p.size() && p[j] == '^';
                if (negate) ++j;
                bool match = false;
                while (j < p.size() && p[j] != ']') {
                    if (p[j] == '\\' && j + 1 < p.size()) {
                        match |= p[j + 1] == t[ti];
                        j += 2;
                    } else if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
                        char lo = std::min(p[j], p[j + 2]), hi = std::max(p[j], p[j + 2]);
                        match |= t[ti] >= lo && t[ti] <= hi;
                        j += 3;
                    } else {
                        match |= p[j] == t[ti];
                        ++j;
                    }
                }
                if (match != negate && j < p.size()) {
                    pi = j + 1;
                    ++ti;
                    continue;
                }
            } else {
                if (c == '\\' && pi + 1 < p.size()) c = p[++pi];
                if (c == t[ti]) {
                    ++pi;
                    ++ti;
                    continue;
                }
            }
        }
        if (star_p == std::string_view::npos) return false;
        pi = star_p + 1;
        ti = ++star_t;
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

namespace cmd {
void storage_error(std::string& out, std::error_code ec) {
    if (ec == std::errc::value_too_large)
        resp::error(out,
                    "ERR value too large for this store (a key plus value may use a quarter of a "
                    "shard's log half); use a bigger --device");
    else if (ec == std::errc::no_space_on_device)
        resp::error(out,
                    "ERR out of space: the shard's log is full of live data; delete keys or use a "
                    "bigger --device");
    else
        resp::error(out, "ERR storage failure: " + ec.message());
}
}  // namespace cmd

}  // namespace kv

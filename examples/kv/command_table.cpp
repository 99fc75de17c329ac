// Command table, dispatch and the per-connection durability wait.
#include "command_table.hpp"

#include <algorithm>
#include <array>

namespace kv {

namespace {
using namespace cmd;
constexpr std::array<spec, 31> kTable{{
    {"get", 2, get},         {"set", -3, set},         {"setnx", 3, setnx},     {"setex", 4, setex},
    {"mget", -2, mget},      {"mset", -3, mset},       {"incr", 2, incr},       {"decr", 2, decr},
    {"incrby", 3, incrby},   {"decrby", 3, decrby},    {"strlen", 2, strlen},   {"del", -2, del},
    {"unlink", -2, del},     {"exists", -2, exists},   {"expire", 3, expire},   {"pexpire", 3, pexpire},
    {"ttl", 2, ttl},         {"pttl", 2, pttl},        {"persist", 2, persist}, {"dbsize", 1, dbsize},
    {"flushdb", -1, flushdb}, {"flushall", -1, flushdb}, {"ping", -1, ping},    {"echo", 2, echo},
    {"quit", -1, quit},      {"command", -1, command}, {"info", -1, info},      {"config", -2, config},
    {"select", 2, select},   {"client", -2, client},   {"time", 1, time},
}};

const spec* lookup(std::string_view name) {
    if (name.size() > 16) return nullptr;
    char low[16];
    for (std::size_t i = 0; i < name.size(); ++i)
        low[i] = static_cast<char>((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    std::string_view key(low, name.size());
    for (const auto& s : kTable)
        if (s.name == key && s.fn != nullptr) return &s;
    return nullptr;
}
}  // namespace

std::size_t command_count() noexcept {
    return static_cast<std::size_t>(std::count_if(kTable.begin(), kTable.end(), [](const spec& s) { return s.fn != nullptr; }));
}

bool command_context::has_pending() const noexcept {
    return std::any_of(pending_.begin(), pending_.end(), [](std::uint64_t t) { return t != 0; });
}

convme::task<std::error_code> command_context::wait_durable() {
    std::error_code first;
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
    if (args.empty()) co_return;
    const spec* s = lookup(args[0]);
    if (s == nullptr) {
        std::string msg = "ERR unknown command '" + args[0].substr(0, 128) + "', with args beginning with: ";
        for (std::size_t i = 1; i < args.size() && i < 4; ++i) msg += "'" + args[i].substr(0, 64) + "' ";
        resp::error(out, msg);
        co_return;
    }
    const int n = static_cast<int>(std::min<std::size_t>(args.size(), 1 << 30));
    if ((s->arity > 0 && n != s->arity) || (s->arity < 0 && n < -s->arity)) {
        resp::error(out, "ERR wrong number of arguments for '" + std::string(s->name) + "' command");
        co_return;
    }
    co_await s->fn(ctx, args, out);
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
        resp::error(out, "ERR value too large for this store (a key plus value may use a quarter of a shard's log half); use a bigger --device");
    else if (ec == std::errc::no_space_on_device)
        resp::error(out, "ERR out of space: the shard's log is full of live data; delete keys or use a bigger --device");
    else
        resp::error(out, "ERR storage failure: " + ec.message());
}
}  // namespace cmd

}  // namespace kv

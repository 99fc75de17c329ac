// Key-space commands: DEL/UNLINK, EXISTS, EXPIRE/PEXPIRE, TTL/PTTL, PERSIST, DBSIZE, FLUSHDB.
#include "command_table.hpp"
#include "resp_parser.hpp"

#include <climits>

namespace kv::cmd {

convme::task<void> del(command_context& ctx, args_t& a, std::string& out) {
    long long removed = 0;
    std::string err;
    for (std::size_t i = 1; i < a.size() && err.empty(); ++i) {
        const unsigned s = ctx.st().shard_of(a[i]);
        auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) -> std::uint64_t {
            entry* e = sh.find(a[i], now_ms());
            if (!e) return sh.read_ticket(nullptr);
            auto r = sh.erase(a[i]);
            if (r.ec) {
                storage_error(err, r.ec);
                return 0;
            }
            ++removed;
            return r.ticket;
        });
        ctx.depends_on(s, ticket);
    }
    if (err.empty()) resp::integer(out, removed);
    else out += err;
}

convme::task<void> exists(command_context& ctx, args_t& a, std::string& out) {
    long long found = 0;
    for (std::size_t i = 1; i < a.size(); ++i) {
        const unsigned s = ctx.st().shard_of(a[i]);
        auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) {
            entry* e = sh.find(a[i], now_ms());
            if (e) ++found;
            return sh.read_ticket(e);
        });
        ctx.depends_on(s, ticket);
    }
    resp::integer(out, found);
}

namespace {
convme::task<void> expire_common(command_context& ctx, args_t& a, bool millis, std::string& out) {
    long long v = 0;
    if (!resp::parse_int64(a[2], v)) {
        wrong_type_int(out);
        co_return;
    }
    const std::int64_t now = now_ms();
    if (!millis) {
        if (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000) {
            resp::error(out, "ERR invalid expire time in 'expire' command");
            co_return;
        }
        v *= 1000;
    }
    if ((v > 0 && v > LLONG_MAX - now)) {
        resp::error(out, millis ? "ERR invalid expire time in 'pexpire' command" : "ERR invalid expire time in 'expire' command");
        co_return;
    }
    const std::int64_t at = v + now;
    const unsigned s = ctx.st().shard_of(a[1]);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) -> std::uint64_t {
        entry* e = sh.find(a[1], now);
        if (!e) {
            resp::integer(out, 0);
            return sh.read_ticket(nullptr);
        }
        // A time in the past deletes the key, as in Redis.
        auto r = at <= now ? sh.erase(a[1]) : sh.set_expire(a[1], at);
        if (r.ec) {
            storage_error(out, r.ec);
            return 0;
        }
        resp::integer(out, 1);
        return r.ticket;
    });
    ctx.depends_on(s, ticket);
}

convme::task<void> ttl_common(command_context& ctx, args_t& a, bool millis, std::string& out) {
    const unsigned s = ctx.st().shard_of(a[1]);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) {
        const std::int64_t now = now_ms();
        entry* e = sh.find(a[1], now);
        if (!e) resp::integer(out, -2);
        else if (e->expire_at == 0) resp::integer(out, -1);
        else {
            const std::int64_t left = e->expire_at - now;
            resp::integer(out, millis ? left : (left + 500) / 1000);
        }
        return sh.read_ticket(e);
    });
    ctx.depends_on(s, ticket);
}
}  // namespace

convme::task<void> expire(command_context& ctx, args_t& a, std::string& out) { co_await expire_common(ctx, a, false, out); }
convme::task<void> pexpire(command_context& ctx, args_t& a, std::string& out) { co_await expire_common(ctx, a, true, out); }
convme::task<void> ttl(command_context& ctx, args_t& a, std::string& out) { co_await ttl_common(ctx, a, false, out); }
convme::task<void> pttl(command_context& ctx, args_t& a, std::string& out) { co_await ttl_common(ctx, a, true, out); }

convme::task<void> persist(command_context& ctx, args_t& a, std::string& out) {
    const unsigned s = ctx.st().shard_of(a[1]);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) -> std::uint64_t {
        entry* e = sh.find(a[1], now_ms());
        if (!e || e->expire_at == 0) {
            resp::integer(out, 0);
            return sh.read_ticket(e);
        }
        auto r = sh.set_expire(a[1], 0);
        if (r.ec) {
            storage_error(out, r.ec);
            return 0;
        }
        resp::integer(out, 1);
        return r.ticket;
    });
    ctx.depends_on(s, ticket);
}

convme::task<void> dbsize(command_context& ctx, args_t&, std::string& out) {
    long long total = 0;
    for (unsigned s = 0; s < ctx.st().shard_count(); ++s) {
        auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) {
            total += static_cast<long long>(sh.size());
            return sh.read_ticket(nullptr);
        });
        ctx.depends_on(s, ticket);
    }
    resp::integer(out, total);
}

convme::task<void> flushdb(command_context& ctx, args_t& a, std::string& out) {
    if (a.size() > 2 || (a.size() == 2 && a[1] != "ASYNC" && a[1] != "SYNC" && a[1] != "async" && a[1] != "sync")) {
        resp::error(out, "ERR syntax error");
        co_return;
    }
    std::string err;
    for (unsigned s = 0; s < ctx.st().shard_count(); ++s) {
        auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) -> std::uint64_t {
            auto r = sh.flush_all();
            if (r.ec && err.empty()) storage_error(err, r.ec);
            return r.ticket;
        });
        ctx.depends_on(s, ticket);
    }
    if (err.empty()) resp::ok(out);
    else out += err;
}

}  // namespace kv::cmd

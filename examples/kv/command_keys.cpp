// SPDX-License-Identifier: MIT
// Key-space commands: DEL/UNLINK, EXISTS, EXPIRE/PEXPIRE, TTL/PTTL, PERSIST, DBSIZE, FLUSHDB.
#include <algorithm>
#include <climits>

#include "command_table.hpp"
#include "multi_shard.hpp"
#include "resp_parser.hpp"

namespace kv::cmd {

convme::task<void> del(command_context& ctx, args_t& a, std::string& out) {
    // All or nothing: room for a tombstone per key is claimed first (deletions may use the
    // reserve, so this succeeds even on a full store).
    auto parts = split_by_shard(ctx.st(), a, 1, 1,
                                [&](std::size_t i) { return record_size(a[i].size(), 0); });
    std::error_code ec = co_await claim_all(ctx, parts, shard::room::freeing);
    if (ec) {
        storage_error(out, ec);
        co_return;
    }
    long long removed = 0;
    std::error_code failed;
    co_await apply_all(ctx, parts, [&](shard& sh, shard_part& p) -> std::uint64_t {
        std::uint64_t t = sh.read_ticket(nullptr);
        for (std::size_t i : p.items) {
            if (!sh.find(a[i], now_ms())) continue;
            auto r = sh.erase(a[i], &p.claim);
            if (r.ec) {
                if (!failed) failed = r.ec;  // only a failed device: the reply is never sent
                continue;
            }
            ++removed;
            t = std::max(t, r.ticket);
        }
        return t;
    });
    if (failed)
        storage_error(out, failed);
    else
        resp::integer(out, removed);
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
enum expire_flags : unsigned { nx = 1, xx = 2, gt = 4, lt = 8 };

// EXPIRE/PEXPIRE options (Redis 7.0): NX XX GT LT, any case; false after replying an error.
bool expire_options(const args_t& a, unsigned& flags, std::string& out) {
    flags = 0;
    for (std::size_t i = 3; i < a.size(); ++i) {
        if (iequals(a[i], "NX"))
            flags |= nx;
        else if (iequals(a[i], "XX"))
            flags |= xx;
        else if (iequals(a[i], "GT"))
            flags |= gt;
        else if (iequals(a[i], "LT"))
            flags |= lt;
        else {
            resp::error(out, "ERR Unsupported option " + a[i]);
            return false;
        }
    }
    if ((flags & nx) && (flags & (xx | gt | lt))) {
        resp::error(out, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return false;
    }
    if ((flags & gt) && (flags & lt)) {
        resp::error(out, "ERR GT and LT options at the same time are not compatible");
        return false;
    }
    return true;
}

// Whether the options let a key whose expiry is `current` (0 = none, i.e. infinite) get `at`.
bool expire_allowed(unsigned flags, std::int64_t current, std::int64_t at) {
    if ((flags & nx) && current != 0) return false;
    if ((flags & xx) && current == 0) return false;
    if ((flags & gt) && (current == 0 || at <= current)) return false;
    if ((flags & lt) && current != 0 && at >= current) return false;
    return true;
}

convme::task<void> expire_common(command_context& ctx, args_t& a, bool millis, std::string& out) {
    unsigned flags = 0;
    if (!expire_options(a, flags, out)) co_return;
    long long v = 0;
    if (!resp::parse_int64(a[2], v)) {
        wrong_type_int(out);
        co_return;
    }
    const char* invalid = millis ? "ERR invalid expire time in 'pexpire' command"
                                 : "ERR invalid expire time in 'expire' command";
    const std::int64_t now = now_ms();
    if (!millis) {
        if (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000) {
            resp::error(out, invalid);
            co_return;
        }
        v *= 1000;
    }
    if (v > LLONG_MAX - now) {
        resp::error(out, invalid);
        co_return;
    }
    const std::int64_t at = v + now;
    const unsigned s = ctx.st().shard_of(a[1]);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) -> std::uint64_t {
        entry* e = sh.find(a[1], now);
        if (!e || !expire_allowed(flags, e->expire_at, at)) {
            resp::integer(out, 0);
            return sh.read_ticket(e);
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
        if (!e)
            resp::integer(out, -2);
        else if (e->expire_at == 0)
            resp::integer(out, -1);
        else {
            const std::int64_t left = e->expire_at - now;
            resp::integer(out, millis ? left : (left + 500) / 1000);
        }
        return sh.read_ticket(e);
    });
    ctx.depends_on(s, ticket);
}
}  // namespace

convme::task<void> expire(command_context& ctx, args_t& a, std::string& out) {
    co_await expire_common(ctx, a, false, out);
}
convme::task<void> pexpire(command_context& ctx, args_t& a, std::string& out) {
    co_await expire_common(ctx, a, true, out);
}
convme::task<void> ttl(command_context& ctx, args_t& a, std::string& out) {
    co_await ttl_common(ctx, a, false, out);
}
convme::task<void> pttl(command_context& ctx, args_t& a, std::string& out) {
    co_await ttl_common(ctx, a, true, out);
}

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
    if (a.size() > 2 || (a.size() == 2 && !iequals(a[1], "ASYNC") && !iequals(a[1], "SYNC"))) {
        resp::error(out, "ERR syntax error");
        co_return;
    }
    auto parts = every_shard(ctx.st(), record_size(0, 0));
    std::error_code ec = co_await claim_all(ctx, parts, shard::room::freeing);
    if (ec) {
        storage_error(out, ec);
        co_return;
    }
    std::error_code failed;
    co_await apply_all(ctx, parts, [&](shard& sh, shard_part& p) -> std::uint64_t {
        auto r = sh.flush_all(&p.claim);
        if (r.ec && !failed) failed = r.ec;
        return r.ticket;
    });
    if (failed)
        storage_error(out, failed);
    else
        resp::ok(out);
}

}  // namespace kv::cmd

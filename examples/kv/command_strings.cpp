// SPDX-License-Identifier: MIT
// String commands: GET, SET (EX/PX/EXAT/PXAT/NX/XX/KEEPTTL/GET), SETNX, SETEX, MGET, MSET,
// INCR/DECR/INCRBY/DECRBY, STRLEN.
#include <algorithm>
#include <climits>

#include "command_table.hpp"
#include "multi_shard.hpp"
#include "resp_parser.hpp"

namespace kv::cmd {

namespace {
// An expiry argument to an absolute unix-ms time, with Redis's errors: not an integer, or not
// positive / overflowing ("invalid expire time in '<command>' command").
bool to_expire_at(std::string_view arg, bool millis, bool absolute, const char* command,
                  std::int64_t& out_at, std::string& out) {
    long long v = 0;
    if (!resp::parse_int64(arg, v)) {
        wrong_type_int(out);
        return false;
    }
    bool ok = v > 0 && (millis || v <= LLONG_MAX / 1000);
    if (ok && !millis) v *= 1000;
    if (ok && !absolute) {
        const std::int64_t now = now_ms();
        ok = v <= LLONG_MAX - now;
        if (ok) v += now;
    }
    if (!ok) {
        resp::error(out, std::string("ERR invalid expire time in '") + command + "' command");
        return false;
    }
    out_at = v;
    return true;
}

struct set_request {
    std::int64_t expire_at = 0;
    bool nx = false, xx = false, keepttl = false, get = false;
};

// The shared core of SET/SETNX/SETEX, run on the key's shard.
convme::task<void> do_set(command_context& ctx, std::string& key, std::string& value,
                          set_request rq, std::string& out) {
    const hashed_key hk(key);  // hashed once for the shard and its index
    const unsigned s = ctx.st().shard_of(hk);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) -> std::uint64_t {
        // A plain SET does not need the old entry (put replaces it, expired or not).
        const bool needs_old = rq.get || rq.nx || rq.xx || rq.keepttl;
        entry* e = needs_old ? sh.find(hk, now_ms()) : nullptr;
        if (rq.get) {
            if (e)
                resp::bulk(out, e->value);
            else
                resp::null_bulk(out);
        }
        if ((rq.nx && e) || (rq.xx && !e)) {
            if (!rq.get) resp::null_bulk(out);
            return sh.read_ticket(e);
        }
        const std::int64_t exp = rq.keepttl && e ? e->expire_at : rq.expire_at;
        auto r = sh.put(hk, std::move(value), exp, nullptr, &key);
        if (r.ec) {
            if (rq.get) out.clear();  // never reached with partial output: GET reply replaced below
            storage_error(out, r.ec);
            return 0;
        }
        if (!rq.get) resp::ok(out);
        return r.ticket;
    });
    ctx.depends_on(s, ticket);
}

// SET ... GET: the reply is built in a scratch string, so that a storage error (found after the
// old value was written out) replaces it; `out` may hold a whole EXEC reply.
convme::task<void> set_and_get(command_context& ctx, args_t& a, set_request rq, std::string& out) {
    std::string reply;
    co_await do_set(ctx, a[1], a[2], rq, reply);
    out += reply;
}
}  // namespace

convme::task<void> get(command_context& ctx, args_t& a, std::string& out) {
    const hashed_key hk(a[1]);
    const unsigned s = ctx.st().shard_of(hk);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) {
        entry* e = sh.find(hk, now_ms());
        if (e)
            resp::bulk(out, e->value);
        else
            resp::null_bulk(out);
        return sh.read_ticket(e);
    });
    ctx.depends_on(s, ticket);
}

// Not a coroutine: it returns do_set's task (no frame of its own per SET).
convme::task<void> set(command_context& ctx, args_t& a, std::string& out) {
    // Options are checked first, the expiry number after (as Redis does). An option may repeat;
    // the last expiry wins. NX/XX and the expiry kinds exclude each other.
    set_request rq;
    enum { none, ex, px, exat, pxat } kind = none;
    const std::string* expire_arg = nullptr;
    for (std::size_t i = 3; i < a.size(); ++i) {
        const std::string& opt = a[i];
        const bool has_next = i + 1 < a.size();
        const bool keepttl_ok = kind == none;
        auto expiry_ok = [&](decltype(kind) k) {
            return !rq.keepttl && (kind == none || kind == k) && has_next;
        };
        if (iequals(opt, "NX") && !rq.xx) {
            rq.nx = true;
        } else if (iequals(opt, "XX") && !rq.nx) {
            rq.xx = true;
        } else if (iequals(opt, "GET")) {
            rq.get = true;
        } else if (iequals(opt, "KEEPTTL") && keepttl_ok) {
            rq.keepttl = true;
        } else if (iequals(opt, "EX") && expiry_ok(ex)) {
            kind = ex;
            expire_arg = &a[++i];
        } else if (iequals(opt, "PX") && expiry_ok(px)) {
            kind = px;
            expire_arg = &a[++i];
        } else if (iequals(opt, "EXAT") && expiry_ok(exat)) {
            kind = exat;
            expire_arg = &a[++i];
        } else if (iequals(opt, "PXAT") && expiry_ok(pxat)) {
            kind = pxat;
            expire_arg = &a[++i];
        } else {
            resp::error(out, "ERR syntax error");
            return done();
        }
    }
    if (expire_arg != nullptr &&
        !to_expire_at(*expire_arg, kind == px || kind == pxat, kind == exat || kind == pxat, "set",
                      rq.expire_at, out))
        return done();
    if (rq.get) return set_and_get(ctx, a, rq, out);
    return do_set(ctx, a[1], a[2], rq, out);  // no GET: an error reply is all it writes
}

convme::task<void> setnx(command_context& ctx, args_t& a, std::string& out) {
    const hashed_key hk(a[1]);
    const unsigned s = ctx.st().shard_of(hk);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) -> std::uint64_t {
        entry* e = sh.find(hk, now_ms());
        if (e) {
            resp::integer(out, 0);
            return sh.read_ticket(e);
        }
        auto r = sh.put(hk, std::move(a[2]), 0);
        if (r.ec) {
            storage_error(out, r.ec);
            return 0;
        }
        resp::integer(out, 1);
        return r.ticket;
    });
    ctx.depends_on(s, ticket);
}

convme::task<void> setex(command_context& ctx, args_t& a, std::string& out) {
    set_request rq;
    if (!to_expire_at(a[2], false, false, "setex", rq.expire_at, out)) co_return;
    co_await do_set(ctx, a[1], a[3], rq, out);
}

convme::task<void> mget(command_context& ctx, args_t& a, std::string& out) {
    resp::array_header(out, a.size() - 1);
    for (std::size_t i = 1; i < a.size(); ++i) {
        const unsigned s = ctx.st().shard_of(a[i]);
        auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) {
            entry* e = sh.find(a[i], now_ms());
            if (e)
                resp::bulk(out, e->value);
            else
                resp::null_bulk(out);
            return sh.read_ticket(e);
        });
        ctx.depends_on(s, ticket);
    }
}

convme::task<void> mset(command_context& ctx, args_t& a, std::string& out) {
    if (a.size() % 2 != 1) {
        resp::error(out, "ERR wrong number of arguments for 'mset' command");
        co_return;
    }
    // All or nothing: room for every pair is claimed on its shard before any is written.
    auto parts = split_by_shard(ctx.st(), a, 1, 2, [&](std::size_t i) {
        return record_size(a[i].size(), a[i + 1].size());
    });
    for (auto& p : parts)
        for (std::size_t i : p.items)
            if (a[i].size() + a[i + 1].size() > ctx.st().at(p.shard).max_record_bytes()) {
                storage_error(out, std::make_error_code(std::errc::value_too_large));
                co_return;
            }
    std::error_code ec = co_await claim_all(ctx, parts, shard::room::data);
    if (ec) {
        storage_error(out, ec);
        co_return;
    }
    std::error_code failed;
    co_await apply_all(ctx, parts, [&](shard& sh, shard_part& p) -> std::uint64_t {
        std::uint64_t t = 0;
        for (std::size_t i : p.items) {
            auto r = sh.put(a[i], std::move(a[i + 1]), 0, &p.claim);
            if (r.ec && !failed) failed = r.ec;  // only a failed device: the reply is never sent
            t = std::max(t, r.ticket);
        }
        return t;
    });
    if (failed)
        storage_error(out, failed);
    else
        resp::ok(out);
}

namespace {
convme::task<void> add_to(command_context& ctx, std::string& key, long long delta,
                          std::string& out) {
    const hashed_key hk(key);
    const unsigned s = ctx.st().shard_of(hk);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) -> std::uint64_t {
        entry* e = sh.find(hk, now_ms());
        long long v = 0;
        if (e && !resp::parse_int64(e->value, v)) {
            wrong_type_int(out);
            return sh.read_ticket(e);
        }
        if ((delta > 0 && v > LLONG_MAX - delta) || (delta < 0 && v < LLONG_MIN - delta)) {
            resp::error(out, "ERR increment or decrement would overflow");
            return sh.read_ticket(e);
        }
        v += delta;
        auto r = sh.put(hk, std::to_string(v), e ? e->expire_at : 0);  // INCR keeps the TTL
        if (r.ec) {
            storage_error(out, r.ec);
            return 0;
        }
        resp::integer(out, v);
        return r.ticket;
    });
    ctx.depends_on(s, ticket);
}
}  // namespace

convme::task<void> incr(command_context& ctx, args_t& a, std::string& out) {
    co_await add_to(ctx, a[1], 1, out);
}
convme::task<void> decr(command_context& ctx, args_t& a, std::string& out) {
    co_await add_to(ctx, a[1], -1, out);
}

convme::task<void> incrby(command_context& ctx, args_t& a, std::string& out) {
    long long d = 0;
    if (!resp::parse_int64(a[2], d)) {
        wrong_type_int(out);
        co_return;
    }
    co_await add_to(ctx, a[1], d, out);
}

convme::task<void> decrby(command_context& ctx, args_t& a, std::string& out) {
    long long d = 0;
    if (!resp::parse_int64(a[2], d)) {
        wrong_type_int(out);
        co_return;
    }
    if (d == LLONG_MIN) {
        resp::error(out, "ERR decrement would overflow");
        co_return;
    }
    co_await add_to(ctx, a[1], -d, out);
}

convme::task<void> strlen(command_context& ctx, args_t& a, std::string& out) {
    const hashed_key hk(a[1]);
    const unsigned s = ctx.st().shard_of(hk);
    auto ticket = co_await on_shard(ctx.st(), s, [&](shard& sh) {
        entry* e = sh.find(hk, now_ms());
        resp::integer(out, e ? static_cast<long long>(e->value.size()) : 0);
        return sh.read_ticket(e);
    });
    ctx.depends_on(s, ticket);
}

}  // namespace kv::cmd

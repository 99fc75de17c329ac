// SPDX-License-Identifier: MIT
// The pipeline executor: see pipeline_exec.hpp.
#include "pipeline_exec.hpp"

#include "command_table.hpp"

namespace kv {

namespace {
// The core to forward `r` to, or -1 if it must run on its own, in order.
int forward_core(command_context& ctx, const request& r) {
    if (ctx.in_transaction() || r.args.size() < 2) return -1;
    const cmd::spec* s = cmd::lookup(r.args[0]);
    if (s == nullptr || s->key_args != cmd::keys::one || !cmd::arity_ok(*s, r.args.size()))
        return -1;
    return static_cast<int>(ctx.st().core_of(ctx.st().shard_of(r.args[1])));
}

// On the target core: run the forwarded requests, then wait until what they wrote or read is
// durable (only that core's shards are involved).
convme::task<std::error_code> run_forwarded(command_context& ctx, std::vector<request*>& batch) {
    for (request* r : batch) co_await execute(ctx, r->args, r->reply);
    co_return co_await ctx.wait_durable_on(current_core());
}

// Warm the index for the second argument of each request (the key of most commands) on this
// core's shards: see shard::prefetch. A wrong guess costs a hash and a load, nothing else.
void prefetch_keys(command_context& ctx, const std::vector<request>& reqs, unsigned here) {
    if (reqs.size() < 2) return;  // one command's lookup has nothing to overlap with
    for (const auto& r : reqs) {
        if (r.args.size() < 2) continue;
        const hashed_key hk(r.args[1]);
        const unsigned s = ctx.st().shard_of(hk);
        if (ctx.st().core_of(s) == here) ctx.st().at(s).prefetch(hk.hash);
    }
}
}  // namespace

convme::task<void> execute_pipeline(command_context& ctx, std::vector<request>& reqs) {
    const unsigned here = current_core();
    const unsigned cores = ctx.st().cores();
    prefetch_keys(ctx, reqs, here);
    if (cores == 1) {  // nothing to forward: skip the routing (a table lookup and a key hash)
        for (auto& r : reqs) {
            if (ctx.quit) break;
            co_await execute(ctx, r.args, r.reply);
        }
        co_return;
    }
    std::vector<std::vector<request*>> batches(cores);
    auto flush = [&]() -> convme::task<void> {
        for (unsigned c = 0; c < cores; ++c) {
            if (batches[c].empty()) continue;
            auto& b = batches[c];
            std::error_code ec =
                co_await convme::run_on(c, [&ctx, &b] { return run_forwarded(ctx, b); });
            if (ec) ctx.note_storage_failure(ec);
            b.clear();
        }
    };
    for (auto& r : reqs) {
        if (ctx.quit) break;
        const int core = forward_core(ctx, r);
        if (core == static_cast<int>(here)) {
            co_await execute(ctx, r.args, r.reply);  // local: runs to completion right here
        } else if (core >= 0) {
            batches[static_cast<unsigned>(core)].push_back(&r);
        } else {
            co_await flush();
            co_await execute(ctx, r.args, r.reply);
        }
    }
    co_await flush();
}

}  // namespace kv

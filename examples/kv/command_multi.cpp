// SPDX-License-Identifier: MIT
// Transactions: MULTI, EXEC, DISCARD. Queued commands run back to back on the core of the one
// shard their keys belong to; no other client's command runs in between (everything there is
// local, so nothing suspends). A transaction whose keys span shards is refused while queueing.
#include "command_table.hpp"

namespace kv::cmd {

namespace {
// The shards a command touches: -1 none, -2 more than one / every shard, else the shard.
int shard_of_command(store& st, const spec& s, const args_t& a) {
    int found = -1;
    auto add = [&](const std::string& key) {
        const int sh = static_cast<int>(st.shard_of(key));
        if (found == -1)
            found = sh;
        else if (found != sh)
            found = -2;
    };
    switch (s.key_args) {
        case keys::none:
            break;
        case keys::one:
            add(a[1]);
            break;
        case keys::all:
            for (std::size_t i = 1; i < a.size(); ++i) add(a[i]);
            break;
        case keys::pairs:
            for (std::size_t i = 1; i < a.size(); i += 2) add(a[i]);
            break;
        case keys::every:
            found = st.shard_count() == 1 ? 0 : -2;
            break;
    }
    return found;
}

void reset(command_context::transaction& tx) {
    tx.active = false;
    tx.dirty = false;
    tx.shard = -1;
    tx.queued.clear();
}

convme::task<void> run_queued(command_context& ctx, std::vector<args_t>& queued, std::string& out) {
    resp::array_header(out, queued.size());
    for (auto& a : queued) co_await dispatch(ctx, lookup(a[0]), a, out);
}
}  // namespace

void queue_in_transaction(command_context& ctx, const spec* s, args_t& a, std::string& out) {
    auto& tx = ctx.tx;
    if (s == nullptr) {
        unknown_command(out, a);
        tx.dirty = true;
        return;
    }
    if (!arity_ok(*s, a.size())) {
        wrong_arity(out, *s);
        tx.dirty = true;
        return;
    }
    const int sh = shard_of_command(ctx.st(), *s, a);
    if (sh == -2 || (sh >= 0 && tx.shard >= 0 && sh != tx.shard)) {
        resp::error(out,
                    "ERR a transaction may only use keys of one shard (this store has " +
                        std::to_string(ctx.st().shard_count()) + "); '" + std::string(s->name) +
                        "' would add " +
                        (sh == -2 ? std::string("other shards") : "shard " + std::to_string(sh)) +
                        (tx.shard >= 0 ? " to shard " + std::to_string(tx.shard) : std::string()) +
                        ". The transaction will be discarded at EXEC");
        tx.dirty = true;
        return;
    }
    if (sh >= 0) tx.shard = sh;
    tx.queued.push_back(std::move(a));
    resp::simple(out, "QUEUED");
}

convme::task<void> multi(command_context& ctx, args_t&, std::string& out) {
    if (ctx.tx.active) {
        resp::error(out, "ERR MULTI calls can not be nested");
        co_return;
    }
    reset(ctx.tx);
    ctx.tx.active = true;
    resp::ok(out);
}

convme::task<void> discard(command_context& ctx, args_t&, std::string& out) {
    if (!ctx.tx.active) {
        resp::error(out, "ERR DISCARD without MULTI");
        co_return;
    }
    reset(ctx.tx);
    resp::ok(out);
}

convme::task<void> exec(command_context& ctx, args_t&, std::string& out) {
    auto& tx = ctx.tx;
    if (!tx.active) {
        resp::error(out, "ERR EXEC without MULTI");
        co_return;
    }
    if (tx.dirty) {
        reset(tx);
        resp::error(out, "EXECABORT Transaction discarded because of previous errors.");
        co_return;
    }
    std::vector<args_t> queued = std::move(tx.queued);
    const int sh = tx.shard;
    reset(tx);
    const unsigned core = sh >= 0 ? ctx.st().core_of(static_cast<unsigned>(sh)) : current_core();
    if (core == current_core())
        co_await run_queued(ctx, queued, out);
    else
        co_await convme::run_on(core, [&] { return run_queued(ctx, queued, out); });
}

}  // namespace kv::cmd

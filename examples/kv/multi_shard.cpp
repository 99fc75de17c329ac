// SPDX-License-Identifier: MIT
// Two-phase multi-key writes: claim on every shard, then apply (see multi_shard.hpp).
#include "multi_shard.hpp"

#include <map>

namespace kv::cmd {

std::vector<shard_part> split_by_shard(store& st, const std::vector<std::string>& a,
                                       std::size_t first, std::size_t step,
                                       const std::function<std::size_t(std::size_t)>& bytes) {
    std::map<unsigned, shard_part> by;
    for (std::size_t i = first; i < a.size(); i += step) {
        shard_part& p = by[st.shard_of(a[i])];
        p.items.push_back(i);
        p.bytes += bytes(i);
    }
    std::vector<shard_part> parts;
    for (auto& [s, p] : by) {
        p.shard = s;
        parts.push_back(std::move(p));
    }
    return parts;
}

std::vector<shard_part> every_shard(store& st, std::size_t bytes) {
    std::vector<shard_part> parts(st.shard_count());
    for (unsigned s = 0; s < st.shard_count(); ++s) {
        parts[s].shard = s;
        parts[s].bytes = bytes;
    }
    return parts;
}

convme::task<std::error_code> claim_all(command_context& ctx, std::vector<shard_part>& parts,
                                        shard::room kind) {
    std::size_t done = 0;
    std::error_code ec;
    for (; done < parts.size() && !ec; ++done) {
        shard_part& p = parts[done];
        ec = co_await on_shard(ctx.st(), p.shard,
                               [&](shard& sh) { return sh.claim_room(p.bytes, kind, p.claim); });
    }
    if (!ec) co_return ec;
    for (std::size_t i = 0; i < done; ++i) {
        shard_part& p = parts[i];
        co_await on_shard(ctx.st(), p.shard, [&](shard& sh) {
            sh.release(p.claim);
            return 0;
        });
    }
    co_return ec;
}

convme::task<void> apply_all(command_context& ctx, std::vector<shard_part>& parts,
                             const std::function<std::uint64_t(shard&, shard_part&)>& apply) {
    for (auto& p : parts) {
        const std::uint64_t ticket = co_await on_shard(ctx.st(), p.shard, [&](shard& sh) {
            const std::uint64_t t = apply(sh, p);
            sh.release(p.claim);
            return t;
        });
        ctx.depends_on(p.shard, ticket);
    }
}

}  // namespace kv::cmd

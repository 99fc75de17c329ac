// SPDX-License-Identifier: MIT
// Internal: commands that write several keys (MSET, DEL, FLUSHDB) in two phases, so that one
// that replies an error has changed nothing: first claim room on every shard involved (each on
// its own core), then apply on each shard, or give every claim back.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "commands.hpp"

namespace kv::cmd {

struct shard_part {
    unsigned shard = 0;
    std::vector<std::size_t> items;  // indexes into the command's arguments
    std::size_t bytes = 0;           // record bytes the items need
    shard::claim claim;
};

// Group argument indexes by the shard of a[i]; `bytes(i)` is the record size item i needs.
std::vector<shard_part> split_by_shard(store& st, const std::vector<std::string>& a,
                                       std::size_t first, std::size_t step,
                                       const std::function<std::size_t(std::size_t)>& bytes);
// One part per shard (FLUSHDB), each needing `bytes`.
std::vector<shard_part> every_shard(store& st, std::size_t bytes);

// Phase 1: claim room on every part's shard. On failure nothing stays claimed.
convme::task<std::error_code> claim_all(command_context& ctx, std::vector<shard_part>& parts,
                                        shard::room kind);
// Phase 2: run apply(shard, part) on each part's shard; it returns the ticket the reply depends
// on. Whatever a part's claim did not use is given back.
convme::task<void> apply_all(command_context& ctx, std::vector<shard_part>& parts,
                             const std::function<std::uint64_t(shard&, shard_part&)>& apply);

}  // namespace kv::cmd

// SPDX-License-Identifier: MIT
// Executes the commands one read brought (a pipeline) with as few cross-core hops as possible:
// a command for one key runs at once when its shard is on this core; those for another core's
// shards are forwarded together, one hop per core for the whole run of them, and that core also
// waits for their durability before answering, so no second hop is needed for it. Any other
// command (several keys, server commands, everything inside MULTI) runs in order on its own,
// after the forwarded ones before it have finished.
//
// Replies keep the request order. Commands for different shards may run in a different order
// than sent (each shard keeps the order of its own commands); the client sees no difference,
// since every reply of the read waits until all of them are done.
#pragma once

#include <string>
#include <vector>

#include "commands.hpp"

namespace kv {

struct request {
    std::vector<std::string> args;
    std::string reply;
};

// Run `reqs` and fill in their replies. Stops after QUIT (ctx.quit): later requests get none.
convme::task<void> execute_pipeline(command_context& ctx, std::vector<request>& reqs);

}  // namespace kv

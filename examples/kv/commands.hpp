// Redis command execution on top of the sharded store. A connection owns one command_context;
// execute() appends each reply to `out` and records, per shard, the ticket the reply depends on.
// The connection sends `out` only after wait_durable() so no client ever sees a write (its own or
// anyone's) that is not on the device yet.
#pragma once

#include "store.hpp"

#include <convme/task.hpp>

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

namespace kv {

// Process-wide facts INFO reports (filled by the server; zero in tests).
struct server_facts {
    unsigned port = 0;
    unsigned cores = 1;
    std::string device_uri;
    std::int64_t started_ms = 0;
};

class command_context {
public:
    explicit command_context(store& st, const server_facts* facts = nullptr)
        : st_(st), facts_(facts), pending_(st.shard_count(), 0) {}

    store& st() noexcept { return st_; }
    const server_facts* facts() const noexcept { return facts_; }
    // The reply being built depends on batch `ticket` of shard `s`.
    void depends_on(unsigned s, std::uint64_t ticket) noexcept {
        if (ticket > pending_[s]) pending_[s] = ticket;
    }
    bool has_pending() const noexcept;
    // Wait until every batch the buffered replies depend on is durable.
    convme::task<std::error_code> wait_durable();

    bool quit = false;  // QUIT: send the replies, then close

    // MULTI ... EXEC (command_multi.cpp): commands are queued, then run together on one shard.
    struct transaction {
        bool active = false;
        bool dirty = false;          // a command failed to queue: EXEC aborts
        int shard = -1;              // the one shard the queued keys belong to, -1 = none yet
        std::vector<std::vector<std::string>> queued;
    };
    bool in_transaction() const noexcept { return tx.active; }
    transaction tx;

private:
    store& st_;
    const server_facts* facts_;
    std::vector<std::uint64_t> pending_;
};

// Execute one command (args[0] is its name, any case). `args` may be moved from.
convme::task<void> execute(command_context& ctx, std::vector<std::string>& args, std::string& out);

// Names in the command table (for COMMAND COUNT and the README).
std::size_t command_count() noexcept;

// Glob match as in Redis CONFIG GET / KEYS patterns: * ? [abc] [^a] [a-z] and \ escapes.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

}  // namespace kv

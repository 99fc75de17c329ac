// SPDX-License-Identifier: MIT
// Redis command execution on top of the sharded store. A connection owns one command_context;
// execute() appends each reply to `out` and records, per shard, the ticket the reply depends on.
// The connection sends `out` only after wait_durable() so no client ever sees a write (its own or
// anyone's) that is not on the device yet.
#pragma once

#include <atomic>
#include <convme/task.hpp>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "store.hpp"

namespace kv {

// Process-wide facts INFO reports (filled by the server; zero in tests).
struct server_facts {
    unsigned port = 0;
    unsigned cores = 1;
    std::string device_uri;
    std::int64_t started_ms = 0;
};

// Process-wide counters for INFO (every connection and command, on any core).
struct server_counters {
    std::atomic<std::uint64_t> connections_received{0};
    std::atomic<std::int64_t> connected{0};
    std::atomic<std::uint64_t> commands{0};
    std::atomic<std::uint64_t> next_client_id{0};
};
server_counters& counters() noexcept;

class command_context {
  public:
    explicit command_context(store& st, const server_facts* facts = nullptr)
        : st_(st), facts_(facts), pending_(st.shard_count(), 0) {
        client_id = counters().next_client_id.fetch_add(1) + 1;
        counters().connections_received.fetch_add(1);
        counters().connected.fetch_add(1);
    }
    ~command_context() { counters().connected.fetch_sub(1); }
    command_context(const command_context&) = delete;
    command_context& operator=(const command_context&) = delete;

    store& st() noexcept { return st_; }
    const server_facts* facts() const noexcept { return facts_; }
    // The reply being built depends on batch `ticket` of shard `s`.
    void depends_on(unsigned s, std::uint64_t ticket) noexcept {
        if (ticket > pending_[s]) pending_[s] = ticket;
    }
    bool has_pending() const noexcept;
    // Wait until every batch the buffered replies depend on is durable.
    convme::task<std::error_code> wait_durable();
    // The same for the shards of `core` only; must run on that core.
    convme::task<std::error_code> wait_durable_on(unsigned core);
    // A forwarded batch could not be made durable: the next wait_durable() reports `ec`.
    void note_storage_failure(std::error_code ec) noexcept {
        if (!failure_) failure_ = ec;
    }

    bool quit = false;            // QUIT: send the replies, then close
    std::uint64_t client_id = 0;  // CLIENT ID
    std::string client_name;      // CLIENT SETNAME / GETNAME

    // MULTI ... EXEC (command_multi.cpp): commands are queued, then run together on one shard.
    struct transaction {
        bool active = false;
        bool dirty = false;  // a command failed to queue: EXEC aborts
        int shard = -1;      // the one shard the queued keys belong to, -1 = none yet
        std::vector<std::vector<std::string>> queued;
    };
    bool in_transaction() const noexcept { return tx.active; }
    transaction tx;

  private:
    store& st_;
    const server_facts* facts_;
    std::vector<std::uint64_t> pending_;
    std::error_code failure_;
};

// Execute one command (args[0] is its name, any case). `args` may be moved from.
convme::task<void> execute(command_context& ctx, std::vector<std::string>& args, std::string& out);

// Names in the command table (COMMAND COUNT).
std::size_t command_count() noexcept;

// Glob match as in Redis CONFIG GET / KEYS patterns: * ? [abc] [^a] [a-z] and \ escapes.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

}  // namespace kv

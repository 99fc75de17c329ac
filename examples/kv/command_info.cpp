// SPDX-License-Identifier: MIT
// INFO [section ...]: the sections Redis 7.0 has that mean something here, in Redis's order
// (server, clients, memory, persistence, stats, replication, cpu, keyspace), plus "storage":
// the per-shard log of convme-kv. No argument, "default", "all" or "everything": every section.
// Section names are case-insensitive; unknown ones are left out (all unknown: an empty reply).
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "command_table.hpp"

namespace kv::cmd {

namespace {
struct shard_facts {
    std::size_t keys = 0, expires = 0;
    std::uint64_t used = 0, half = 0, live = 0, bytes_written = 0, batches = 0, flushes = 0,
                  compactions = 0, recovered = 0, shared_flushes = 0;
    bool compacting = false, read_only = false;
};

std::string field(std::string_view name, const std::string& value) {
    return std::string(name) + ":" + value + "\r\n";
}
std::string num(std::uint64_t v) {
    return std::to_string(v);
}

std::uint64_t resident_bytes() {
    std::ifstream f("/proc/self/statm");
    std::uint64_t pages = 0, rss = 0;
    f >> pages >> rss;
    return rss * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string seconds(const timeval& tv) {
    char b[40];
    std::snprintf(b, sizeof b, "%ld.%06ld", static_cast<long>(tv.tv_sec),
                  static_cast<long>(tv.tv_usec));
    return b;
}

std::string server_section(const server_facts* f) {
    std::string s = "# Server\r\n" + field("redis_version", "7.0.0") +
                    field("redis_mode", "standalone") + field("arch_bits", "64") +
                    field("process_id", num(static_cast<std::uint64_t>(::getpid())));
    if (f) {
        const std::int64_t up = (now_ms() - f->started_ms) / 1000;
        s += field("tcp_port", num(f->port)) + field("uptime_in_seconds", std::to_string(up)) +
             field("uptime_in_days", std::to_string(up / 86400)) + field("io_threads_active", "0") +
             field("convme_kv", "1") + field("convme_cores", num(f->cores)) +
             field("convme_device", f->device_uri);
    }
    return s;
}

std::string clients_section() {
    return "# Clients\r\n" +
           field("connected_clients", std::to_string(counters().connected.load())) +
           field("cluster_connections", "0") + field("maxclients", "10000") +
           field("blocked_clients", "0") + field("tracking_clients", "0") +
           field("clients_in_timeout_table", "0");
}

std::string memory_section() {
    const std::uint64_t rss = resident_bytes();
    return "# Memory\r\n" + field("used_memory", num(rss)) + field("used_memory_rss", num(rss)) +
           field("maxmemory", "0") + field("maxmemory_policy", "noeviction") +
           field("mem_allocator", "libc");
}

std::string persistence_section() {
    return "# Persistence\r\n" + field("loading", "0") + field("async_loading", "0") +
           field("rdb_changes_since_last_save", "0") + field("rdb_bgsave_in_progress", "0") +
           field("aof_enabled", "1") + field("aof_rewrite_in_progress", "0");
}

std::string stats_section() {
    return "# Stats\r\n" +
           field("total_connections_received", num(counters().connections_received.load())) +
           field("total_commands_processed", num(counters().commands.load())) +
           field("rejected_connections", "0");
}

std::string replication_section() {
    return "# Replication\r\n" + field("role", "master") + field("connected_slaves", "0");
}

std::string cpu_section() {
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    return "# CPU\r\n" + field("used_cpu_sys", seconds(self.ru_stime)) +
           field("used_cpu_user", seconds(self.ru_utime));
}

convme::task<std::vector<shard_facts>> gather(command_context& ctx) {
    std::vector<shard_facts> all;
    for (unsigned s = 0; s < ctx.st().shard_count(); ++s) {
        all.push_back(co_await on_shard(ctx.st(), s, [&](shard& sh) {
            shard_facts r;
            r.keys = sh.size();
            for (const auto& [k, e] : sh.index())
                if (e.expire_at != 0) ++r.expires;
            r.used = sh.used_bytes();
            r.half = sh.half_size();
            r.live = sh.live_bytes();
            r.bytes_written = sh.stats().bytes_written;
            r.batches = sh.stats().batches_written;
            r.flushes = sh.stats().flushes;
            r.shared_flushes = sh.stats().shared_flushes;
            r.compactions = sh.stats().compactions;
            r.recovered = sh.stats().records_recovered;
            r.compacting = sh.compacting();
            r.read_only = sh.read_only();
            return r;
        }));
    }
    co_return all;
}

std::string keyspace_section(const std::vector<shard_facts>& shards) {
    std::size_t keys = 0, expires = 0;
    for (const auto& f : shards) {
        keys += f.keys;
        expires += f.expires;
    }
    std::string s = "# Keyspace\r\n";
    if (keys) s += "db0:keys=" + num(keys) + ",expires=" + num(expires) + ",avg_ttl=0\r\n";
    return s;
}

std::string storage_section(const std::vector<shard_facts>& shards) {
    std::string s = "# Storage\r\n" + field("shards", num(shards.size()));
    for (std::size_t i = 0; i < shards.size(); ++i) {
        const auto& f = shards[i];
        s += "shard" + num(i) + ":keys=" + num(f.keys) + ",log_used=" + num(f.used) +
             ",log_half=" + num(f.half) + ",live_bytes=" + num(f.live) +
             ",batches=" + num(f.batches) + ",flushes=" + num(f.flushes) +
             ",shared_flushes=" + num(f.shared_flushes) + ",bytes_written=" + num(f.bytes_written) +
             ",compactions=" + num(f.compactions) + ",recovered_records=" + num(f.recovered) +
             ",compacting=" + (f.compacting ? "1" : "0") +
             ",read_only=" + (f.read_only ? "1" : "0") + "\r\n";
    }
    return s;
}
}  // namespace

convme::task<void> info(command_context& ctx, args_t& a, std::string& out) {
    static constexpr std::string_view kSections[] = {"server",      "clients",  "memory",
                                                     "persistence", "stats",    "replication",
                                                     "cpu",         "keyspace", "storage"};
    bool want[std::size(kSections)] = {};
    bool every = a.size() == 1;
    for (std::size_t i = 1; i < a.size(); ++i) {
        if (iequals(a[i], "default") || iequals(a[i], "all") || iequals(a[i], "everything"))
            every = true;
        for (std::size_t k = 0; k < std::size(kSections); ++k)
            if (iequals(a[i], kSections[k])) want[k] = true;
    }
    std::vector<shard_facts> shards;
    if (every || want[7] || want[8]) shards = co_await gather(ctx);
    std::string body;
    for (std::size_t k = 0; k < std::size(kSections); ++k) {
        if (!every && !want[k]) continue;
        if (!body.empty()) body += "\r\n";
        switch (k) {
            case 0:
                body += server_section(ctx.facts());
                break;
            case 1:
                body += clients_section();
                break;
            case 2:
                body += memory_section();
                break;
            case 3:
                body += persistence_section();
                break;
            case 4:
                body += stats_section();
                break;
            case 5:
                body += replication_section();
                break;
            case 6:
                body += cpu_section();
                break;
            case 7:
                body += keyspace_section(shards);
                break;
            default:
                body += storage_section(shards);
                break;
        }
    }
    resp::bulk(out, body);
}

}  // namespace kv::cmd

// Connection and server commands: PING, ECHO, QUIT, COMMAND, INFO, CONFIG GET, SELECT, CLIENT, TIME.
#include "command_table.hpp"

#include <unistd.h>

#include <chrono>

namespace kv::cmd {

convme::task<void> ping(command_context&, args_t& a, std::string& out) {
    if (a.size() > 2) resp::error(out, "ERR wrong number of arguments for 'ping' command");
    else if (a.size() == 2) resp::bulk(out, a[1]);
    else resp::simple(out, "PONG");
    co_return;
}

convme::task<void> echo(command_context&, args_t& a, std::string& out) {
    resp::bulk(out, a[1]);
    co_return;
}

convme::task<void> quit(command_context& ctx, args_t&, std::string& out) {
    resp::ok(out);
    ctx.quit = true;
    co_return;
}

// COMMAND: no command docs are served (clients such as redis-cli fall back to plain behaviour);
// COMMAND COUNT answers the table size.
convme::task<void> command(command_context&, args_t& a, std::string& out) {
    if (a.size() >= 2 && (a[1] == "COUNT" || a[1] == "count")) resp::integer(out, static_cast<long long>(command_count()));
    else resp::array_header(out, 0);
    co_return;
}

convme::task<void> select(command_context&, args_t& a, std::string& out) {
    if (a[1] == "0") resp::ok(out);
    else resp::error(out, "ERR DB index is out of range");
    co_return;
}

convme::task<void> client(command_context&, args_t& a, std::string& out) {
    std::string sub = a[1];
    for (auto& c : sub) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (sub == "setname" || sub == "setinfo" || sub == "no-evict" || sub == "no-touch") resp::ok(out);
    else if (sub == "getname") resp::null_bulk(out);
    else if (sub == "id") resp::integer(out, 1);
    else resp::error(out, "ERR unknown subcommand '" + a[1].substr(0, 64) + "'. Try CLIENT SETNAME/GETNAME/ID.");
    co_return;
}

convme::task<void> time(command_context&, args_t&, std::string& out) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    resp::array_header(out, 2);
    resp::bulk(out, std::to_string(us / 1000000));
    resp::bulk(out, std::to_string(us % 1000000));
    co_return;
}

// CONFIG GET answers the parameters clients ask about (redis-benchmark reads "save" and
// "appendonly"); every write is fsync'ed before its reply, which is appendfsync "always".
convme::task<void> config(command_context&, args_t& a, std::string& out) {
    std::string sub = a[1];
    for (auto& c : sub) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (sub == "get") {
        if (a.size() < 3) {
            resp::error(out, "ERR wrong number of arguments for 'config|get' command");
            co_return;
        }
        static constexpr std::pair<std::string_view, std::string_view> kParams[] = {
            {"save", ""}, {"appendonly", "yes"}, {"appendfsync", "always"}, {"databases", "1"},
            {"maxmemory", "0"}, {"maxmemory-policy", "noeviction"}, {"proto-max-bulk-len", "536870912"},
            {"timeout", "0"}, {"io-threads", "1"}, {"cluster-enabled", "no"},
        };
        std::vector<std::pair<std::string_view, std::string_view>> hits;
        for (const auto& p : kParams) {
            for (std::size_t i = 2; i < a.size(); ++i) {
                std::string pat = a[i];
                for (auto& c : pat) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                if (glob_match(pat, p.first)) {
                    hits.push_back(p);
                    break;
                }
            }
        }
        resp::array_header(out, hits.size() * 2);
        for (const auto& [k, v] : hits) {
            resp::bulk(out, k);
            resp::bulk(out, v);
        }
    } else if (sub == "resetstat") {
        resp::ok(out);
    } else if (sub == "set") {
        resp::error(out, "ERR CONFIG SET is not supported by convme-kv (configure it with command line flags)");
    } else {
        resp::error(out, "ERR unknown subcommand '" + a[1].substr(0, 64) + "'. Try CONFIG GET.");
    }
    co_return;
}

convme::task<void> info(command_context& ctx, args_t&, std::string& out) {
    struct shard_facts {
        std::size_t keys = 0, expires = 0;
        std::uint64_t used = 0, half = 0, live = 0, bytes_written = 0, batches = 0, flushes = 0, compactions = 0, recovered = 0;
        bool compacting = false;
    };
    std::string body;
    const server_facts* f = ctx.facts();
    const std::int64_t now = now_ms();
    body += "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nconvme_kv:1\r\narch_bits:64\r\n";
    body += "process_id:" + std::to_string(::getpid()) + "\r\n";
    if (f) {
        body += "tcp_port:" + std::to_string(f->port) + "\r\n";
        body += "uptime_in_seconds:" + std::to_string((now - f->started_ms) / 1000) + "\r\n";
        body += "io_threads_active:0\r\nconvme_cores:" + std::to_string(f->cores) + "\r\n";
        body += "convme_device:" + f->device_uri + "\r\n";
    }
    body += "\r\n# Persistence\r\nloading:0\r\naof_enabled:1\r\nrdb_bgsave_in_progress:0\r\n";
    std::size_t keys = 0, expires = 0;
    std::string shards;
    for (unsigned s = 0; s < ctx.st().shard_count(); ++s) {
        shard_facts sf = co_await on_shard(ctx.st(), s, [&](shard& sh) {
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
            r.compactions = sh.stats().compactions;
            r.recovered = sh.stats().records_recovered;
            r.compacting = sh.compacting();
            return r;
        });
        keys += sf.keys;
        expires += sf.expires;
        shards += "shard" + std::to_string(s) + ":keys=" + std::to_string(sf.keys) + ",log_used=" +
                  std::to_string(sf.used) + ",log_half=" + std::to_string(sf.half) + ",live_bytes=" +
                  std::to_string(sf.live) + ",batches=" + std::to_string(sf.batches) + ",flushes=" +
                  std::to_string(sf.flushes) + ",bytes_written=" + std::to_string(sf.bytes_written) + ",compactions=" + std::to_string(sf.compactions) +
                  ",recovered_records=" + std::to_string(sf.recovered) + ",compacting=" +
                  (sf.compacting ? "1" : "0") + "\r\n";
    }
    body += "\r\n# Storage\r\nshards:" + std::to_string(ctx.st().shard_count()) + "\r\n" + shards;
    body += "\r\n# Keyspace\r\n";
    if (keys) body += "db0:keys=" + std::to_string(keys) + ",expires=" + std::to_string(expires) + ",avg_ttl=0\r\n";
    resp::bulk(out, body);
}

}  // namespace kv::cmd

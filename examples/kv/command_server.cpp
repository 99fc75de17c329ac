// SPDX-License-Identifier: MIT
// Connection and server commands: PING, ECHO, QUIT, CONFIG GET, SELECT, CLIENT, TIME
// (COMMAND is in command_docs.cpp, INFO in command_info.cpp).
#include <chrono>

#include "command_table.hpp"
#include "resp_parser.hpp"

namespace kv::cmd {

convme::task<void> ping(command_context&, args_t& a, std::string& out) {
    if (a.size() > 2)
        resp::error(out, "ERR wrong number of arguments for 'ping' command");
    else if (a.size() == 2)
        resp::bulk(out, a[1]);
    else
        resp::simple(out, "PONG");
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

convme::task<void> select(command_context&, args_t& a, std::string& out) {
    long long db = 0;
    if (!resp::parse_int64(a[1], db))
        wrong_type_int(out);
    else if (db != 0)
        resp::error(out, "ERR DB index is out of range");  // one database
    else
        resp::ok(out);
    co_return;
}

namespace {
// Redis allows client names of printable ASCII without spaces ('!'..'~').
bool valid_client_name(std::string_view n) {
    for (char c : n)
        if (c < '!' || c > '~') return false;
    return true;
}
}  // namespace

convme::task<void> client(command_context& ctx, args_t& a, std::string& out) {
    const std::string& sub = a[1];
    auto arity = [&](std::size_t n, const char* name) {
        if (a.size() == n) return true;
        resp::error(out,
                    std::string("ERR wrong number of arguments for 'client|") + name + "' command");
        return false;
    };
    if (iequals(sub, "SETNAME")) {
        if (!arity(3, "setname")) co_return;
        if (!valid_client_name(a[2])) {
            resp::error(out,
                        "ERR Client names cannot contain spaces, newlines or special characters.");
            co_return;
        }
        ctx.client_name = a[2];  // an empty name removes it
        resp::ok(out);
    } else if (iequals(sub, "GETNAME")) {
        if (!arity(2, "getname")) co_return;
        if (ctx.client_name.empty())
            resp::null_bulk(out);
        else
            resp::bulk(out, ctx.client_name);
    } else if (iequals(sub, "ID")) {
        if (!arity(2, "id")) co_return;
        resp::integer(out, static_cast<long long>(ctx.client_id));
    } else if (iequals(sub, "SETINFO") || iequals(sub, "NO-EVICT") || iequals(sub, "NO-TOUCH")) {
        resp::ok(out);  // accepted and ignored (clients send them on connect)
    } else {
        resp::error(out, "ERR unknown subcommand '" + sub.substr(0, 128) + "'. Try CLIENT HELP.");
    }
    co_return;
}

convme::task<void> time(command_context&, args_t&, std::string& out) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
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
            {"save", ""},
            {"appendonly", "yes"},
            {"appendfsync", "always"},
            {"databases", "1"},
            {"maxmemory", "0"},
            {"maxmemory-policy", "noeviction"},
            {"proto-max-bulk-len", "536870912"},
            {"timeout", "0"},
            {"io-threads", "1"},
            {"cluster-enabled", "no"},
        };
        std::vector<std::pair<std::string_view, std::string_view>> hits;
        for (const auto& p : kParams) {
            for (std::size_t i = 2; i < a.size(); ++i) {
                std::string pat = a[i];
                for (auto& c : pat)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
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
        resp::error(
            out,
            "ERR CONFIG SET is not supported by convme-kv (configure it with command line flags)");
    } else {
        resp::error(out, "ERR unknown subcommand '" + a[1].substr(0, 128) + "'. Try CONFIG HELP.");
    }
    co_return;
}

}  // namespace kv::cmd

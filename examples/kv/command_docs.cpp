// SPDX-License-Identifier: MIT
// COMMAND, COMMAND INFO, COMMAND COUNT, COMMAND DOCS: the command table described in the shape
// Redis 7.0 uses (name, arity, flags, first/last key and step, ACL categories, tips, key specs,
// subcommands), so client libraries that read it see what convme-kv does.
#include "command_table.hpp"

namespace kv::cmd {

namespace {
void status_words(std::string& out, std::string_view words) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < words.size();) {
        const std::size_t end = std::min(words.find(' ', i), words.size());
        ++n;
        i = end + 1;
    }
    resp::array_header(out, words.empty() ? 0 : n);
    for (std::size_t i = 0; i < words.size();) {
        const std::size_t end = std::min(words.find(' ', i), words.size());
        resp::simple(out, words.substr(i, end - i));
        i = end + 1;
    }
}

void key_spec(std::string& out, const spec& s, int last, int step) {
    resp::array_header(out, 6);
    resp::bulk(out, "flags");
    status_words(out, s.key_flags);
    resp::bulk(out, "begin_search");
    resp::array_header(out, 4);
    resp::bulk(out, "type");
    resp::bulk(out, "index");
    resp::bulk(out, "spec");
    resp::array_header(out, 2);
    resp::bulk(out, "index");
    resp::integer(out, 1);
    resp::bulk(out, "find_keys");
    resp::array_header(out, 4);
    resp::bulk(out, "type");
    resp::bulk(out, "range");
    resp::bulk(out, "spec");
    resp::array_header(out, 6);
    resp::bulk(out, "lastkey");
    resp::integer(out, last);
    resp::bulk(out, "keystep");
    resp::integer(out, step);
    resp::bulk(out, "limit");
    resp::integer(out, 0);
}

void describe(std::string& out, const spec& s) {
    int first = 0, last = 0, step = 0;
    switch (s.key_args) {
        case keys::one:
            first = last = step = 1;
            break;
        case keys::all:
            first = 1, last = -1, step = 1;
            break;
        case keys::pairs:
            first = 1, last = -1, step = 2;
            break;
        case keys::none:
        case keys::every:
            break;
    }
    resp::array_header(out, 10);
    resp::bulk(out, s.name);
    resp::integer(out, s.arity);
    status_words(out, s.flags);
    resp::integer(out, first);
    resp::integer(out, last);
    resp::integer(out, step);
    status_words(out, s.acl);
    resp::array_header(out, 0);  // tips
    if (first == 0) {
        resp::array_header(out, 0);
    } else {
        resp::array_header(out, 1);
        key_spec(out, s, first == last ? 0 : -1, step);
    }
    resp::array_header(out, 0);  // subcommands
}
}  // namespace

convme::task<void> command(command_context&, args_t& a, std::string& out) {
    const auto table = all_commands();
    if (a.size() == 1) {
        resp::array_header(out, table.size());
        for (const auto& s : table) describe(out, s);
    } else if (iequals(a[1], "COUNT") && a.size() == 2) {
        resp::integer(out, static_cast<long long>(table.size()));
    } else if (iequals(a[1], "INFO")) {
        resp::array_header(out, a.size() - 2);
        for (std::size_t i = 2; i < a.size(); ++i) {
            const spec* s = lookup(a[i]);
            if (s)
                describe(out, *s);
            else
                resp::null_bulk(out);
        }
    } else if (iequals(a[1], "DOCS")) {
        resp::array_header(out, 0);  // no documentation is served; clients fall back to plain input
    } else if (iequals(a[1], "COUNT")) {
        resp::error(out, "ERR wrong number of arguments for 'command|count' command");
    } else {
        resp::error(out, "ERR unknown subcommand '" + a[1].substr(0, 128) + "'. Try COMMAND HELP.");
    }
    co_return;
}

}  // namespace kv::cmd

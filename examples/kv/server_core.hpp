// SPDX-License-Identifier: MIT
// Internal: per-core server state shared by server.cpp and connection.cpp.
#pragma once

#include <convme/asio.hpp>
#include <list>

#include "commands.hpp"
#include "socket_poller.hpp"
#include "store.hpp"

namespace kv {

struct core_server {
    core_server(unsigned core_id, store& s, const server_facts& f)
        : core(core_id), st(s), facts(f) {}

    unsigned core;
    store& st;
    const server_facts& facts;
    asio::io_context io{1};
    socket_poller poller{io};
    asio::ip::tcp::acceptor acceptor{io};
    std::list<asio::ip::tcp::socket*> connections;  // open sockets, closed at shutdown
    bool stopping = false;
    bool accept_done = true;
    bool ticker_done = true;
};

// One client: read, parse, execute, wait for durability, reply; until EOF, error or QUIT.
convme::task<void> serve_connection(core_server& cs, asio::ip::tcp::socket sock);

}  // namespace kv

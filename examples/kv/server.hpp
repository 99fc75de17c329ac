// SPDX-License-Identifier: MIT
// The network side of convme-kv: per core, one asio::io_context driven by the core's convme loop
// (convme::asio_poller), one SO_REUSEPORT listener, and one convme task per connection.
#pragma once

#include <chrono>
#include <string>

#include "commands.hpp"
#include "store.hpp"

namespace kv {

struct server_options {
    std::string bind = "127.0.0.1";
    unsigned port = 6379;  // 0: pick a free port (printed at startup)
    unsigned cores = 1;
    bool pin_threads = false;
    std::string device_uri;  // convme device URI
    // An idle loop sleeps until a socket, another core or the device wakes it (socket_poller);
    // it also wakes this often for the expiry sweep and to notice signals.
    std::chrono::microseconds idle_tick{100000};
    std::chrono::microseconds spin_before_sleep{200};
    store_options store;
};

// Open the device, recover the store, serve until SIGINT/SIGTERM. Returns the exit code.
int run_server(const server_options& opts);

}  // namespace kv

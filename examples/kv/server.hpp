// The network side of convme-kv: per core, one asio::io_context driven by the core's convme loop
// (convme::asio_poller), one SO_REUSEPORT listener, and one convme task per connection.
#pragma once

#include "commands.hpp"
#include "store.hpp"

#include <chrono>
#include <string>

namespace kv {

struct server_options {
    std::string bind = "127.0.0.1";
    unsigned port = 6379;             // 0: pick a free port (printed at startup)
    unsigned cores = 1;
    bool pin_threads = false;
    std::string device_uri;           // convme device URI
    // The loop may sleep while sockets are idle (Asio's epoll is not visible to its eventfd);
    // a timer this often bounds the wake-up latency of an idle core.
    std::chrono::microseconds idle_tick{1000};
    std::chrono::microseconds spin_before_sleep{200};
    store_options store;
};

// Open the device, recover the store, serve until SIGINT/SIGTERM. Returns the exit code.
int run_server(const server_options& opts);

}  // namespace kv

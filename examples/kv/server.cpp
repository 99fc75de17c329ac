// SPDX-License-Identifier: MIT
// Server lifecycle: open the device, lay out / recover the store on every core, start one
// listener and io_context per core, wait for SIGINT/SIGTERM, shut down cleanly.
#include "server.hpp"

#include <sys/socket.h>

#include <convme/device.hpp>
#include <convme/runtime.hpp>
#include <cstdio>
#include <memory>
#include <vector>

#include "server_core.hpp"

namespace kv {

namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

convme::task<void> accept_loop(core_server& cs) {
    cs.accept_done = false;
    while (!cs.stopping) {
        cs.poller.note_op();
        auto [ec, sock] = co_await cs.acceptor.async_accept(convme::use_loop);
        if (ec) {
            if (cs.stopping || ec == asio::error::operation_aborted) break;
            // Out of file descriptors and the like: back off instead of spinning.
            std::fprintf(stderr, "kv: accept on core %u failed: %s\n", cs.core,
                         ec.message().c_str());
            co_await convme::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        cs.poller.watch(sock.native_handle());
        convme::loop::current()->spawn(serve_connection(cs, std::move(sock)));
    }
    cs.accept_done = true;
}

// Drops expired keys of the core's shards from memory a little at a time, every 100 ms. Its
// wake-ups also bound how late an idle core notices a signal (Asio's signal pipe is not in the
// socket_poller's set); sockets wake the loop by themselves.
convme::task<void> ticker(core_server& cs, std::chrono::microseconds tick) {
    cs.ticker_done = false;
    auto last_sweep = std::chrono::steady_clock::now();
    while (!cs.stopping) {
        co_await convme::sleep_for(tick);
        auto now = std::chrono::steady_clock::now();
        if (now - last_sweep >= std::chrono::milliseconds(100)) {
            last_sweep = now;
            const std::int64_t wall = now_ms();
            for (unsigned s = 0; s < cs.st.shard_count(); ++s)
                if (cs.st.core_of(s) == cs.core) cs.st.at(s).sweep_expired(wall, 256);
        }
    }
    cs.ticker_done = true;
}

std::error_code listen_on(core_server& cs, const asio::ip::tcp::endpoint& ep) {
    std::error_code ec;
    cs.acceptor.open(ep.protocol(), ec);
    if (!ec) cs.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) cs.acceptor.set_option(reuse_port(true), ec);
    if (!ec) cs.acceptor.bind(ep, ec);
    if (!ec) cs.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) cs.poller.watch(cs.acceptor.native_handle());
    return ec;
}

struct server_state {
    const server_options& opts;
    convme::block_device& dev;
    std::unique_ptr<store> st;
    server_facts facts;
    std::vector<std::unique_ptr<core_server>> cores;
};

// Runs on core `c`: recover its shards.
convme::task<std::string> recover_core(server_state& s, unsigned c) {
    std::string why;
    std::error_code ec = co_await s.st->open_core(c, why);
    co_return ec ? why : std::string{};
}

// Recover every core's shards at once; no core listens before all of them are done, so no
// client ever sees a store that is only partly loaded. Returns the first error, or "".
convme::task<std::string> recover_all(server_state& s) {
    const unsigned cores = s.opts.cores;
    std::vector<std::string> errors(cores);
    unsigned pending = cores;
    auto one = [](server_state& st, unsigned c, std::string& err,
                  unsigned& left) -> convme::task<void> {
        err = co_await convme::run_on(c, [&st, c] { return recover_core(st, c); });
        --left;
    };
    for (unsigned c = 0; c < cores; ++c)
        convme::loop::current()->spawn(one(s, c, errors[c], pending));
    while (pending > 0) co_await convme::sleep_for(std::chrono::milliseconds(1));
    for (unsigned c = 0; c < cores; ++c)
        if (!errors[c].empty()) co_return "core " + std::to_string(c) + ": " + errors[c];
    co_return std::string{};
}

// Runs on core `c` once every shard is ready: start serving.
convme::task<std::string> start_core(server_state& s, unsigned c, asio::ip::tcp::endpoint ep) {
    auto cs = std::make_unique<core_server>(c, *s.st, s.facts);
    convme::loop::current()->add_poller(&cs->poller);
    std::error_code ec = listen_on(*cs, ep);
    if (ec) {
        convme::loop::current()->remove_poller(&cs->poller);
        co_return "listening on " + ep.address().to_string() + ":" + std::to_string(ep.port()) +
            " failed: " + ec.message() + " (is another server using the port? try --port)";
    }
    s.facts.port = cs->acceptor.local_endpoint().port();
    convme::loop::current()->spawn(accept_loop(*cs));
    convme::loop::current()->spawn(ticker(*cs, s.opts.idle_tick));
    s.cores[c] = std::move(cs);
    co_return std::string{};
}

// Runs on core `c`: stop accepting and close the clients (phase 1 of shutdown, on every core
// before any shard closes, so no client is left talking to a closed shard).
convme::task<void> stop_network(server_state& s, unsigned c) {
    core_server* cs = s.cores[c].get();
    if (cs == nullptr) co_return;
    cs->stopping = true;
    std::error_code ignored;
    cs->acceptor.close(ignored);
    for (auto* sock : cs->connections) sock->close(ignored);
    cs->poller.note_op();  // the aborted operations' handlers are queued in Asio now
    while (!cs->connections.empty() || !cs->accept_done || !cs->ticker_done)
        co_await convme::sleep_for(std::chrono::milliseconds(1));
}

// Runs on core `c`: write what is pending, release the device queue and the io_context (phase 2).
convme::task<void> stop_storage(server_state& s, unsigned c) {
    co_await s.st->close_core(c);
    co_await s.dev.drain();
    core_server* cs = s.cores[c].get();
    if (cs != nullptr) {
        cs->poller.release();
        while (cs->io.poll() > 0) {
        }
        convme::loop::current()->remove_poller(&cs->poller);
        s.cores[c].reset();
    }
}

convme::task<int> server_main(server_state& s) {
    const unsigned cores = s.opts.cores;
    std::string why;
    s.st = co_await store::open_layout(s.dev, cores, s.opts.store, why);
    if (!s.st) {
        std::fprintf(stderr, "kv: %s\n", why.c_str());
        co_return 1;
    }
    s.cores.resize(cores);
    std::error_code ec;
    auto addr = asio::ip::make_address(s.opts.bind, ec);
    if (ec) {
        std::fprintf(stderr, "kv: --bind %s is not an IP address (%s)\n", s.opts.bind.c_str(),
                     ec.message().c_str());
        co_return 2;
    }
    asio::ip::tcp::endpoint ep(addr, static_cast<unsigned short>(s.opts.port));
    std::string err = co_await recover_all(s);
    bool ok = err.empty();
    if (!ok) std::fprintf(stderr, "kv: %s\n", err.c_str());
    unsigned started = 0;
    for (unsigned c = 0; c < cores && ok; ++c) {
        // Core 0 binds first so that with --port 0 the others join the port it got.
        std::string err = co_await convme::run_on(c, [&s, c, ep] { return start_core(s, c, ep); });
        if (!err.empty()) {
            std::fprintf(stderr, "kv: core %u: %s\n", c, err.c_str());
            ok = false;
            break;
        }
        ++started;
        ep.port(static_cast<unsigned short>(s.facts.port));
    }
    int rc = ok ? 0 : 1;
    if (ok) {
        std::printf("kv: ready: listening on %s:%u, %u core(s), %u shard(s), device %s (%s)\n",
                    s.opts.bind.c_str(), s.facts.port, cores, s.st->shard_count(),
                    s.dev.info().name.c_str(), s.st->formatted_now() ? "new store" : "recovered");
        std::fflush(stdout);
        asio::signal_set signals(s.cores[0]->io, SIGINT, SIGTERM);
        s.cores[0]->poller.note_op();
        auto [sec, signo] = co_await signals.async_wait(convme::use_loop);
        if (!sec) std::printf("kv: signal %d: shutting down\n", signo);
        std::fflush(stdout);
    }
    // Shut down: first every core's clients, then every core's shards and device queue.
    for (unsigned c = 0; c < cores; ++c)
        co_await convme::run_on(c, [&s, c] { return stop_network(s, c); });
    for (unsigned c = 0; c < cores; ++c)
        co_await convme::run_on(c, [&s, c] { return stop_storage(s, c); });
    (void)started;
    co_return rc;
}

}  // namespace

int run_server(const server_options& opts) {
    std::error_code ec;
    std::string why;
    auto dev = convme::open_device(opts.device_uri, ec, why);
    if (!dev) {
        std::fprintf(stderr, "kv: opening --device %s failed: %s\n", opts.device_uri.c_str(),
                     why.c_str());
        return 1;
    }
    convme::runtime_options ro;
    ro.cores = opts.cores;
    ro.pin_threads = opts.pin_threads;
    ro.spin_before_sleep = opts.spin_before_sleep;
    int rc = 0;
    {
        convme::runtime rt(ro);
        server_state s{opts, *dev, nullptr, {}, {}};
        s.facts.cores = opts.cores;
        s.facts.device_uri = opts.device_uri;
        s.facts.started_ms = now_ms();
        rc = rt.run(server_main(s));
    }
    return rc;
}

}  // namespace kv

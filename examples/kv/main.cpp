// SPDX-License-Identifier: MIT
// convme-kv: a Redis-protocol key-value server on convme storage. See README.md.
#include <sched.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <convme/device.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "server.hpp"

int main(int argc, char** argv) {
    kv::server_options opts;
    std::string dir = "kv-data";
    unsigned idle_tick_us = 100000;
    CLI::App app{
        "convme-kv: Redis-protocol key-value server on convme storage (durable, shard-per-core)"};
    app.add_option("--port,-p", opts.port, "TCP port (0 = any free port, printed at startup)")
        ->capture_default_str();
    app.add_option("--bind", opts.bind, "IP address to listen on")->capture_default_str();
    opts.cores = std::max(1u, std::min(std::thread::hardware_concurrency(), 4u));
    app.add_option("--cores,-c", opts.cores,
                   "event loops (threads), one io_context and listener each")
        ->capture_default_str()
        ->check(CLI::Range(1u, 256u));
    app.add_flag("--pin", opts.pin_threads, "pin each loop thread to a CPU");
    app.add_option("--dir,-d", dir, "data directory for the default device")->capture_default_str();
    app.add_option(
        "--device", opts.device_uri,
        "convme device URI (default: "
        "uring:<dir>/kv.log?create_size=256M&create_fill=zero&wait=block&sync=datasync; e.g. "
        "sim:file=/tmp/kv.sim?size=1G, "
        "vfio:0000:01:00.0)");
    app.add_option("--shards", opts.store.shards,
                   "shards when creating a new store (default: one per core)");
    app.add_option(
           "--idle-tick-us", idle_tick_us,
           "an idle loop also wakes this often (expiry sweep, signals); sockets wake it at once")
        ->capture_default_str()
        ->check(CLI::Range(50u, 1000000u));
    app.add_option("--compact-at", opts.store.shard.compact_at_percent,
                   "compact when the active log half is this full (percent)")
        ->capture_default_str()
        ->check(CLI::Range(10u, 99u));
    app.add_option("--batches-in-flight", opts.store.shard.batches_in_flight,
                   "batches per shard written but not yet durable, at most (1 = no pipelining)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 64u));
    app.add_option("--flushes-in-flight", opts.store.shard.flushes_in_flight,
                   "flushes per shard in flight, at most (1 = a flush waits for the one before)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 16u));
    app.add_option("--recovery-read-ahead", opts.store.shard.scan_read_ahead,
                   "recovery: 1 MiB log reads in flight per shard beyond the one being replayed "
                   "(0 = one at a time)")
        ->capture_default_str()
        ->check(CLI::Range(0u, 64u));
    // A loop without work polls a while before it sleeps, which saves a wake-up when more work
    // comes soon, but only while it has a CPU of its own: when the loops and their clients share
    // the CPUs, every microsecond polled is taken from the thread that would bring that work.
    unsigned spin_us = 200;
    bool spin_given = false;
    app.add_option("--spin-us", spin_us,
                   "a loop without work polls this long before it sleeps (0 = sleep at once; "
                   "default: 200, or 0 when --cores leaves no CPU to spare)")
        ->check(CLI::Range(0u, 1000000u))
        ->each([&spin_given](const std::string&) { spin_given = true; });
    bool no_compact = false;
    app.add_flag("--no-auto-compact", no_compact, "compact only when a half is full");
    CLI11_PARSE(app, argc, argv);
    opts.idle_tick = std::chrono::microseconds(idle_tick_us);
    if (!spin_given) {
        cpu_set_t set;
        const unsigned cpus = sched_getaffinity(0, sizeof set, &set) == 0
                                  ? static_cast<unsigned>(CPU_COUNT(&set))
                                  : 0;
        if (cpus != 0 && cpus <= opts.cores) spin_us = 0;
    }
    opts.spin_before_sleep = std::chrono::microseconds(spin_us);
    opts.store.shard.auto_compact = !no_compact;

    if (opts.device_uri.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            std::fprintf(stderr, "kv: creating the data directory %s failed: %s (use --dir)\n",
                         dir.c_str(), ec.message().c_str());
            return 1;
        }
        // wait=block: a loop whose only I/O in flight is a flush (milliseconds on a file) sleeps
        // until the ring signals its completion instead of polling the ring all that time.
        // sync=datasync: the log's blocks are allocated (create_fill=zero) and its size fixed, so
        // fdatasync makes the writes durable without a journal commit for the timestamps.
        // (sync=dsync, every write RWF_DSYNC, was 3x slower here: each write then also writes
        // the inode's new mtime synchronously; see the README.)
        opts.device_uri = "uring:" + std::filesystem::absolute(dir).string() +
                          "/kv.log?create_size=256M&create_fill=zero&wait=block&sync=datasync";
    }
    return kv::run_server(opts);
}

// SPDX-License-Identifier: MIT
// convme-sim-bench: 4 KiB random reads and writes over the simulated NVMe controller, through the
// real NVMe driver and the convme runtime, at queue depths 1, 2, 4, ..., 128 on one core, a fixed
// number of I/Os per point. Prints IOPS and p50/p99/p99.9 latency per point.
//
//   convme-sim-bench [--uri sim:mem?size=1G | null:] [--ios 200000] [--qd-max 128] [--qd N] [--op
//   read|write|both] convme-sim-bench --callgrind --ios N --qd Q --op read   (instructions.sh: no
//   timing, inline
//                                                          controller, deterministic instruction
//                                                          count)
#include <fmt/core.h>

#include <chrono>
#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/loop.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "histogram.hpp"

namespace {

using namespace convme;
using clock_type = std::chrono::steady_clock;

struct options {
    std::string uri = "sim:mem?size=1G";
    std::uint64_t ios = 200000;
    unsigned qd_max = 128;
    unsigned qd_only = 0;
    std::string op = "both";
    bool callgrind = false;
};

[[noreturn]] void usage(int code) {
    std::fputs(
        "usage: convme-sim-bench [--uri URI] [--ios N] [--qd-max N] [--qd N] [--op "
        "read|write|both]\n"
        "                        [--callgrind]\n"
        "  --uri       sim: device URI (default sim:mem?size=1G); controller keys such as\n"
        "              latency_us=, inline=, dbbc= go here. Or null: (no medium: the runtime "
        "alone)\n"
        "  --ios       I/Os per queue-depth point (default 200000)\n"
        "  --qd-max    largest queue depth of the 1, 2, 4, ... sweep (default 128)\n"
        "  --qd        run this one queue depth only\n"
        "  --callgrind no timing, inline controller: a repeatable run for instructions.sh\n",
        code == 0 ? stdout : stderr);
    std::exit(code);
}

bool parse_u64(const char* s, std::uint64_t& out) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || !end || *end || end == s) return false;
    out = v;
    return true;
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                usage(2);
            }
            return argv[++i];
        };
        std::uint64_t v = 0;
        if (a == "--uri")
            o.uri = value();
        else if (a == "--ios" && parse_u64(value(), v) && v > 0)
            o.ios = v;
        else if (a == "--qd-max" && parse_u64(value(), v) && v >= 1 && v <= 4096)
            o.qd_max = static_cast<unsigned>(v);
        else if (a == "--qd" && parse_u64(value(), v) && v >= 1 && v <= 4096)
            o.qd_only = static_cast<unsigned>(v);
        else if (a == "--op") {
            o.op = value();
            if (o.op != "read" && o.op != "write" && o.op != "both") usage(2);
        } else if (a == "--callgrind")
            o.callgrind = true;
        else if (a == "--help" || a == "-h")
            usage(0);
        else {
            std::fprintf(stderr, "bad argument '%s'\n", a.c_str());
            usage(2);
        }
    }
    return o;
}

std::string with_param(std::string uri, const std::string& key, const std::string& value) {
    if (uri.find(key + "=") != std::string::npos) return uri;
    return uri + (uri.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
}

struct point_state {
    bool write = false;
    bool timed = true;
    std::uint64_t target = 0, issued = 0, errors = 0;
    std::uint64_t blocks = 0;  // 4 KiB blocks on the device
    std::uint64_t rng = 0x9e3779b97f4a7c15ull;
    unsigned running = 0;
    bench::histogram hist;
    std::error_code first_error;
};

std::uint64_t next_block(point_state& s) {
    // xorshift64: cheap and deterministic, so callgrind runs are repeatable.
    s.rng ^= s.rng << 13;
    s.rng ^= s.rng >> 7;
    s.rng ^= s.rng << 17;
    return s.rng % s.blocks;
}

task<void> worker(block_device& dev, point_state& s, std::span<std::byte> buf) {
    while (s.issued < s.target) {
        ++s.issued;
        std::uint64_t off = next_block(s) * 4096;
        clock_type::time_point t0{};
        if (s.timed) t0 = clock_type::now();
        std::error_code ec = s.write ? co_await dev.write(off, buf) : co_await dev.read(off, buf);
        if (s.timed)
            s.hist.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0)
                    .count()));
        if (ec && !s.errors++) s.first_error = ec;
    }
    if (--s.running == 0 && s.timed) loop::current()->stop();
}

// The callgrind run's worker (untimed points): the read loop of an application, a random 4 KiB
// offset and one co_await of the public read() or write() per iteration, with its error check.
// Unlike worker() it reads no clock, records no latency and picks the operation at compile time:
// those are the timed harness's costs, not the runtime's, and would be counted per I/O.
// One awaitable built in place (a conditional expression would build it in a temporary and copy
// it into the frame; `std::error_code ec;` before an if constexpr would construct a category).
template <bool Write>
io_awaitable read_or_write(block_device& dev, std::uint64_t off, const std::span<std::byte>& buf) {
    if constexpr (Write)
        return dev.write(off, buf);
    else
        return dev.read(off, buf);
}

template <bool Write>
task<void> counted_worker(block_device& dev, point_state& s, std::span<std::byte> buf) {
    while (s.issued < s.target) {
        ++s.issued;
        const std::uint64_t off = next_block(s) * 4096;
        const std::error_code ec = co_await read_or_write<Write>(dev, off, buf);
        if (ec && !s.errors++) [[unlikely]]
            s.first_error = ec;
    }
    --s.running;
}

task<void> make_worker(block_device& dev, point_state& s, std::span<std::byte> buf) {
    if (s.timed) return worker(dev, s, buf);
    return s.write ? counted_worker<true>(dev, s, buf) : counted_worker<false>(dev, s, buf);
}

struct point_result {
    double iops;
    std::uint64_t p50, p99, p999;
};

point_result run_point(loop& l, block_device& dev, std::vector<dma_buffer>& bufs, bool write,
                       unsigned qd, std::uint64_t ios, bool timed) {
    point_state s;
    s.write = write;
    s.timed = timed;
    s.target = ios;
    s.blocks = dev.info().capacity / 4096;
    s.running = qd;
    auto t0 = clock_type::now();
    for (unsigned i = 0; i < qd; ++i) l.spawn(make_worker(dev, s, bufs[i].span()));
    // Timed: the loop as applications run it (adaptive idle: with the device thread it may sleep
    // until the controller signals completions). Callgrind: bare iterations, no clock reads.
    if (timed)
        l.run();
    else
        while (s.running > 0) l.run_once();
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (s.errors)
        fmt::print(stderr, "{} errors at qd {} (first: {})\n", s.errors, qd,
                   s.first_error.message());
    return {static_cast<double>(ios) / secs, s.hist.quantile(0.5), s.hist.quantile(0.99),
            s.hist.quantile(0.999)};
}

std::string us(std::uint64_t ns) {
    return fmt::format("{:.1f}", static_cast<double>(ns) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    std::string uri = o.uri;
    const bool sim = uri.rfind("sim:", 0) == 0;
    if (!sim && uri.rfind("null:", 0) != 0) {
        std::fprintf(stderr, "--uri must be a sim: or null: URI (got %s)\n", uri.c_str());
        return 2;
    }
    unsigned max_qd = o.qd_only ? o.qd_only : o.qd_max;
    if (sim) {
        if (o.callgrind) uri = with_param(uri, "inline", "1");
        // Enough driver queue entries for the deepest point (one entry always stays free).
        uri = with_param(uri, "qd", std::to_string(std::max(256u, max_qd * 2)));
    }

    std::error_code ec;
    std::string why;
    auto dev = open_device(uri, ec, why);
    if (!dev) {
        std::fprintf(stderr, "open_device(%s) failed: %s\n", uri.c_str(), why.c_str());
        return 1;
    }
    std::vector<dma_buffer> bufs;
    for (unsigned i = 0; i < max_qd; ++i) {
        bufs.emplace_back(4096);
        std::memset(bufs.back().data(), static_cast<int>(i), 4096);
    }
    std::vector<unsigned> depths;
    if (o.qd_only)
        depths.push_back(o.qd_only);
    else
        for (unsigned qd = 1; qd <= o.qd_max; qd *= 2) depths.push_back(qd);
    std::vector<bool> ops;
    if (o.op != "read") ops.push_back(true);  // writes first: reads then hit written blocks
    if (o.op != "write") ops.push_back(false);

    loop l;
    if (o.callgrind) {
        // Exactly o.ios I/Os per op at one depth, no clock calls: the instruction count depends on
        // nothing but the arguments.
        for (bool w : ops) run_point(l, *dev, bufs, w, depths.front(), o.ios, false);
        l.run_until_complete(dev->drain());
        fmt::print("callgrind run: {} x {} I/Os at qd {}\n", ops.size(), o.ios, depths.front());
        return 0;
    }
    fmt::print("convme-sim-bench  device: {}  ({})\n", dev->info().name, uri);
    fmt::print("4 KiB random I/O, one core, {} I/Os per point\n\n", o.ios);
    fmt::print("{:<6} {:>5} {:>12} {:>10} {:>10} {:>10}\n", "op", "QD", "IOPS", "p50 us", "p99 us",
               "p99.9 us");
    for (bool w : ops) {
        // Warm-up: creates the queue pair and touches the memory so the first point is fair.
        run_point(l, *dev, bufs, w, 1, std::min<std::uint64_t>(o.ios, 1000), true);
        for (unsigned qd : depths) {
            point_result r = run_point(l, *dev, bufs, w, qd, o.ios, true);
            fmt::print("{:<6} {:>5} {:>12.0f} {:>10} {:>10} {:>10}\n", w ? "write" : "read", qd,
                       r.iops, us(r.p50), us(r.p99), us(r.p999));
        }
    }
    l.run_until_complete(dev->drain());
    return 0;
}

// SPDX-License-Identifier: MIT
// convme-bench: fio-like workloads on any convme device URI. See bench/README.md.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>

#include "options.hpp"
#include "report.hpp"
#include "runner.hpp"

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "signal handler needs a lock-free flag");

extern "C" void on_signal(int) {
    g_stop.store(true, std::memory_order_relaxed);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace convme::bench;
    bench_options opts;
    if (auto code = parse_options(argc, argv, opts)) return *code;

    // First Ctrl-C ends the run early and still prints the results; a second one kills.
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    run_results res;
    try {
        if (std::string err = run_benchmark(opts, g_stop, res); !err.empty()) {
            std::fprintf(stderr, "convme-bench: %s\n", err.c_str());
            return 2;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convme-bench: %s\n", e.what());
        return 2;
    }
    std::string text;
    switch (opts.output) {
        case output_format::text:
            text = format_text(res);
            break;
        case output_format::json:
            text = format_json(res);
            break;
        case output_format::csv:
            text = format_csv(res);
            break;
    }
    std::fputs(text.c_str(), stdout);
    if (opts.output != output_format::text)
        for (const std::string& p : res.problems)
            std::fprintf(stderr, "convme-bench: %s\n", p.c_str());
    return (res.errors || res.verify_failures) ? 1 : 0;
}

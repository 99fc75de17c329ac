// SPDX-License-Identifier: MIT
// Runs a benchmark: opens the device, starts a convme::runtime with one loop per core, runs the
// phases (prefill, measure, read-back verify, drain) on every core and collects the results.
#pragma once

#include <atomic>
#include <string>

#include "options.hpp"
#include "results.hpp"

namespace convme::bench {

// Returns an empty string on success (the run may still report I/O errors in `out`), or a
// message explaining why the run could not start (device could not be opened, bad range...).
// `stop` is polled by the workers: set it (e.g. from a SIGINT handler) to end the run early.
std::string run_benchmark(const bench_options& opts, const std::atomic<bool>& stop,
                          run_results& out);

}  // namespace convme::bench

// SPDX-License-Identifier: MIT
// Everything a run measured, ready for the text/json/csv writers.
#pragma once

#include <convme/block_device.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "options.hpp"
#include "plan.hpp"

namespace convme::bench {

struct op_totals {
    std::uint64_t ios = 0;
    std::uint64_t bytes = 0;
    histogram lat_ns;
};

struct core_results {
    unsigned core = 0;
    op_totals read, write;
    double elapsed_s = 0;     // first measured issue to last measured completion on this core
    double thread_cpu_s = 0;  // CPU time of this core's loop thread while measuring
};

struct run_results {
    bench_options opts;
    device_info device;
    run_plan plan;
    double prefill_s = 0;
    std::uint64_t prefill_bytes = 0;
    std::uint64_t verified_bytes = 0;      // read back and checked after the run
    double elapsed_s = 0;                  // measured window: measure start to last completion
    op_totals read, write;                 // all cores merged
    double cpu_user_s = 0, cpu_sys_s = 0;  // whole process during the measured window
    std::uint64_t errors = 0;
    std::uint64_t verify_failures = 0;
    std::vector<std::string> problems;  // first error message of each core / phase
    bool interrupted = false;
    std::vector<core_results> cores;

    std::uint64_t total_ios() const noexcept { return read.ios + write.ios; }
    std::uint64_t total_bytes() const noexcept { return read.bytes + write.bytes; }
    double iops() const noexcept { return elapsed_s > 0 ? total_ios() / elapsed_s : 0; }
    double mb_per_s() const noexcept { return elapsed_s > 0 ? total_bytes() / elapsed_s / 1e6 : 0; }
    double cpu_us_per_io() const noexcept {
        return total_ios() ? (cpu_user_s + cpu_sys_s) * 1e6 / static_cast<double>(total_ios()) : 0;
    }
    histogram all_latencies() const;
};

}  // namespace convme::bench

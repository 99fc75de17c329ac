// SPDX-License-Identifier: MIT
// Command line of convme-bench (fio-like). parse_options() validates everything that can be
// checked before the device is opened; the rest (range vs capacity, alignment) is checked by
// make_plan() in runner.cpp once the device is known.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace convme::bench {

enum class rw_mode { randread, randwrite, read, write, randrw };
enum class output_format { text, json, csv };

const char* rw_mode_name(rw_mode m) noexcept;
inline bool is_random(rw_mode m) noexcept {
    return m == rw_mode::randread || m == rw_mode::randwrite || m == rw_mode::randrw;
}
inline bool does_reads(rw_mode m) noexcept {
    return m == rw_mode::randread || m == rw_mode::read || m == rw_mode::randrw;
}
inline bool does_writes(rw_mode m) noexcept {
    return m == rw_mode::randwrite || m == rw_mode::write || m == rw_mode::randrw;
}

struct bench_options {
    std::string uri;
    rw_mode rw = rw_mode::randread;
    unsigned mix_read_pct = 50;  // randrw only: share of reads
    std::uint64_t bs = 4096;
    unsigned qd = 1;  // in-flight I/Os per core
    unsigned cores = 1;
    double time_s = 10.0;    // used when ios == 0
    std::uint64_t ios = 0;   // total I/O count (split across cores); 0 = time based
    std::uint64_t size = 0;  // bytes of the device to use from offset 0; 0 = all
    double warmup_s = 0.0;
    bool verify = false;
    bool prefill = false;
    bool progress = false;  // force the progress line even if stderr is not a tty
    bool pin = true;
    std::uint64_t seed = 0;  // 0 = derive from the clock
    std::string label;       // free text copied into json/csv output
    output_format output = output_format::text;
};

// Parses argv. On --help or an error it prints to stdout/stderr and returns the exit code to use;
// otherwise it returns std::nullopt and fills `out`.
std::optional<int> parse_options(int argc, char** argv, bench_options& out);

}  // namespace convme::bench

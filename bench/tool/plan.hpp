// SPDX-License-Identifier: MIT
// What a run will do, derived from the options and the opened device: the byte range, how it is
// split across cores, the seed. make_plan() rejects combinations the device cannot serve.
#pragma once

#include <convme/block_device.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "options.hpp"

namespace convme::bench {

struct core_slice {
    std::uint64_t begin = 0;  // byte offsets, multiples of bs
    std::uint64_t end = 0;
};

struct run_plan {
    std::uint64_t range = 0;   // bytes used, from offset 0, a multiple of bs
    std::uint64_t blocks = 0;  // range / bs
    std::uint64_t seed = 0;
    std::uint64_t prefill_chunk = 0;   // bytes per prefill / read-back I/O
    std::vector<core_slice> slices;    // sequential work and prefill: one contiguous slice per core
    std::vector<std::uint64_t> quota;  // count mode: I/Os per core (sums to options.ios)
};

// Returns an empty string on success, else a message naming the option at fault and a fix.
std::string make_plan(const bench_options& o, const device_info& dev, run_plan& out);

}  // namespace convme::bench

// SPDX-License-Identifier: MIT
#include "plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace convme::bench {

std::string make_plan(const bench_options& o, const device_info& dev, run_plan& out) {
    const std::uint64_t lba = dev.block_size ? dev.block_size : 512;
    if (o.bs % lba != 0)
        return fmt::format("--bs {} is not a multiple of the device block size {}; use --bs {}",
                           o.bs, lba, std::max<std::uint64_t>(lba, o.bs / lba * lba));
    if (dev.capacity < o.bs)
        return fmt::format("device capacity {} bytes is smaller than --bs {}", dev.capacity, o.bs);
    std::uint64_t range = o.size ? o.size : dev.capacity;
    if (range > dev.capacity)
        return fmt::format(
            "--size {} is beyond the device capacity {} bytes; use --size {} or "
            "less (or create a bigger file/device)",
            range, dev.capacity, dev.capacity);
    range = range / o.bs * o.bs;
    if (range == 0) return fmt::format("--size must be at least --bs ({} bytes)", o.bs);
    out.range = range;
    out.blocks = range / o.bs;
    out.seed = o.seed ? o.seed
                      : static_cast<std::uint64_t>(
                            std::chrono::steady_clock::now().time_since_epoch().count()) |
                            1;

    // Prefill / read-back in larger I/Os (128 KiB, or bs if bigger) to be quick; a multiple of bs.
    const std::uint64_t chunk = std::max<std::uint64_t>(o.bs, (128 * 1024) / o.bs * o.bs);
    out.prefill_chunk =
        dev.max_transfer ? std::max<std::uint64_t>(
                               o.bs, std::min<std::uint64_t>(chunk, dev.max_transfer) / o.bs * o.bs)
                         : chunk;

    // Slices: whole blocks per core, the last core takes the remainder. With more cores than
    // blocks, the extra cores get empty slices (and then share the whole range for sequential I/O).
    out.slices.assign(o.cores, {});
    const std::uint64_t per_core = out.blocks / o.cores;
    for (unsigned c = 0; c < o.cores; ++c) {
        out.slices[c].begin = c * per_core * o.bs;
        out.slices[c].end = (c + 1 == o.cores) ? range : (c + 1) * per_core * o.bs;
    }

    out.quota.assign(o.cores, 0);
    if (o.ios) {
        for (unsigned c = 0; c < o.cores; ++c)
            out.quota[c] = o.ios / o.cores + (c < o.ios % o.cores ? 1 : 0);
    }
    return {};
}

}  // namespace convme::bench

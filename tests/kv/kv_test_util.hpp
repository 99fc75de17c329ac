// Test helpers: run a task to completion on a private loop; build shards on a RAM device.
#pragma once

#include "kv_mem_device.hpp"
#include "shard.hpp"

#include <convme/loop.hpp>

#include <memory>

namespace kvtest {

template <typename T>
T run(convme::loop& lp, convme::task<T> t) {
    return lp.run_until_complete(std::move(t));
}

inline kv::shard_geometry small_geometry(std::uint64_t half = 1u << 20) {
    kv::shard_geometry g;
    g.index = 0;
    g.region_offset = 0;
    g.half_size = half;
    g.block_size = 512;
    g.mem_alignment = 64;
    return g;
}

// Open a shard on `dev`; fails the test (returns nullptr) if recovery fails.
inline std::unique_ptr<kv::shard> open_shard(convme::loop& lp, mem_device& dev, kv::shard_options o = {},
                                             std::uint64_t half = 1u << 20) {
    auto s = std::make_unique<kv::shard>(dev, small_geometry(half), o);
    std::error_code ec = run(lp, s->open());
    if (ec) return nullptr;
    return s;
}

}  // namespace kvtest

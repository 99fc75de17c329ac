// SPDX-License-Identifier: MIT
// Test helpers: run a task to completion on a private loop (or step it until a condition holds);
// build shards on a RAM device; put-and-wait and lookup shorthands.
#pragma once

#include <convme/loop.hpp>
#include <memory>
#include <string>

#include "kv_mem_device.hpp"
#include "shard.hpp"

namespace kvtest {

template <typename T>
T run(convme::loop& lp, convme::task<T> t) {
    return lp.run_until_complete(std::move(t));
}

// Step the loop until pred() holds; false if it never does (the test then fails, not hangs).
template <typename Pred>
bool run_until(convme::loop& lp, Pred pred, int max_iterations = 100000) {
    for (int i = 0; i < max_iterations; ++i) {
        if (pred()) return true;
        lp.run_once();
    }
    return pred();
}

// Step the loop a few times: long enough for anything that could happen without the device.
inline void spin(convme::loop& lp, int iterations = 50) {
    for (int i = 0; i < iterations; ++i) lp.run_once();
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
inline std::unique_ptr<kv::shard> open_shard(convme::loop& lp, mem_device& dev,
                                             kv::shard_options o = {},
                                             std::uint64_t half = 1u << 20) {
    auto s = std::make_unique<kv::shard>(dev, small_geometry(half), o);
    std::error_code ec = run(lp, s->open());
    if (ec) return nullptr;
    return s;
}

inline kv::shard_options manual() {
    kv::shard_options o;
    o.auto_compact = false;
    return o;
}

inline convme::task<std::error_code> put_and_wait(kv::shard& s, std::string k, std::string v,
                                                  std::int64_t exp = 0) {
    auto r = s.put(k, std::move(v), exp);
    if (r.ec) co_return r.ec;
    co_return co_await s.wait_durable(r.ticket);
}

inline convme::task<std::error_code> wait_ticket(kv::shard& s, std::uint64_t t) {
    co_return co_await s.wait_durable(t);
}

inline std::string value_of(kv::shard& s, const std::string& k) {
    auto* e = s.find(k, kv::now_ms());
    return e ? e->value : std::string("<none>");
}

}  // namespace kvtest

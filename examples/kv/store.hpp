// SPDX-License-Identifier: MIT
// The sharded store: device layout (superblock + one region per shard) and key -> shard -> core
// routing. Shard s belongs to core s % cores; only that core's loop touches it.
#pragma once

#include <convme/block_device.hpp>
#include <convme/loop.hpp>
#include <convme/runtime.hpp>
#include <convme/task.hpp>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "shard.hpp"

namespace kv {

struct store_options {
    unsigned shards = 0;  // shards when formatting a new device; 0 = one per core
    shard_options shard;
};

class store {
  public:
    // Read the superblock, or format the device if it has none (a new store). On failure returns
    // nullptr and fills `why` with the step, the cause and the fix. Any loop thread.
    static convme::task<std::unique_ptr<store>> open_layout(convme::block_device& dev,
                                                            unsigned cores, store_options opts,
                                                            std::string& why);

    unsigned shard_count() const noexcept { return static_cast<unsigned>(shards_.size()); }
    unsigned cores() const noexcept { return cores_; }
    unsigned shard_of(const hashed_key& key) const noexcept {
        return static_cast<unsigned>((key.hash >> 32) % shards_.size());
    }
    unsigned shard_of(std::string_view key) const noexcept { return shard_of(hashed_key(key)); }
    unsigned core_of(unsigned shard_index) const noexcept { return shard_index % cores_; }
    shard& at(unsigned shard_index) noexcept { return *shards_[shard_index]; }
    const superblock& layout() const noexcept { return sb_; }
    bool formatted_now() const noexcept { return formatted_; }
    convme::block_device& device() noexcept { return dev_; }

    // Recover / close every shard owned by `core`; call on that core's loop.
    convme::task<std::error_code> open_core(unsigned core, std::string& why);
    convme::task<void> close_core(unsigned core);

    store(convme::block_device& dev, unsigned cores) : dev_(dev), cores_(cores) {}

  private:
    convme::block_device& dev_;
    unsigned cores_;
    flush_hub hub_;  // the shards share their flushes (one device)
    superblock sb_;
    bool formatted_ = false;
    std::vector<std::unique_ptr<shard>> shards_;
};

// The core the caller runs on (0 outside a runtime).
inline unsigned current_core() noexcept {
    auto* l = convme::loop::current();
    return l ? l->core_id() : 0;
}

// Run fn(shard&) on the shard's core and return its result; a plain call when it is local.
template <typename Fn>
auto on_shard(store& st, unsigned s, Fn fn) -> convme::task<std::invoke_result_t<Fn&, shard&>> {
    if (st.core_of(s) == current_core()) co_return fn(st.at(s));
    co_return co_await convme::run_on(st.core_of(s), [&st, s, &fn] { return fn(st.at(s)); });
}

}  // namespace kv

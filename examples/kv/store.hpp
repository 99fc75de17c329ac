// SPDX-License-Identifier: MIT
// The sharded store: device layout (superblock + one region per shard) and key -> shard -> core
// routing. Shard s belongs to core s % cores; only that core's loop touches it.
#pragma once

#include <convme/block_device.hpp>
#include <convme/loop.hpp>
#include <convme/runtime.hpp>
#include <convme/task.hpp>
#include <coroutine>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
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

// co_await on_shard(st, s, fn): run fn(shard&) on the shard's core and return its result. When
// the shard is local that is a plain call inside await_ready(), with no coroutine frame of its
// own; otherwise a convme::run_on() to the shard's core.
template <typename Fn>
class on_shard {
  public:
    using result = std::invoke_result_t<Fn&, shard&>;
    on_shard(store& st, unsigned s, Fn fn) : st_(st), s_(s), fn_(std::move(fn)) {}

    bool await_ready() {
        if (st_.core_of(s_) != current_core()) return false;
        if constexpr (std::is_void_v<result>)
            fn_(st_.at(s_));
        else
            value_.emplace(fn_(st_.at(s_)));
        return true;
    }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
        remote_.emplace(convme::run_on(st_.core_of(s_), [this] { return fn_(st_.at(s_)); }));
        inner_.emplace(std::move(*remote_).operator co_await());
        return inner_->await_suspend(h);
    }
    result await_resume() {
        if (inner_) return inner_->await_resume();
        if constexpr (!std::is_void_v<result>) return std::move(*value_);
    }

  private:
    using remote_task = convme::task<result>;
    using remote_awaiter = decltype(std::declval<remote_task>().operator co_await());
    struct nothing {};
    store& st_;
    unsigned s_;
    Fn fn_;
    std::optional<std::conditional_t<std::is_void_v<result>, nothing, result>> value_;
    std::optional<remote_task> remote_;
    std::optional<remote_awaiter> inner_;
};

}  // namespace kv

// Per-loop state of a device (an io_uring ring, a completion list), found from the submitting loop.
// Slots are indexed by loop::core_id() for a lock-free fast path; a loop whose slot is taken by
// another loop (two standalone loops with the same core id) is found by a locked search.
#pragma once

#include <convme/loop.hpp>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace convme::backends {

template <typename Channel>
class channel_table {
public:
    static constexpr unsigned slot_count = 256;

    // The channel of loop `l`, or nullptr if it has none yet.
    Channel* find(loop* l) noexcept {
        unsigned core = l->core_id();
        if (core < slot_count) {
            Channel* c = slots_[core].load(std::memory_order_acquire);
            if (c && c->owner() == l) return c;
        }
        std::lock_guard lock(mu_);
        for (auto& c : all_)
            if (c->owner() == l) return c.get();
        return nullptr;
    }

    // Adds a channel made by `make()` (returning unique_ptr<Channel>) for loop `l`.
    template <typename Make>
    Channel* create(loop* l, Make&& make) {
        std::unique_ptr<Channel> c = make();
        Channel* raw = c.get();
        std::lock_guard lock(mu_);
        all_.push_back(std::move(c));
        unsigned core = l->core_id();
        if (core < slot_count && slots_[core].load(std::memory_order_relaxed) == nullptr)
            slots_[core].store(raw, std::memory_order_release);
        return raw;
    }

    // Calls fn(Channel&) for every channel, under the table lock.
    template <typename Fn>
    void for_each(Fn&& fn) {
        std::lock_guard lock(mu_);
        for (auto& c : all_) fn(*c);
    }

private:
    std::array<std::atomic<Channel*>, slot_count> slots_{};
    std::mutex mu_;
    std::vector<std::unique_ptr<Channel>> all_;
};

}  // namespace convme::backends

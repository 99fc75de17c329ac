// SPDX-License-Identifier: MIT
// Per-loop state of a device (an io_uring ring, a completion list), found from the submitting loop.
// Keyed by loop::unique_id(), not the address: a loop built where a destroyed one was must not
// inherit its (possibly drained) state. Slots indexed by core_id() give a lock-free fast path; a
// loop whose slot is held by another loop (two standalone loops with the same core id) is found by
// a locked search.
#pragma once

#include <array>
#include <atomic>
#include <cerrno>
#include <convme/block_device.hpp>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <memory>
#include <mutex>
#include <vector>

namespace convme::backends {

// Channel must provide: loop* owner(), std::uint64_t owner_id(), submit(io_request&),
// std::size_t in_flight(), close() (unregister from its loop, which is the calling one) and
// retire() (its loop was destroyed: release resources without touching the loop).
template <typename Channel>
class channel_table {
  public:
    static constexpr unsigned slot_count = 256;

    // The channel of loop `l` from its core's slot, or nullptr (none yet, or not in the slot).
    Channel* find_fast(loop* l) noexcept {
        const unsigned core = l->core_id();
        if (core >= slot_count) [[unlikely]]
            return nullptr;
        Channel* c = slots_[core].load(std::memory_order_acquire);
        return c && c->owner_id() == l->unique_id() ? c : nullptr;
    }

    // The channel of loop `l`, or nullptr if it has none yet.
    Channel* find(loop* l) noexcept {
        if (Channel* c = find_fast(l)) return c;
        std::lock_guard lock(mu_);
        for (auto& c : all_)
            if (c->owner_id() == l->unique_id()) return c.get();
        return nullptr;
    }

    // Adds a channel made by `make()` (returning unique_ptr<Channel>) for loop `l`.
    template <typename Make>
    Channel* create(loop* l, Make&& make) {
        std::unique_ptr<Channel> c = make();
        Channel* raw = c.get();
        std::lock_guard lock(mu_);
        // A channel of an earlier loop at this address belongs to a loop that no longer exists.
        for (auto& old : all_)
            if (old->owner() == l) old->retire();
        all_.push_back(std::move(c));
        unsigned core = l->core_id();
        if (core < slot_count) {
            Channel* cur = slots_[core].load(std::memory_order_relaxed);
            if (cur == nullptr || cur->owner() == l)
                slots_[core].store(raw, std::memory_order_release);
        }
        return raw;
    }

    // Hands `r` to its loop's channel, made by `make()` on the loop's first I/O. If the channel
    // cannot be made, `r` fails with ENOMEM.
    // The fast path is inline and small (the slot lookup and the channel's submit); the rest,
    // which locks and allocates, stays out of line so the hot path saves no registers for it.
    // `make` goes to the slow path by value (a lambda of a pointer or two), built on that path
    // only: passed by reference, the fast path had to store it on the stack first.
    template <typename Make>
    void submit(io_request& r, Make make) noexcept {
        if (Channel* c = find_fast(r.owner)) [[likely]] {
            c->submit(r);
            return;
        }
        submit_slow(r, make);
    }

    template <typename Make>
    [[gnu::noinline]] void submit_slow(io_request& r, Make make) noexcept {
        Channel* c = find(r.owner);
        if (!c) {
            try {
                c = create(r.owner, make);
            } catch (...) {
                r.fail(errno_code(ENOMEM));
                r.complete();
                return;
            }
        }
        c->submit(r);
    }

    // block_device::drain() for the calling loop: wait for its I/O, then close its channel.
    task<void> drain_current() {
        loop* l = loop::current();
        Channel* c = l ? find(l) : nullptr;
        if (!c) co_return;
        while (c->in_flight() > 0) co_await yield();
        c->close();
    }

    // For the device's destructor: the calling loop's channel is closed; channels of loops on
    // other threads are retired, assuming those loops drained or ended (destroy a device only after
    // drain() on every loop, or after the loops that used it are gone).
    void release_all() {
        loop* here = loop::current();
        for_each([here](Channel& c) {
            if (here && c.owner_id() == here->unique_id())
                c.close();
            else
                c.retire();
        });
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

// SPDX-License-Identifier: MIT
// The per-loop table of every backend: a device's state for one loop (an io_uring ring, a thread
// pool's completion list, an NVMe queue pair) is one Channel, found from the submitting loop.
//
// Keyed by loop::unique_id(), not the address: a loop built where a destroyed one was must not
// inherit its (possibly drained) state.
//
// Loops sharing a core id (two standalone loops built with the same core_id): each loop gets its
// own channel, exactly as with distinct ids, on every backend. The slots indexed by core_id()
// (modulo the 256 slots) are only a lock-free fast path for one channel per slot, the first to
// be published there; a loop whose slot is held by another loop's channel is found by a locked
// search (correct, but a mutex per I/O: give each loop its own core id below 256). A channel
// gives up its slot when its loop drains, so a later loop with that core id gets it.
//
// A request that cannot be served (its channel cannot be made, the loop drained, no queue) fails
// through fail_request() on every backend: the status is set and the waiter is made runnable on
// its loop's ready queue, so it resumes from the loop after submit() returned, never inside it
// (no message is posted: nothing to allocate, lock or fail in a noexcept path).
//
// drain_current() records the loop as drained even before its first I/O: from then on its I/O
// fails with errc::shutting_down (block_device::drain()'s contract). A channel stays in the table
// until the device is destroyed (it is that record, and other threads may still be reading a
// slot that held it), so a channel should release its resources at close() and stay small.
#pragma once

#include <array>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <convme/block_device.hpp>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace convme::backends {

// Fails `r` with `ec` (unless it already failed) and makes its waiter runnable on its loop. Call on
// r.owner's thread. The one way a backend fails a request it does not serve.
inline void fail_request(io_request& r, std::error_code ec) noexcept {
    r.fail(ec);
    r.complete();  // only queues the waiter: it resumes after submit() returned
}

// Channel must provide: loop* owner(), std::uint64_t owner_id(), std::size_t in_flight(), close()
// (its loop, the calling one, is done with it: unregister from the loop, release resources; later
// I/O fails with errc::shutting_down) and retire() (its loop was destroyed: release resources
// without touching the loop). submit(io_request&) if the table's submit() is used.
// Optional:
//  * task<void> close_async(): drain_current() awaits it instead of calling close() (an NVMe queue
//    pair is deleted with admin commands the loop must not block on).
//  * static constexpr bool publish_when_ready = true: the channel is not put into its core id's
//    slot when it is made, only by publish() (its fast path needs setup first: the slot then
//    always holds a channel that can take I/O at once).
template <typename Channel>
class channel_table {
  public:
    static constexpr unsigned slot_count = 256;

    // The channel of loop `l` from its core's slot, or nullptr (none yet, or not in the slot).
    // The slot holds the owner's loop id beside the channel: one compare finds it, and a free
    // slot (id 0, which no loop has) needs no test of its own. The id is stored after the
    // channel (release) and read before it (acquire), so a matching id comes with its channel.
    Channel* find_fast(loop* l) noexcept {
        slot& s = slots_[slot_of(l->core_id())];
        if (s.owner_id.load(std::memory_order_acquire) != l->unique_id()) return nullptr;
        Channel* const c = s.channel.load(std::memory_order_relaxed);
        // A slot with an id holds that loop's channel: telling the compiler lets the callers'
        // `if (c)` go.
        assert(c);
        if (!c) __builtin_unreachable();
        return c;
    }

    // The channel of loop `l`, or nullptr if it has none yet.
    Channel* find(loop* l) noexcept {
        if (Channel* c = find_fast(l)) return c;
        std::lock_guard lock(mu_);
        for (auto& c : all_)
            if (c->owner_id() == l->unique_id()) return c.get();
        return nullptr;
    }

    // Adds a channel made by `make()` (returning unique_ptr<Channel>) for loop `l`; published in
    // its slot at once unless Channel says publish_when_ready.
    template <typename Make>
    Channel* create(loop* l, Make&& make) {
        std::unique_ptr<Channel> c = make();
        Channel* raw = c.get();
        std::lock_guard lock(mu_);
        // A channel of an earlier loop at this address belongs to a loop that no longer exists.
        for (auto& old : all_)
            if (old->owner() == l) old->retire();
        all_.push_back(std::move(c));
        if (!publishes_when_ready) publish_locked(raw);
        return raw;
    }

    // The channel of loop `l`, made by `make()` if it has none; nullptr if it cannot be made.
    template <typename Make>
    Channel* find_or_create(loop* l, Make& make) noexcept {
        if (Channel* c = find(l)) return c;
        try {
            return create(l, make);
        } catch (...) {
            return nullptr;
        }
    }

    // Puts `c` into its loop's slot if the slot is free or held by a channel whose loop drained or
    // is gone (a publish_when_ready channel calls this once it can take I/O).
    void publish(Channel* c) noexcept {
        std::lock_guard lock(mu_);
        publish_locked(c);
    }

    // Takes `c` out of its slot, if it is there: its loop's I/O takes the slow path from now on.
    void unpublish(Channel* c) noexcept {
        slot& s = slots_[slot_of(c->owner()->core_id())];
        std::lock_guard lock(mu_);
        if (s.channel.load(std::memory_order_relaxed) != c) return;
        s.owner_id.store(0, std::memory_order_relaxed);
        s.channel.store(nullptr, std::memory_order_relaxed);
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
        if (Channel* c = find_or_create(r.owner, make))
            c->submit(r);
        else
            fail_request(r, errno_code(ENOMEM));
    }

    // block_device::drain() for the calling loop: wait for its I/O, then close its channel (made
    // by `make()` if the loop did no I/O yet, so that it is recorded as drained).
    template <typename Make>
    task<void> drain_current(Make make) {
        loop* l = loop::current();
        Channel* c = l ? find_or_create(l, make) : nullptr;
        if (!c) co_return;
        while (c->in_flight() > 0) co_await yield();
        unpublish(c);
        if constexpr (requires { c->close_async(); })
            co_await c->close_async();
        else
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

    // Frees every channel (after release_all(), when nothing uses them any more).
    void clear() {
        std::lock_guard lock(mu_);
        for (auto& s : slots_) {
            s.owner_id.store(0, std::memory_order_relaxed);
            s.channel.store(nullptr, std::memory_order_relaxed);
        }
        all_.clear();
    }

    // Calls fn(Channel&) for every channel, under the table lock (a channel is not freed while
    // the lock is held).
    template <typename Fn>
    void for_each(Fn&& fn) {
        std::lock_guard lock(mu_);
        for (auto& c : all_) fn(*c);
    }
    template <typename Fn>
    void for_each(Fn&& fn) const {
        std::lock_guard lock(mu_);
        for (const auto& c : all_) fn(std::as_const(*c));
    }

    // Round robin: the first channel, from position `start` on (modulo the count, wrapping), for
    // which pred(channel) holds, or nullptr. Under the table lock.
    template <typename Pred>
    Channel* pick(unsigned start, Pred&& pred) {
        std::lock_guard lock(mu_);
        const std::size_t n = all_.size();
        for (std::size_t i = 0; i < n; ++i)
            if (Channel* c = all_[(start + i) % n].get(); pred(std::as_const(*c))) return c;
        return nullptr;
    }

    // Runs fn() under the table lock: what for_each() reads from other threads changes in there.
    template <typename Fn>
    void locked(Fn&& fn) {
        std::lock_guard lock(mu_);
        fn();
    }

  private:
    static constexpr bool publishes_when_ready = [] {
        if constexpr (requires { Channel::publish_when_ready; })
            return Channel::publish_when_ready;
        else
            return false;
    }();

    // Core ids beyond the slots share them (id modulo 256, the low byte: no bound test); the
    // owner id in the slot tells the loops apart.
    static_assert(slot_count == 256);
    static unsigned slot_of(unsigned core_id) noexcept {
        return static_cast<std::uint8_t>(core_id);
    }

    void publish_locked(Channel* c) noexcept {
        slot& s = slots_[slot_of(c->owner()->core_id())];
        Channel* cur = s.channel.load(std::memory_order_relaxed);
        // The slot is released at drain (unpublish); one still held by a channel of a destroyed
        // loop at the same address (retired in create()) is taken over.
        if (cur == nullptr || cur->owner() == c->owner()) {
            s.channel.store(c, std::memory_order_relaxed);
            s.owner_id.store(c->owner_id(), std::memory_order_release);
        }
    }

    // owner_id is the loop id of `channel`'s loop, 0 for a free slot. Written under mu_; a slot
    // holding a loop's id changes only on that loop's thread (publish, drain) or after the loop
    // is gone (taken over above), so its reader never sees its id with another channel.
    struct slot {
        std::atomic<std::uint64_t> owner_id{0};
        std::atomic<Channel*> channel{nullptr};
    };
    std::array<slot, slot_count> slots_{};
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<Channel>> all_;
};

}  // namespace convme::backends

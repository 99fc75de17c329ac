// SPDX-License-Identifier: MIT
// Per-thread coroutine frame pool.
//
// Frames up to kMaxPooled bytes are rounded up to a 64-byte size class and recycled through an
// intrusive singly linked free list per class, owned by the calling thread. After warm-up a frame
// allocation is a pop and a free is a push: no malloc, no atomics, no locks.
//
// Cross-thread frees: every frame of a class was allocated with exactly the class size through
// ::operator new, so a frame freed on a thread other than the one that allocated it is simply
// pushed onto the *freeing* thread's list of the same class. That list either reuses it or hands
// it back to ::operator delete at thread exit; both are correct for any thread. To keep a
// producer/consumer pattern (A allocates, B frees) from growing B's lists without bound, each
// list caches at most kMaxCachedPerClass frames; the rest go straight back to the heap.
//
// Thread exit: the pool itself is trivially destructible (no TLS init guard on the hot path); a
// separate thread_local guard, armed the first time a frame is cached, releases the lists when the
// thread exits and marks the pool dead so frames freed later (by other thread_local destructors)
// go straight to ::operator delete.
#include <convme/detail/frame_pool.hpp>
#include <new>

#include "runtime/core/tls_model.hpp"

namespace convme::detail {
namespace {

constexpr std::size_t kClassBytes = 64;
constexpr std::size_t kMaxPooled = 2048;
constexpr std::size_t kClasses = kMaxPooled / kClassBytes;
constexpr std::uint32_t kMaxCachedPerClass = 4096;

struct free_node {
    free_node* next;
};

struct thread_pool {
    free_node* heads[kClasses];
    std::uint32_t counts[kClasses];
    std::uint64_t pool_hits;
    std::uint64_t heap_allocs;
    std::uint64_t allocs;
    std::uint64_t frees;
    bool armed;  // exit guard registered for this thread
    bool dead;   // thread is exiting: lists released, bypass them
};

constinit thread_local thread_pool tl_pool CONVME_FAST_TLS{};

void release_all(thread_pool& p) noexcept {
    for (std::size_t c = 0; c < kClasses; ++c) {
        free_node* n = p.heads[c];
        while (n) {
            free_node* next = n->next;
            ::operator delete(static_cast<void*>(n));
            n = next;
        }
        p.heads[c] = nullptr;
        p.counts[c] = 0;
    }
}

struct exit_guard {
    bool armed = false;
    ~exit_guard() {
        release_all(tl_pool);
        tl_pool.dead = true;
    }
};
thread_local exit_guard tl_guard;

// Registers the thread-exit release. Needed by any thread that caches a frame, including one that
// only frees frames allocated elsewhere.
[[gnu::noinline]] void arm_exit_guard(thread_pool& p) noexcept {
    tl_guard.armed = true;
    p.armed = true;
}

inline std::size_t class_of(std::size_t size) noexcept {
    return (size + kClassBytes - 1) / kClassBytes - 1;
}

// Everything but a pool hit: heap allocations, size 0, frames above kMaxPooled.
[[gnu::noinline]] void* alloc_slow(thread_pool& p, std::size_t size) {
    if (size == 0) size = 1;
    if (size <= kMaxPooled) {
        const std::size_t c = class_of(size);
        if (free_node* n = p.heads[c]) {
            p.heads[c] = n->next;
            --p.counts[c];
            ++p.pool_hits;
            return n;
        }
        ++p.heap_allocs;
        return ::operator new((c + 1) * kClassBytes);
    }
    ++p.heap_allocs;
    return ::operator new(size);
}

// Everything but a push onto an armed, live, not full list.
[[gnu::noinline]] void free_slow(thread_pool& p, void* ptr, std::size_t size) noexcept {
    if (!ptr) return;
    ++p.frees;
    if (size == 0) size = 1;
    if (size <= kMaxPooled) {
        const std::size_t c = class_of(size);
        if (!p.dead && p.counts[c] < kMaxCachedPerClass) {
            if (!p.armed) arm_exit_guard(p);
            auto* n = static_cast<free_node*>(ptr);
            n->next = p.heads[c];
            p.heads[c] = n;
            ++p.counts[c];
            return;
        }
        ::operator delete(ptr);
        return;
    }
    ::operator delete(ptr);
}

}  // namespace

// The hit paths are kept small enough to need no saved registers; the rest is out of line.
void* frame_alloc(std::size_t size) {
    thread_pool& p = tl_pool;
    ++p.allocs;
    if (size - 1 < kMaxPooled) [[likely]] {  // 1..kMaxPooled
        const std::size_t c = (size - 1) / kClassBytes;
        if (free_node* n = p.heads[c]) [[likely]] {
            p.heads[c] = n->next;
            --p.counts[c];
            ++p.pool_hits;
            return n;
        }
    }
    return alloc_slow(p, size);
}

void frame_free(void* ptr, std::size_t size) noexcept {
    thread_pool& p = tl_pool;
    const std::size_t c = (size - 1) / kClassBytes;
    if (ptr && size - 1 < kMaxPooled && p.armed && !p.dead && p.counts[c] < kMaxCachedPerClass)
        [[likely]] {
        ++p.frees;
        auto* n = static_cast<free_node*>(ptr);
        n->next = p.heads[c];
        p.heads[c] = n;
        ++p.counts[c];
        return;
    }
    free_slow(p, ptr, size);
}

frame_pool_stats frame_pool_thread_stats() noexcept {
    const thread_pool& p = tl_pool;
    // live counts frames allocated minus frames freed by this thread; a thread that frees frames
    // allocated elsewhere would go below zero, which is reported as 0.
    const std::uint64_t live = p.allocs >= p.frees ? p.allocs - p.frees : 0;
    return {p.pool_hits, p.heap_allocs, live};
}

}  // namespace convme::detail

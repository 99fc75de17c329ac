// SPDX-License-Identifier: MIT
// Per-thread pooled allocator for coroutine frames.
// Frames are recycled through size-class free lists owned by the allocating thread, so after
// warm-up a task creation costs a pop from a list, never malloc. A frame freed on another thread
// (rare: a task destroyed after migrating) goes back to the global heap path safely.
#pragma once

#include <cstddef>
#include <cstdint>

namespace convme::detail {

// Allocate `size` bytes for a coroutine frame. Never returns nullptr (throws std::bad_alloc).
void* frame_alloc(std::size_t size);
// Return a frame obtained from frame_alloc with the same size.
void frame_free(void* p, std::size_t size) noexcept;

struct frame_pool_stats {
    std::uint64_t pool_hits;    // allocations served from a free list
    std::uint64_t heap_allocs;  // allocations that went to operator new
    std::uint64_t live;         // frames currently allocated by this thread
};
// Statistics of the calling thread's pool.
frame_pool_stats frame_pool_thread_stats() noexcept;

}  // namespace convme::detail

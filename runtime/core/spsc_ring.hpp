// SPDX-License-Identifier: MIT
// Bounded lock-free single-producer / single-consumer ring.
// Capacity is a power of two. Head (consumer) and tail (producer) live on separate cache lines,
// and each side caches the other side's index so that a push or pop touches the shared line only
// when the cached view says the ring looks full / empty.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

namespace convme::detail {

inline constexpr std::size_t cache_line = 64;

template <typename T>
class spsc_ring {
  public:
    explicit spsc_ring(std::size_t capacity) {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0)
            throw std::invalid_argument("spsc_ring: capacity must be a power of two >= 2");
        mask_ = capacity - 1;
        slots_ = std::allocator<slot>{}.allocate(capacity);
    }
    ~spsc_ring() {
        std::size_t h = head_.load(std::memory_order_relaxed);
        const std::size_t t = tail_.load(std::memory_order_relaxed);
        for (; h != t; ++h) at(h)->~T();
        std::allocator<slot>{}.deallocate(slots_, mask_ + 1);
    }
    spsc_ring(const spsc_ring&) = delete;
    spsc_ring& operator=(const spsc_ring&) = delete;

    std::size_t capacity() const noexcept { return mask_ + 1; }

    // Producer side. Returns false (and leaves `v` untouched) when full.
    bool try_push(T& v) noexcept(std::is_nothrow_move_constructible_v<T>) {
        const std::size_t t = tail_.load(std::memory_order_relaxed);
        if (t - cached_head_ > mask_) {
            cached_head_ = head_.load(std::memory_order_acquire);
            if (t - cached_head_ > mask_) return false;
        }
        ::new (static_cast<void*>(slots_[t & mask_].bytes)) T(std::move(v));
        tail_.store(t + 1, std::memory_order_release);
        return true;
    }

    // Consumer side: pop one element into `out`. Returns false when empty.
    bool try_pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>) {
        const std::size_t h = head_.load(std::memory_order_relaxed);
        if (h == cached_tail_) {
            cached_tail_ = tail_.load(std::memory_order_acquire);
            if (h == cached_tail_) return false;
        }
        T* p = at(h);
        out = std::move(*p);
        p->~T();
        head_.store(h + 1, std::memory_order_release);
        return true;
    }

    // Either side (approximate from the other thread): is anything queued?
    bool empty() const noexcept {
        return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
    }

  private:
    struct slot {
        alignas(T) unsigned char bytes[sizeof(T)];
    };
    T* at(std::size_t i) noexcept {
        return std::launder(reinterpret_cast<T*>(slots_[i & mask_].bytes));
    }

    slot* slots_ = nullptr;
    std::size_t mask_ = 0;
    // Consumer-owned line.
    alignas(cache_line) std::atomic<std::size_t> head_{0};
    std::size_t cached_tail_ = 0;
    // Producer-owned line.
    alignas(cache_line) std::atomic<std::size_t> tail_{0};
    std::size_t cached_head_ = 0;
};

}  // namespace convme::detail

// SPDX-License-Identifier: MIT
// Memory barriers between the CPU and an NVMe controller (a DMA master).
//
// Queue memory is ordinary write-back RAM the device reads/writes by DMA; doorbells are uncached
// MMIO registers. Two orderings matter on the hot path:
//   * before a doorbell write: every SQE (and PRP list) store must be visible to the device before
//     it sees the new tail;
//   * after reading a CQE whose phase bit flipped: the rest of the CQE must not be read from before
//     the phase bit (the device writes the entry, then the phase bit is observed).
// x86_64 keeps stores in order (WB then UC included) and loads in order, so only the compiler must
// be stopped: a release / acquire fence compiles to no instruction there. aarch64 needs real
// barriers to the outer-shareable domain (where the device lives): `dmb oshst` (stores before the
// MMIO store), `dmb oshld` (loads after the phase load), `dmb osh` (full). Other architectures use
// the sequentially consistent fence, which is at least as strong.
#pragma once

#include <atomic>

namespace convme::driver {

// Make queue-entry stores visible to the device before the following doorbell (MMIO) store.
inline void barrier_before_doorbell() noexcept {
#if defined(__aarch64__)
    asm volatile("dmb oshst" ::: "memory");
#elif defined(__x86_64__)
    std::atomic_thread_fence(std::memory_order_release);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// After observing a CQE's phase bit: order the reads of the rest of the entry after it.
inline void barrier_after_phase() noexcept {
#if defined(__aarch64__)
    asm volatile("dmb oshld" ::: "memory");
#elif defined(__x86_64__)
    std::atomic_thread_fence(std::memory_order_acquire);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// Before the CQ head doorbell: our reads of the consumed CQEs must complete before the device may
// reuse those entries (load -> store ordering; free on x86).
inline void barrier_before_cq_doorbell() noexcept {
#if defined(__aarch64__)
    asm volatile("dmb osh" ::: "memory");
#elif defined(__x86_64__)
    std::atomic_thread_fence(std::memory_order_release);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// Full barrier: the shadow-doorbell store must be globally visible before the EventIdx load
// (store -> load ordering, the one reordering x86 does allow: mfence there).
inline void barrier_full() noexcept {
#if defined(__aarch64__)
    asm volatile("dmb osh" ::: "memory");
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// Single 32/16-bit accesses to memory shared with the device (doorbell registers, shadow
// doorbells, EventIdx, CQE status). Aligned loads/stores of these sizes compile to plain moves
// (release stores: plain `mov` on x86_64, `stlr` on aarch64), so they are safe on MMIO; being
// atomics they also tell ThreadSanitizer how the simulated device thread synchronizes with us.
template <typename T>
inline void device_store(volatile T* p, T v) noexcept {
    std::atomic_ref<T>(*const_cast<T*>(p)).store(v, std::memory_order_release);
}
template <typename T>
inline T device_load(const volatile T* p) noexcept {
    return std::atomic_ref<T>(*const_cast<T*>(p)).load(std::memory_order_acquire);
}
template <typename T>
inline T device_load_seq(const volatile T* p) noexcept {
    return std::atomic_ref<T>(*const_cast<T*>(p)).load(std::memory_order_seq_cst);
}

}  // namespace convme::driver

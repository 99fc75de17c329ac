// SPDX-License-Identifier: MIT
// doze_gate on a Linux futex: FUTEX_WAIT blocks only while the word still says "dozing", so a
// wake that lands between the device's last re-check and its wait is not lost either.
#include "driver/sim/sim_doze.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace convme::sim {
namespace {

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t val,
           const timespec* timeout) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op | FUTEX_PRIVATE_FLAG,
                     val, timeout, nullptr, 0);
}

}  // namespace

void doze_gate::prepare() noexcept {
    state_.store(dozing, std::memory_order_relaxed);
    // Orders the store above before the device's following loads of doorbells / stop flag
    // (pairs with the fence in wake_if_asleep()).
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

void doze_gate::sleep(clock_type::time_point deadline) noexcept {
    timespec ts{};
    const timespec* timeout = nullptr;
    if (deadline != clock_type::time_point::max()) {
        const auto left = std::max(deadline - clock_type::now(), clock_type::duration::zero());
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        if (ns == 0) {
            cancel();
            return;
        }
        ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        timeout = &ts;  // FUTEX_WAIT takes a relative CLOCK_MONOTONIC timeout, like steady_clock
    }
    sleeps_.fetch_add(1, std::memory_order_relaxed);
    // Returns at once (EAGAIN) if a waker already flipped the word back to awake.
    (void)futex(state_, FUTEX_WAIT, dozing, timeout);
    cancel();
}

void doze_gate::wake_if_asleep() noexcept {
    // The caller's store (doorbell, stop flag) before the load of the state (pairs with prepare()).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (state_.load(std::memory_order_relaxed) != dozing) return;
    // Only the waker that flips the word makes the system call.
    if (state_.exchange(awake, std::memory_order_relaxed) == dozing)
        (void)futex(state_, FUTEX_WAKE, 1, nullptr);
}

}  // namespace convme::sim

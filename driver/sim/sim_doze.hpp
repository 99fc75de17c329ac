// SPDX-License-Identifier: MIT
// Lets the simulated controller's device thread sleep while its doorbells are idle, instead of
// spinning on a CPU the host loop may need (on a busy 2-core machine the two threads otherwise
// share one CPU and hand over only at scheduler slice boundaries).
//
// The handshake is the classic "announce, re-check, sleep" (Dekker-style, like NVMe EventIdx):
//   device:  prepare()        -> look for work again -> cancel() if any, else sleep()
//   host:    store a doorbell -> wake_if_asleep()
// prepare() and wake_if_asleep() each put a seq_cst fence between their store and their load, so
// at least one side sees the other's store: either the device's re-check finds the doorbell or
// the host finds the device asleep and wakes it. No wake-up is lost, and a host that rings while
// the device is awake pays one fence and one load, no system call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace convme::sim {

class doze_gate {
  public:
    using clock_type = std::chrono::steady_clock;

    // ---- device thread
    // Announce the intent to sleep; afterwards look for work once more (doorbells, stop flag).
    void prepare() noexcept;
    // Work was found after prepare(): stay awake.
    void cancel() noexcept { state_.store(awake, std::memory_order_relaxed); }
    // Block until wake()/wake_if_asleep(), until `deadline` (if not time_point::max()), or a
    // spurious return. Leaves the gate awake.
    void sleep(clock_type::time_point deadline) noexcept;

    // ---- any other thread, after publishing work (a doorbell store, the stop flag)
    void wake_if_asleep() noexcept;

    // Number of times the device thread actually blocked (tests and diagnostics).
    std::uint64_t sleeps() const noexcept { return sleeps_.load(std::memory_order_relaxed); }
    // Between prepare() and the end of sleep() (tests: "the device went to sleep").
    bool asleep() const noexcept { return state_.load(std::memory_order_relaxed) == dozing; }

  private:
    static constexpr std::uint32_t awake = 0, dozing = 1;
    // The futex word: 32 bits, as the futex system call wants.
    std::atomic<std::uint32_t> state_{awake};
    std::atomic<std::uint64_t> sleeps_{0};
};

}  // namespace convme::sim

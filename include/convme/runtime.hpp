// SPDX-License-Identifier: MIT
// A runtime owns one loop per core, each on its own thread pinned to a CPU. Cores talk through
// lock-free single-producer/single-consumer rings (one per ordered pair of cores).
#pragma once

#include <convme/loop.hpp>
#include <convme/task.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

namespace convme {

struct runtime_options {
    unsigned cores = 1;       // number of loops/threads
    bool pin_threads = true;  // pin loop i to the i-th CPU of the process affinity mask
    std::size_t message_ring_size = 1024;  // per ordered core pair, power of two
    std::chrono::microseconds spin_before_sleep{200};
};

class runtime {
  public:
    explicit runtime(runtime_options opts = {});
    ~runtime();  // stops all loops and joins their threads
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    unsigned cores() const noexcept;
    loop& loop_of(unsigned core) noexcept;

    // Run `main` on core 0 (the calling thread becomes core 0's loop thread) while the other
    // cores run on their own threads; return main's result once it finished and every loop has
    // drained its in-flight I/O.
    template <typename T>
    T run(task<T> main);

    // The runtime the calling loop belongs to, or nullptr.
    static runtime* current() noexcept;

    // Low level: enqueue `fn` to run on `core`. From a loop thread of this runtime this uses the
    // SPSC ring (from this core to `core`); from any other thread it falls back to loop::post.
    // Never blocks: when the ring is full the message waits, in order, in a queue owned by the
    // sending core, which its loop moves into the ring as space frees up (no deadlock when two
    // cores flood each other; the loop does not sleep while such messages are queued).
    void send(unsigned core, std::function<void()> fn);

    struct impl;

  private:
    void start_others();
    void stop_all();
    std::unique_ptr<impl> impl_;
};

namespace detail {
template <typename R>
struct cross_core_state {
    std::optional<std::conditional_t<std::is_void_v<R>, char, R>> value;
    std::exception_ptr error;
    std::coroutine_handle<> waiter;
    loop* home = nullptr;
};
}  // namespace detail

// co_await run_on(core, fn): run fn (a callable returning R or task<R>) on `core` and resume the
// caller on its own core with the result (exceptions propagate back too).
template <typename Fn>
auto run_on(unsigned core, Fn fn);

// Fire-and-forget: run fn (returning void or task<void>) on `core`.
template <typename Fn>
void submit_to(unsigned core, Fn fn);

}  // namespace convme

#include <convme/detail/runtime_inl.hpp>

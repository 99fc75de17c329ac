// SPDX-License-Identifier: MIT
// Per-core event loop: a ready queue of coroutine handles, registered pollers (backends' completion
// queues), timers, and an inbox of cross-core messages. One loop per thread; the loop is reached
// from code running on it through loop::current().
#pragma once

#include <atomic>
#include <chrono>
#include <convme/detail/ready_queue.hpp>
#include <convme/task.hpp>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>

namespace convme {

class poller;  // <convme/backend.hpp>: what backends register to be polled

class loop;

namespace detail {
// The loop running on this thread (loop::current()). constinit: no dynamic initialization, so
// code outside the defining file reads it directly instead of through a TLS wrapper call;
// initial-exec: a fixed offset from the thread pointer (the library is linked statically), so a
// read is one load. Defined in runtime/core/loop.cpp.
extern constinit thread_local loop* tl_current_loop __attribute__((tls_model("initial-exec")));
void count_messages(loop& l, std::uint64_t n) noexcept;  // runtime/core/loop_internal.hpp
}  // namespace detail

struct loop_options {
    unsigned core_id = 0;  // logical index of this loop in its runtime (0..n-1)
    int pin_cpu = -1;      // CPU to pin the thread to, -1: do not pin
    // Adaptive idle: after this long without work the loop blocks on its eventfd (or until the
    // next timer). Pollers with in-flight I/O keep the loop spinning instead.
    std::chrono::microseconds spin_before_sleep{200};
    // The same while I/O is in flight on pollers whose devices wake the loop on completion (see
    // poller::max_block_in_flight()). Shorter: that device is another thread of this process,
    // which on a busy machine may be waiting for this very CPU to do the work we wait for.
    std::chrono::microseconds spin_before_sleep_in_flight{5};
};

class loop {
  public:
    explicit loop(loop_options opts = {});
    ~loop();
    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;

    // The loop running on the calling thread, or nullptr.
    static loop* current() noexcept { return detail::tl_current_loop; }
    unsigned core_id() const noexcept { return core_id_; }
    // Process-unique id, never reused (unlike the address: a new loop may be built where a
    // destroyed one was). Backends key per-loop state (rings, queue pairs) by it.
    std::uint64_t unique_id() const noexcept { return unique_id_; }

    // Ready queue (call from this loop's thread only). push() only allocates when the queue
    // doubles; running out of memory there is fatal anyway.
    void schedule(std::coroutine_handle<> h) noexcept { ready_.push(h); }
    // schedule() when the ready queue has room without growing: a path that must make no call
    // (a backend's poll fast path). False, and nothing scheduled, when it would have to grow.
    bool try_schedule(std::coroutine_handle<> h) noexcept { return ready_.try_push(h); }
    // For a backend that keeps its completed waiters in an array: schedules the `n` handles at
    // `h`, in order, with one full test and one copy into the ready queue.
    void schedule_range(const std::coroutine_handle<>* h, std::size_t n) {
        ready_.push_range(h, n);
    }
    // Start a detached task on this loop. Its frame is freed when it finishes; an exception
    // escaping it is reported on stderr and terminates the program (a detached task has no one
    // to rethrow to).
    void spawn(task<void> t);

    void add_poller(poller* p);
    void remove_poller(poller* p);

    // Awaitable: resume after `d` on this loop (timer wheel / heap, checked every iteration).
    struct sleep_awaiter;
    sleep_awaiter sleep_for(std::chrono::nanoseconds d) noexcept;

    // Thread-safe: run `fn` on this loop's thread (multi-producer; used by runtime for messages
    // when no SPSC ring applies, e.g. from a non-loop thread). Wakes the loop if it sleeps.
    void post(std::function<void()> fn);
    // Thread-safe: wake the loop if it is blocked on its eventfd.
    void wake() noexcept;
    // The eventfd the loop blocks on, for kernel-side notifiers that cannot call wake() (e.g.
    // io_uring_register_eventfd). A count added to it wakes the loop if it sleeps, or makes its
    // next sleep return at once (one spurious wake-up, then the loop drains it). Do not read or
    // close it; from user space use wake(). Valid for the loop's lifetime.
    int notify_fd() const noexcept;

    // Run until stop() was called, then keep running until every poller reports in_flight()==0
    // and the ready queue is empty (clean shutdown that waits for in-flight I/O).
    void run();
    // Thread-safe request to stop.
    void stop() noexcept;
    bool stop_requested() const noexcept;

    // Drive `t` to completion on this loop (on the calling thread) and return its result.
    template <typename T>
    T run_until_complete(task<T> t);

    // One iteration: run ready handles, fire due timers, poll pollers, flush submissions.
    // Returns true if anything made progress. Exposed for tests and embedding (e.g. Asio).
    bool run_once();

    struct stats {
        std::uint64_t iterations, resumed, polls_with_work, sleeps, messages;
    };
    stats statistics() const noexcept;

    struct impl;

  private:
    void add_timer(std::chrono::steady_clock::time_point when, std::coroutine_handle<> h);
    // run_once() without making this loop current (run() already did).
    bool iterate();
    static std::uint64_t next_unique_id() noexcept {
        static std::atomic<std::uint64_t> counter{0};
        return counter.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    detail::ready_queue ready_;
    std::unique_ptr<impl> impl_;
    unsigned core_id_ = 0;
    std::uint64_t unique_id_ = next_unique_id();
    friend struct sleep_awaiter;
    friend void detail::count_messages(loop& l, std::uint64_t n) noexcept;

  public:
    struct sleep_awaiter {
        loop* l;
        std::chrono::steady_clock::time_point when;
        bool await_ready() const noexcept { return when <= std::chrono::steady_clock::now(); }
        void await_suspend(std::coroutine_handle<> h) { l->add_timer(when, h); }
        void await_resume() const noexcept {}
    };
};

inline loop::sleep_awaiter loop::sleep_for(std::chrono::nanoseconds d) noexcept {
    return {this, std::chrono::steady_clock::now() + d};
}

// co_await convme::sleep_for(10ms) on the current loop.
inline loop::sleep_awaiter sleep_for(std::chrono::nanoseconds d) noexcept {
    return loop::current()->sleep_for(d);
}

// co_await convme::yield(): go to the back of the ready queue.
struct yield_awaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const noexcept { loop::current()->schedule(h); }
    // The compiler-only barrier costs no instruction; it works around a clang 14 crash at -O2
    // (CoroSplit segfault) on loops whose body is just `co_await yield()`, e.g.
    // `while (pending) co_await convme::yield();`.
    void await_resume() const noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }
};
inline yield_awaiter yield() noexcept {
    return {};
}

namespace detail {
// Awaits `child` without owning it, so the caller keeps the frame to take result() afterwards;
// then sets `done` and, if asked, stops the loop it ran on.
template <typename T>
task<void> await_borrowed(typename task<T>::handle_type child, bool& done, bool stop_loop) {
    struct resume_child {
        typename task<T>::handle_type child;
        bool await_ready() const noexcept { return child.done(); }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> me) noexcept {
            child.promise().continuation = me;
            return child;
        }
        void await_resume() const noexcept {}
    };
    co_await resume_child{child};
    done = true;
    if (stop_loop) loop::current()->stop();
}
}  // namespace detail

template <typename T>
T loop::run_until_complete(task<T> t) {
    bool done = false;
    auto wrapper = detail::await_borrowed<T>(t.handle(), done, false);
    schedule(wrapper.handle());
    while (!done) run_once();
    return t.result();
}

}  // namespace convme

// SPDX-License-Identifier: MIT
// convme::task<T>: a lazy coroutine. It starts when awaited, resumes its awaiter by symmetric
// transfer when it finishes, and rethrows an escaped exception in the awaiter. Destroying a task
// that never started or is suspended mid-way destroys its frame (and, recursively, the frames of
// the tasks it is awaiting), so nothing leaks.
#pragma once

#include <convme/detail/frame_pool.hpp>
#include <coroutine>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>
#include <variant>

namespace convme {

template <typename T = void>
class task;

namespace detail {

struct promise_base {
    std::coroutine_handle<> continuation{};
    std::exception_ptr error{};

    static void* operator new(std::size_t size) { return frame_alloc(size); }
    static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        template <typename P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            auto next = h.promise().continuation;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <typename T>
struct promise final : promise_base {
    std::variant<std::monostate, T> value;

    task<T> get_return_object() noexcept;

    template <typename U>
    requires std::is_convertible_v<U&&, T>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value.template emplace<1>(std::forward<U>(v));
    }

    T take() {
        if (error) std::rethrow_exception(error);
        return std::move(std::get<1>(value));
    }
};

template <>
struct promise<void> final : promise_base {
    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() {
        if (error) std::rethrow_exception(error);
    }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] task {
  public:
    using promise_type = detail::promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;
    using value_type = T;

    task() noexcept = default;
    explicit task(handle_type h) noexcept : handle_(h) {}
    task(task&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
    task& operator=(task&& o) noexcept {
        if (this != &o) {
            reset();
            handle_ = std::exchange(o.handle_, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() { reset(); }

    bool valid() const noexcept { return static_cast<bool>(handle_); }
    bool done() const noexcept { return handle_ && handle_.done(); }

    auto operator co_await() && noexcept {
        struct awaiter {
            handle_type h;
            bool await_ready() const noexcept { return !h || h.done(); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
                h.promise().continuation = awaiting;
                return h;  // symmetric transfer: start the child without growing the stack
            }
            T await_resume() { return h.promise().take(); }
        };
        return awaiter{handle_};
    }

    // Low-level access for executors (loop::spawn, run_until_complete).
    handle_type handle() const noexcept { return handle_; }
    handle_type release() noexcept { return std::exchange(handle_, {}); }
    // Result of a finished task; rethrows its exception.
    T result() { return handle_.promise().take(); }

  private:
    void reset() noexcept {
        if (handle_) {
            handle_.destroy();
            handle_ = {};
        }
    }
    handle_type handle_{};
};

namespace detail {
template <typename T>
task<T> promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<promise<T>>::from_promise(*this)};
}
inline task<void> promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace convme

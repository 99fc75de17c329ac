// SPDX-License-Identifier: MIT
// Template parts of convme/runtime.hpp: runtime::run, run_on, submit_to.
#pragma once

#include <convme/loop.hpp>
#include <convme/runtime.hpp>
#include <convme/task.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace convme {

namespace detail {

template <typename X>
struct task_traits {
    static constexpr bool is_task = false;
    using value = X;
};
template <typename R>
struct task_traits<task<R>> {
    static constexpr bool is_task = true;
    using value = R;
};

template <typename Fn>
using invoke_t = std::invoke_result_t<Fn&>;
template <typename Fn>
using run_on_result_t = typename task_traits<invoke_t<Fn>>::value;

// Checks that the caller runs on a loop of a live runtime and that `core` exists.
runtime& runtime_for_cross_core(unsigned core, const char* what);

// Awaiter for a call on another core. It lives in the caller's (suspended) frame, so the round
// trip allocates nothing: both messages capture only `this`.
template <typename R, typename Fn>
struct remote_call {
    runtime* rt;
    unsigned target;
    Fn* fn;
    cross_core_state<R> st{};

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        st.waiter = h;
        st.home = loop::current();
        rt->send(target, [this] { execute(); });
    }
    R await_resume() {
        if (st.error) std::rethrow_exception(st.error);
        if constexpr (!std::is_void_v<R>) return std::move(*st.value);
    }

    // On the target core.
    void execute() {
        if constexpr (task_traits<invoke_t<Fn>>::is_task) {
            loop::current()->spawn(run_task(this));
        } else {
            try {
                if constexpr (std::is_void_v<R>) {
                    (*fn)();
                    st.value.emplace();
                } else {
                    st.value.emplace((*fn)());
                }
            } catch (...) {
                st.error = std::current_exception();
            }
            reply();
        }
    }
    static task<void> run_task(remote_call* self) {
        try {
            if constexpr (std::is_void_v<R>) {
                co_await (*self->fn)();
                self->st.value.emplace();
            } else {
                self->st.value.emplace(co_await (*self->fn)());
            }
        } catch (...) {
            self->st.error = std::current_exception();
        }
        self->reply();
    }
    // Send the waiter home. Nothing of *this may be touched after send(): the caller may already
    // have resumed and destroyed it.
    void reply() {
        runtime* r = rt;
        loop* home = st.home;
        remote_call* self = this;
        r->send(home->core_id(), [self] { self->st.home->schedule(self->st.waiter); });
    }
};

template <typename R, typename Fn>
task<R> run_on_impl(unsigned core, Fn fn) {
    runtime& rt = runtime_for_cross_core(core, "convme::run_on");
    if (&rt.loop_of(core) == loop::current()) {  // same core: just run it here
        if constexpr (task_traits<invoke_t<Fn>>::is_task) {
            co_return co_await fn();
        } else {
            co_return fn();
        }
    }
    co_return co_await remote_call<R, Fn>{&rt, core, &fn};
}

// Owns the callable for as long as the task it returns runs (a lambda's captures live in the
// lambda object, which must outlive the coroutine it created).
template <typename F>
task<void> call_and_await(F f) {
    co_await f();
}

}  // namespace detail

template <typename T>
T runtime::run(task<T> main) {
    if (!main.valid()) throw std::invalid_argument("convme::runtime::run: empty task");
    start_others();
    loop& l0 = loop_of(0);
    bool done = false;
    // Await main without owning it (main's frame stays alive for result()), then stop core 0,
    // which drains its in-flight I/O before run() returns.
    auto wrapper = detail::await_borrowed<T>(main.handle(), done, true);
    l0.schedule(wrapper.handle());
    while (!done) l0.run();
    stop_all();  // stop the other cores, wait for their drain, join
    return main.result();
}

template <typename Fn>
auto run_on(unsigned core, Fn fn) {
    return detail::run_on_impl<detail::run_on_result_t<Fn>, Fn>(core, std::move(fn));
}

template <typename Fn>
void submit_to(unsigned core, Fn fn) {
    runtime& rt = detail::runtime_for_cross_core(core, "convme::submit_to");
    using result = detail::invoke_t<Fn>;
    auto job = [f = std::move(fn)]() mutable {
        if constexpr (detail::task_traits<result>::is_task) {
            loop::current()->spawn(detail::call_and_await(std::move(f)));
        } else {
            (void)f();
        }
    };
    // std::function needs a copyable target; box move-only callables.
    if constexpr (std::is_copy_constructible_v<decltype(job)>) {
        rt.send(core, std::move(job));
    } else {
        auto boxed = std::make_shared<decltype(job)>(std::move(job));
        rt.send(core, [boxed] { (*boxed)(); });
    }
}

}  // namespace convme

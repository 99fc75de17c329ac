// SPDX-License-Identifier: MIT
// Detached root coroutine used by loop::spawn(): it owns a task<void>, awaits it, and destroys its
// own frame when done (final_suspend never suspends). Live roots are kept on an intrusive list of
// their loop so that a loop destroyed with tasks still suspended destroys them instead of leaking.
#pragma once

#include <convme/detail/frame_pool.hpp>
#include <convme/task.hpp>
#include <coroutine>
#include <cstdio>
#include <exception>

namespace convme::detail {

struct detached_promise;

// Intrusive list of live detached roots (loop-thread only).
struct detached_list {
    detached_promise* head = nullptr;
    inline void destroy_all() noexcept;
};

struct detached_root {
    using promise_type = detached_promise;
    std::coroutine_handle<detached_promise> h;
};

struct detached_promise {
    detached_list* list = nullptr;
    detached_promise* prev = nullptr;
    detached_promise* next = nullptr;

    static void* operator new(std::size_t size) { return frame_alloc(size); }
    static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }

    detached_root get_return_object() noexcept {
        return {std::coroutine_handle<detached_promise>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }

    void link(detached_list& l) noexcept {
        list = &l;
        next = l.head;
        if (next) next->prev = this;
        l.head = this;
    }
    ~detached_promise() {
        if (!list) return;
        if (prev)
            prev->next = next;
        else
            list->head = next;
        if (next) next->prev = prev;
    }
};

inline void detached_list::destroy_all() noexcept {
    while (head) std::coroutine_handle<detached_promise>::from_promise(*head).destroy();
}

inline detached_root detached_body(task<void> t) {
    try {
        co_await std::move(t);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convme: exception escaped a spawned task: %s\n", e.what());
        std::terminate();
    } catch (...) {
        std::fprintf(stderr, "convme: non-standard exception escaped a spawned task\n");
        std::terminate();
    }
}

inline std::coroutine_handle<> make_detached(task<void> t, detached_list& l) {
    auto root = detached_body(std::move(t));
    root.h.promise().link(l);
    return root.h;
}

}  // namespace convme::detail

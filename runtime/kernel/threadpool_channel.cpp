#include "runtime/kernel/threadpool_channel.hpp"

#include "runtime/kernel/threadpool_pool.hpp"

#include <cerrno>

namespace convme::backends {

void threadpool_channel::submit(io_request& r) noexcept {
    if (drained_) {
        // Only queues the waiter on its loop; nothing resumes inline.
        r.fail(make_error_code(errc::shutting_down));
        r.complete();
        return;
    }
    if (!registered_) {
        try {
            owner_->add_poller(this);
        } catch (...) {
            r.fail(errno_code(ENOMEM));
            r.complete();
            return;
        }
        registered_ = true;
    }
    r.backend_word[1] = reinterpret_cast<std::uintptr_t>(this);
    ++in_flight_;
    pool_.enqueue(r);
}

void threadpool_channel::push_done(io_request& r) noexcept {
    // Wake first: once r is published the loop may complete it, drain and be destroyed, so the
    // loop must not be touched afterwards. No wake-up is lost: a loop with in_flight() > 0 never
    // sleeps, it keeps polling until it sees the push.
    owner_->wake();
    io_request* head = done_.load(std::memory_order_relaxed);
    do {
        r.backend_word[0] = reinterpret_cast<std::uintptr_t>(head);
    } while (!done_.compare_exchange_weak(head, &r, std::memory_order_release, std::memory_order_relaxed));
}

bool threadpool_channel::poll() {
    io_request* list = done_.exchange(nullptr, std::memory_order_acquire);
    if (!list) return false;
    // The list is newest first: reverse it so requests complete in the order they finished.
    io_request* ordered = nullptr;
    while (list) {
        io_request* next = reinterpret_cast<io_request*>(list->backend_word[0]);
        list->backend_word[0] = reinterpret_cast<std::uintptr_t>(ordered);
        ordered = list;
        list = next;
    }
    while (ordered) {
        io_request* next = reinterpret_cast<io_request*>(ordered->backend_word[0]);
        --in_flight_;
        ordered->complete();
        ordered = next;
    }
    return true;
}

void threadpool_channel::close() noexcept {
    if (registered_) owner_->remove_poller(this);
    registered_ = false;
    drained_ = true;
}

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
#include "runtime/kernel/threadpool_channel.hpp"

#include <cerrno>

#include "runtime/core/channel_table.hpp"
#include "runtime/kernel/threadpool_pool.hpp"

namespace convme::backends {

void threadpool_channel::submit(io_request& r) noexcept {
    if (drained_) {
        fail_request(r, make_error_code(errc::shutting_down));
        return;
    }
    if (!registered_) {
        try {
            owner_->add_poller(this);
        } catch (...) {
            fail_request(r, errno_code(ENOMEM));
            return;
        }
        registered_ = true;
    }
    r.context = this;
    ++in_flight_;
    pool_.enqueue(r);
}

void threadpool_channel::push_done(io_request& r) noexcept {
    // Wake first: once r is published the loop may complete it, drain and be destroyed, so the
    // loop must not be touched afterwards. No wake-up is lost: a loop with in_flight() > 0 never
    // sleeps, it keeps polling until it sees the push.
    owner_->wake();
    done_.push(r);
}

bool threadpool_channel::poll() {
    if (done_.empty()) return false;
    request_fifo finished = done_.take_all();  // in the order they finished
    while (io_request* r = finished.pop_front()) {
        --in_flight_;
        r->complete();
    }
    return true;
}

void threadpool_channel::close() noexcept {
    if (registered_) owner_->remove_poller(this);
    registered_ = false;
    drained_ = true;
}

}  // namespace convme::backends

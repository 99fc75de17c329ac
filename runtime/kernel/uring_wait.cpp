// SPDX-License-Identifier: MIT
// wait=block: how a loop sleeps while its io_uring ring has I/O in flight instead of spinning.
//
// The ring signals the loop's own eventfd (loop::notify_fd()) rather than an eventfd of its own:
// the loop already blocks on that fd and drains it after every sleep, so there is one fd to ppoll,
// nothing to close, and a count the kernel adds while the loop is awake costs at most one spurious
// wake-up. Registering is one syscall when the ring is set up.
//
// A signal per CQE would put the eventfd wake-up path on every completion. The CQ eventfd toggle
// (IORING_CQ_EVENTFD_DISABLED, a flag in the shared CQ ring, no syscall) keeps notifications off
// while the loop runs: prepare_to_block() turns them on just before a sleep, the next poll() off.
//
// No lost wake-up: prepare_to_block() clears the flag, fences, then looks at the CQ tail; the
// kernel publishes a CQE's tail before it reads the flag to decide whether to signal. Either it
// sees notifications on and signals (the ppoll returns at once), or we see the CQE and do not
// sleep. The sleep is still bounded (max_block) as a backstop, never the expected path.
#include "runtime/kernel/uring_channel.hpp"

namespace convme::backends {
namespace {
constexpr std::chrono::microseconds max_block{10'000};
}  // namespace

void uring_channel::register_notify(ring& g) noexcept {
    if (!cfg_.block_in_flight || g.polled) return;
    // Old kernel or a seccomp filter refusing the registration: this loop keeps polling.
    if (io_uring_register_eventfd(&g.r, owner_->notify_fd()) < 0) {
        bump(notify_refused_);
        return;
    }
    g.notifies = true;
    // Kernels without the CQ flags word (before 5.8) keep signalling on every CQE: correct, only
    // costlier (and a stale count makes one sleep return early).
    g.toggles = io_uring_cq_eventfd_toggle(&g.r, false) == 0;
    bump(notify_rings_);
}

std::chrono::microseconds uring_channel::max_block_in_flight() const {
    if (state_ != state::open || !main_.notifies || (aux_.live && !aux_.notifies))
        return std::chrono::microseconds{0};
    return max_block;
}

bool uring_channel::prepare_to_block() {
    if (state_ != state::open) return true;
    if (!notify_armed_) {
        for (ring* g : {&main_, &aux_})
            if (g->live && g->toggles) io_uring_cq_eventfd_toggle(&g->r, true);
        notify_armed_ = true;
        bump(notify_arms_);
    }
    // Store (flag) then load (CQ tail) must not be reordered; see the top of this file.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (ring* g : {&main_, &aux_}) {
        if (!g->live) continue;
        // A CQE already posted, or SQEs a failed submit left behind (the next flush retries them).
        if (io_uring_cq_ready(&g->r) != 0 || io_uring_sq_ready(&g->r) != 0) return false;
    }
    return true;
}

void uring_channel::disarm_notify() noexcept {
    for (ring* g : {&main_, &aux_})
        if (g->live && g->toggles) io_uring_cq_eventfd_toggle(&g->r, false);
    notify_armed_ = false;
}

}  // namespace convme::backends

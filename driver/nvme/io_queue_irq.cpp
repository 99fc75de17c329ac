// SPDX-License-Identifier: MIT
// Interrupt and hybrid completions for one io_queue (completion=interrupt|hybrid).
//
// The CQ is created with IEN=1 and IV=qid, and pci_device::bind_irq_eventfd routes that MSI-X
// vector to the owning loop's own eventfd (loop::notify_fd()): VFIO_DEVICE_SET_IRQS on a real
// function, the device thread's notification in the simulator. The loop's existing sleep (ppoll on
// that eventfd) is then the interrupt wait: no extra thread, no extra fd to poll.
//
// Why no completion is lost between the last poll and the sleep:
//  1. The controller writes the CQE to memory, then signals the vector (the MSI-X message is a
//     posted write ordered after the CQE write; the simulator writes the eventfd after the phase
//     tag was stored). The kernel's handler adds 1 to the eventfd.
//  2. The loop reads (clears) the eventfd only after ppoll returned, and polls every poller before
//     it can sleep again.
//  3. Take any CQE that the last poll did not see. Its +1 comes after the CQE is visible. If it
//     lands before the loop's ppoll, the count is non-zero and ppoll returns at once; if after, it
//     wakes the ppoll. If the read after some earlier sleep cleared it, that read is followed by a
//     poll that sees the CQE (the +1 came after the CQE was written). Either way it is reaped.
// With irq_mask=off the vector stays enabled all the time, so there is no arm-then-recheck
// window at all; the price is an interrupt for every completion, also those a spinning or busy
// loop reaps itself (under QEMU TCG each one costs the spinning vCPU), and at most one spurious
// wake-up per sleep for signals that arrived while the loop was awake (the count is stale,
// ppoll returns, the read clears it).
//
// irq_mask=awake (the default where pci_device::mask_irq works: the MSI-X table's Mask bit,
// written through the BAR mapping, msix_capability.hpp; INTMS/INTMC are not for MSI-X): the
// vector is masked whenever prepare_to_block() lets the loop stay awake (hybrid: also in the
// first poll after a wake-up, io_queue::health_poll(), so that a loop that reaps and
// resubmits before it ever idles takes no interrupt either), and unmasked only when it lets the
// loop sleep. Still lossless, by the MSI-X rule that a message due while its vector
// is masked sets the Pending bit and is sent on unmask:
//  4. A CQE the loop has not reaped when it unmasks: its signal was either sent (vector unmasked
//     then, the +1 is in the count as in 3) or is Pending and is sent by the unmask; a CQE
//     posted after the unmask signals as usual. So a sleep that follows the unmask is woken.
//  5. The loop sleeps with this queue's I/O in flight only through prepare_to_block() returning
//     true, and that return comes after the unmask; with nothing in flight no signal is needed,
//     and the first I/O after it is reaped by polls that end in prepare_to_block() again.
// The cq_ready() peek after the unmask only saves a sleep that would return at once. What it
// costs: two register writes per sleep, none per I/O, and one spurious wake-up when a
// completion reaped while masked left the Pending bit set.
// Interrupt coalescing (FID 08h) delays a signal by at most its aggregation time, never drops it.
// Backstop: max_block_in_flight() bounds every sleep to one health interval, so timeouts (Abort,
// reset) are still detected when a completion never comes; the scan runs here, before each sleep.
//
// Vectors: queue qid uses vector qid (vector 0 is the admin queue's, which stays polled). A queue
// whose qid has no vector is not created in these modes (create fails with -EBUSY); nvme_device
// then forwards that loop's I/O to a loop that has a queue, as with fewer queues than loops.
// Sharing one vector between queues of different loops cannot work with one eventfd per loop: a
// vector signals one eventfd, and a loop that clears it could swallow the wake-up of another loop
// that was just about to sleep.
#include <cerrno>
#include <cstring>

#include "driver/nvme/io_queue.hpp"

namespace convme::driver {

int io_queue::setup_irq(std::string& why) noexcept {
    const unsigned vectors = dev_.irq_vectors();
    if (qid_ >= vectors) {
        why = "completion=" + std::string(completion_mode_name(p_.mode)) + ": queue " +
              std::to_string(qid_) + " has no interrupt vector (the function offers " +
              std::to_string(vectors) + ", vector 0 is the admin queue's)";
        return -EBUSY;
    }
    if (int rc = dev_.bind_irq_eventfd(qid_, owner_.notify_fd()); rc != 0) {
        why = "binding interrupt vector " + std::to_string(qid_) +
              " to the loop's eventfd: " + dev_.last_error();
        return rc;
    }
    dev_.steer_irq_to_caller(qid_);  // irq_affinity=loop: the vector to this loop's CPU
    if (p_.irq_mask_awake) dev_.mask_irq(qid_, false);  // a known state (a reset may leave it)
    irq_masked_ = false;
    irq_ = true;
    notified_ = true;  // max_block_in_flight(): the loop may sleep while I/O is in flight
    return 0;
}

bool io_queue::prepare_to_block() {
    if (!irq_) return true;  // a device with its own notification (threaded sim): as before
    // hybrid, spinning with nothing new: only every spin_clock_stride-th call reads the clock
    // (for the window and the health scan). Where the clocksource is not the TSC a read is a
    // system call: hpet costs ~0.9 us in the QEMU TCG guest, and reading it on every spin turn
    // slowed hybrid's QD1 to 0.7-0.9x poll's. The vector is already masked on this path.
    // A window shorter than spin_stride_min_window reads it every turn: the stride's overshoot
    // (15 turns) would be a real part of it.
    if (p_.mode == completion_mode::hybrid && spin_checks_left_ != 0 &&
        spin_events() == spin_seen_) {
        --spin_checks_left_;
        return false;
    }
    spin_checks_left_ = spin_.window() >= spin_stride_min_window ? spin_clock_stride - 1 : 0;
    if (in_flight_) health_tick();  // the scan: before each sleep, and every stride while spinning
    if (!deferred_.empty() || qp_.cq_ready() || qp_.sq_pending() ||
        (p_.mode == completion_mode::hybrid && keep_spinning())) {
        set_irq_masked(true);  // awake: work is already here, or hybrid spins on
        return false;
    }
    if (irq_masked_) {
        set_irq_masked(false);  // then look again (4. above)
        if (qp_.cq_ready()) return false;
    }
    spin_checks_left_ = 0;  // the first look after the sleep reads the clock
    ++irq_sleeps_;
    return true;
}

void io_queue::set_irq_masked(bool masked) noexcept {
    if (!p_.irq_mask_awake || irq_masked_ == masked) return;
    dev_.mask_irq(qid_, masked);
    irq_masked_ = masked;
}

// hybrid: spin for spin_.window() after the last submission or completion seen here, so that a
// device answering within the window never costs an interrupt and a wake-up. Each wait that ends
// with a completion is one sample for the adaptive window: it runs from the first idle moment
// after the previous event to the moment the completion was seen (the wake-up included if the
// loop slept), which is the time a spin would have had to cover.
bool io_queue::keep_spinning() noexcept {
    const auto& c = qp_.counters();
    const std::uint64_t seen = spin_events();
    if (seen == spin_seen_) {
        if (spin_.window().count() <= 0) return false;
        return std::chrono::steady_clock::now() - spin_start_ < spin_.window();
    }
    const auto now = std::chrono::steady_clock::now();
    if (c.completed != spin_completed_ && spin_seen_ != ~std::uint64_t(0))
        spin_.observe(now - spin_start_);
    spin_seen_ = seen;
    spin_completed_ = c.completed;
    spin_start_ = now;
    return spin_.window().count() > 0;
}

}  // namespace convme::driver

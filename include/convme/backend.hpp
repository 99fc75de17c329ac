// SPDX-License-Identifier: MIT
// The interface for backend authors. Users need none of this: <convme/block_device.hpp> and
// <convme/device.hpp> are their API.
//
// A backend derives from block_device and implements
//   void submit(io_request& r) noexcept override;   // called on the submitting loop, r.owner set
//   task<void> drain() override;
// submit() receives a request block_device already validated (alignment, range, supported op).
// It fills r.status on failure and calls r.complete() on r.owner's thread. The waiter never
// resumes inside submit(): complete() only queues it on the loop's ready queue, so a request that
// cannot be served may be failed at once (r.fail(ec); r.complete(): what every built-in backend
// does, through fail_request() in runtime/core/channel_table.hpp). Requests are linked through
// io_request::next into the one request_fifo (one loop) or request_stack (any thread to one loop);
// a backend keeps per-loop state in a channel_table-like structure and registers a poller on each
// loop it serves.
#pragma once

#include <atomic>
#include <chrono>
#include <convme/block_device.hpp>
#include <convme/loop.hpp>
#include <cstddef>

namespace convme {

// Something the loop polls each iteration (an NVMe completion queue, an io_uring CQ...).
class poller {
  public:
    virtual ~poller() = default;
    // Reap completions / make progress. Returns true if it did any work.
    virtual bool poll() = 0;
    // Number of operations submitted through this poller that have not completed yet. The loop
    // does not finish shutdown while this is non-zero, and sleeps on its eventfd meanwhile only
    // as max_block_in_flight() allows.
    virtual std::size_t in_flight() const { return 0; }
    // How long the loop may block on its eventfd while this poller has operations in flight.
    // Zero (the default): not at all, the loop keeps polling, because nothing would tell it that
    // a completion arrived (NVMe through VFIO runs without interrupts). Positive: the device
    // calls loop::wake() after it completes something (an interrupt; io_uring signals
    // loop::notify_fd() instead), so the loop may block after
    // loop_options::spin_before_sleep_in_flight, for at most this long at a time so that the
    // poller still runs its timeout checks if a completion never comes.
    virtual std::chrono::microseconds max_block_in_flight() const {
        return std::chrono::microseconds{0};
    }
    // Called right before the loop blocks while this poller has operations in flight (only when
    // max_block_in_flight() allowed it). A poller whose completions signal loop::notify_fd() only
    // while asked to (io_uring's CQ eventfd toggle) turns that on here. Return false if a
    // completion is already waiting: the loop then polls again instead of sleeping. Turning it
    // off again is up to the poller (its next poll()).
    virtual bool prepare_to_block() { return true; }
    // A file descriptor that becomes readable when this poller has work that arrives without
    // waking the loop (e.g. an epoll set of sockets another library reads): a sleeping loop then
    // waits on it too, next to its eventfd. -1 (the default): none. The loop never reads it; the
    // poller's poll() must clear whatever made it readable, or the loop will not sleep.
    virtual int wait_fd() const { return -1; }
    // Called each loop iteration after the ready queue ran, before the loop's pollers are polled,
    // and again right after a poll() of this poller that did work (unless flushes_in_poll()):
    // flush batched submissions (ring one doorbell / one io_uring_submit for everything queued
    // since the last flush). Cheap when nothing is queued.
    virtual void flush_submissions() {}
    // False for pollers that never batch (completion-only pollers, the inline simulator's): the
    // loop then skips their flush_submissions() call every iteration.
    bool batches_submissions() const noexcept { return batches_submissions_; }
    // True for a batching poller whose poll() flushes what it submitted itself before it returns
    // true (as the loop's flush right after it would): the loop then skips that flush.
    bool flushes_in_poll() const noexcept { return flushes_in_poll_; }

  protected:
    poller() = default;
    explicit poller(bool batches_submissions, bool flushes_in_poll = false) noexcept
        : batches_submissions_(batches_submissions), flushes_in_poll_(flushes_in_poll) {}

  private:
    bool batches_submissions_ = true;
    bool flushes_in_poll_ = false;
};

// FIFO of requests linked through io_request::next, for one thread. A request is on at most one
// list at a time.
class request_fifo {
  public:
    bool empty() const noexcept { return head_ == nullptr; }
    io_request* front() const noexcept { return head_; }
    void push_back(io_request& r) noexcept {
        r.next = nullptr;
        if (tail_)
            tail_->next = &r;
        else
            head_ = &r;
        tail_ = &r;
    }
    void push_front(io_request& r) noexcept {
        r.next = head_;
        head_ = &r;
        if (!tail_) tail_ = &r;
    }
    io_request* pop_front() noexcept {
        io_request* r = head_;
        if (r) {
            head_ = r->next;
            if (!head_) tail_ = nullptr;
        }
        return r;
    }
    // Moves every request out, leaving this list empty (for "run what is queued now" loops whose
    // steps may queue more).
    request_fifo take_all() noexcept {
        request_fifo out = *this;
        head_ = tail_ = nullptr;
        return out;
    }

  private:
    io_request* head_ = nullptr;
    io_request* tail_ = nullptr;
};

// Requests pushed from any thread, taken by one: worker threads hand finished requests back to
// their loop. Lock-free; take_all() returns them in push order.
class request_stack {
  public:
    // Returns true if the stack was empty (the taker may need a wake-up).
    bool push(io_request& r) noexcept {
        io_request* head = head_.load(std::memory_order_relaxed);
        do r.next = head;
        while (!head_.compare_exchange_weak(head, &r, std::memory_order_release,
                                            std::memory_order_relaxed));
        return head == nullptr;
    }
    bool empty() const noexcept { return head_.load(std::memory_order_relaxed) == nullptr; }
    request_fifo take_all() noexcept {
        io_request* newest = head_.exchange(nullptr, std::memory_order_acquire);
        request_fifo out;
        while (newest) {  // newest first -> push order
            io_request* next = newest->next;
            out.push_front(*newest);
            newest = next;
        }
        return out;
    }

  private:
    std::atomic<io_request*> head_{nullptr};
};

}  // namespace convme

// SPDX-License-Identifier: MIT
// Per-core event loop: ready queue, timers, pollers, a thread-safe post() inbox and adaptive idle.
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <convme/backend.hpp>
#include <convme/loop.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>

#include "runtime/core/detached.hpp"
#include "runtime/core/loop_internal.hpp"
#include "runtime/core/timer_heap.hpp"
#include "runtime/core/tls_model.hpp"

namespace convme {

namespace detail {
constinit thread_local loop* tl_current_loop CONVME_FAST_TLS = nullptr;
}  // namespace detail

namespace {

using detail::tl_current_loop;

// Counters are written by the loop thread only and may be read from any thread: relaxed
// load+store compiles to plain moves, no locked instruction on the hot path.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Makes loop::current() answer `l` for the duration of a scope (nesting-safe).
struct current_scope {
    loop* saved;
    explicit current_scope(loop* l) noexcept : saved(tl_current_loop) { tl_current_loop = l; }
    ~current_scope() { tl_current_loop = saved; }
};

[[noreturn]] void report_and_terminate(const char* where) noexcept {
    try {
        throw;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convme: exception escaped %s: %s\n", where, e.what());
    } catch (...) {
        std::fprintf(stderr, "convme: non-standard exception escaped %s\n", where);
    }
    std::terminate();
}

// Pins the calling thread to one CPU for the duration of loop::run(), restoring the previous mask.
struct pin_scope {
    cpu_set_t saved;
    bool restore = false;
    explicit pin_scope(int cpu) noexcept {
        if (cpu < 0) return;
        if (pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) != 0) return;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(static_cast<unsigned>(cpu), &one);
        const int rc = pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        if (rc != 0) {
            static std::once_flag noted;
            std::call_once(noted, [&] {
                std::fprintf(
                    stderr,
                    "convme: pinning a loop thread to CPU %d failed (%s); continuing unpinned "
                    "(check the process CPU affinity / cgroup cpuset)\n",
                    cpu, std::strerror(rc));
            });
            return;
        }
        restore = true;
    }
    ~pin_scope() {
        if (restore) pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    }
};

// Stands in for a poller removed from the loop's lists until they are compacted: the passes call
// it like any other (it does nothing), so they test no entry for null. One object, built on first
// use (a loop built during another file's static initialization may remove a poller) and never
// destroyed (a union member), so a loop that outlives static destruction can still compact.
struct removed_poller final : poller {
    removed_poller() noexcept : poller(/*batches_submissions=*/false) {}
    bool poll() override { return false; }
};
union removed_storage {
    removed_poller p;
    removed_storage() noexcept : p() {}
    ~removed_storage() {}
};
poller* removed_entry() noexcept {
    static removed_storage storage;
    return &storage.p;
}

// In the poll list in the place of a poller that batches submissions but does not flush them in
// its poll() (io_uring, the thread pool): polls it and, after a poll with work, flushes what that
// poll submitted, as the loop used to do for it, so the poll pass tests nothing per poll. Owned by
// the loop; remove_poller() clears `inner` (the poller may remove itself while polled) and the
// compaction frees it.
struct flush_after_poll final : poller {
    explicit flush_after_poll(poller* p) noexcept
        : poller(/*batches_submissions=*/false), inner(p) {}
    bool poll() override {
        if (!inner->poll()) return false;
        if (inner) inner->flush_submissions();  // unless it removed itself while polled
        return true;
    }
    std::size_t in_flight() const override { return inner ? inner->in_flight() : 0; }
    std::chrono::microseconds max_block_in_flight() const override {
        return inner ? inner->max_block_in_flight() : std::chrono::microseconds{0};
    }
    bool prepare_to_block() override { return inner ? inner->prepare_to_block() : true; }
    int wait_fd() const override { return inner ? inner->wait_fd() : -1; }
    poller* inner;
};

}  // namespace

struct loop::impl {
    loop_options opts;
    detail::timer_heap timers;
    // The registered pollers in registration order (removed_entry(): removed, until compacted; a
    // flush_after_poll from `adapters` for a poller whose submissions the loop flushes after a poll
    // with work). Plain pointers, 8 bytes an entry: one load per poller in the poll pass.
    std::vector<poller*> pollers;
    std::vector<std::unique_ptr<flush_after_poll>> adapters;
    std::vector<poller*>
        flushers;  // the pollers that batch submissions (poller::batches_submissions())
    // The two lists' sizes, kept beside them (sync_sizes() after every change): each pass reads
    // one word instead of computing end - begin.
    std::size_t pollers_size = 0, flushers_size = 0;
    void sync_sizes() noexcept {
        pollers_size = pollers.size();
        flushers_size = flushers.size();
    }
    std::vector<pollfd> wait_fds;  // what sleep() waits on (reused)
    bool pollers_dirty = false;    // an entry is removed_entry(): compact (see remove_poller())
    int efd = -1;

    std::atomic<bool> stop{false};
    std::atomic<bool> sleeping{false};
    std::atomic<bool> wake_pending{false};
    // What the iteration's common path checks with one load: posts_bit, post() queued a function
    // (set by any thread, cleared by the loop when it takes them); timers_bit, the heap holds a
    // timer; compact_bit, a poller removed from code running on the loop left removed_entry() in
    // the lists (these two: loop thread only, but read-modify-write since other threads set
    // posts_bit).
    static constexpr std::uint32_t posts_bit = 1, timers_bit = 2, compact_bit = 4;
    std::atomic<std::uint32_t> attention{0};
    std::mutex post_mu;
    std::vector<std::function<void()>> posts;
    std::vector<std::function<void()>> posts_running;

    detail::detached_list spawned;

    std::atomic<std::uint64_t> iterations{0}, resumed{0}, polls_with_work{0}, sleeps{0},
        messages{0};

    // Due timers and posted functions, out of line: the iteration's common path (attention == 0)
    // saves nothing for them. True if either made progress. First the compaction of the lists
    // that a removal from the last iteration asked for (before this iteration's passes walk them).
    [[gnu::noinline]] bool run_timers_and_posts(detail::ready_queue& ready) {
        if (attention.load(std::memory_order_relaxed) & compact_bit) {
            attention.fetch_and(~compact_bit, std::memory_order_relaxed);
            compact_pollers();
        }
        bool progress = false;
        if (!timers.empty() && fire_timers(ready)) progress = true;
        // Load first: no locked read-modify-write per iteration while only a timer is armed.
        if ((attention.load(std::memory_order_relaxed) & posts_bit) && run_posts_now())
            progress = true;
        return progress;
    }
    bool run_posts_now() {
        if (!(attention.fetch_and(~posts_bit, std::memory_order_acquire) & posts_bit)) return false;
        {
            std::lock_guard lk(post_mu);
            posts_running.swap(posts);
        }
        const std::size_t n = posts_running.size();
        for (auto& fn : posts_running) {
            try {
                fn();
            } catch (...) {
                report_and_terminate("a function posted to a loop");
            }
        }
        posts_running.clear();
        bump(messages, n);
        return n != 0;
    }

    void count_messages(std::uint64_t n) noexcept { bump(messages, n); }

    bool any_in_flight() const noexcept {
        for (poller* p : pollers)
            if (p->in_flight() != 0) return true;
        return false;
    }

    // Moves due timers' handles to the ready queue; true if any was.
    bool fire_timers(detail::ready_queue& ready) {
        const auto now = std::chrono::steady_clock::now();
        const bool fired =
            timers.pop_due(now, [&](std::coroutine_handle<> h) { ready.push(h); }) != 0;
        if (timers.empty()) attention.fetch_and(~timers_bit, std::memory_order_relaxed);
        return fired;
    }

    // How long the loop may block: nanoseconds::max() with nothing in flight, zero if an
    // in-flight operation's device cannot wake the loop, else the smallest limit asked for.
    std::chrono::nanoseconds block_limit() const noexcept {
        auto limit = std::chrono::nanoseconds::max();
        for (poller* p : pollers) {
            if (p->in_flight() == 0) continue;
            limit = std::min<std::chrono::nanoseconds>(limit, p->max_block_in_flight());
            if (limit.count() <= 0) return std::chrono::nanoseconds{0};
        }
        return limit;
    }

    // Lets in-flight pollers arm their completion notifications; false if one already has a
    // completion waiting (polling again is then cheaper than a sleep that returns at once).
    bool prepare_to_block() {
        bool ok = true;
        for (poller* p : pollers)
            if (p->in_flight() != 0 && !p->prepare_to_block()) ok = false;
        return ok;
    }

    bool posts_pending() const noexcept {
        return (attention.load(std::memory_order_acquire) & posts_bit) != 0;
    }

    void compact_pollers() {
        if (pollers_dirty) [[unlikely]]
            compact_pollers_now();
    }
    // Out of line: the iteration's registers and stack are then sized for its common path.
    [[gnu::noinline]] void compact_pollers_now() {
        poller* const removed = removed_entry();
        std::erase(pollers, removed);
        std::erase(flushers, removed);
        std::erase_if(adapters, [](const auto& a) { return a->inner == nullptr; });
        sync_sizes();
        pollers_dirty = false;
    }

    // Block on the eventfd until woken, the next timer is due or `limit` passed.
    void sleep(std::chrono::nanoseconds limit) noexcept {
        sleeping.store(true, std::memory_order_seq_cst);
        if (wake_pending.exchange(false, std::memory_order_seq_cst) ||
            stop.load(std::memory_order_seq_cst)) {
            sleeping.store(false, std::memory_order_relaxed);
            return;
        }
        timespec ts{};
        timespec* timeout = nullptr;
        auto left = limit;
        if (!timers.empty())
            left = std::min<std::chrono::nanoseconds>(
                left, timers.next_deadline() - std::chrono::steady_clock::now());
        if (left != std::chrono::nanoseconds::max()) {
            const auto ns = std::max<std::int64_t>(0, left.count());
            ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
            timeout = &ts;
        }
        // The eventfd, then every poller's wait_fd() (see poller::wait_fd).
        wait_fds.assign(1, pollfd{efd, POLLIN, 0});
        for (poller* p : pollers)
            if (p->wait_fd() >= 0) wait_fds.push_back(pollfd{p->wait_fd(), POLLIN, 0});
        bump(sleeps);
        const int ready = ::ppoll(wait_fds.data(), wait_fds.size(), timeout, nullptr);
        sleeping.store(false, std::memory_order_relaxed);
        // One read returns and clears the whole count. A count added after it (or after a timeout)
        // only makes the next sleep return at once.
        std::uint64_t v;
        if (ready > 0 && (wait_fds[0].revents & POLLIN)) (void)!::read(efd, &v, sizeof v);
        wake_pending.store(false, std::memory_order_relaxed);
    }
};

loop::loop(loop_options opts) : impl_(std::make_unique<impl>()), core_id_(opts.core_id) {
    impl_->opts = opts;
    impl_->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (impl_->efd < 0) {
        const int e = errno;
        throw std::system_error(
            e, std::system_category(),
            "loop: eventfd() failed (raise the open-file limit with `ulimit -n` if it is EMFILE)");
    }
}

loop::~loop() {
    auto& I = *impl_;
    // Frames still waiting in the queues are owned by someone else (a task or a spawned root);
    // forget them without resuming, then destroy the spawned roots we own.
    ready_.clear();
    I.timers.clear();
    {
        current_scope cs(this);
        I.spawned.destroy_all();
    }
    I.pollers.clear();
    I.adapters.clear();
    I.flushers.clear();
    I.sync_sizes();
    if (I.efd >= 0) ::close(I.efd);
}

void loop::spawn(task<void> t) {
    if (!t.valid()) return;
    auto h = detail::make_detached(std::move(t), impl_->spawned);
    schedule(h);
}

void loop::add_poller(poller* p) {
    if (!p) return;
    auto& I = *impl_;
    // Room (and the adapter) first, so that a failed allocation leaves the lists in step.
    const bool batches = p->batches_submissions();
    std::unique_ptr<flush_after_poll> adapter;
    if (batches && !p->flushes_in_poll()) {
        I.adapters.reserve(I.adapters.size() + 1);
        adapter = std::make_unique<flush_after_poll>(p);
    }
    I.pollers.reserve(I.pollers.size() + 1);
    if (batches) I.flushers.reserve(I.flushers.size() + 1);
    I.pollers.push_back(adapter ? adapter.get() : p);
    if (adapter) I.adapters.push_back(std::move(adapter));
    if (batches) I.flushers.push_back(p);
    I.sync_sizes();
}

// Called from code running on this loop (a poll, a flush, a coroutine), the entry stays, as
// removed_entry(), until the start of the next iteration (attention's compact_bit): the passes may
// be walking the lists. From anywhere else the lists are compacted at once.
void loop::remove_poller(poller* p) {
    auto& I = *impl_;
    if (!p) return;
    for (auto& a : I.adapters) {
        if (a->inner != p) continue;
        for (auto& slot : I.pollers)
            if (slot == a.get()) slot = removed_entry();
        a->inner = nullptr;
        I.pollers_dirty = true;
    }
    for (auto& slot : I.pollers) {
        if (slot == p) {
            slot = removed_entry();
            I.pollers_dirty = true;
        }
    }
    for (auto& slot : I.flushers) {
        if (slot == p) {
            slot = removed_entry();
            I.pollers_dirty = true;
        }
    }
    if (!I.pollers_dirty) return;
    if (tl_current_loop != this)
        I.compact_pollers();
    else
        I.attention.fetch_or(impl::compact_bit, std::memory_order_relaxed);
}

void loop::add_timer(std::chrono::steady_clock::time_point when, std::coroutine_handle<> h) {
    impl_->timers.add(when, h);
    impl_->attention.fetch_or(impl::timers_bit, std::memory_order_relaxed);
}

void loop::post(std::function<void()> fn) {
    auto& I = *impl_;
    // Flag and wake-up under the lock: run_posts_now() takes it before running anything, so the
    // loop cannot run `fn`, and then end, while this call still touches it.
    std::lock_guard lk(I.post_mu);
    I.posts.push_back(std::move(fn));
    I.attention.fetch_or(impl::posts_bit, std::memory_order_seq_cst);
    wake();
}

void loop::wake() noexcept {
    auto& I = *impl_;
    I.wake_pending.store(true, std::memory_order_seq_cst);
    if (I.sleeping.load(std::memory_order_seq_cst)) {
        const std::uint64_t one = 1;
        (void)!::write(I.efd, &one, sizeof one);
    }
}

int loop::notify_fd() const noexcept {
    return impl_->efd;
}

void loop::stop() noexcept {
    impl_->stop.store(true, std::memory_order_seq_cst);
    wake();
}

bool loop::stop_requested() const noexcept {
    return impl_->stop.load(std::memory_order_acquire);
}

// Inline into run_once() and run(), its two callers: no call per iteration.
[[gnu::always_inline]] inline bool loop::iterate() {
    auto& I = *impl_;
    bump(I.iterations);
    // An integer, not a bool: set to a constant, gcc does not copy a poll()'s returned register
    // into it (two moves per poll with work).
    unsigned progress = 0;

    if (I.attention.load(std::memory_order_relaxed) != 0) [[unlikely]]
        progress = I.run_timers_and_posts(ready_);

    // Bounded batch: handles scheduled while this batch runs wait for the next iteration, so a
    // yielding coroutine cannot starve timers and pollers.
    // Counted before they run, and counted down: only the count stays live across the calls.
    if (std::size_t n = ready_.size()) {
        bump(I.resumed, n);
        progress = 1;
        do ready_.pop().resume();
        while (--n != 0);
    }

    // Flush what the batch submitted (one doorbell / io_uring_submit per batching poller) before
    // polling, so a device that completes quickly (an inline or idle controller, a fast SSD) has
    // the completion ready in this iteration's poll instead of the next one: at QD1 one loop
    // iteration per I/O instead of two. What a poll itself submitted (requests that waited for a
    // free command slot) is flushed right after that poll, unless the poller does it itself (the
    // flush_after_poll in its place does it otherwise).
    // A poller added meanwhile (a message run by a poll may open a device's queue) is first
    // flushed and polled in the next iteration; the lists only grow while polling (removal
    // leaves removed_entry() in its place), so the sizes can be read once.
    for (std::size_t i = 0, n = I.flushers_size; i < n; ++i) I.flushers[i]->flush_submissions();
    for (std::size_t i = 0, n = I.pollers_size; i < n; ++i) {
        if (I.pollers[i]->poll()) {
            bump(I.polls_with_work);
            progress = 1;
        }
    }
    return progress != 0;
}

bool loop::run_once() {
    current_scope cs(this);
    return iterate();
}

void loop::run() {
    current_scope cs(this);
    pin_scope pin(impl_->opts.pin_cpu);
    auto& I = *impl_;
    using clock = std::chrono::steady_clock;
    clock::time_point idle_since{};
    bool idle = false;
    for (;;) {
        const bool progress = iterate();
        if (I.stop.load(std::memory_order_acquire)) {
            // Shutdown: keep going until nothing is runnable or in flight (timers are abandoned).
            if (!progress && ready_.empty() && !I.posts_pending() && !I.any_in_flight()) break;
            continue;
        }
        if (progress || !ready_.empty()) {
            idle = false;
            continue;
        }
        const auto limit = I.block_limit();
        if (limit.count() == 0) {  // I/O outstanding on a device that cannot wake us: keep polling
            idle = false;
            continue;
        }
        const auto now = clock::now();
        if (!idle) {
            idle = true;
            idle_since = now;
            // Wake-ups that arrived before now are for work the next run_once() sees anyway (the
            // exchange acquires what their senders published). Dropping them keeps a completion
            // notice for I/O that was already reaped by polling from cancelling the next sleep.
            // Load first: no read-modify-write of a line another thread writes when none is
            // pending.
            if (I.wake_pending.load(std::memory_order_relaxed))
                I.wake_pending.exchange(false, std::memory_order_acq_rel);
            continue;
        }
        const bool in_flight = limit != std::chrono::nanoseconds::max();
        if (now - idle_since <
            (in_flight ? I.opts.spin_before_sleep_in_flight : I.opts.spin_before_sleep))
            continue;
        if (in_flight && !I.prepare_to_block()) {
            idle = false;
            continue;
        }
        I.sleep(limit);
        idle = false;
    }
    I.stop.store(false, std::memory_order_release);
}

namespace detail {
void count_messages(loop& l, std::uint64_t n) noexcept {
    if (tl_current_loop == &l) l.impl_->count_messages(n);
}
}  // namespace detail

loop::stats loop::statistics() const noexcept {
    const auto& I = *impl_;
    constexpr auto r = std::memory_order_relaxed;
    return {I.iterations.load(r), I.resumed.load(r), I.polls_with_work.load(r), I.sleeps.load(r),
            I.messages.load(r)};
}

}  // namespace convme

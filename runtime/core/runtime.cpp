// SPDX-License-Identifier: MIT
// runtime: one loop per core, cores linked by SPSC rings (one per ordered pair of cores).
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <convme/backend.hpp>
#include <convme/runtime.hpp>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime/core/loop_internal.hpp"
#include "runtime/core/spsc_ring.hpp"
#include "runtime/core/tls_model.hpp"

namespace convme {

namespace {

using message = std::function<void()>;
using message_ring = detail::spsc_ring<message>;

constinit thread_local runtime* tl_runtime CONVME_FAST_TLS = nullptr;
constinit thread_local unsigned tl_core CONVME_FAST_TLS = 0;

std::size_t round_up_pow2(std::size_t n) {
    std::size_t c = 2;
    while (c < n) c <<= 1;
    return c;
}

// CPUs of the process affinity mask, in order.
std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

[[noreturn]] void report_and_terminate() noexcept {
    try {
        throw;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convme: exception escaped a cross-core message: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "convme: non-standard exception escaped a cross-core message\n");
    }
    std::terminate();
}

}  // namespace

struct runtime::impl {
    runtime_options opts;
    unsigned n = 1;
    // Declared before the loops so they outlive them (loops are destroyed first).
    std::vector<std::unique_ptr<message_ring>> rings;  // index from * n + to
    // Messages that found their ring full, in order, owned by the sending core's thread (index
    // from * n + to). The sender's inbox poller moves them into the ring as space frees up.
    std::vector<std::deque<message>> overflow;
    std::unique_ptr<std::size_t[]> overflow_pending;  // per sending core: queued messages
    std::vector<std::unique_ptr<poller>> inboxes;
    std::vector<std::unique_ptr<loop>> loops;
    std::unique_ptr<std::atomic<bool>[]> running;
    std::vector<std::thread> threads;
    bool started = false;
    runtime* saved_runtime = nullptr;
    unsigned saved_core = 0;

    message_ring& ring(unsigned from, unsigned to) noexcept { return *rings[from * n + to]; }

    // Run the messages queued for core `me` (on its thread). Bounded per ring per call so that a
    // message that sends to its own core cannot keep us here forever.
    std::size_t drain_inbox(unsigned me) {
        std::size_t ran = 0;
        message m;
        for (unsigned from = 0; from < n; ++from) {
            message_ring& r = ring(from, me);
            for (std::size_t k = r.capacity(); k != 0 && r.try_pop(m); --k) {
                try {
                    m();
                } catch (...) {
                    report_and_terminate();
                }
                m = nullptr;
                ++ran;
            }
        }
        if (ran) detail::count_messages(*loops[me], ran);
        return ran;
    }

    bool inbox_pending(unsigned me) const noexcept {
        for (unsigned from = 0; from < n; ++from)
            if (!rings[from * n + me]->empty()) return true;
        return false;
    }

    // Move core `me`'s queued overflow to `to` into the ring (on `me`'s thread). If `to` is not
    // running nobody drains its ring, so the rest goes to its unbounded post() inbox instead.
    // Returns true if anything moved.
    bool flush_overflow(unsigned me, unsigned to) {
        std::deque<message>& q = overflow[me * n + to];
        message_ring& r = ring(me, to);
        bool moved = false;
        while (!q.empty()) {
            if (!r.try_push(q.front())) {
                if (running[to].load(std::memory_order_acquire)) break;
                loops[to]->post(std::move(q.front()));
            }
            q.pop_front();
            --overflow_pending[me];
            moved = true;
        }
        if (moved) loops[to]->wake();
        return moved;
    }

    bool flush_all_overflow(unsigned me) {
        if (overflow_pending[me] == 0) return false;
        bool moved = false;
        for (unsigned to = 0; to < n; ++to)
            if (!overflow[me * n + to].empty() && flush_overflow(me, to)) moved = true;
        return moved;
    }
};

namespace {

// Every loop iteration: push this core's overflowed outbound messages, then drain its inbound
// rings. Undelivered messages in either direction count as in flight, so the loop neither sleeps
// (the receiver cannot wake us when it frees ring space) nor finishes shutdown before delivery.
class inbox_poller final : public poller {
  public:
    inbox_poller(runtime::impl& rt, unsigned me) : rt_(rt), me_(me) {}
    bool poll() override {
        const bool pushed = rt_.flush_all_overflow(me_);
        const bool ran = rt_.drain_inbox(me_) != 0;
        // A receiver that has not drained its full ring is behind; if it shares our CPU (more
        // threads than CPUs), spinning only delays it.
        if (!pushed && !ran && rt_.overflow_pending[me_] != 0) std::this_thread::yield();
        return ran || pushed;
    }
    std::size_t in_flight() const override {
        return rt_.overflow_pending[me_] + (rt_.inbox_pending(me_) ? 1 : 0);
    }

  private:
    runtime::impl& rt_;
    unsigned me_;
};

}  // namespace

runtime::runtime(runtime_options opts) : impl_(std::make_unique<impl>()) {
    auto& I = *impl_;
    if (opts.cores == 0) throw std::invalid_argument("convme::runtime: cores must be at least 1");
    I.opts = opts;
    I.n = opts.cores;
    const std::size_t ring_size = round_up_pow2(opts.message_ring_size);
    I.rings.reserve(std::size_t{I.n} * I.n);
    for (std::size_t i = 0; i < std::size_t{I.n} * I.n; ++i)
        I.rings.push_back(std::make_unique<message_ring>(ring_size));

    std::vector<int> cpus;
    if (opts.pin_threads) {
        cpus = allowed_cpus();
        if (cpus.size() < I.n) {
            std::fprintf(
                stderr,
                "convme: %u cores requested but the process may run on %zu CPU(s); loops %zu..%u "
                "run unpinned\n",
                I.n, cpus.size(), cpus.size(), I.n - 1);
        }
    }
    I.overflow.resize(std::size_t{I.n} * I.n);
    I.overflow_pending = std::make_unique<std::size_t[]>(I.n);
    I.running = std::make_unique<std::atomic<bool>[]>(I.n);
    for (unsigned i = 0; i < I.n; ++i) {
        loop_options lo;
        lo.core_id = i;
        lo.pin_cpu = i < cpus.size() ? cpus[i] : -1;
        lo.spin_before_sleep = opts.spin_before_sleep;
        I.loops.push_back(std::make_unique<loop>(lo));
        I.inboxes.push_back(std::make_unique<inbox_poller>(I, i));
        I.loops.back()->add_poller(I.inboxes.back().get());
        I.running[i].store(false, std::memory_order_relaxed);
    }
}

runtime::~runtime() {
    stop_all();
    auto& I = *impl_;
    for (unsigned i = 0; i < I.n; ++i) I.loops[i]->remove_poller(I.inboxes[i].get());
    // Loops (and the frames of any task still suspended on them) go before the rings and pollers.
    I.loops.clear();
}

unsigned runtime::cores() const noexcept {
    return impl_->n;
}

loop& runtime::loop_of(unsigned core) noexcept {
    if (core >= impl_->n) {
        std::fprintf(stderr, "convme: runtime::loop_of(%u) but the runtime has %u cores\n", core,
                     impl_->n);
        std::abort();
    }
    return *impl_->loops[core];
}

runtime* runtime::current() noexcept {
    return tl_runtime;
}

void runtime::start_others() {
    auto& I = *impl_;
    if (I.started) return;
    I.started = true;
    I.saved_runtime = tl_runtime;
    I.saved_core = tl_core;
    tl_runtime = this;
    tl_core = 0;
    I.running[0].store(true, std::memory_order_release);
    for (unsigned i = 1; i < I.n; ++i) {
        I.running[i].store(true, std::memory_order_release);
        I.threads.emplace_back([this, i] {
            tl_runtime = this;
            tl_core = i;
            impl_->loops[i]->run();
            impl_->running[i].store(false, std::memory_order_release);
            tl_runtime = nullptr;
        });
    }
}

void runtime::stop_all() {
    auto& I = *impl_;
    if (!I.started) return;
    I.running[0].store(false, std::memory_order_release);
    for (unsigned i = 1; i < I.n; ++i) I.loops[i]->stop();
    for (auto& t : I.threads) t.join();
    I.threads.clear();
    tl_runtime = I.saved_runtime;
    tl_core = I.saved_core;
    I.started = false;
}

void runtime::send(unsigned core, std::function<void()> fn) {
    auto& I = *impl_;
    if (core >= I.n)
        throw std::out_of_range("convme::runtime::send: core " + std::to_string(core) +
                                " but the runtime has " + std::to_string(I.n) + " cores");
    if (tl_runtime != this) {  // not one of our loop threads: multi-producer path
        I.loops[core]->post(std::move(fn));
        return;
    }
    const unsigned me = tl_core;
    std::deque<message>& queued = I.overflow[me * I.n + core];
    if (queued.empty() && I.ring(me, core).try_push(fn)) {
        I.loops[core]->wake();
        return;
    }
    // Ring full (or earlier messages still queued: keep the order). Never block here: the
    // receiver may itself be sending to us. Our loop's poller pushes the queue as space frees up.
    queued.push_back(std::move(fn));
    ++I.overflow_pending[me];
    I.flush_overflow(me, core);
}

namespace detail {
runtime& runtime_for_cross_core(unsigned core, const char* what) {
    runtime* rt = runtime::current();
    if (!rt || !loop::current())
        throw std::logic_error(std::string(what) +
                               ": must be called on a loop of a running convme::runtime");
    if (core >= rt->cores())
        throw std::out_of_range(std::string(what) + ": core " + std::to_string(core) +
                                " but the runtime has " + std::to_string(rt->cores()) + " cores");
    return *rt;
}
}  // namespace detail

}  // namespace convme

// SPDX-License-Identifier: MIT
// Fixed-iteration driver for instruction counting under callgrind (see bench/callgrind_runtime.sh).
//
//   micro_callgrind_runtime <task|value|yield|frame> N
//
// Each mode performs exactly N operations inside one extern "C" function named convme_measure_*,
// so `valgrind --tool=callgrind --toggle-collect='convme_measure_*'` counts only that region;
// running again with N=0 gives the fixed cost to subtract. Not a Google Benchmark program: it
// has its own main().
#include <convme/detail/frame_pool.hpp>
#include <convme/loop.hpp>
#include <convme/task.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using convme::loop;
using convme::task;

task<void> empty_task() {
    co_return;
}
task<int> value_task(int v) {
    co_return v + 1;
}

task<void> await_n(long n) {
    for (long i = 0; i < n; ++i) co_await empty_task();
}
task<int> value_n(long n) {
    int v = 0;
    for (long i = 0; i < n; ++i) v = co_await value_task(v);
    co_return v;
}
task<void> yield_n(long n) {
    for (long i = 0; i < n; ++i) co_await convme::yield();
}

volatile int sink;

}  // namespace

void run_task(loop* l, long n) {
    l->run_until_complete(await_n(n));
}
void run_value(loop* l, long n) {
    sink = l->run_until_complete(value_n(n));
}
void run_yield(loop* l, long n) {
    l->run_until_complete(yield_n(n));
}
void run_frame(loop*, long n) {
    for (long i = 0; i < n; ++i) {
        void* p = convme::detail::frame_alloc(128);
        sink = static_cast<int>(reinterpret_cast<std::uintptr_t>(p) & 1);
        convme::detail::frame_free(p, 128);
    }
}

// Only these are counted (--toggle-collect); warm-up calls the run_* functions directly.
extern "C" {
// N task creations + co_await (start, finish, resume awaiter) + destructions.
__attribute__((noinline)) void convme_measure_task(loop* l, long n) {
    run_task(l, n);
}
// Same with an int result.
__attribute__((noinline)) void convme_measure_value(loop* l, long n) {
    run_value(l, n);
}
// N loop round trips: suspend, ready queue, resume.
__attribute__((noinline)) void convme_measure_yield(loop* l, long n) {
    run_yield(l, n);
}
// N frame allocations + frees (128-byte class).
__attribute__((noinline)) void convme_measure_frame(loop* l, long n) {
    run_frame(l, n);
}
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <task|value|yield|frame> N\n", argv[0]);
        return 2;
    }
    const long n = std::strtol(argv[2], nullptr, 10);
    if (n < 0) {
        std::fprintf(stderr, "N must be >= 0\n");
        return 2;
    }
    void (*fn)(loop*, long) = nullptr;
    void (*warm)(loop*, long) = nullptr;
    if (!std::strcmp(argv[1], "task"))
        fn = convme_measure_task, warm = run_task;
    else if (!std::strcmp(argv[1], "value"))
        fn = convme_measure_value, warm = run_value;
    else if (!std::strcmp(argv[1], "yield"))
        fn = convme_measure_yield, warm = run_yield;
    else if (!std::strcmp(argv[1], "frame"))
        fn = convme_measure_frame, warm = run_frame;
    if (!fn) {
        std::fprintf(stderr, "unknown mode '%s' (task, value, yield, frame)\n", argv[1]);
        return 2;
    }
    loop l;
    warm(&l, 1000);  // outside the measured region: fill the frame pool, grow queues
    fn(&l, n);
    return 0;
}

// SPDX-License-Identifier: MIT
// Microbenchmarks of the runtime core (Google Benchmark): ns per operation.
//
//   ninja -C build/default convme_micro_runtime && build/default/bench/convme_micro_runtime
//
// Instruction counts instead of time (stable on a noisy or virtual machine):
//   * Hardware counters, where perf events are available:
//       convme_micro_runtime --benchmark_perf_counters=INSTRUCTIONS,CYCLES
//     (columns are per iteration; needs kernel.perf_event_paranoid <= 2 and libpfm support in
//     the installed libbenchmark; otherwise benchmark prints a warning and ignores the flag).
//   * Valgrind, exact and deterministic: bench/callgrind_runtime.sh runs the fixed-iteration
//     program bench/micro_callgrind_runtime.cpp under
//       valgrind --tool=callgrind --toggle-collect='convme_measure_*'
//     for N and for 0 iterations and prints (Ir(N) - Ir(0)) / N per operation.
#include <benchmark/benchmark.h>

#include <convme/detail/frame_pool.hpp>
#include <convme/loop.hpp>
#include <convme/runtime.hpp>
#include <convme/task.hpp>

namespace {

using convme::loop;
using convme::task;

task<void> empty_task() {
    co_return;
}
task<int> value_task(int v) {
    co_return v + 1;
}

// A lazy task is created, started by co_await (symmetric transfer), finishes, resumes its
// awaiter, and is destroyed: the cost of one "function call" in coroutine style.
void BM_task_create_await_destroy(benchmark::State& state) {
    loop l;
    l.run_until_complete([](benchmark::State& s) -> task<void> {
        for (auto _ : s) co_await empty_task();
    }(state));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_task_create_await_destroy);

void BM_task_with_value(benchmark::State& state) {
    loop l;
    l.run_until_complete([](benchmark::State& s) -> task<void> {
        int v = 0;
        for (auto _ : s) {
            v = co_await value_task(v);
            benchmark::DoNotOptimize(v);
        }
    }(state));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_task_with_value);

// Suspend, go through the loop's ready queue, resume: the cost of a loop round trip.
void BM_loop_yield_round_trip(benchmark::State& state) {
    loop l;
    l.run_until_complete([](benchmark::State& s) -> task<void> {
        for (auto _ : s) co_await convme::yield();
    }(state));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_loop_yield_round_trip);

// A task spawned and completed on the loop (detached root + its frame).
void BM_loop_spawn(benchmark::State& state) {
    loop l;
    int done = 0;
    for (auto _ : state) {
        l.spawn([](int& d) -> task<void> {
            ++d;
            co_return;
        }(done));
        l.run_once();
    }
    benchmark::DoNotOptimize(done);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_loop_spawn);

// co_await run_on(1, fn) from core 0: message to core 1 over the SPSC ring, fn runs there, reply
// back, resume on core 0.
void BM_cross_core_run_on(benchmark::State& state) {
    convme::runtime_options o;
    o.cores = 2;
    o.pin_threads = true;
    o.spin_before_sleep = std::chrono::milliseconds(100);  // keep core 1 hot between messages
    convme::runtime rt(o);
    rt.run([](benchmark::State& s) -> task<void> {
        int v = 0;
        for (auto _ : s) {
            v = co_await convme::run_on(1, [v] { return v + 1; });
            benchmark::DoNotOptimize(v);
        }
    }(state));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_cross_core_run_on)->UseRealTime();

void BM_frame_alloc_free(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        void* p = convme::detail::frame_alloc(size);
        benchmark::DoNotOptimize(p);
        convme::detail::frame_free(p, size);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_frame_alloc_free)->Arg(64)->Arg(512)->Arg(4096);

// Baseline for the above: the global heap.
void BM_operator_new_delete(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        void* p = ::operator new(size);
        benchmark::DoNotOptimize(p);
        ::operator delete(p);
    }
}
BENCHMARK(BM_operator_new_delete)->Arg(64)->Arg(512);

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: MIT
#include "runner.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/runtime.hpp>
#include <memory>
#include <vector>

#include "countdown.hpp"
#include "pattern.hpp"
#include "plan.hpp"
#include "progress.hpp"

namespace convme::bench {
namespace {

using clock = std::chrono::steady_clock;

enum class phase { prefill, measure, verify, drain };

double thread_cpu_seconds() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct process_cpu {
    double user = 0, sys = 0;
};
process_cpu process_cpu_now() noexcept {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return {sec(ru.ru_utime), sec(ru.ru_stime)};
}

// Per-job random stream (splitmix64 sequence).
struct rng {
    std::uint64_t state;
    std::uint64_t next() noexcept { return mix64(state++); }
};

// State owned by one core's loop thread. Core 0 reads it only after the core reported the end of
// a phase through `shared_state::finished` (release/acquire), except `progress_ios`.
struct alignas(64) core_state {
    unsigned core = 0;
    core_results res;
    std::uint64_t issued = 0;      // count mode: measured I/Os issued so far
    std::uint64_t seq_cursor = 0;  // sequential workloads / prefill / verify: next offset
    clock::time_point last_completion{};
    bool measured_any = false;
    std::uint64_t errors = 0, verify_failures = 0, verified_bytes = 0;
    std::string first_problem;
    std::atomic<std::uint64_t> progress_ios{0};  // single writer (this core), read by core 0

    void count_progress() noexcept {
        progress_ios.store(progress_ios.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
    }
};

struct shared_state {
    shared_state(const bench_options& opts, const std::atomic<bool>& external_stop)
        : o(opts), stop(external_stop) {}
    const bench_options& o;
    run_plan plan;
    std::unique_ptr<block_device> dev;
    std::vector<std::unique_ptr<core_state>> cores;
    std::atomic<unsigned> finished{0};
    std::atomic<bool> abort{false};
    const std::atomic<bool>& stop;
    clock::time_point measure_start{}, deadline{};
    process_cpu cpu_begin{}, cpu_end{};
    bool cpu_begin_taken = false;

    bool stopping() const noexcept {
        return abort.load(std::memory_order_relaxed) || stop.load(std::memory_order_relaxed);
    }
    void problem(core_state& c, std::string msg) {
        if (c.first_problem.empty()) c.first_problem = std::move(msg);
        abort.store(true, std::memory_order_relaxed);  // like fio: stop at the first error
    }
};

dma_buffer allocate_or_report(shared_state& s, core_state& c, std::size_t bytes) {
    std::error_code ec;
    dma_buffer buf = dma_buffer::allocate(bytes, ec);
    if (ec)
        s.problem(c, fmt::format("core {}: allocating {} bytes of DMA buffers failed: {} (lower "
                                 "--qd/--bs or raise RLIMIT_MEMLOCK: ulimit -l unlimited)",
                                 c.core, bytes, ec.message()));
    return buf;
}

// Next chunk of this core's slice for prefill / read-back, or false when the slice is done.
bool next_chunk(shared_state& s, core_state& c, std::uint64_t& off, std::uint64_t& len) {
    const core_slice& sl = s.plan.slices[c.core];
    if (c.seq_cursor >= sl.end || s.stopping()) return false;
    off = c.seq_cursor;
    len = std::min(s.plan.prefill_chunk, sl.end - off);
    c.seq_cursor += len;
    return true;
}

task<void> prefill_job(shared_state& s, core_state& c, std::span<std::byte> buf, countdown& done) {
    std::uint64_t off = 0, len = 0;
    while (next_chunk(s, c, off, len)) {
        auto part = buf.subspan(0, len);
        fill_pattern(part, off, s.plan.seed);
        auto io = s.dev->write(off, part);
        if (std::error_code ec = co_await io) {
            ++c.errors;
            s.problem(c, "prefill: " + describe_failure(*s.dev, io.request()));
            break;
        }
        c.count_progress();
    }
    done.arrive();
}

task<void> verify_job(shared_state& s, core_state& c, std::span<std::byte> buf, countdown& done) {
    std::uint64_t off = 0, len = 0;
    while (next_chunk(s, c, off, len)) {
        auto part = buf.subspan(0, len);
        auto io = s.dev->read(off, part);
        if (std::error_code ec = co_await io) {
            ++c.errors;
            s.problem(c, "read-back: " + describe_failure(*s.dev, io.request()));
            break;
        }
        if (auto bad = check_pattern(part, off, s.plan.seed); bad >= 0) {
            ++c.verify_failures;
            s.problem(c, fmt::format("read-back: data mismatch at device offset {} (the data read "
                                     "is not what this run wrote there)",
                                     off + static_cast<std::uint64_t>(bad)));
            break;
        }
        c.verified_bytes += len;
        c.count_progress();
    }
    done.arrive();
}

// Per-job buffer stride: every job's buffer must start on the device's memory alignment.
std::size_t stride_of(const shared_state& s, std::uint64_t bytes) {
    const std::uint64_t align = std::max<std::uint64_t>(s.dev->info().mem_alignment, 8);
    return static_cast<std::size_t>((bytes + align - 1) / align * align);
}

// Runs `job` QD times concurrently over this core's slice with chunk-sized buffers.
template <typename Job>
task<void> chunked_phase(shared_state& s, core_state& c, Job job) {
    c.seq_cursor = s.plan.slices[c.core].begin;
    const std::uint64_t chunk = s.plan.prefill_chunk;
    const std::size_t stride = stride_of(s, chunk);
    dma_buffer buf = allocate_or_report(s, c, stride * s.o.qd);
    if (buf.empty()) co_return;
    countdown done(s.o.qd);
    for (unsigned j = 0; j < s.o.qd; ++j)
        loop::current()->spawn(job(s, c, buf.subspan(j * stride, chunk), done));
    co_await done;
}

std::uint64_t pick_offset(shared_state& s, core_state& c, rng& r) {
    const std::uint64_t bs = s.o.bs;
    if (is_random(s.o.rw)) return (r.next() % s.plan.blocks) * bs;
    const core_slice& sl = s.plan.slices[c.core];
    const std::uint64_t begin = sl.end > sl.begin ? sl.begin : 0;
    const std::uint64_t end = sl.end > sl.begin ? sl.end : s.plan.range;
    if (c.seq_cursor < begin || c.seq_cursor + bs > end) c.seq_cursor = begin;  // wrap around
    const std::uint64_t off = c.seq_cursor;
    c.seq_cursor += bs;
    return off;
}

task<void> measure_job(shared_state& s, core_state& c, unsigned j, std::span<std::byte> buf,
                       countdown& done) {
    rng r{s.plan.seed ^ mix64((static_cast<std::uint64_t>(c.core) << 32) | j)};
    const bool count_mode = s.o.ios != 0;
    const std::uint64_t quota = count_mode ? s.plan.quota[c.core] : 0;
    const bool verify = s.o.verify;
    auto now = clock::now();
    while (!s.stopping()) {
        const bool measured = now >= s.measure_start;
        if (count_mode) {
            if (measured) {
                if (c.issued >= quota) break;
                ++c.issued;
            }
        } else if (now >= s.deadline) {
            break;
        }
        const bool is_read =
            s.o.mix_read_pct >= 100 || (s.o.mix_read_pct > 0 && r.next() % 100 < s.o.mix_read_pct);
        const std::uint64_t off = pick_offset(s, c, r);
        if (!is_read && verify) fill_pattern(buf, off, s.plan.seed);

        const auto t0 = clock::now();
        auto io = is_read ? s.dev->read(off, buf) : s.dev->write(off, buf);
        const std::error_code ec = co_await io;
        now = clock::now();

        if (ec) {
            ++c.errors;
            s.problem(c, describe_failure(*s.dev, io.request()));
            break;
        }
        if (is_read && verify) {
            if (auto bad = check_pattern(buf, off, s.plan.seed); bad >= 0) {
                ++c.verify_failures;
                s.problem(c, fmt::format("verify: data mismatch at device offset {} in a read of "
                                         "{} bytes at offset {}",
                                         off + static_cast<std::uint64_t>(bad), s.o.bs, off));
                break;
            }
        }
        c.count_progress();
        if (t0 >= s.measure_start) {
            c.measured_any = true;
            c.last_completion = std::max(c.last_completion, now);
            op_totals& t = is_read ? c.res.read : c.res.write;
            ++t.ios;
            t.bytes += s.o.bs;
            t.lat_ns.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0).count()));
        }
    }
    done.arrive();
}

task<void> measure_phase(shared_state& s, core_state& c) {
    c.seq_cursor = s.plan.slices[c.core].begin;
    const std::size_t stride = stride_of(s, s.o.bs);
    dma_buffer buf = allocate_or_report(s, c, stride * s.o.qd);
    if (buf.empty()) co_return;
    // Buffers are written once so writes never send all-zero pages (some devices special-case
    // them).
    fill_pattern(buf.span(), c.core * buf.size(), s.plan.seed);
    countdown done(s.o.qd);
    for (unsigned j = 0; j < s.o.qd; ++j)
        loop::current()->spawn(measure_job(s, c, j, buf.subspan(j * stride, s.o.bs), done));
    if (!done.finished()) co_await loop::current()->sleep_for(s.measure_start - clock::now());
    const double cpu0 = thread_cpu_seconds();
    co_await done;
    c.res.thread_cpu_s = thread_cpu_seconds() - cpu0;
    if (c.measured_any)
        c.res.elapsed_s =
            std::chrono::duration<double>(c.last_completion - s.measure_start).count();
}

// One core's share of a phase; reports completion to core 0 through `finished`.
task<void> core_phase(shared_state& s, unsigned core, phase p) {
    core_state& c = *s.cores[core];
    try {
        switch (p) {
            case phase::prefill:
                co_await chunked_phase(s, c, prefill_job);
                break;
            case phase::measure:
                co_await measure_phase(s, c);
                break;
            case phase::verify:
                co_await chunked_phase(s, c, verify_job);
                break;
            case phase::drain:
                co_await s.dev->drain();
                break;
        }
    } catch (const std::exception& e) {
        s.problem(c, fmt::format("core {}: {}", core, e.what()));
    }
    s.finished.fetch_add(1, std::memory_order_release);
}

std::uint64_t progress_sum(const shared_state& s) {
    std::uint64_t n = 0;
    for (const auto& c : s.cores) n += c->progress_ios.load(std::memory_order_relaxed);
    return n;
}

// Starts `p` on every core and waits (polling every few ms, printing progress) until all are done.
task<void> run_phase(shared_state& s, phase p, progress_line& prog, const char* name,
                     std::uint64_t total_ios, std::uint64_t bytes_per_io) {
    for (auto& c : s.cores) c->progress_ios.store(0, std::memory_order_relaxed);
    s.finished.store(0, std::memory_order_relaxed);
    prog.begin(name, total_ios, bytes_per_io);
    const unsigned n = static_cast<unsigned>(s.cores.size());
    for (unsigned core = 1; core < n; ++core)
        submit_to(core, [&s, core, p] { return core_phase(s, core, p); });
    loop::current()->spawn(core_phase(s, 0, p));
    while (s.finished.load(std::memory_order_acquire) < n) {
        co_await sleep_for(std::chrono::milliseconds(2));
        if (p == phase::measure && !s.cpu_begin_taken && clock::now() >= s.measure_start) {
            s.cpu_begin = process_cpu_now();
            s.cpu_begin_taken = true;
            prog.set_phase_name("run");
        }
        prog.tick(progress_sum(s));
    }
    if (p == phase::measure) s.cpu_end = process_cpu_now();
    prog.end();
}

task<double> bench_main(shared_state& s, progress_line& prog) {
    double prefill_s = 0;
    if (s.o.prefill) {
        const auto t0 = clock::now();
        const std::uint64_t chunks =
            (s.plan.range + s.plan.prefill_chunk - 1) / s.plan.prefill_chunk;
        co_await run_phase(s, phase::prefill, prog, "prefill", chunks, s.plan.prefill_chunk);
        prefill_s = std::chrono::duration<double>(clock::now() - t0).count();
    }
    if (!s.stopping()) {
        s.measure_start = clock::now() + std::chrono::duration_cast<clock::duration>(
                                             std::chrono::duration<double>(s.o.warmup_s));
        s.deadline = s.measure_start + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(s.o.time_s));
        s.cpu_begin_taken = s.o.warmup_s <= 0;
        if (s.cpu_begin_taken) s.cpu_begin = process_cpu_now();
        co_await run_phase(s, phase::measure, prog, s.o.warmup_s > 0 ? "warmup" : "run", s.o.ios,
                           s.o.bs);
    }
    if (s.o.verify && does_writes(s.o.rw) && !s.stopping()) {
        const std::uint64_t chunks =
            (s.plan.range + s.plan.prefill_chunk - 1) / s.plan.prefill_chunk;
        co_await run_phase(s, phase::verify, prog, "verify", chunks, s.plan.prefill_chunk);
    }
    co_await run_phase(s, phase::drain, prog, "drain", 0, 0);
    co_return prefill_s;
}

unsigned usable_cpus() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    return static_cast<unsigned>(CPU_COUNT(&set));
}

}  // namespace

histogram run_results::all_latencies() const {
    histogram h;
    h.merge(read.lat_ns);
    h.merge(write.lat_ns);
    return h;
}

std::string run_benchmark(const bench_options& opts, const std::atomic<bool>& stop,
                          run_results& out) {
    shared_state s(opts, stop);
    std::error_code ec;
    std::string why;
    s.dev = open_device(opts.uri, ec, why);
    if (!s.dev)
        return fmt::format("opening '{}' failed: {}", opts.uri, why.empty() ? ec.message() : why);
    if (std::string err = make_plan(opts, s.dev->info(), s.plan); !err.empty()) return err;
    for (unsigned c = 0; c < opts.cores; ++c) {
        s.cores.push_back(std::make_unique<core_state>());
        s.cores.back()->core = c;
        s.cores.back()->res.core = c;
    }

    runtime_options ro;
    ro.cores = opts.cores;
    ro.pin_threads =
        opts.pin && opts.cores <= usable_cpus();  // oversubscribed: let the OS place them
    progress_line prog(opts.progress);
    double prefill_s = 0;
    {
        runtime rt(ro);
        prefill_s = rt.run(bench_main(s, prog));
    }

    out.opts = opts;
    out.device = s.dev->info();
    out.plan = s.plan;
    out.prefill_s = prefill_s;
    out.prefill_bytes = opts.prefill ? s.plan.range : 0;
    out.interrupted = stop.load();
    out.cpu_user_s = s.cpu_end.user - s.cpu_begin.user;
    out.cpu_sys_s = s.cpu_end.sys - s.cpu_begin.sys;
    for (auto& cp : s.cores) {
        core_state& c = *cp;
        out.read.ios += c.res.read.ios;
        out.read.bytes += c.res.read.bytes;
        out.read.lat_ns.merge(c.res.read.lat_ns);
        out.write.ios += c.res.write.ios;
        out.write.bytes += c.res.write.bytes;
        out.write.lat_ns.merge(c.res.write.lat_ns);
        out.errors += c.errors;
        out.verify_failures += c.verify_failures;
        out.verified_bytes += c.verified_bytes;
        out.elapsed_s = std::max(out.elapsed_s, c.res.elapsed_s);
        if (!c.first_problem.empty()) out.problems.push_back(c.first_problem);
        out.cores.push_back(std::move(c.res));
    }
    return {};
}

}  // namespace convme::bench

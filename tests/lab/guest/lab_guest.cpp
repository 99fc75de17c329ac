// SPDX-License-Identifier: MIT
// lab_guest: the program the QEMU VFIO lab runs inside the guest (built static, see
// CMakeLists.txt).
//
//   lab_guest open  URI                   open, print device_info, close; exit 1 with the error
//   lab_guest test  URI                   the device test (data integrity, splitting, flush,
//                                         zeroes, trim, QD32, shadow doorbells, close + reopen)
//   lab_guest dmamem URI                  every DMA region MADV_DONTFORK (smaps VmFlags), the
//                                         driver's hugetlb without an IOMMU, I/O after fork()
//   lab_guest bench URI QD COUNT [LABEL [LOOPS]]
//                                         COUNT random 4 KiB reads at queue depth QD per loop, on
//                                         a convme::runtime of LOOPS loops; prints one "BENCH ..."
//                                         line (IOPS, p50/p99, CPU time per I/O from getrusage,
//                                         NVMe interrupts per I/O from /proc/interrupts, the
//                                         driver's interrupt sleeps per I/O)
//   lab_guest idle  URI RATE SECS [LABEL] RATE reads per second for SECS on one loop; prints
//                                         "BENCH-IDLE ... cpu_pct=" (process CPU / wall time)
//   lab_guest loops URI N                 a runtime of N loops, each writing and verifying its
//                                         own region concurrently, plus I/O submitted on core 1
//                                         for a coroutine on core 0 (run_on); prints the queue map
//   lab_guest reset URI [LOOPS] [RESETS]  LOOPS loops (threads, default 3) stream verified writes
//                                         and reads while the main thread resets the controller
//                                         RESETS times (default 4): no read may return data that
//                                         was never written, every acknowledged write must read
//                                         back, I/O must go on after each reset
//   lab_guest kvload PORT N PID [IDLE]    N pipelined SET+GET pairs against convme-kv on
//                                         127.0.0.1:PORT (replies verified), then the server's
//                                         (PID) CPU over IDLE (default 2) idle seconds from
//                                         /proc/PID/stat: under 10 % of a core in one of up to
//                                         3 windows (a spinning loop is ~100 % in all)
//
// Everything goes through the public API: convme::open_device() and block_device on a convme::loop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <convme/nvme.hpp>
#include <convme/runtime.hpp>
#include <convme/task.hpp>
#include <coroutine>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using convme::block_device;
using convme::dma_buffer;
using convme::task;
using clock_type = std::chrono::steady_clock;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

// ---------------------------------------------------------------- small helpers

int g_failures = 0;

void check(bool ok, const char* what, ...) __attribute__((format(printf, 2, 3)));
void check(bool ok, const char* what, ...) {
    std::va_list ap;
    va_start(ap, what);
    std::printf("  [%s] ", ok ? " ok " : "FAIL");
    std::vprintf(what, ap);
    std::printf("\n");
    va_end(ap);
    if (!ok) ++g_failures;
}

// Deterministic pseudo-random numbers (xorshift64*), so a failing offset can be reproduced.
struct rng {
    std::uint64_t s;
    std::uint64_t next() noexcept {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 2685821657736338717ULL;
    }
};

// The content written at byte `offset` of the device under `tag`: every 8-byte word depends on
// its own absolute position and the tag, so a block landing at the wrong LBA, a stale block from
// an earlier pass and a torn transfer are all told apart. tag 0 means "zeroes".
std::uint64_t pattern_word(std::uint64_t tag, std::uint64_t abs_offset) noexcept {
    if (tag == 0) return 0;
    std::uint64_t x = (abs_offset / 8) * 0x9E3779B97F4A7C15ULL ^ tag * 0xC2B2AE3D27D4EB4FULL;
    x ^= x >> 31;
    return x | 1;  // never zero, so a zero-filled block never passes for a pattern
}

void fill(std::span<std::byte> buf, std::uint64_t offset, std::uint64_t tag) noexcept {
    for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
        std::uint64_t w = pattern_word(tag, offset + i);
        std::memcpy(buf.data() + i, &w, 8);
    }
}

// Returns the byte index of the first mismatching word, or -1.
long long first_mismatch(std::span<const std::byte> buf, std::uint64_t offset,
                         std::uint64_t tag) noexcept {
    for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, buf.data() + i, 8);
        if (w != pattern_word(tag, offset + i)) return static_cast<long long>(i);
    }
    return -1;
}

void print_info(const convme::device_info& i) {
    std::printf("device_info:\n  name            %s\n  backend         %s\n", i.name.c_str(),
                i.backend.c_str());
    std::printf("  block_size      %u\n  capacity        %" PRIu64 " bytes (%.1f MiB)\n",
                i.block_size, i.capacity, static_cast<double>(i.capacity) / MiB);
    std::printf("  mem_alignment   %u\n  max_transfer    %u\n  queue_depth     %u\n",
                i.mem_alignment, i.max_transfer, i.queue_depth);
    std::printf("  flush/write_zeroes/trim  %d/%d/%d\n", i.supports_flush, i.supports_write_zeroes,
                i.supports_trim);
}

std::unique_ptr<block_device> open_or_report(const std::string& uri) {
    std::error_code ec;
    std::string why;
    auto dev = convme::open_device(uri, ec, why);
    // The URI is left out on purpose: the lab checks that `why` itself names the problem.
    if (!dev) std::printf("open failed: %s [%s]\n", why.c_str(), ec.message().c_str());
    return dev;
}

// Join point for a batch of spawned workers: the waiter yields until the count reaches zero
// (the loop keeps polling the device while it does).
task<void> wait_for_zero(const int& pending) {
    while (pending > 0) co_await convme::yield();
}

// ---------------------------------------------------------------- the device test

// What the device must still hold: regions written (tag) or zeroed (tag 0) that no later step
// overwrote. Checked again after the device was closed and reopened.
struct expected_region {
    std::uint64_t offset, length, tag;
};

class device_test {
  public:
    explicit device_test(std::string uri) : uri_(std::move(uri)) {}

    task<int> run() {
        dev_ = open_or_report(uri_);
        if (!dev_) co_return 1;
        const auto& info = dev_->info();
        print_info(info);
        io_ = std::max<std::uint64_t>(info.block_size, 4 * KiB);
        cap_ = info.capacity - info.capacity % io_;
        check(cap_ >= 64 * MiB, "namespace has room for the test (%" PRIu64 " bytes)", cap_);
        if (cap_ < 64 * MiB) co_return 1;

        co_await spread_patterns();
        co_await large_transfer();
        co_await flush();
        co_await write_zeroes();
        co_await trim();
        co_await concurrent_qd32();
        shadow_doorbells();
        co_await restart();
        std::printf("lab_guest test: %s (%d failed check%s)\n",
                    g_failures ? "FAILED" : "all checks passed", g_failures,
                    g_failures == 1 ? "" : "s");
        co_return g_failures ? 1 : 0;
    }

  private:
    std::string uri_;
    std::unique_ptr<block_device> dev_;
    std::uint64_t io_ = 4 * KiB, cap_ = 0, tag_ = 100;
    std::vector<expected_region> expected_;

    void remember(std::uint64_t off, std::uint64_t len, std::uint64_t tag) {
        std::erase_if(expected_, [&](const expected_region& r) {
            return r.offset < off + len && off < r.offset + r.length;
        });
        expected_.push_back({off, len, tag});
    }

    task<bool> write_pattern(std::uint64_t off, std::span<std::byte> buf, std::uint64_t tag) {
        fill(buf, off, tag);
        std::error_code ec = co_await dev_->write(off, buf);
        if (ec) {
            check(false, "write %zu bytes at %" PRIu64 ": %s", buf.size(), off,
                  ec.message().c_str());
            co_return false;
        }
        remember(off, buf.size(), tag);
        co_return true;
    }

    // Reads [off, off+len) and compares with `tag`; reports the first bad byte.
    task<bool> verify(std::uint64_t off, std::span<std::byte> buf, std::uint64_t tag,
                      const char* what) {
        std::memset(buf.data(), 0xA5, buf.size());
        std::error_code ec = co_await dev_->read(off, buf);
        if (ec) {
            check(false, "%s: read %zu bytes at %" PRIu64 ": %s", what, buf.size(), off,
                  ec.message().c_str());
            co_return false;
        }
        long long bad = first_mismatch(buf, off, tag);
        if (bad >= 0) {
            check(false,
                  "%s: data mismatch at device offset %" PRIu64 " (read of %zu at %" PRIu64 ")",
                  what, off + static_cast<std::uint64_t>(bad), buf.size(), off);
            co_return false;
        }
        co_return true;
    }

    // Distinct patterns at the first block, the last block, the middle and 61 random blocks
    // across the whole namespace: all written first, then all read back.
    task<void> spread_patterns() {
        std::printf("-- patterns across the namespace\n");
        dma_buffer buf(io_);
        std::vector<std::uint64_t> offsets{0, cap_ - io_, (cap_ / 2) - (cap_ / 2) % io_};
        rng r{0x1ab5eed};
        while (offsets.size() < 64) {
            std::uint64_t off = (r.next() % (cap_ / io_)) * io_;
            if (std::find(offsets.begin(), offsets.end(), off) == offsets.end())
                offsets.push_back(off);
        }
        int ok = 0;
        for (std::size_t i = 0; i < offsets.size(); ++i)
            ok += co_await write_pattern(offsets[i], buf.span(), tag_ + i);
        check(ok == 64, "wrote 64 distinct patterns (first, last, middle, 61 random blocks)");
        int good = 0;
        for (std::size_t i = 0; i < offsets.size(); ++i)
            good += co_await verify(offsets[i], buf.span(), tag_ + i, "pattern read-back");
        check(good == 64, "read back and verified %d/64 blocks", good);
        tag_ += 1000;
    }

    // 2 MiB in one call: larger than the controller's MDTS (QEMU: 512 KiB), so the backend splits
    // it.
    task<void> large_transfer() {
        std::printf("-- 2 MiB transfer (max_transfer %u)\n", dev_->info().max_transfer);
        const std::uint64_t len = 2 * MiB, off = (cap_ / 4) - (cap_ / 4) % io_ + io_;
        dma_buffer buf(len);
        bool w = co_await write_pattern(off, buf.span(), ++tag_);
        bool v = w && co_await verify(off, buf.span(), tag_, "2 MiB read-back");
        check(w && v, "2 MiB write + read at unaligned-to-MDTS offset %" PRIu64 " verified", off);
        if (dev_->info().max_transfer)
            check(dev_->info().max_transfer < len,
                  "2 MiB exceeds max_transfer, so it was split into %" PRIu64 " commands",
                  (len + dev_->info().max_transfer - 1) / dev_->info().max_transfer);
    }

    task<void> flush() {
        std::printf("-- flush\n");
        if (!dev_->info().supports_flush) {
            check(false, "device reports no flush support");
            co_return;
        }
        std::error_code ec = co_await dev_->flush();
        check(!ec, "flush: %s", ec ? ec.message().c_str() : "ok");
    }

    task<void> write_zeroes() {
        std::printf("-- write_zeroes\n");
        const std::uint64_t len = 64 * KiB, off = cap_ / 2 + 8 * io_;
        dma_buffer buf(len);
        if (!dev_->info().supports_write_zeroes) {
            check(false, "device reports no write_zeroes support (QEMU's nvme has it)");
            co_return;
        }
        bool w = co_await write_pattern(off, buf.span(), ++tag_);
        std::error_code ec = co_await dev_->write_zeroes(off, len);
        check(w && !ec, "write_zeroes of 64 KiB over a pattern: %s",
              ec ? ec.message().c_str() : "ok");
        if (!ec) remember(off, len, 0);
        check(co_await verify(off, buf.span(), 0, "write_zeroes read-back"),
              "zeroed range reads back as zeroes");
    }

    // The lab's QEMU drive uses discard=unmap on a raw file, so deallocated blocks read as zeroes.
    task<void> trim() {
        std::printf("-- trim\n");
        const std::uint64_t len = 64 * KiB, off = cap_ / 2 + 32 * io_;
        dma_buffer buf(len);
        if (!dev_->info().supports_trim) {
            check(false, "device reports no trim support (QEMU's nvme has DSM deallocate)");
            co_return;
        }
        bool w = co_await write_pattern(off, buf.span(), ++tag_);
        std::error_code ec = co_await dev_->trim(off, len);
        check(w && !ec, "trim of 64 KiB over a pattern: %s", ec ? ec.message().c_str() : "ok");
        if (!ec) remember(off, len, 0);
        check(co_await verify(off, buf.span(), 0, "trim read-back"),
              "trimmed range reads back as zeroes");
    }

    // 32 coroutines on one loop, each writing then reading back its own blocks: 32 I/Os in flight.
    task<void> concurrent_qd32() {
        std::printf("-- QD32: 32 concurrent writers/readers\n");
        constexpr int workers = 32, rounds = 16;
        const std::uint64_t base = (cap_ / 4) * 3;
        dma_buffer buf(workers * io_);
        int pending = workers, in_flight = 0, peak = 0, errors = 0, bad = 0;
        const std::uint64_t tag = ++tag_;
        auto worker = [&](int w) -> task<void> {
            auto span = buf.subspan(w * io_, io_);
            for (int r = 0; r < rounds; ++r) {
                std::uint64_t off = base + (static_cast<std::uint64_t>(r) * workers + w) * io_;
                fill(span, off, tag);
                ++in_flight;
                peak = std::max(peak, in_flight);
                std::error_code ec = co_await dev_->write(off, span);
                --in_flight;
                if (ec) ++errors;
                std::memset(span.data(), 0, span.size());
                ++in_flight;
                peak = std::max(peak, in_flight);
                ec = co_await dev_->read(off, span);
                --in_flight;
                if (ec)
                    ++errors;
                else if (first_mismatch(span, off, tag) >= 0)
                    ++bad;
            }
            --pending;
        };
        auto t0 = clock_type::now();
        for (int w = 0; w < workers; ++w) convme::loop::current()->spawn(worker(w));
        co_await wait_for_zero(pending);
        double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
        remember(base, std::uint64_t(workers) * rounds * io_, tag);
        check(errors == 0 && bad == 0, "%d I/Os at QD32 in %.1f ms: %d errors, %d bad blocks",
              2 * workers * rounds, ms, errors, bad);
        check(peak == workers, "peak in-flight I/Os %d (want %d)", peak, workers);
    }

    // The NVMe driver uses Doorbell Buffer Config when the controller offers it (QEMU does since
    // 7.1); the driver says so in device_info.name.
    void shadow_doorbells() {
        std::printf("-- shadow doorbells\n");
        const std::string& name = dev_->info().name;
        bool on =
            name.find("dbbc") != std::string::npos || name.find("shadow") != std::string::npos;
        check(on, "device_info.name reports shadow doorbells in use: '%s'", name.c_str());
    }

    // Close the device (drain this loop's queue pair, shut the controller down), open it again and
    // find every region that should still be there.
    task<void> restart() {
        std::printf("-- restart: close, reopen, find the data again\n");
        dma_buffer small(io_);
        bool w = co_await write_pattern(io_, small.span(), ++tag_);  // right after the first block
        std::error_code ec = co_await dev_->flush();
        check(w && !ec, "pattern written and flushed before the restart");
        co_await dev_->drain();
        dev_.reset();
        dev_ = open_or_report(uri_);
        check(dev_ != nullptr, "device reopened");
        if (!dev_) co_return;
        int good = 0;
        for (const auto& r : expected_) {
            dma_buffer buf(r.length);
            good += co_await verify(r.offset, buf.span(), r.tag, "after restart");
        }
        check(good == static_cast<int>(expected_.size()),
              "after reopen %d/%zu regions hold their data", good, expected_.size());
        co_await dev_->drain();
    }
};

// ---------------------------------------------------------------- bench

// A count-down the waiting coroutine sleeps on (no yield loop: the loop must be free to block, or
// interrupt and hybrid completions could not be measured). Same loop only.
struct latch {
    int count = 0;
    std::coroutine_handle<> waiter{};
    void arrive() {
        if (--count == 0 && waiter) convme::loop::current()->schedule(std::exchange(waiter, {}));
    }
    bool await_ready() const noexcept { return count == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
    void await_resume() const noexcept {}
};

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Random 4 KiB reads at queue depth qd on the calling loop; latencies into lat (ns).
task<int> bench_core(block_device& dev, unsigned core, int qd, long count,
                     std::vector<std::uint32_t>& lat) {
    const std::uint64_t io = std::max<std::uint64_t>(dev.info().block_size, 4 * KiB);
    const std::uint64_t span_blocks = std::min<std::uint64_t>(dev.info().capacity, 1024 * MiB) / io;
    dma_buffer buf(static_cast<std::size_t>(qd) * io);
    lat.assign(static_cast<std::size_t>(count), 0);
    long next = 0;
    int errors = 0;
    latch done{qd};
    auto worker = [&](int w) -> task<void> {
        rng r{0x5eed0000ULL + static_cast<std::uint64_t>(w) * 7919 + core * 104729ULL};
        auto span = buf.subspan(static_cast<std::size_t>(w) * io, io);
        while (next < count) {
            long i = next++;
            std::uint64_t off = (r.next() % span_blocks) * io;
            auto t0 = clock_type::now();
            std::error_code ec = co_await dev.read(off, span);
            lat[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(std::min<long long>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0)
                    .count(),
                UINT32_MAX));
            if (ec) ++errors;
        }
        done.arrive();
    };
    for (int w = 0; w < qd; ++w) convme::loop::current()->spawn(worker(w));
    co_await done;
    co_return errors;
}

// Runs body(core) on every core of the runtime at once (core 0 here); returns the sum of results.
template <typename Body>
task<int> on_all_cores(unsigned n, Body body) {
    latch done{static_cast<int>(n)};
    std::atomic<int> total{0};
    convme::loop* home = convme::loop::current();
    for (unsigned c = 1; c < n; ++c)
        convme::submit_to(c, [&, c, home]() -> task<void> {
            const int r = co_await body(c);
            total += r;
            home->post([&done] { done.arrive(); });
        });
    total += co_await body(0);
    done.arrive();
    co_await done;
    co_return total.load();
}

// Interrupts the guest kernel took for NVMe completions so far, per CPU: the CPU columns of the
// /proc/interrupts lines of VFIO's MSI-X vectors (vfio-msix[N](BDF)) and of the kernel nvme
// driver's queues (nvme0q1...), summed over those lines. Only one of the two drives the device at
// a time.
std::vector<std::uint64_t> nvme_interrupts() {
    std::vector<std::uint64_t> per_cpu;
    std::FILE* f = std::fopen("/proc/interrupts", "r");
    if (!f) return per_cpu;
    char line[1024];
    while (std::fgets(line, sizeof line, f)) {
        const std::string_view l(line);
        if (l.find("vfio-msix") == std::string_view::npos &&
            l.find("nvme") == std::string_view::npos)
            continue;
        char* p = std::strchr(line, ':');
        if (!p) continue;
        ++p;
        for (std::size_t cpu = 0;; ++cpu) {  // the per-CPU counts, up to the first non-number
            char* end = nullptr;
            const unsigned long long v = std::strtoull(p, &end, 10);
            if (end == p) break;
            if (per_cpu.size() <= cpu) per_cpu.resize(cpu + 1, 0);
            per_cpu[cpu] += v;
            p = end;
        }
    }
    std::fclose(f);
    return per_cpu;
}

// "a/b/..": per-CPU interrupts between two nvme_interrupts() samples; total in `sum`.
std::string interrupt_delta(const std::vector<std::uint64_t>& before,
                            const std::vector<std::uint64_t>& after, std::uint64_t& sum) {
    std::string out;
    sum = 0;
    for (std::size_t i = 0; i < after.size(); ++i) {
        const std::uint64_t d = after[i] - (i < before.size() ? before[i] : 0);
        sum += d;
        out += (i ? "/" : "") + std::to_string(d);
    }
    return out.empty() ? "0" : out;
}

// Steers every vfio-msix vector to `cpu` (/proc/irq/N/smp_affinity_list); returns how many took
// it. By default the kernel picks the vectors' CPU, which need not be the loop's.
int steer_vfio_interrupts(int cpu) {
    std::FILE* f = std::fopen("/proc/interrupts", "r");
    if (!f) return 0;
    int steered = 0;
    char line[1024];
    while (std::fgets(line, sizeof line, f)) {
        if (!std::strstr(line, "vfio-msix")) continue;
        const int irq = std::atoi(line);
        char path[64];
        std::snprintf(path, sizeof path, "/proc/irq/%d/smp_affinity_list", irq);
        if (std::FILE* a = std::fopen(path, "w")) {
            if (std::fprintf(a, "%d\n", cpu) > 0 && std::fclose(a) == 0) ++steered;
        }
    }
    std::fclose(f);
    return steered;
}

std::uint64_t irq_sleeps_of(const block_device& dev) {
    convme::driver::nvme_driver_stats st{};
    return convme::driver::get_nvme_stats(dev, st) ? st.irq_sleeps : 0;
}

// hybrid's spin window at the end of a run (spin_us=auto adapts it; 0 for other modes).
unsigned hybrid_window_of(const block_device& dev) {
    convme::driver::nvme_driver_stats st{};
    return convme::driver::get_nvme_stats(dev, st) ? st.hybrid_window_us : 0;
}

// What one steady_clock::now() costs here, in ns: the guest's clocksource decides (tsc: a few ns
// through the vDSO; hpet or acpi_pm: a system call and an emulated register read). hybrid's spin
// reads the clock, so this is printed beside its figures.
double clock_read_ns() {
    constexpr int reads = 20000;
    const auto t0 = clock_type::now();
    auto last = t0;
    for (int i = 0; i < reads; ++i) last = clock_type::now();
    return std::chrono::duration<double, std::nano>(last - t0).count() / reads;
}

task<int> run_bench(std::string uri, int qd, long count, std::string label, unsigned loops) {
    auto dev = open_or_report(uri);
    if (!dev) co_return 1;
    std::printf("  device %s\n", dev->info().name.c_str());
    std::vector<std::vector<std::uint32_t>> lat(loops);
    // Warm-up: every loop creates its queue before the clock starts.
    co_await on_all_cores(loops, [&](unsigned c) -> task<int> {
        co_return co_await bench_core(*dev, c, 1, 16, lat[c]);
    });
    // LAB_IRQ_CPU=loop: the interrupts go to loop 0's CPU (an experiment: which vCPU takes them).
    if (const char* e = std::getenv("LAB_IRQ_CPU"); e && std::string_view(e) == "loop") {
        const int cpu = ::sched_getcpu();
        std::printf("  steered %d vfio-msix vectors to cpu %d (loop 0's)\n",
                    steer_vfio_interrupts(cpu), cpu);
    }
    const std::vector<std::uint64_t> irq0 = nvme_interrupts();
    const std::uint64_t sleeps0 = irq_sleeps_of(*dev);
    const double cpu0 = cpu_seconds();
    const auto t0 = clock_type::now();
    const int errors = co_await on_all_cores(loops, [&](unsigned c) -> task<int> {
        co_return co_await bench_core(*dev, c, qd, count, lat[c]);
    });
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    // Every loop is done with its reads (the counters are quiescent).
    std::uint64_t irqs = 0;
    const std::string irq_cpus = interrupt_delta(irq0, nvme_interrupts(), irqs);
    const std::uint64_t sleeps = irq_sleeps_of(*dev) - sleeps0;
    const unsigned window_us = hybrid_window_of(*dev);
    const int loop0_cpu = ::sched_getcpu();  // where loop 0 ran (the kernel may move it)
    // irq_affinity=loop's outcome now that every loop created its queue.
    if (std::string note = convme::driver::nvme_irq_affinity(*dev); !note.empty())
        std::printf("  %s\n", note.c_str());
    co_await on_all_cores(loops, [&](unsigned) -> task<int> {
        co_await dev->drain();
        co_return 0;
    });
    std::vector<std::uint32_t> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    const double total = static_cast<double>(count) * loops;
    double median_us = all[all.size() / 2] / 1000.0;
    double p99_us = all[all.size() * 99 / 100] / 1000.0;
    std::printf(
        "BENCH label=%s qd=%d loops=%u count=%ld errors=%d iops=%.0f median_us=%.1f p99_us=%.1f "
        "cpu_us_per_io=%.2f cpu_pct=%.0f irqs=%llu irqs_per_io=%.3f sleeps_per_io=%.3f "
        "irqs_per_cpu=%s loop0_cpu=%d spin_window_us=%u clock_ns=%.0f uri=%s\n",
        label.c_str(), qd, loops, count, errors, total / secs, median_us, p99_us, cpu / total * 1e6,
        cpu / secs * 100.0, static_cast<unsigned long long>(irqs),
        static_cast<double>(irqs) / total, static_cast<double>(sleeps) / total, irq_cpus.c_str(),
        loop0_cpu, window_us, clock_read_ns(), uri.c_str());
    co_return errors ? 1 : 0;
}

// `rate` reads per second for `secs` seconds on one loop: how much CPU a lightly loaded device
// costs (a polling loop spins while each I/O is in flight; an interrupt-driven one sleeps).
task<int> run_idle(std::string uri, int rate, int secs, std::string label) {
    auto dev = open_or_report(uri);
    if (!dev) co_return 1;
    dma_buffer buf(4096);
    (void)co_await dev->read(0, buf.span());  // creates the queue
    int errors = 0;
    const double cpu0 = cpu_seconds();
    const auto t0 = clock_type::now();
    const auto period = std::chrono::nanoseconds(1'000'000'000LL / rate);
    std::vector<std::uint32_t> lat;
    // Bounded by time as well: on a throttled device each read takes longer than the period.
    const auto end = t0 + std::chrono::seconds(secs);
    for (long i = 0; i < static_cast<long>(rate) * secs && clock_type::now() < end; ++i) {
        const auto due = t0 + period * i;
        if (clock_type::now() < due) co_await convme::sleep_for(due - clock_type::now());
        const auto s0 = clock_type::now();
        if (co_await dev->read((static_cast<std::uint64_t>(i) * 8 % 4096) * 4096, buf.span()))
            ++errors;
        lat.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - s0).count()));
    }
    const double wall = std::chrono::duration<double>(clock_type::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    co_await dev->drain();
    std::sort(lat.begin(), lat.end());
    std::printf(
        "BENCH-IDLE label=%s rate=%d secs=%d ios=%zu errors=%d cpu_pct=%.1f median_us=%u uri=%s\n",
        label.c_str(), rate, secs, lat.size(), errors, cpu / wall * 100.0,
        lat.empty() ? 0u : lat[lat.size() / 2], uri.c_str());
    co_return errors ? 1 : 0;
}

// ---------------------------------------------------------------- many loops

task<int> run_loops(std::string uri, unsigned n) {
    auto dev = open_or_report(uri);
    if (!dev) co_return 1;
    print_info(dev->info());
    constexpr int per_loop = 256;  // 4 KiB blocks each loop writes, verifies, rewrites, verifies
    const std::uint64_t region = 4 * MiB;
    const auto t0 = clock_type::now();
    // Every loop at once: write its own region at QD8, read it back, verify.
    const int bad = co_await on_all_cores(n, [&](unsigned c) -> task<int> {
        dma_buffer buf(8 * 4096);
        int bad = 0, errors = 0, mismatches = 0;
        latch done{8};
        auto note = [&](const std::error_code& ec, const char* what, std::uint64_t off) {
            if (++errors == 1)
                std::printf("  loop %u: %s at %" PRIu64 " failed: %s\n", c, what, off,
                            ec.message().c_str());
            ++bad;
        };
        // A named lambda: its captures must outlive the coroutines (they live in this frame).
        auto worker = [&](int w) -> task<void> {
            auto span = buf.subspan(static_cast<std::size_t>(w) * 4096, 4096);
            for (int i = w; i < per_loop; i += 8) {
                const std::uint64_t off =
                    16 * MiB + c * region + static_cast<std::uint64_t>(i) * 4096;
                const std::uint64_t tag = 0x1000 + c * 1000 + static_cast<std::uint64_t>(i);
                fill(span, off, tag);
                std::error_code ec = co_await dev->write(off, span);
                if (ec) note(ec, "write", off);
                std::memset(span.data(), 0, span.size());
                ec = co_await dev->read(off, span);
                if (ec) note(ec, "read", off);
                if (!ec && first_mismatch(span, off, tag) >= 0) {
                    if (++mismatches == 1)
                        std::printf("  loop %u: read at %" PRIu64 " returned the wrong data\n", c,
                                    off);
                    ++bad;
                }
            }
            done.arrive();
        };
        for (int w = 0; w < 8; ++w) convme::loop::current()->spawn(worker(w));
        co_await done;
        std::printf("  loop %u (core_id %u): %d I/Os, %d failed, %d returned wrong data\n", c,
                    convme::loop::current()->core_id(), 2 * per_loop, errors, mismatches);
        co_return bad;
    });
    check(bad == 0,
          "%u loops each wrote and verified their own region concurrently (%d x 4 KiB each, QD8): "
          "%d bad in %.1f ms",
          n, per_loop, bad,
          std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    // Cross-core: core 0 awaits a write and a read that core 1 submits on its own queue.
    if (n > 1) {
        dma_buffer out(4096), in(4096);
        const std::uint64_t off = 8 * MiB;
        fill(out.span(), off, 0xc0de);
        const std::error_code wec = co_await convme::run_on(
            1, [&]() -> task<std::error_code> { co_return co_await dev->write(off, out.span()); });
        const std::error_code rec = co_await convme::run_on(
            1, [&]() -> task<std::error_code> { co_return co_await dev->read(off, in.span()); });
        check(!wec && !rec && first_mismatch(in.span(), off, 0xc0de) < 0,
              "core 0 awaited a write + read submitted on core 1 via run_on: %s / %s, data %s",
              wec.message().c_str(), rec.message().c_str(),
              first_mismatch(in.span(), off, 0xc0de) < 0 ? "verified" : "WRONG");
        std::error_code lec = co_await dev->read(off, in.span());
        check(!lec && first_mismatch(in.span(), off, 0xc0de) < 0,
              "core 0 reads back core 1's write");
    }
    convme::driver::nvme_driver_stats st{};
    if (convme::driver::get_nvme_stats(*dev, st))
        std::printf(
            "  driver: %u I/O queues for %u loops (%u interrupt-driven), %llu requests forwarded "
            "to a loop with a queue\n",
            st.io_queues, n, st.irq_queues, static_cast<unsigned long long>(st.forwarded));
    // Fewer queues than loops: the loops without one forwarded their I/O (it was verified above)
    // and device_info says how queues map to loops.
    if (st.io_queues < n) {
        const std::string& name = dev->info().name;
        const std::string want = "[io queues " + std::to_string(st.io_queues) + ":";
        check(st.forwarded > 0 && name.find(want) != std::string::npos &&
                  name.find("forward") != std::string::npos,
              "%u loops on %u I/O queue(s): %llu requests forwarded; device_info.name '%s'", n,
              st.io_queues, static_cast<unsigned long long>(st.forwarded), name.c_str());
    }
    co_await on_all_cores(n, [&](unsigned) -> task<int> {
        co_await dev->drain();
        co_return 0;
    });
    std::printf("lab_guest loops: %s (%d failed checks)\n",
                g_failures ? "FAILED" : "all checks passed", g_failures);
    co_return g_failures ? 1 : 0;
}

// ---------------------------------------------------------------- multi-loop reset

// One loop's share of the device: `units` 4 KiB units at `base`. Each unit's content is the
// pattern of the last acknowledged write's tag, or of a later failed write's (which may or may
// not have landed, so both are accepted until the next acknowledged write or a read settles it).
struct reset_worker {
    block_device& dev;
    std::uint64_t base;
    int units;
    std::atomic<bool>& stop;
    std::vector<std::vector<std::uint64_t>> possible;  // per unit: tags that may be on the medium
    std::uint64_t next_tag;
    std::atomic<long> ok{0}, failed{0}, bad{0}, odd_errors{0};
    std::atomic<long> ok_mark{0};  // ok count when the last reset finished (set by main)

    reset_worker(block_device& d, std::uint64_t b, int n, std::atomic<bool>& s,
                 std::uint64_t first_tag)
        : dev(d),
          base(b),
          units(n),
          stop(s),
          possible(static_cast<std::size_t>(n), std::vector<std::uint64_t>{0}),
          next_tag(first_tag) {}

    static bool lost_in_reset(const std::error_code& ec) {
        return ec == make_error_code(convme::errc::aborted) ||
               ec == make_error_code(convme::errc::timeout);
    }

    task<void> stream(int lane, int lanes, int& running) {
        dma_buffer buf(4 * KiB);
        rng r{0xabcd00ULL + base + static_cast<std::uint64_t>(lane)};
        while (!stop.load(std::memory_order_relaxed)) {
            // Lane k owns the units u with u % lanes == k: one I/O per unit in flight at a time.
            const int u =
                static_cast<int>(r.next() % static_cast<std::uint64_t>(units / lanes)) * lanes +
                lane;
            const std::uint64_t off = base + static_cast<std::uint64_t>(u) * 4 * KiB;
            auto& maybe = possible[static_cast<std::size_t>(u)];
            if (r.next() % 2) {
                const std::uint64_t tag = next_tag++;
                fill(buf.span(), off, tag);
                std::error_code ec = co_await dev.write(off, buf.span());
                if (!ec) {
                    maybe.assign(1, tag);
                    ++ok;
                } else {
                    maybe.push_back(tag);
                    ++failed;
                    if (!lost_in_reset(ec)) ++odd_errors;
                }
            } else {
                std::memset(buf.data(), 0xee, buf.size());
                std::error_code ec = co_await dev.read(off, buf.span());
                if (!ec) {
                    bool match = false;
                    for (std::uint64_t t : maybe)
                        if (first_mismatch(buf.span(), off, t) < 0) {
                            maybe.assign(1, t);
                            match = true;
                            break;
                        }
                    if (!match) {
                        ++bad;
                        if (bad == 1)
                            std::printf("  read of %" PRIu64 " returned data never written there\n",
                                        off);
                    }
                    ++ok;
                } else {
                    ++failed;
                    if (!lost_in_reset(ec)) ++odd_errors;
                }
            }
        }
        --running;
    }

    // After the run: every unit must hold one of its possible patterns.
    task<long> verify_all() {
        dma_buffer buf(4 * KiB);
        long wrong = 0;
        for (int u = 0; u < units; ++u) {
            const std::uint64_t off = base + static_cast<std::uint64_t>(u) * 4 * KiB;
            if (co_await dev.read(off, buf.span())) {
                ++wrong;
                continue;
            }
            bool match = false;
            for (std::uint64_t t : possible[static_cast<std::size_t>(u)])
                match = match || first_mismatch(buf.span(), off, t) < 0;
            wrong += !match;
        }
        co_return wrong;
    }
};

int run_multiloop_reset(const std::string& uri, int loops, int resets) {
    auto dev = open_or_report(uri);
    if (!dev) return 1;
    print_info(dev->info());
    constexpr int units = 64, lanes = 4;
    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<reset_worker>> workers;
    for (int i = 0; i < loops; ++i)
        workers.push_back(std::make_unique<reset_worker>(
            *dev, 64 * MiB + static_cast<std::uint64_t>(i) * units * 4 * KiB, units, stop,
            1000000ULL * static_cast<std::uint64_t>(i + 1)));
    std::vector<long> wrong(static_cast<std::size_t>(loops), 0);
    std::atomic<int> started{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < loops; ++i)
        threads.emplace_back([&, i] {
            convme::loop l(convme::loop_options{static_cast<unsigned>(i + 1)});
            wrong[static_cast<std::size_t>(i)] =
                l.run_until_complete([](reset_worker& w, std::atomic<int>& started) -> task<long> {
                    // Known contents first (the device may hold anything from an earlier run).
                    dma_buffer buf(4 * KiB);
                    for (int u = 0; u < w.units; ++u) {
                        const std::uint64_t off = w.base + static_cast<std::uint64_t>(u) * 4 * KiB;
                        fill(buf.span(), off, w.next_tag);
                        if (!co_await w.dev.write(off, buf.span()))
                            w.possible[static_cast<std::size_t>(u)].assign(1, w.next_tag);
                    }
                    ++w.next_tag;
                    ++started;
                    int running = lanes;
                    for (int k = 0; k < lanes; ++k)
                        convme::loop::current()->spawn(w.stream(k, lanes, running));
                    co_await wait_for_zero(running);
                    long bad = co_await w.verify_all();
                    co_await w.dev.drain();
                    co_return bad;
                }(*workers[static_cast<std::size_t>(i)], started));
        });
    while (started.load() < loops) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    int reset_errors = 0;
    for (int n = 0; n < resets; ++n) {
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        std::string why;
        const auto t0 = clock_type::now();
        std::error_code ec = convme::driver::nvme_reset(*dev, &why);
        const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
        check(!ec, "controller reset %d of %d while %d loops stream I/O (%.1f ms)%s%s", n + 1,
              resets, loops, ms, ec ? ": " : "", ec ? (ec.message() + ": " + why).c_str() : "");
        reset_errors += ec ? 1 : 0;
        for (auto& w : workers) w->ok_mark = w->ok.load();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    stop = true;
    for (auto& t : threads) t.join();
    for (int i = 0; i < loops; ++i) {
        reset_worker& w = *workers[static_cast<std::size_t>(i)];
        check(w.bad == 0,
              "loop %d: %ld I/Os ok, %ld lost in resets, %ld reads returned data never written",
              i + 1, w.ok.load(), w.failed.load(), w.bad.load());
        check(w.odd_errors == 0, "loop %d: %ld errors other than aborted/timeout", i + 1,
              w.odd_errors.load());
        check(w.ok > w.ok_mark, "loop %d: I/O went on after the last reset (%ld ok since)", i + 1,
              w.ok.load() - w.ok_mark.load());
        check(wrong[static_cast<std::size_t>(i)] == 0,
              "loop %d: %ld units do not hold an acknowledged write", i + 1,
              wrong[static_cast<std::size_t>(i)]);
    }
    convme::driver::nvme_driver_stats st;
    if (convme::driver::get_nvme_stats(*dev, st))
        std::printf("  driver: %" PRIu64 " resets, %" PRIu64 " timeouts, %u queues\n", st.resets,
                    st.timeouts, st.io_queues);
    dev.reset();
    std::printf("lab_guest reset: %s\n", g_failures == 0 ? "PASS" : "FAIL");
    return g_failures == 0 && reset_errors == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- DMA memory and fork()

// One mapping of /proc/self/smaps.
struct vma {
    std::uintptr_t start = 0, end = 0;
    std::string name;  // path or [heap] etc.; "" for plain anonymous memory
    unsigned long kernel_page_kb = 0;
    std::string
        flags;  // VmFlags: two-letter codes ("lo" mlocked, "dc" MADV_DONTFORK, "ht" hugetlb)
    bool has(const char* flag) const {
        return (" " + flags + " ").find(" " + std::string(flag) + " ") != std::string::npos;
    }
};

std::vector<vma> read_smaps() {
    std::vector<vma> out;
    std::FILE* f = std::fopen("/proc/self/smaps", "r");
    if (!f) return out;
    char line[1024];
    while (std::fgets(line, sizeof line, f)) {
        line[std::strcspn(line, "\n")] = 0;
        unsigned long a = 0, b = 0;
        char perms[8] = {}, name[512] = {};
        // A header: "START-END PERMS OFFSET DEV INODE [NAME]"; field lines do not parse this far.
        const int n = std::sscanf(line, "%lx-%lx %7s %*s %*s %*s %511[^\n]", &a, &b, perms, name);
        if (n >= 3) {
            out.push_back(vma{static_cast<std::uintptr_t>(a), static_cast<std::uintptr_t>(b),
                              n >= 4 ? name : "", 0, ""});
            continue;
        }
        if (out.empty()) continue;
        unsigned long kb = 0;
        if (std::sscanf(line, "KernelPageSize: %lu kB", &kb) == 1) out.back().kernel_page_kb = kb;
        if (std::strncmp(line, "VmFlags:", 8) == 0) {
            std::string fl = line + 8;
            while (!fl.empty() && fl.front() == ' ') fl.erase(0, 1);
            while (!fl.empty() && fl.back() == ' ') fl.pop_back();
            out.back().flags = fl;
        }
    }
    std::fclose(f);
    return out;
}

// Plain anonymous memory (not a dma_buffer): the driver maps it with map_dma on first use. A
// PROT_NONE page on each side keeps its VMA from merging with a neighbour, so smaps shows its own
// flags.
class plain_buffer {
  public:
    explicit plain_buffer(std::size_t len)
        : len_(len), page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) {
        base_ = ::mmap(nullptr, len_ + 2 * page_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base_ == MAP_FAILED) throw std::runtime_error("mmap of a plain buffer failed");
        data_ = static_cast<std::byte*>(base_) + page_;
        if (::mprotect(data_, len_, PROT_READ | PROT_WRITE) != 0)
            throw std::runtime_error("mprotect of a plain buffer failed");
    }
    ~plain_buffer() { ::munmap(base_, len_ + 2 * page_); }
    plain_buffer(const plain_buffer&) = delete;
    plain_buffer& operator=(const plain_buffer&) = delete;
    std::span<std::byte> span() noexcept { return {data_, len_}; }
    bool overlaps(const vma& v) const noexcept {
        const auto lo = reinterpret_cast<std::uintptr_t>(data_);
        return v.start < lo + len_ && lo < v.end;
    }

  private:
    std::size_t len_, page_;
    void* base_ = nullptr;
    std::byte* data_ = nullptr;
};

// Bug 5 of issue 11 on a real VFIO device. Every DMA region must be MADV_DONTFORK ("dc" in
// VmFlags): the driver's own (rings, PRP lists, admin buffers: alloc_dma, locked or hugetlb VMAs
// that appeared with the device) and the caller's I/O buffers mapped by map_dma. Without an IOMMU
// the driver's own memory must also be hugetlbfs pages (2048 kB, never migrated). Then fork():
// while the child is alive the parent stores into its buffers and does I/O through them; a
// buffer shared copy-on-write with the child would move to a new page under the parent while the
// device kept the old physical address (no-IOMMU; with an IOMMU, VFIO's pin makes the kernel
// copy the pages for the child at fork).
task<int> run_dmamem(std::string uri) {
    const bool noiommu = uri.find("mode=noiommu") != std::string::npos;
    constexpr std::size_t len = 64 * KiB;  // 16 pages: the commands need a PRP list
    plain_buffer a(len), b(len);
    const auto before = read_smaps();
    auto dev = open_or_report(uri);
    if (!dev) co_return 1;
    print_info(dev->info());
    const std::uint64_t off1 = 16 * MiB, off2 = 17 * MiB;
    fill(a.span(), off1, 0xd1a);
    std::memset(b.span().data(), 0, len);
    std::error_code wec = co_await dev->write(off1, a.span());
    std::error_code rec = co_await dev->read(off1, b.span());
    check(!wec && !rec && first_mismatch(b.span(), off1, 0xd1a) < 0,
          "64 KiB write + read through plain memory (map_dma): %s / %s, data %s",
          wec.message().c_str(), rec.message().c_str(),
          first_mismatch(b.span(), off1, 0xd1a) < 0 ? "verified" : "WRONG");

    // --- smaps: which VMAs hold DMA memory, and their flags
    const auto after = read_smaps();
    int io_vmas = 0, io_bad = 0, drv_vmas = 0, drv_nodc = 0, drv_nothuge = 0;
    for (const vma& v : after) {
        const bool io = a.overlaps(v) || b.overlaps(v);
        bool is_new = true;
        for (const vma& o : before)
            if (o.start == v.start && o.end == v.end && o.flags == v.flags) is_new = false;
        const bool huge = v.has("ht");
        if (!io && !(is_new && (v.has("lo") || huge))) continue;
        std::printf("  %-10s %lx-%lx %6lu kB in %lu kB pages %s VmFlags: %s\n",
                    io ? "io buffer" : "driver DMA", static_cast<unsigned long>(v.start),
                    static_cast<unsigned long>(v.end),
                    static_cast<unsigned long>((v.end - v.start) / 1024), v.kernel_page_kb,
                    v.name.empty() ? "(anonymous)" : v.name.c_str(), v.flags.c_str());
        if (io) {
            ++io_vmas;
            if (!v.has("dc")) ++io_bad;
            continue;
        }
        ++drv_vmas;
        if (!v.has("dc")) ++drv_nodc;
        if (!huge || v.kernel_page_kb != 2048) ++drv_nothuge;
    }
    check(io_vmas >= 2 && io_bad == 0,
          "the I/O buffers mapped by map_dma are MADV_DONTFORK: %d of %d VMAs without dc", io_bad,
          io_vmas);
    check(drv_vmas >= 1 && drv_nodc == 0,
          "the driver's DMA memory (rings, PRP lists, admin buffers) is MADV_DONTFORK: %d VMAs, "
          "%d without dc",
          drv_vmas, drv_nodc);
    if (noiommu)
        check(drv_vmas >= 1 && drv_nothuge == 0,
              "no-IOMMU: the driver's DMA memory is hugetlb (2048 kB pages): %d of %d VMAs are not",
              drv_nothuge, drv_vmas);

    // --- fork(): the child holds on to its address space while the parent does I/O
    int go[2], rep[2];
    if (::pipe(go) != 0 || ::pipe(rep) != 0) {
        check(false, "pipe: %s", std::strerror(errno));
        co_return 1;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Async-signal-safe calls only (the parent has other threads).
        unsigned char vec = 0;
        char seen = 'm';
        if (::mincore(a.span().data(), 4096, &vec) != 0) seen = errno == ENOMEM ? 'u' : 'e';
        (void)!::write(rep[1], &seen, 1);
        char c;
        (void)!::read(go[0], &c, 1);  // until the parent is done
        ::_exit(0);
    }
    if (pid < 0) {
        check(false, "fork: %s", std::strerror(errno));
        co_return 1;
    }
    char seen = '?';
    (void)!::read(rep[0], &seen, 1);
    check(seen == 'u', "the forked child has no copy of the I/O buffer (%s)",
          seen == 'u'   ? "not mapped in the child"
          : seen == 'm' ? "MAPPED in the child: fork() gave it the range"
                        : "mincore failed in the child");
    // The parent's stores while the child lives: a shared page would be copied for the parent now.
    fill(a.span(), off2, 0xd2b);
    std::memset(b.span().data(), 0, len);
    wec = co_await dev->write(off2, a.span());
    rec = co_await dev->read(off2, b.span());
    const long long bad2 = first_mismatch(b.span(), off2, 0xd2b);
    check(!wec && !rec && bad2 < 0,
          "after fork(), child alive: the parent wrote new data into its buffer, wrote it to the "
          "device and read it back: %s / %s, data %s (first bad byte %lld)",
          wec.message().c_str(), rec.message().c_str(), bad2 < 0 ? "verified" : "WRONG", bad2);
    rec = co_await dev->read(off1, a.span());
    const long long bad1 = first_mismatch(a.span(), off1, 0xd1a);
    check(!rec && bad1 < 0,
          "after fork(): the device's read lands in the parent's buffer: %s, data %s (first bad "
          "byte %lld)",
          rec.message().c_str(), bad1 < 0 ? "verified" : "WRONG", bad1);
    (void)!::write(go[1], "x", 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (int fd : {go[0], go[1], rep[0], rep[1]}) ::close(fd);
    co_await dev->drain();
    std::printf("lab_guest dmamem: %s (%d failed checks)\n",
                g_failures ? "FAILED" : "all checks passed", g_failures);
    co_return g_failures ? 1 : 0;
}

task<int> run_open(std::string uri) {
    auto dev = open_or_report(uri);
    if (!dev) co_return 1;
    print_info(dev->info());
    co_return 0;
}

// ---------------------------------------------------------------- a small RESP client

// utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15).
double process_cpu_seconds(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return -1;
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char* p = std::strrchr(buf, ')');
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    // after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    // stime
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int run_kvload(int port, int n, int pid, int idle_secs) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool connected = false;
    for (int i = 0; i < 100 && !connected; ++i) {
        connected = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        if (!connected) {
            ::close(fd);
            fd = ::socket(AF_INET, SOCK_STREAM, 0);
            ::usleep(100000);
        }
    }
    check(connected, "connected to convme-kv on 127.0.0.1:%d", port);
    if (!connected) return 1;
    // Pipelined batches of 16 SET+GET pairs; every reply is checked.
    const auto t0 = clock_type::now();
    int bad = 0, done = 0;
    std::string in;
    char rbuf[65536];
    for (int base = 0; base < n; base += 16) {
        std::string out, want;
        const int m = std::min(16, n - base);
        for (int i = base; i < base + m; ++i) {
            const std::string k = "key:" + std::to_string(i),
                              v = "value-" + std::to_string(i * 7919);
            out += "*3\r\n$3\r\nSET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n$" +
                   std::to_string(v.size()) + "\r\n" + v + "\r\n";
            out += "*2\r\n$3\r\nGET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
            want += "+OK\r\n$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
        }
        if (::send(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) {
            ++bad;
            break;
        }
        in.clear();
        while (in.size() < want.size()) {
            const ssize_t r = ::recv(fd, rbuf, sizeof rbuf, 0);
            if (r <= 0) break;
            in.append(rbuf, static_cast<std::size_t>(r));
        }
        if (in != want) ++bad;
        done += m;
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    check(bad == 0,
          "%d SET+GET pairs (pipelined by 16) answered correctly in %.2f s (%.0f ops/s), %d bad "
          "batches",
          done, secs, 2.0 * done / secs, bad);
    // Idle: the server must not spin (every I/O it had is durable; nothing is in flight). Under
    // TCG on a loaded host a guest thread is charged CPU time while the host has its vCPU
    // descheduled, so one window can read high without any spinning: after a 1 s settle, up to 3
    // windows of idle_secs each; a spinning loop reads ~100 % in every one of them.
    ::sleep(1);
    double pct = 100.0;
    std::string windows;
    bool sampled = true;
    for (int w = 0; w < 3 && pct >= 10.0; ++w) {
        const double c0 = process_cpu_seconds(pid);
        ::sleep(static_cast<unsigned>(idle_secs));
        const double c1 = process_cpu_seconds(pid);
        sampled = sampled && c0 >= 0 && c1 >= 0;
        pct = (c1 - c0) / idle_secs * 100.0;
        char b[32];
        std::snprintf(b, sizeof b, "%s%.1f", windows.empty() ? "" : ",", pct);
        windows += b;
    }
    std::printf(
        "BENCH-KV ops=%d secs=%.2f ops_per_s=%.0f idle_secs=%d idle_cpu_pct=%.1f windows=%s\n",
        2 * done, secs, 2.0 * done / secs, idle_secs, pct, windows.c_str());
    check(sampled && pct < 10.0,
          "convme-kv idle for %d s after the load used %.1f%% of a core (want < 10%%; windows "
          "tried: %s %%)",
          idle_secs, pct, windows.c_str());
    ::close(fd);
    return g_failures ? 1 : 0;
}

int usage() {
    std::fprintf(stderr,
                 "usage: lab_guest open URI\n"
                 "       lab_guest test URI\n"
                 "       lab_guest dmamem URI\n"
                 "       lab_guest bench URI QD COUNT [LABEL [LOOPS]]\n"
                 "       lab_guest idle URI RATE SECS [LABEL]\n"
                 "       lab_guest loops URI N\n"
                 "       lab_guest reset URI [LOOPS] [RESETS]\n"
                 "       lab_guest kvload PORT N PID [IDLE_SECS]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    if (argc < 3) return usage();
    std::string_view cmd = argv[1];
    std::string uri = argv[2];
    try {
        if (cmd == "kvload" && argc >= 5) {
            const int idle = argc > 5 ? std::atoi(argv[5]) : 2;
            if (idle < 1) return usage();
            return run_kvload(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), idle);
        }
        if (cmd == "reset") {
            const int loops = argc > 3 ? std::atoi(argv[3]) : 3;
            const int resets = argc > 4 ? std::atoi(argv[4]) : 4;
            if (loops < 1 || loops > 16 || resets < 1) return usage();
            return run_multiloop_reset(uri, loops, resets);
        }
        convme::loop lp;
        if (cmd == "open") return lp.run_until_complete(run_open(uri));
        if (cmd == "test") return lp.run_until_complete(device_test(uri).run());
        if (cmd == "dmamem") return lp.run_until_complete(run_dmamem(uri));
        if (cmd == "bench" && argc >= 5) {
            int qd = std::atoi(argv[3]);
            long count = std::atol(argv[4]);
            const int loops = argc > 6 ? std::atoi(argv[6]) : 1;
            if (qd < 1 || qd > 1024 || count < 1 || loops < 1 || loops > 64) return usage();
            convme::runtime rt({.cores = static_cast<unsigned>(loops)});
            return rt.run(run_bench(uri, qd, count, argc > 5 ? argv[5] : "bench",
                                    static_cast<unsigned>(loops)));
        }
        if (cmd == "idle" && argc >= 5) {
            const int rate = std::atoi(argv[3]), secs = std::atoi(argv[4]);
            if (rate < 1 || secs < 1) return usage();
            convme::runtime rt({.cores = 1});
            return rt.run(run_idle(uri, rate, secs, argc > 5 ? argv[5] : "idle"));
        }
        if (cmd == "loops") {
            const int n = argc > 3 ? std::atoi(argv[3]) : 2;
            if (n < 1 || n > 64) return usage();
            convme::runtime rt({.cores = static_cast<unsigned>(n)});
            return rt.run(run_loops(uri, static_cast<unsigned>(n)));
        }
    } catch (const std::exception& e) {
        std::printf("lab_guest %s: %s\n", argv[1], e.what());
        return 1;
    }
    return usage();
}

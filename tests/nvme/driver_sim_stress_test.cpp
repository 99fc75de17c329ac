// SPDX-License-Identifier: MIT
// Stress (issue 11): 2-4 loops on their own threads stream verified writes and reads through one
// controller while another thread makes it misbehave: late completions that outlive the timeout
// and an Abort ("not aborted"), lost completions, error statuses, fatal status (CFS) and direct
// resets, with hostile disable/enable delays. Checked throughout and at the end:
//  * every successful read returned the data of a write that may be on the medium (the last
//    acknowledged one, or a later one that failed and may or may not have landed);
//  * every acknowledged write is on the medium (read back through the model at the end);
//  * the controller never saw an invalid doorbell write nor a DMA lifetime violation;
//  * I/O keeps flowing after the last fault on every loop.
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "driver/nvme/controller.hpp"
#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t unit_bytes = 4096;
constexpr std::uint32_t units_per_loop = 64;
constexpr int qd_per_loop = 4;

void unit_pattern(std::byte* p, std::uint64_t unit, std::uint32_t version) {
    for (std::size_t i = 0; i < unit_bytes; i += 8) {
        const std::uint64_t v =
            (std::uint64_t{version} << 32) | ((unit & 0xffff) << 16) | ((i / 8) & 0xffff);
        std::memcpy(p + i, &v, 8);
    }
}

// The version a buffer holds if it is a whole, intact pattern of `unit`; ~0u otherwise.
std::uint32_t decode(const std::byte* p, std::uint64_t unit) {
    std::uint64_t first;
    std::memcpy(&first, p, 8);
    const auto version = static_cast<std::uint32_t>(first >> 32);
    std::vector<std::byte> want(unit_bytes);
    unit_pattern(want.data(), unit, version);
    return std::memcmp(p, want.data(), unit_bytes) == 0 ? version : ~0u;
}

struct unit_state {
    std::uint32_t acked = 0;                 // last acknowledged version (0: prefilled)
    std::vector<std::uint32_t> possible{0};  // versions that may be on the medium
    std::uint32_t next = 1;
};

struct loop_stats {
    std::atomic<std::uint64_t> writes_ok{0}, writes_failed{0}, reads_ok{0}, reads_failed{0};
    std::atomic<std::uint64_t> bad_reads{0}, unexpected_errors{0};
    std::atomic<std::uint64_t> ok_after_faults{0};
    std::string first_problem;
};

bool expected_failure(const std::error_code& ec) {
    return ec == make_error_code(errc::timeout) || ec == make_error_code(errc::aborted) ||
           &ec.category() == &nvme_category();
}

struct worker {
    worker(block_device& d, unsigned i, std::atomic<bool>& s, std::atomic<bool>& f)
        : dev(d), index(i), stop(s), faults_over(f) {}
    block_device& dev;
    unsigned index;
    std::vector<unit_state> units{units_per_loop};
    loop_stats st;
    std::atomic<bool>& stop;
    std::atomic<bool>& faults_over;

    std::uint64_t unit_of(std::uint32_t u) const {
        return std::uint64_t{index} * units_per_loop + u;
    }

    task<void> prefill() {
        dma_buffer b(unit_bytes);
        for (std::uint32_t u = 0; u < units_per_loop; ++u) {
            unit_pattern(b.data(), unit_of(u), 0);
            auto ec = co_await dev.write(unit_of(u) * unit_bytes, b.span());
            if (ec) ++st.unexpected_errors;
        }
    }

    // Coroutine `slot` owns the units u with u % qd_per_loop == slot: no two of its own I/Os to one
    // unit are ever in flight together, so the expected contents are exact.
    task<void> stream(int slot, std::uint32_t seed) {
        std::mt19937 rng(seed);
        dma_buffer b(unit_bytes);
        while (!stop.load(std::memory_order_relaxed)) {
            const std::uint32_t u =
                static_cast<std::uint32_t>(rng() % (units_per_loop / qd_per_loop)) * qd_per_loop +
                static_cast<std::uint32_t>(slot);
            unit_state& us = units[u];
            const std::uint64_t unit = unit_of(u);
            if (rng() % 2) {
                const std::uint32_t v = us.next++;
                unit_pattern(b.data(), unit, v);
                const auto ec = co_await dev.write(unit * unit_bytes, b.span());
                if (!ec) {
                    us.acked = v;
                    us.possible.assign(1, v);
                    ++st.writes_ok;
                    if (faults_over.load()) ++st.ok_after_faults;
                } else {
                    us.possible.push_back(v);  // may or may not have reached the medium
                    ++st.writes_failed;
                    if (!expected_failure(ec)) {
                        ++st.unexpected_errors;
                        if (st.first_problem.empty()) st.first_problem = "write: " + ec.message();
                    }
                }
            } else {
                std::memset(b.data(), 0xee, unit_bytes);  // poison: a read that moved nothing shows
                const auto ec = co_await dev.read(unit * unit_bytes, b.span());
                if (!ec) {
                    const std::uint32_t got = decode(b.data(), unit);
                    if (std::find(us.possible.begin(), us.possible.end(), got) ==
                        us.possible.end()) {
                        ++st.bad_reads;
                        if (st.first_problem.empty())
                            st.first_problem =
                                "read of unit " + std::to_string(unit) + " returned version " +
                                (got == ~0u ? std::string("<garbage>") : std::to_string(got)) +
                                ", acknowledged " + std::to_string(us.acked);
                    } else {
                        us.possible.assign(1, got);  // that one landed; nothing older can come back
                    }
                    ++st.reads_ok;
                    if (faults_over.load()) ++st.ok_after_faults;
                } else {
                    ++st.reads_failed;
                    if (!expected_failure(ec)) {
                        ++st.unexpected_errors;
                        if (st.first_problem.empty()) st.first_problem = "read: " + ec.message();
                    }
                }
            }
        }
    }

    task<void> run() {
        co_await prefill();
        ready.store(true);
        int finished = 0;
        for (int s = 0; s < qd_per_loop; ++s)
            loop::current()->spawn([](worker& w, int s, int& finished) -> task<void> {
                co_await w.stream(s, 1000 * w.index + static_cast<std::uint32_t>(s));
                ++finished;
            }(*this, s, finished));
        while (finished < qd_per_loop) co_await loop::current()->sleep_for(1ms);
        co_await dev.drain();
        loop::current()->stop();
    }
    std::atomic<bool> ready{false};
};

void run_stress(unsigned loops, std::chrono::milliseconds duration, std::uint32_t seed) {
    auto cfg = inline_config(16ull << 20, 512);
    cfg.inline_mode = false;
    cfg.latency = 100us;
    cfg.disable_delay = 15ms;
    cfg.enable_delay = 5ms;
    cfg.max_io_queues = 8;
    nvme_options o;
    o.io_timeout = 120ms;
    o.admin_timeout = 3s;
    sim_device s(cfg, o);
    ASSERT_TRUE(s.dev) << s.why;
    controller& c = *nvme_controller_of(*s.dev);

    std::atomic<bool> stop{false}, faults_over{false};
    std::vector<std::unique_ptr<worker>> workers;
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < loops; ++i)
        workers.push_back(std::make_unique<worker>(*s.dev, i, stop, faults_over));
    for (unsigned i = 0; i < loops; ++i)
        threads.emplace_back([&, i] {
            loop l(loop_options{i + 1});
            l.spawn(workers[i]->run());
            l.run();
        });
    for (auto& w : workers)
        while (!w->ready.load()) std::this_thread::sleep_for(1ms);

    // The misbehaving side.
    std::mt19937 rng(seed);
    std::uint64_t injected = 0, fatals = 0, resets = 0;
    const auto end = clock_type::now() + duration;
    while (clock_type::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(40 + rng() % 60));
        const std::uint8_t op = rng() % 2 ? nvme::io_opcode::read : nvme::io_opcode::write;
        switch (rng() % 5) {
            case 0: {  // outlives the timeout and the Abort ("not aborted"): reset
                sim::fault f;
                f.what = sim::fault::kind::late_completion;
                f.opcode = op;
                f.delay = 400ms;
                s.ctrl->inject(f);
                ++injected;
                break;
            }
            case 1: {  // executed, completion lost
                sim::fault f;
                f.what = sim::fault::kind::drop_completion;
                f.opcode = op;
                f.execute = rng() % 2;
                s.ctrl->inject(f);
                ++injected;
                break;
            }
            case 2: {
                sim::fault f;
                f.opcode = op;
                f.status = nvme::make_status(
                    nvme::sct::media, op == nvme::io_opcode::read ? nvme::sc::unrecovered_read_error
                                                                  : nvme::sc::write_fault);
                f.count = 3;
                s.ctrl->inject(f);
                ++injected;
                break;
            }
            case 3:
                s.ctrl->set_fatal();
                ++fatals;
                break;
            default: {
                std::string why;
                EXPECT_EQ(c.reset(c.generation(), why), 0) << why;
                ++resets;
                break;
            }
        }
    }
    // Let the last faults play out (timeout + abort + reset), then require I/O on every loop.
    std::this_thread::sleep_for(600ms);
    faults_over = true;
    std::this_thread::sleep_for(300ms);
    stop = true;
    for (auto& t : threads) t.join();

    const auto st = s.ctrl->stats();
    EXPECT_EQ(st.invalid_doorbell_writes, 0u) << s.ctrl->last_diagnostic();
    EXPECT_EQ(st.dma_lifetime_violations, 0u) << s.ctrl->last_diagnostic();
    std::uint64_t total_ok = 0;
    for (auto& w : workers) {
        EXPECT_EQ(w->st.bad_reads.load(), 0u) << "loop " << w->index << ": " << w->st.first_problem;
        EXPECT_EQ(w->st.unexpected_errors.load(), 0u)
            << "loop " << w->index << ": " << w->st.first_problem;
        EXPECT_GT(w->st.ok_after_faults.load(), 0u)
            << "loop " << w->index << " made no progress after the faults";
        total_ok += w->st.writes_ok + w->st.reads_ok;
        // Every acknowledged write is on the medium (or a later failed one that landed).
        std::vector<std::byte> got(unit_bytes);
        for (std::uint32_t u = 0; u < units_per_loop; ++u) {
            const std::uint64_t unit = w->unit_of(u);
            ASSERT_EQ(s.ctrl->peek(1, unit * unit_bytes, got.data(), unit_bytes), 0);
            const std::uint32_t v = decode(got.data(), unit);
            const auto& p = w->units[u].possible;
            EXPECT_NE(std::find(p.begin(), p.end(), v), p.end())
                << "unit " << unit << " holds version " << v << ", last acknowledged "
                << w->units[u].acked;
        }
    }
    using ::testing::Test;
    Test::RecordProperty("io_ok", std::to_string(total_ok));
    Test::RecordProperty("faults", std::to_string(injected) + " injected, " +
                                       std::to_string(fatals) + " CFS, " + std::to_string(resets) +
                                       " resets");
    Test::RecordProperty("controller_resets", std::to_string(st.resets));
    EXPECT_GT(st.resets, resets);  // the faults caused resets of their own too
}

TEST(DriverSimStress, TwoLoopsUnderTimeoutsAbortsFatalStatusAndResets) {
    run_stress(2, 2500ms, 7);
}
TEST(DriverSimStress, FourLoopsUnderTimeoutsAbortsFatalStatusAndResets) {
    run_stress(4, 2500ms, 11);
}

}  // namespace
}  // namespace convme::driver::testing

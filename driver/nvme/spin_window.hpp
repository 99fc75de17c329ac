// SPDX-License-Identifier: MIT
// hybrid's spin window (completion=hybrid): how long a loop keeps polling its queue after the last
// event it saw there (a submission or a completion) before it sleeps on the queue's interrupt.
//
// spin_us=N fixes the window at N. spin_us=auto (the default) derives it from what this queue
// observes: the idle wait from one event to the next completion. Two running estimates: a
// decaying peak of the waits a spin up to the cap would have caught (a new wait above it raises
// it at once, each wait lowers it by 1/256), and the share of waits that were that short (EWMA,
// weight 1/8). The window is twice the peak, clamped to [floor, cap]: a steady device is waited
// for by spinning, as poll does; a peak rather than a mean, because waits come in mixes (at QD32
// short gaps inside a burst of completions, then the long gap to the next burst: the window must
// cover the long one). A stall (a wait past the cap) does not stretch the window, it only lowers
// the share; when fewer than half of the waits are catchable (a device that takes milliseconds,
// or one that stopped answering) spinning is wasted, so the window falls to the floor and the
// loop sleeps nearly at once. Waits measured across a sleep include the wake-up, which only errs
// towards spinning longer next time.
//
// Only the hybrid path (io_queue::prepare_to_block, called just before a sleep) touches this;
// poll mode never does.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace convme::driver {

class spin_window {
  public:
    using ns = std::chrono::nanoseconds;
    static constexpr std::chrono::microseconds default_floor{50};
    static constexpr std::chrono::microseconds default_cap{1000};
    static constexpr std::int64_t factor = 2;  // window = factor x peak
    // The peak loses 1/256 per wait: slow enough to outlast a burst of 32+ short waits (15/16 per
    // wait left 13 % of it after one QD32 burst in lab run 2, and the loop slept once per burst).
    static constexpr int peak_decay_shift = 8;
    static constexpr int share_shift = 3;  // the share: EWMA weight 1/8

    // Adaptive within [floor, cap]. It starts where the old fixed window was (100 us).
    static spin_window adaptive(ns floor = default_floor, ns cap = default_cap) noexcept {
        spin_window w;
        w.adaptive_ = true;
        w.floor_ = floor;
        w.cap_ = std::max(cap, floor);
        w.peak_ns_ = ns(std::chrono::microseconds(100)).count() / factor;
        w.share_ = share_one;
        w.window_ = w.compute();
        return w;
    }
    static spin_window fixed(ns window) noexcept {
        spin_window w;
        w.window_ = window;
        return w;
    }

    // One wait that ended with a completion (ignored in fixed mode).
    void observe(ns wait) noexcept {
        if (!adaptive_) return;
        const bool catchable = wait <= cap_;
        share_ += ((catchable ? share_one : 0) - share_) >> share_shift;
        if (catchable) {
            peak_ns_ -= peak_ns_ >> peak_decay_shift;
            peak_ns_ = std::max<std::int64_t>(peak_ns_, wait.count());
        }
        window_ = compute();
    }

    ns window() const noexcept { return window_; }
    ns peak() const noexcept { return ns(peak_ns_); }
    // Share of recent waits no longer than the cap, in 1/65536.
    std::int64_t catchable_share() const noexcept { return share_; }
    bool is_adaptive() const noexcept { return adaptive_; }
    ns floor() const noexcept { return floor_; }
    ns cap() const noexcept { return cap_; }

    static constexpr std::int64_t share_one = 1 << 16;

  private:
    ns compute() const noexcept {
        if (share_ < share_one / 2) return floor_;  // most waits outlast any spin: sleep
        return std::clamp(ns(peak_ns_ * factor), floor_, cap_);
    }

    bool adaptive_ = false;
    ns floor_{0}, cap_{0};
    std::int64_t peak_ns_ = 0;  // of the waits no longer than cap_, decaying
    std::int64_t share_ = 0;    // of the waits no longer than cap_, in 1/share_one
    ns window_{0};              // cached: prepare_to_block() reads it on every spinning iteration
};

}  // namespace convme::driver

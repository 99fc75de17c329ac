// SPDX-License-Identifier: MIT
// poller::wait_fd(): a sleeping loop also waits on the pollers' file descriptors, so work that
// arrives without anyone calling wake() (sockets read by another library, say) ends the sleep.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <convme/backend.hpp>
#include <convme/loop.hpp>
#include <thread>

namespace {

using namespace std::chrono_literals;

// Work arrives as a byte on a pipe; poll() takes it and stops the loop.
struct pipe_poller : convme::poller {
    int fds[2] = {-1, -1};
    convme::loop* lp = nullptr;
    std::atomic<bool> got{false};
    pipe_poller() { EXPECT_EQ(::pipe(fds), 0); }
    ~pipe_poller() override {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    bool poll() override {
        char c;
        if (got) return false;
        // Non-blocking check: is a byte waiting?
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, 0) != 1) return false;
        EXPECT_EQ(::read(fds[0], &c, 1), 1);
        got = true;
        lp->stop();
        return true;
    }
    int wait_fd() const override { return fds[0]; }
};

}  // namespace

TEST(LoopWaitFd, ASleepingLoopWakesWhenAPollersFdBecomesReadable) {
    convme::loop lp;
    pipe_poller p;
    p.lp = &lp;
    lp.add_poller(&p);
    std::thread writer([&] {
        std::this_thread::sleep_for(100ms);  // the loop is asleep by then (200 us of spinning)
        EXPECT_EQ(::write(p.fds[1], "x", 1), 1);
        // Without wait_fd support the loop would sleep forever: end it so the test fails instead.
        for (int i = 0; i < 300 && !p.got; ++i) std::this_thread::sleep_for(10ms);
        if (!p.got) lp.stop();
    });
    const auto t0 = std::chrono::steady_clock::now();
    lp.run();  // no timer, no wake(): only the pipe can end the sleep
    const auto took = std::chrono::steady_clock::now() - t0;
    writer.join();
    lp.remove_poller(&p);
    EXPECT_TRUE(p.got);
    EXPECT_LT(took, 5s);
    EXPECT_GE(lp.statistics().sleeps, 1u);
    // Slept rather than spun: far fewer iterations than 100 ms of polling would take.
    EXPECT_LT(lp.statistics().iterations, 100000u);
}

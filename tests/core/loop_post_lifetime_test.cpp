// SPDX-License-Identifier: MIT
// A loop may end as soon as a function posted to it has run: post() touches the loop no more
// once the function can run (the NVMe driver's forwarding posts a request's completion to its
// loop, which may then drain and be destroyed). Checked by the sanitizer builds: a post() that
// still woke the loop afterwards wrote into freed memory.
#include <gtest/gtest.h>

#include <atomic>
#include <convme/loop.hpp>
#include <memory>
#include <thread>

namespace convme {
namespace {

TEST(LoopPost, TheLoopMayBeDestroyedOnceThePostedFunctionRan) {
    for (int round = 0; round < 2000; ++round) {
        auto l =
            std::make_unique<loop>(loop_options{.spin_before_sleep = std::chrono::microseconds(0)});
        std::atomic<bool> ran{false};
        loop* target = l.get();
        std::thread poster([&] { target->post([&] { ran = true; }); });
        while (!ran.load()) l->run_once();
        l.reset();  // the poster may still be inside post()
        poster.join();
    }
}

}  // namespace
}  // namespace convme

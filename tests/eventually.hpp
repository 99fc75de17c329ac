// SPDX-License-Identifier: MIT
// Test helper: wait for a condition another thread makes true, without asserting on time.
#pragma once

#include <chrono>
#include <thread>

namespace convme_test {

// Polls `pred` until it holds; returns false after a generous bound instead of hanging the test.
template <typename Pred>
bool eventually(Pred pred, std::chrono::seconds give_up_after = std::chrono::seconds{10}) {
    const auto give_up = std::chrono::steady_clock::now() + give_up_after;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        // Sleep rather than spin: on a 2-CPU machine the thread we wait for needs a CPU.
        std::this_thread::sleep_for(std::chrono::microseconds{50});
    }
    return true;
}

}  // namespace convme_test

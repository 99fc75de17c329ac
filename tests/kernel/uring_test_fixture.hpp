// SPDX-License-Identifier: MIT
// GoogleTest fixture for io_uring backend tests: skips where io_uring is unavailable (seccomp,
// io_uring_disabled, qemu-user) and opens uring: URIs on a file in a private temp dir.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "backend_test_util.hpp"
#include "runtime/kernel/uring_device.hpp"
#include "runtime/kernel/uring_probe.hpp"

namespace convme::testing {

class uring_test : public ::testing::Test {
  protected:
    // `tmp_base`: where the temp dir goes (nullptr: $TMPDIR or /tmp); `query_prefix` starts every
    // URI's query, e.g. "fallback=0&" so a refused ring fails instead of using the thread pool.
    explicit uring_test(const char* tmp_base = nullptr, std::string query_prefix = {})
        : dir(tmp_base), prefix_(std::move(query_prefix)) {}

    void SetUp() override {
        ASSERT_TRUE(dir.ok()) << "mkdtemp failed";
        std::string why;
        if (backends::uring_available(why) != 0)
            GTEST_SKIP() << "io_uring unavailable here: " << why;
    }
    std::unique_ptr<block_device> open(const std::string& query) {
        std::string uri = "uring:" + dir.file("dev.img") + "?" + prefix_ + query;
        std::error_code ec;
        std::string why;
        auto dev = open_device(uri, ec, why);
        EXPECT_NE(dev, nullptr) << uri << ": " << why;
        return dev;
    }
    static backends::uring_device& as_uring(block_device& dev) {
        auto* u = dynamic_cast<backends::uring_device*>(&dev);
        EXPECT_NE(u, nullptr) << "not a uring device: " << dev.info().name;
        return *u;
    }
    temp_dir dir;

  private:
    std::string prefix_;
};

}  // namespace convme::testing

// SPDX-License-Identifier: MIT
// When io_uring is unavailable, open_device("uring:...") falls back to the thread-pool backend
// (unless fallback=0) and says why on stderr. Forced through the test hook and the env variable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <cstdlib>
#include <cstring>

#include "backend_test_util.hpp"
#include "runtime/kernel/kernel_devices.hpp"
#include "runtime/kernel/threadpool_device.hpp"
#include "runtime/kernel/uring_probe.hpp"

using namespace convme;
using convme::testing::fill_pattern;
using convme::testing::temp_dir;

namespace {

class Fallback : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(dir.ok()); }
    void TearDown() override {
        backends::testing_force_uring_failure(0);
        ::unsetenv("CONVME_FORCE_NO_URING");
    }
    temp_dir dir;
};

std::error_code roundtrip(block_device& dev) {
    dma_buffer w(8192), r(8192);
    fill_pattern(w.span(), 77);
    std::error_code ec = convme::testing::run_on_fresh_loop([&]() -> task<std::error_code> {
        auto e = co_await dev.write(4096, w.span());
        if (!e) e = co_await dev.flush();
        if (!e) e = co_await dev.read(4096, r.span());
        co_await dev.drain();
        co_return e;
    }());
    if (!ec && std::memcmp(w.data(), r.data(), w.size()) != 0) ec = errno_code(EIO);
    return ec;
}

TEST_F(Fallback, UnavailableUringOpensTheThreadPoolAndSaysWhy) {
    backends::testing_force_uring_failure(-EPERM);
    ::testing::internal::CaptureStderr();
    std::error_code ec;
    std::string why;
    // uring-only parameters are dropped for the fallback, shared ones (create_size) kept.
    auto dev =
        open_device("uring:" + dir.file("f.img") + "?create_size=1M&entries=64&sqpoll=1", ec, why);
    std::string err = ::testing::internal::GetCapturedStderr();
    ASSERT_NE(dev, nullptr) << why;
    EXPECT_EQ(dev->info().backend, "threadpool");
    EXPECT_NE(dev->info().name.find("[fallback: io_uring unavailable]"), std::string::npos)
        << dev->info().name;
    EXPECT_EQ(dev->info().capacity, 1u << 20);
    EXPECT_NE(dynamic_cast<backends::threadpool_device*>(dev.get()), nullptr);
    // Exactly one line, naming the cause, the fix, and how to opt out.
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find("io_uring is unavailable"), std::string::npos) << err;
    EXPECT_NE(err.find("seccomp"), std::string::npos) << err;
    EXPECT_NE(err.find("thread-pool backend"), std::string::npos) << err;
    EXPECT_NE(err.find("fallback=0"), std::string::npos) << err;
    EXPECT_FALSE(roundtrip(*dev));
}

TEST_F(Fallback, FallbackZeroReportsTheUringError) {
    backends::testing_force_uring_failure(-ENOSYS);
    std::error_code ec;
    std::string why;
    auto dev = open_device("uring:" + dir.file("f.img") + "?create_size=1M&fallback=0", ec, why);
    EXPECT_EQ(dev, nullptr);
    EXPECT_EQ(ec, errno_code(ENOSYS));
    EXPECT_NE(why.find("io_uring is unavailable"), std::string::npos) << why;
    EXPECT_NE(why.find("CONFIG_IO_URING"), std::string::npos) << why;
    try {
        (void)open_device("uring:" + dir.file("f.img") + "?create_size=1M&fallback=0");
        FAIL() << "expected std::system_error";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), errno_code(ENOSYS));
        EXPECT_NE(std::string(e.what()).find("io_uring is unavailable"), std::string::npos);
    }
}

TEST_F(Fallback, EnvironmentVariableForcesTheFallback) {
    ::setenv("CONVME_FORCE_NO_URING", "1", 1);
    ::testing::internal::CaptureStderr();
    std::error_code ec;
    std::string why;
    auto dev = open_device("uring:" + dir.file("f.img") + "?create_size=1M", ec, why);
    std::string err = ::testing::internal::GetCapturedStderr();
    ASSERT_NE(dev, nullptr) << why;
    EXPECT_EQ(dev->info().backend, "threadpool");
    EXPECT_NE(err.find("CONVME_FORCE_NO_URING"), std::string::npos) << err;
    EXPECT_FALSE(roundtrip(*dev));
}

TEST_F(Fallback, FactoryItselfFailsWhenForced) {
    backends::testing_force_uring_failure(-EPERM);
    device_uri uri;
    std::string why;
    ASSERT_TRUE(parse_device_uri("uring:" + dir.file("f.img") + "?create_size=1M", uri, why));
    std::error_code ec;
    EXPECT_EQ(backends::make_uring_device(uri, ec, why), nullptr);
    EXPECT_EQ(ec, errno_code(EPERM));
}

TEST_F(Fallback, ClearingTheHookRestoresUring) {
    backends::testing_force_uring_failure(-EPERM);
    backends::testing_force_uring_failure(0);
    std::string why;
    if (backends::uring_available(why) != 0)
        GTEST_SKIP() << "io_uring really is unavailable: " << why;
    auto dev = open_device("uring:" + dir.file("f.img") + "?create_size=1M");
    EXPECT_EQ(dev->info().backend, "uring");
    EXPECT_FALSE(roundtrip(*dev));
}

TEST(ThreadPool, ThreadsParameter) {
    temp_dir dir;
    ASSERT_TRUE(dir.ok());
    auto dev = open_device("threadpool:" + dir.file("f.img") + "?create_size=1M&threads=2");
    auto* tp = dynamic_cast<backends::threadpool_device*>(dev.get());
    ASSERT_NE(tp, nullptr);
    EXPECT_EQ(tp->threads(), 2u);
    std::error_code ec;
    std::string why;
    EXPECT_EQ(open_device("threadpool:" + dir.file("f.img") + "?threads=0", ec, why), nullptr);
    EXPECT_NE(why.find("threads='0' must be an integer from 1 to 256"), std::string::npos) << why;
    EXPECT_EQ(open_device("threadpool:" + dir.file("f.img") + "?sqpoll=1", ec, why), nullptr);
    EXPECT_NE(why.find("unknown parameter 'sqpoll'"), std::string::npos) << why;
}

}  // namespace

// SPDX-License-Identifier: MIT
// When io_uring is unavailable, open_device("uring:...") falls back to the thread-pool backend
// (unless fallback=0) and says why on stderr. Made unavailable the way containers do it: a seccomp
// filter that refuses io_uring_setup (EPERM, as Docker's default profile; ENOSYS, as a kernel
// without CONFIG_IO_URING), in a forked child.
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <cstring>

#include "backend_test_util.hpp"
#include "runtime/kernel/kernel_devices.hpp"
#include "runtime/kernel/threadpool_device.hpp"
#include "runtime/kernel/uring_probe.hpp"
#include "seccomp_denial.hpp"

using namespace convme;
using convme::testing::fill_pattern;
using convme::testing::temp_dir;

namespace {

class Fallback : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(dir.ok()); }
    // Runs `body` with io_uring_setup failing with `err`; reports the child's failed checks.
    void without_uring(int err, const std::function<std::string()>& body) {
        auto out = convme::testing::run_with_denials({{__NR_io_uring_setup, err}}, body);
        if (out.skipped) GTEST_SKIP() << out.why_skipped;
        EXPECT_EQ(out.failures, "");
    }
    temp_dir dir;
};

// The child's EXPECT: collects failures as text for the parent.
struct checks {
    std::string failed;
    void expect(bool ok, const std::string& what) {
        if (!ok) failed += what + "\n";
    }
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

bool has(const std::string& s, const char* part) {
    return s.find(part) != std::string::npos;
}

TEST_F(Fallback, UnavailableUringOpensTheThreadPoolAndSaysWhy) {
    const std::string file = dir.file("f.img");
    without_uring(EPERM, [&] {
        checks c;
        ::testing::internal::CaptureStderr();
        std::error_code ec;
        std::string why;
        // uring-only parameters are dropped for the fallback, shared ones (create_size) kept.
        auto dev = open_device("uring:" + file + "?create_size=1M&entries=64&sqpoll=1", ec, why);
        std::string err = ::testing::internal::GetCapturedStderr();
        if (!dev) return "open failed: " + why;
        c.expect(dev->info().backend == "threadpool", "backend " + dev->info().backend);
        c.expect(has(dev->info().name, "[fallback: io_uring unavailable]"), dev->info().name);
        c.expect(dev->info().capacity == 1u << 20, "capacity");
        c.expect(dynamic_cast<backends::threadpool_device*>(dev.get()) != nullptr, "type");
        // Exactly one line, naming the cause, the fix, and how to opt out.
        c.expect(std::count(err.begin(), err.end(), '\n') == 1, "not one line: " + err);
        c.expect(has(err, "io_uring is unavailable"), err);
        c.expect(has(err, "Operation not permitted"), err);
        c.expect(has(err, "seccomp"), err);
        c.expect(has(err, "thread-pool backend"), err);
        c.expect(has(err, "fallback=0"), err);
        c.expect(!roundtrip(*dev), "roundtrip failed");
        return c.failed;
    });
}

TEST_F(Fallback, FallbackZeroReportsTheUringError) {
    const std::string file = dir.file("f.img");
    without_uring(ENOSYS, [&] {
        checks c;
        std::error_code ec;
        std::string why;
        auto dev = open_device("uring:" + file + "?create_size=1M&fallback=0", ec, why);
        c.expect(dev == nullptr, "opened");
        c.expect(ec == errno_code(ENOSYS), "ec " + ec.message());
        c.expect(has(why, "io_uring is unavailable"), why);
        c.expect(has(why, "CONFIG_IO_URING"), why);
        try {
            (void)open_device("uring:" + file + "?create_size=1M&fallback=0");
            c.expect(false, "expected std::system_error");
        } catch (const std::system_error& e) {
            c.expect(e.code() == errno_code(ENOSYS), "code");
            c.expect(has(e.what(), "io_uring is unavailable"), e.what());
        }
        return c.failed;
    });
}

TEST_F(Fallback, FactoryItselfFailsWhenUringIsRefused) {
    const std::string file = dir.file("f.img");
    without_uring(EPERM, [&] {
        checks c;
        device_uri uri;
        std::string why;
        if (!parse_device_uri("uring:" + file + "?create_size=1M", uri, why)) return why;
        std::error_code ec;
        c.expect(backends::make_uring_device(uri, ec, why) == nullptr, "made");
        c.expect(ec == errno_code(EPERM), "ec " + ec.message());
        return c.failed;
    });
}

TEST_F(Fallback, WithoutTheFilterUringIsUsed) {
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

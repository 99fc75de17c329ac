// SPDX-License-Identifier: MIT
// Exclusive open of uring:/threadpool: targets: a second opener waits for the lock, then fails
// with a message naming the fix; lock=0 shares; closing releases at once.
#include <gtest/gtest.h>

#include <chrono>
#include <convme/device.hpp>

#include "backend_test_util.hpp"
#include "runtime/kernel/file_target.hpp"

using namespace convme;
using convme::testing::temp_dir;

namespace {

backends::file_open_options short_wait(bool exclusive = true) {
    backends::file_open_options o;
    o.create_size = 1 << 20;
    o.exclusive = exclusive;
    o.lock_wait = std::chrono::milliseconds{50};
    return o;
}

TEST(FileLock, ASecondOpenerIsRefusedWithTheFix) {
    temp_dir dir;
    ASSERT_TRUE(dir.ok());
    backends::file_target first, second;
    std::string why;
    ASSERT_EQ(backends::open_file_target("uring", dir.file("a.img"), short_wait(), first, why), 0)
        << why;
    EXPECT_EQ(backends::open_file_target("uring", dir.file("a.img"), short_wait(), second, why),
              -EBUSY);
    EXPECT_NE(why.find("is locked by another opener"), std::string::npos) << why;
    EXPECT_NE(why.find("lock=0"), std::string::npos) << why;
}

TEST(FileLock, LockZeroShares) {
    temp_dir dir;
    ASSERT_TRUE(dir.ok());
    backends::file_target first, second;
    std::string why;
    ASSERT_EQ(backends::open_file_target("uring", dir.file("a.img"), short_wait(false), first, why),
              0)
        << why;
    EXPECT_EQ(
        backends::open_file_target("uring", dir.file("a.img"), short_wait(false), second, why), 0)
        << why;
}

TEST(FileLock, ClosingReleasesTheLock) {
    temp_dir dir;
    ASSERT_TRUE(dir.ok());
    std::string why;
    {
        backends::file_target first;
        ASSERT_EQ(backends::open_file_target("uring", dir.file("a.img"), short_wait(), first, why),
                  0)
            << why;
    }
    backends::file_target again;
    EXPECT_EQ(backends::open_file_target("uring", dir.file("a.img"), short_wait(), again, why), 0)
        << why;
}

TEST(FileLock, DeviceUrisTakeTheLockAndAcceptLockZero) {
    temp_dir dir;
    ASSERT_TRUE(dir.ok());
    const std::string path = dir.file("d.img");
    std::error_code ec;
    std::string why;
    auto a = open_device("threadpool:" + path + "?create_size=1M", ec, why);
    ASSERT_TRUE(a) << why;
    backends::file_target probe;
    EXPECT_EQ(backends::open_file_target("test", path, short_wait(), probe, why), -EBUSY) << why;
    auto b = open_device("threadpool:" + path + "?lock=0", ec, why);
    EXPECT_TRUE(b) << why;
    EXPECT_EQ(open_device("threadpool:" + path + "?lock=maybe", ec, why), nullptr);
}

}  // namespace

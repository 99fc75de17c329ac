// SPDX-License-Identifier: MIT
// The uring and threadpool backends on a real block device: a loop device over a temp file
// (needs root and /dev/loop-control; skipped otherwise). Checks block-size/capacity discovery
// (BLKSSZGET/BLKGETSIZE64) and the block-device paths of write_zeroes/trim.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <cstring>

#include "backend_test_util.hpp"

using namespace convme;
using convme::testing::fill_pattern;
using convme::testing::temp_dir;

namespace {

// Attaches a backing file to a free loop device; detaches on destruction.
class loop_device {
  public:
    loop_device(const std::string& backing, std::uint32_t block_size, std::string& why) {
        int ctl = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0) {
            why = std::string("/dev/loop-control: ") + std::strerror(errno);
            return;
        }
        int file = ::open(backing.c_str(), O_RDWR | O_CLOEXEC);
        for (int attempt = 0; attempt < 8 && fd_ < 0 && file >= 0; ++attempt) {
            int n = ::ioctl(ctl, LOOP_CTL_GET_FREE);
            if (n < 0) break;
            path_ = "/dev/loop" + std::to_string(n);
            int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
            if (fd < 0) continue;
            if (::ioctl(fd, LOOP_SET_FD, file) == 0) {
                fd_ = fd;
            } else {
                ::close(fd);  // taken by someone else meanwhile: try another
            }
        }
        if (fd_ < 0)
            why = std::string("attaching a loop device: ") + std::strerror(errno);
        else if (block_size != 512)
            ::ioctl(fd_, LOOP_SET_BLOCK_SIZE, static_cast<unsigned long>(block_size));
        if (file >= 0) ::close(file);
        ::close(ctl);
    }
    ~loop_device() {
        if (fd_ >= 0) {
            ::ioctl(fd_, LOOP_CLR_FD, 0);
            ::close(fd_);
        }
    }
    bool ok() const { return fd_ >= 0; }
    const std::string& path() const { return path_; }

  private:
    int fd_ = -1;
    std::string path_;
};

class LoopBlockDevice : public ::testing::TestWithParam<const char*> {};

TEST_P(LoopBlockDevice, DiscoversGeometryAndDoesEveryOperation) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to attach a loop device";
    temp_dir dir;
    ASSERT_TRUE(dir.ok());
    const std::string backing = dir.file("backing.img");
    {
        int fd = ::open(backing.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::ftruncate(fd, 4 << 20), 0);
        ::close(fd);
    }
    std::string why;
    loop_device lo(backing, 4096, why);
    if (!lo.ok()) GTEST_SKIP() << "no loop device: " << why;

    std::error_code ec;
    auto dev = open_device(std::string(GetParam()) + ":" + lo.path(), ec, why);
    ASSERT_NE(dev, nullptr) << why;
    EXPECT_EQ(dev->info().capacity, 4u << 20);
    EXPECT_EQ(dev->info().block_size, 4096u);  // from BLKSSZGET after LOOP_SET_BLOCK_SIZE
    EXPECT_NE(dev->info().name.find(lo.path()), std::string::npos);
    EXPECT_NE(dev->info().name.find("4096-byte blocks"), std::string::npos) << dev->info().name;

    dma_buffer w(64 * 1024), r(64 * 1024);
    fill_pattern(w.span(), 31);
    struct result {
        std::error_code write, flush, read1, zero, read2, trim;
    } res;
    convme::testing::run_on_fresh_loop([&]() -> task<void> {
        res.write = co_await dev->write(1 << 20, w.span());
        res.flush = co_await dev->flush();
        res.read1 = co_await dev->read(1 << 20, r.span());
        if (!res.read1) {
            EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
        }
        res.zero = co_await dev->write_zeroes((1 << 20) + 8192, 8192);
        res.read2 = co_await dev->read(1 << 20, r.span());
        res.trim = co_await dev->trim(2 << 20, 64 * 1024);
        co_await dev->drain();
    }());
    EXPECT_FALSE(res.write) << res.write.message();
    EXPECT_FALSE(res.flush) << res.flush.message();
    EXPECT_FALSE(res.read1) << res.read1.message();
    ASSERT_FALSE(res.zero) << res.zero.message();
    ASSERT_FALSE(res.read2) << res.read2.message();
    std::vector<std::byte> zeros(8192);
    EXPECT_EQ(std::memcmp(r.data() + 8192, zeros.data(), 8192), 0);
    EXPECT_EQ(std::memcmp(r.data(), w.data(), 8192), 0);
    EXPECT_EQ(std::memcmp(r.data() + 16384, w.data() + 16384, w.size() - 16384), 0);
    // Loop devices pass discard to the backing file; a driver without discard says unsupported.
    EXPECT_TRUE(!res.trim || res.trim == make_error_code(errc::unsupported)) << res.trim.message();
}

INSTANTIATE_TEST_SUITE_P(Backends, LoopBlockDevice, ::testing::Values("uring", "threadpool"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace

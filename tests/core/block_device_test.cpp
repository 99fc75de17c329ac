// SPDX-License-Identifier: MIT
// block_device front end: validation of every rule, error descriptions, or_throw, completion on
// the owner loop, using a small in-memory device defined here.
#include <gtest/gtest.h>

#include <convme/backend.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/loop.hpp>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

using convme::errc;
using convme::io_op;
using convme::io_request;
using convme::loop;
using convme::task;

// Keeps its data in memory; completes requests from a poller (never inline inside submit).
class memory_device final : public convme::block_device, public convme::poller {
  public:
    explicit memory_device(std::uint64_t capacity, std::uint32_t block = 512) : data_(capacity) {
        info_.name = "mem:test";
        info_.backend = "test";
        info_.block_size = block;
        info_.capacity = capacity;
        info_.mem_alignment = 4096;
    }
    convme::device_info& mutable_info() { return info_; }

    void submit(io_request& r) noexcept override {
        ++submitted;
        if (!attached_) {
            r.owner->add_poller(this);
            attached_ = true;
        }
        pending_.push_back(&r);
    }
    bool poll() override {
        if (pending_.empty()) return false;
        auto batch = std::move(pending_);
        pending_.clear();
        for (io_request* r : batch) {
            switch (r->op) {
                case io_op::read:
                    std::memcpy(r->data, data_.data() + r->offset, r->length);
                    break;
                case io_op::write:
                    std::memcpy(data_.data() + r->offset, r->data, r->length);
                    break;
                case io_op::write_zeroes:
                case io_op::trim:
                    std::memset(data_.data() + r->offset, 0, r->length);
                    break;
                case io_op::flush:
                    break;
            }
            if (fail_next) r->fail(std::exchange(fail_next, {}));
            r->complete();
        }
        return true;
    }
    std::size_t in_flight() const override { return pending_.size(); }
    task<void> drain() override {
        while (!pending_.empty()) co_await convme::yield();
    }

    int submitted = 0;
    std::error_code fail_next{};

  private:
    std::vector<std::byte> data_;
    std::vector<io_request*> pending_;
    bool attached_ = false;
};

TEST(BlockDevice, ValidationRules) {
    memory_device dev(1 << 20);
    convme::dma_buffer buf(8192);
    auto span = buf.span();
    EXPECT_EQ(dev.read(0, span.first(4096)).request().status, std::error_code{});
    EXPECT_EQ(dev.read(0, span.first(0)).request().status, errc::zero_length);
    EXPECT_EQ(dev.read(100, span.first(4096)).request().status, errc::misaligned_offset);
    EXPECT_EQ(dev.write(0, span.first(1000)).request().status, errc::misaligned_length);
    EXPECT_EQ(dev.read(0, span.subspan(512, 512)).request().status, errc::misaligned_buffer);
    EXPECT_EQ(dev.write(0, std::span<const std::byte>(static_cast<const std::byte*>(nullptr), 512))
                  .request()
                  .status,
              errc::misaligned_buffer);
    EXPECT_EQ(dev.read((1 << 20) - 512, span.first(1024)).request().status, errc::out_of_range);
    EXPECT_EQ(dev.read(1 << 20, span.first(512)).request().status, errc::out_of_range);
    const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() - 511;    // block aligned
    EXPECT_EQ(dev.write_zeroes(huge, 1024).request().status, errc::out_of_range);  // overflow
    EXPECT_EQ(dev.trim(0, 0).request().status, errc::zero_length);
    EXPECT_EQ(dev.write_zeroes(512, 100).request().status, errc::misaligned_length);
    EXPECT_EQ(dev.flush().request().status, std::error_code{});

    dev.mutable_info().supports_trim = false;
    dev.mutable_info().supports_flush = false;
    dev.mutable_info().supports_write_zeroes = false;
    EXPECT_EQ(dev.trim(0, 4096).request().status, errc::unsupported);
    EXPECT_EQ(dev.flush().request().status, errc::unsupported);
    EXPECT_EQ(dev.write_zeroes(0, 4096).request().status, errc::unsupported);
}

// The inline read/write check only ever says "valid" where validate() does, and validate_rw()
// gives validate()'s verdict, over odd geometries (0 = 1, not powers of two) and edge values.
TEST(BlockDevice, InlineReadWriteCheckAgreesWithValidate) {
    memory_device dev(1 << 20);
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    int fast = 0;
    for (std::uint32_t bs : {0u, 1u, 3u, 512u, 520u, 4096u}) {
        for (std::uint32_t align : {0u, 1u, 4u, 6u, 4096u}) {
            for (std::uint64_t cap :
                 {std::uint64_t{0}, std::uint64_t{4096}, std::uint64_t{1} << 20, max - 511}) {
                dev.mutable_info().block_size = bs;
                dev.mutable_info().mem_alignment = align;
                dev.mutable_info().capacity = cap;
                for (std::uint64_t off : {std::uint64_t{0}, std::uint64_t{3}, std::uint64_t{512},
                                          std::uint64_t{4096}, cap, cap - 512, max - 511}) {
                    for (std::uint64_t len :
                         {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{512},
                          std::uint64_t{4096}, std::uint64_t{4097}, cap, max}) {
                        for (std::uintptr_t addr : {std::uintptr_t{0}, std::uintptr_t{4},
                                                    std::uintptr_t{6}, std::uintptr_t{0x10000}}) {
                            for (io_op op : {io_op::read, io_op::write}) {
                                io_request r;
                                r.op = op;
                                r.offset = off;
                                r.length = len;
                                r.data = reinterpret_cast<std::byte*>(addr);
                                const std::error_code full = dev.validate(r);
                                if (dev.rw_fast_ok(r)) {
                                    ++fast;
                                    ASSERT_FALSE(full) << bs << " " << align << " " << cap << " "
                                                       << off << " " << len << " " << addr;
                                }
                                ASSERT_EQ(dev.validate_rw(r), full);
                            }
                        }
                    }
                }
            }
        }
    }
    EXPECT_GT(fast, 0);
}

TEST(BlockDevice, InvalidRequestsNeverReachTheBackend) {
    memory_device dev(1 << 20);
    loop l;
    convme::dma_buffer buf(4096);
    auto t = [](memory_device& d, convme::dma_buffer& b) -> task<std::error_code> {
        co_return co_await d.read(3, b.span());
    };
    EXPECT_EQ(l.run_until_complete(t(dev, buf)), errc::misaligned_offset);
    EXPECT_EQ(dev.submitted, 0);
}

TEST(BlockDevice, WriteThenReadRoundTrip) {
    memory_device dev(1 << 20);
    loop l;
    auto t = [](memory_device& d) -> task<bool> {
        convme::dma_buffer out(8192), in(8192);
        std::memset(out.data(), 0x5a, out.size());
        if (co_await d.write(4096, out.span())) co_return false;
        if (co_await d.flush()) co_return false;
        if (co_await d.read(4096, in.span())) co_return false;
        const bool same = std::memcmp(out.data(), in.data(), 8192) == 0;
        co_await d.write_zeroes(4096, 4096).or_throw();
        co_await d.read(4096, in.span()).or_throw();
        co_return same&& in.data()[0] == std::byte{0} && in.data()[4096] == std::byte{0x5a};
    };
    EXPECT_TRUE(l.run_until_complete(t(dev)));
    EXPECT_EQ(dev.submitted, 5);
    EXPECT_EQ(dev.in_flight(), 0u);
}

TEST(BlockDevice, CompletionResumesOnOwnerLoop) {
    memory_device dev(1 << 20);
    loop l;
    auto t = [](memory_device& d) -> task<bool> {
        convme::dma_buffer b(4096);
        loop* before = loop::current();
        auto aw = d.read(0, b.span());
        std::error_code ec = co_await aw;
        co_return !ec && loop::current() == before;
    };
    EXPECT_TRUE(l.run_until_complete(t(dev)));
}

TEST(BlockDevice, DescribeFailureNamesOpOffsetLengthAndRule) {
    memory_device dev(1 << 20);
    convme::dma_buffer buf(8192);
    {
        auto aw = dev.write(8192, buf.span().first(4096));
        io_request r = aw.request();
        r.status = convme::make_nvme_error(0x0281);
        const std::string s = convme::describe_failure(dev, r);
        EXPECT_EQ(s.rfind("write of 4096 bytes at offset 8192 on mem:test: ", 0), 0u) << s;
        EXPECT_NE(s.find("Unrecovered Read Error"), std::string::npos) << s;
    }
    {
        auto aw = dev.read(100, buf.span().first(512));
        const std::string s = convme::describe_failure(dev, aw.request());
        EXPECT_NE(s.find("read of 512 bytes at offset 100"), std::string::npos) << s;
        EXPECT_NE(s.find("offsets must be multiples of the 512-byte block size"), std::string::npos)
            << s;
    }
    {
        auto aw = dev.read(0, buf.span().first(700));
        const std::string s = convme::describe_failure(dev, aw.request());
        EXPECT_NE(s.find("lengths must be multiples of the 512-byte block size"), std::string::npos)
            << s;
    }
    {
        auto aw = dev.read(0, buf.span().subspan(512, 512));
        const std::string s = convme::describe_failure(dev, aw.request());
        EXPECT_NE(s.find("4096-byte aligned"), std::string::npos) << s;
    }
    {
        auto aw = dev.trim(1 << 20, 512);
        const std::string s = convme::describe_failure(dev, aw.request());
        EXPECT_NE(s.find("trim of 512 bytes at offset 1048576"), std::string::npos) << s;
        EXPECT_NE(s.find("capacity is 1048576 bytes"), std::string::npos) << s;
    }
    {
        dev.mutable_info().supports_flush = false;
        auto aw = dev.flush();
        const std::string s = convme::describe_failure(dev, aw.request());
        EXPECT_EQ(s.rfind("flush on mem:test: ", 0), 0u) << s;
    }
}

TEST(BlockDevice, OrThrowThrowsIoErrorWithDescription) {
    memory_device dev(1 << 20);
    loop l;
    auto bad = [](memory_device& d) -> task<void> {
        convme::dma_buffer b(4096);
        co_await d.read(4096 + 1, b.span()).or_throw();
    };
    try {
        l.run_until_complete(bad(dev));
        FAIL() << "expected io_error";
    } catch (const convme::io_error& e) {
        EXPECT_EQ(e.code(), errc::misaligned_offset);
        EXPECT_NE(std::string(e.what()).find("read of 4096 bytes at offset 4097 on mem:test"),
                  std::string::npos)
            << e.what();
    }
    // A device-side failure reported through status is thrown too.
    dev.fail_next = convme::make_nvme_error(0x0004);
    auto dev_fail = [](memory_device& d) -> task<void> {
        convme::dma_buffer b(4096);
        co_await d.write(0, b.span()).or_throw();
    };
    try {
        l.run_until_complete(dev_fail(dev));
        FAIL() << "expected io_error";
    } catch (const convme::io_error& e) {
        EXPECT_EQ(e.code().category(), convme::nvme_category());
        EXPECT_NE(std::string(e.what()).find("Data Transfer Error"), std::string::npos) << e.what();
    }
}

TEST(BlockDevice, AwaitOutsideALoopFailsInsteadOfHanging) {
    memory_device dev(1 << 20);
    convme::dma_buffer b(4096);
    auto t = [](memory_device& d, convme::dma_buffer& buf) -> task<std::error_code> {
        co_return co_await d.read(0, buf.span());
    };
    auto job = t(dev, b);
    job.handle().resume();  // no loop::current()
    ASSERT_TRUE(job.done());
    EXPECT_TRUE(job.result());
    EXPECT_EQ(dev.submitted, 0);
}

}  // namespace

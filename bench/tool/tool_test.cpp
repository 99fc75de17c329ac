// SPDX-License-Identifier: MIT
// Tests of convme-bench's own building blocks: the latency histogram, the verify pattern and the
// run plan. They need no device.
#include <gtest/gtest.h>

#include <vector>

#include "histogram.hpp"
#include "pattern.hpp"
#include "plan.hpp"

namespace convme::bench {
namespace {

TEST(Histogram, BucketsAreContiguousAndOrdered) {
    std::uint64_t expected_low = 0;
    for (std::size_t i = 0; i < histogram::bucket_count(); ++i) {
        ASSERT_EQ(histogram::bucket_low(i), expected_low) << "bucket " << i;
        ASSERT_GE(histogram::bucket_high(i), histogram::bucket_low(i));
        ASSERT_EQ(histogram::bucket_of(histogram::bucket_low(i)), i);
        ASSERT_EQ(histogram::bucket_of(histogram::bucket_high(i)), i);
        expected_low = histogram::bucket_high(i) + 1;
    }
    EXPECT_EQ(histogram::bucket_high(histogram::bucket_count() - 1), UINT64_MAX);
}

TEST(Histogram, RelativeErrorIsBounded) {
    for (std::uint64_t v :
         {1ull, 255ull, 256ull, 1000ull, 12345ull, 999999ull, 1ull << 40, (1ull << 63) + 12345}) {
        const std::size_t b = histogram::bucket_of(v);
        const double width =
            static_cast<double>(histogram::bucket_high(b) - histogram::bucket_low(b));
        EXPECT_LE(width / static_cast<double>(v), 1.0 / histogram::kSubCount) << v;
    }
}

TEST(Histogram, SmallValuesAreExact) {
    histogram h;
    for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
    EXPECT_EQ(h.count(), 100u);
    EXPECT_EQ(h.min(), 1u);
    EXPECT_EQ(h.max(), 100u);
    EXPECT_EQ(h.quantile(0.5), 50u);
    EXPECT_EQ(h.quantile(0.99), 99u);
    EXPECT_EQ(h.quantile(1.0), 100u);
    EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(Histogram, LargeValuesWithinOnePercent) {
    histogram h;
    // 1000 samples: 1 us .. 1 ms in 1 us steps (nanoseconds).
    for (std::uint64_t i = 1; i <= 1000; ++i) h.record(i * 1000);
    auto near = [](std::uint64_t got, double want) {
        return std::abs(static_cast<double>(got) - want) <= want * 0.01;
    };
    EXPECT_TRUE(near(h.quantile(0.5), 500e3)) << h.quantile(0.5);
    EXPECT_TRUE(near(h.quantile(0.99), 990e3)) << h.quantile(0.99);
    EXPECT_TRUE(near(h.quantile(0.999), 999e3)) << h.quantile(0.999);
    EXPECT_EQ(h.max(), 1000000u);
}

TEST(Histogram, MergeEqualsRecordingEverything) {
    histogram a, b, all;
    for (std::uint64_t v = 0; v < 5000; v += 7) {
        (v % 2 ? a : b).record(v * 31);
        all.record(v * 31);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.max(), all.max());
    for (double q : {0.1, 0.5, 0.9, 0.99, 0.999}) EXPECT_EQ(a.quantile(q), all.quantile(q)) << q;
}

TEST(Histogram, EmptyReportsZero) {
    histogram h;
    EXPECT_EQ(h.quantile(0.99), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.mean(), 0.0);
}

TEST(Pattern, RoundTripsAndIgnoresBlockSize) {
    std::vector<std::byte> big(16384), small(4096);
    fill_pattern(big, 8192, 42);
    fill_pattern(small, 8192 + 4096, 42);
    // The second 4 KiB of a 16 KiB write at 8192 is what a 4 KiB write at 12288 would hold.
    EXPECT_EQ(check_pattern(std::span(big).subspan(4096, 4096), 8192 + 4096, 42), -1);
    EXPECT_EQ(check_pattern(small, 8192 + 4096, 42), -1);
}

TEST(Pattern, DetectsWrongOffsetSeedAndCorruption) {
    std::vector<std::byte> buf(4096);
    fill_pattern(buf, 4096, 7);
    EXPECT_EQ(check_pattern(buf, 4096, 8), 0);  // other seed: first word differs
    EXPECT_EQ(check_pattern(buf, 8192, 7), 0);  // other offset
    buf[1000] ^= std::byte{1};
    EXPECT_EQ(check_pattern(buf, 4096, 7), 1000 / 8 * 8);
}

device_info dev_of(std::uint64_t capacity, std::uint32_t lba = 512, std::uint32_t mdts = 0) {
    device_info d;
    d.capacity = capacity;
    d.block_size = lba;
    d.max_transfer = mdts;
    return d;
}

TEST(Plan, SlicesCoverTheRangeAndQuotasSum) {
    bench_options o;
    o.bs = 4096;
    o.cores = 3;
    o.ios = 1000;
    o.seed = 5;
    run_plan p;
    ASSERT_EQ(make_plan(o, dev_of(10 * 4096 + 100), p), "");
    EXPECT_EQ(p.range, 10u * 4096);
    EXPECT_EQ(p.blocks, 10u);
    ASSERT_EQ(p.slices.size(), 3u);
    EXPECT_EQ(p.slices[0].begin, 0u);
    for (unsigned c = 1; c < 3; ++c) EXPECT_EQ(p.slices[c].begin, p.slices[c - 1].end);
    EXPECT_EQ(p.slices[2].end, p.range);
    EXPECT_EQ(p.quota[0] + p.quota[1] + p.quota[2], 1000u);
    EXPECT_EQ(p.seed, 5u);
    EXPECT_EQ(p.prefill_chunk % o.bs, 0u);
}

TEST(Plan, RejectsBadCombinations) {
    bench_options o;
    run_plan p;
    o.bs = 1000;  // not a multiple of 512
    EXPECT_NE(make_plan(o, dev_of(1 << 20), p), "");
    o.bs = 4096;
    o.size = 2 << 20;  // beyond capacity
    EXPECT_NE(make_plan(o, dev_of(1 << 20), p), "");
    o.size = 0;
    EXPECT_NE(make_plan(o, dev_of(2048), p), "");  // device smaller than one I/O
}

TEST(Plan, PrefillChunkRespectsMaxTransfer) {
    bench_options o;
    o.bs = 4096;
    run_plan p;
    ASSERT_EQ(make_plan(o, dev_of(1 << 30, 512, 32768), p), "");
    EXPECT_EQ(p.prefill_chunk, 32768u);
    ASSERT_EQ(make_plan(o, dev_of(1 << 30), p), "");
    EXPECT_EQ(p.prefill_chunk, 131072u);
}

}  // namespace
}  // namespace convme::bench

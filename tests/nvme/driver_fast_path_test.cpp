// SPDX-License-Identifier: MIT
// The driver's single-command fast path (io_queue::issue_single) against the general path: every
// buffer placement around a memory-page boundary (PRP1 only in one page: fast path; crossing:
// PRP1 + PRP2, general path), more buffers than the translation cache has entries, and fast-path
// requests queued behind ones waiting for a command slot, and error completions reaped in place.
// The media is checked, not only our reads. (A stale translation after an unmap is caught by
// DriverSimMapping.FreedBuffersAreUnmappedAndNewOnesWork.)
#include <vector>

#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

task<std::error_code> write_at(block_device& dev, std::uint64_t off, std::span<std::byte> buf) {
    co_return co_await dev.write(off, buf);
}
task<std::error_code> read_at(block_device& dev, std::uint64_t off, std::span<std::byte> buf) {
    co_return co_await dev.read(off, buf);
}

TEST(DriverFastPath, EveryPlacementAroundAPageBoundary) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    dma_buffer buf(3 * 4096), back(3 * 4096);
    std::vector<std::byte> media(4096), expect(4096);
    std::uint32_t seed = 1;
    for (std::size_t len : {512u, 1024u, 4096u}) {
        for (std::size_t at : {0u, 4u, 508u, 512u, 2048u, 3584u, 3588u, 4092u, 4096u - 512u}) {
            const std::uint64_t off = seed * 8192ull;
            std::span<std::byte> w(buf.data() + at, len), r(back.data() + at, len);
            fill(w.data(), len, seed);
            ASSERT_FALSE(l.run_until_complete(write_at(*s.dev, off, w))) << len << "@" << at;
            std::memset(r.data(), 0, len);
            ASSERT_FALSE(l.run_until_complete(read_at(*s.dev, off, r))) << len << "@" << at;
            EXPECT_TRUE(same(w.data(), r.data(), len)) << len << "@" << at;
            ASSERT_EQ(s.ctrl->peek(1, off, media.data(), len), 0);
            fill(expect.data(), len, seed);
            EXPECT_TRUE(same(media.data(), expect.data(), len)) << len << "@" << at;
            ++seed;
        }
    }
    l.run_until_complete(s.dev->drain());
}

task<void> round_trip(block_device& dev, std::uint64_t off, std::span<std::byte> buf,
                      std::uint32_t seed, unsigned& bad, unsigned& done) {
    fill(buf.data(), buf.size(), seed);
    if (co_await dev.write(off, buf)) ++bad;
    std::vector<std::byte> expect(buf.begin(), buf.end());
    std::memset(buf.data(), 0, buf.size());
    if (co_await dev.read(off, buf)) ++bad;
    if (!same(buf.data(), expect.data(), buf.size())) ++bad;
    ++done;
}

TEST(DriverFastPath, MoreBuffersThanTranslationsAndAFullQueue) {
    nvme_options o;
    o.queue_depth = 8;  // 7 command slots for 300 requests: most wait in the pending list
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    constexpr unsigned n = 300;  // more 4 KiB buffers than the 256-entry translation cache
    std::vector<dma_buffer> bufs;
    for (unsigned i = 0; i < n; ++i) bufs.emplace_back(4096);
    unsigned bad = 0, done = 0;
    for (unsigned round = 0; round < 2; ++round) {
        for (unsigned i = 0; i < n; ++i)
            l.spawn(round_trip(*s.dev, i * 4096ull, bufs[i].span(), round * n + i, bad, done));
        while (done < (round + 1) * n) l.run_once();
    }
    EXPECT_EQ(bad, 0u);
    std::vector<std::byte> media(4096), expect(4096);
    for (unsigned i = 0; i < n; i += 37) {
        ASSERT_EQ(s.ctrl->peek(1, i * 4096ull, media.data(), 4096), 0);
        fill(expect.data(), 4096, n + i);
        EXPECT_TRUE(same(media.data(), expect.data(), 4096)) << i;
    }
    const auto st = s.stats();
    EXPECT_EQ(st.submitted, 4u * n);
    EXPECT_EQ(st.completed, 4u * n);
    l.run_until_complete(s.dev->drain());
}

sim::fault read_error(std::uint32_t count) {
    sim::fault f;
    f.what = sim::fault::kind::error_status;
    f.opcode = nvme::io_opcode::read;
    f.count = count;
    f.status = nvme::make_status(nvme::sct::media, nvme::sc::unrecovered_read_error);
    return f;
}

task<void> read_one(block_device& dev, std::uint64_t off, std::span<std::byte> buf,
                    unsigned& failed, unsigned& done) {
    if (auto ec = co_await dev.read(off, buf)) {
        EXPECT_EQ(ec, make_nvme_error(0x281));
        ++failed;
    }
    ++done;
}

// Error completions reaped in place (the entry copied only for them) recycle their command ids:
// with 7 ids and 200 reads of which 50 fail, every read still completes, with the right verdict.
TEST(DriverFastPath, ErrorCompletionsRecycleTheirCommandIds) {
    nvme_options o;
    o.queue_depth = 8;
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    s.ctrl->inject(read_error(50));
    loop l;
    std::vector<dma_buffer> bufs;
    for (unsigned i = 0; i < 16; ++i) bufs.emplace_back(4096);
    unsigned failed = 0, done = 0;
    for (unsigned i = 0; i < 200; ++i)
        l.spawn(read_one(*s.dev, i * 4096ull, bufs[i % 16].span(), failed, done));
    while (done < 200) l.run_once();
    EXPECT_EQ(failed, 50u);
    const auto st = s.stats();
    EXPECT_EQ(st.submitted, 200u);
    EXPECT_EQ(st.completed, 200u);
    EXPECT_FALSE(l.run_until_complete(read_at(*s.dev, 0, bufs[0].span())));
    l.run_until_complete(s.dev->drain());
}

}  // namespace
}  // namespace convme::driver::testing

// SPDX-License-Identifier: MIT
// Simulated controller: NVM commands through hand-built SQEs: PRP forms, ring wrap and phase,
// completion queue back-pressure, range/MDTS checks, deallocation, namespaces, IOVA checks.
#include <vector>

#include "sim_test_host.hpp"

namespace convme::sim::testing {
namespace {

using nvme::io_opcode::read;
using nvme::io_opcode::write;

std::vector<std::uint8_t> peek(host& h, std::uint64_t off, std::size_t len,
                               std::uint32_t nsid = 1) {
    std::vector<std::uint8_t> v(len);
    EXPECT_EQ(h.ctrl->peek(nsid, off, v.data(), len), 0);
    return v;
}

bool equal(const void* a, const std::vector<std::uint8_t>& b) {
    return std::memcmp(a, b.data(), b.size()) == 0;
}

TEST(SimIo, WriteReadPrp1OnlyWithOffset) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    // 1 block at byte offset 1024 of the page: PRP1 carries the offset.
    auto* p = static_cast<std::uint8_t*>(buf.vaddr) + 1024;
    fill_pattern(p, 512, 1);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 5, 1, buf.iova + 1024))), 0);
    EXPECT_TRUE(equal(p, peek(h, 5 * 512, 512)));
    std::memset(buf.vaddr, 0, 4096);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(read, 5, 1, buf.iova + 2048))), 0);
    EXPECT_TRUE(equal(static_cast<std::uint8_t*>(buf.vaddr) + 2048, peek(h, 5 * 512, 512)));
}

TEST(SimIo, TwoPagesThroughPrp2) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto a = h.alloc(4096), b = h.alloc(4096);  // two separate pages
    // 6 KiB starting 2 KiB into page a: 2 KiB from a, 4 KiB from b.
    fill_pattern(static_cast<std::uint8_t*>(a.vaddr) + 2048, 2048, 2);
    fill_pattern(b.vaddr, 4096, 3);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 100, 12, a.iova + 2048, b.iova))), 0);
    auto data = peek(h, 100 * 512, 6144);
    EXPECT_EQ(std::memcmp(data.data(), static_cast<std::uint8_t*>(a.vaddr) + 2048, 2048), 0);
    EXPECT_EQ(std::memcmp(data.data() + 2048, b.vaddr, 4096), 0);
    // PRP2 as a data pointer must be page aligned.
    EXPECT_EQ(sct_sc(h.run(q, host::rw(write, 100, 12, a.iova + 2048, b.iova + 512))),
              st(0, nvme::sc::invalid_prp_offset));
}

TEST(SimIo, PrpListScatteredPages) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    // 64 KiB over 16 pages allocated separately (not adjacent in IOVA space: guard pages).
    std::vector<driver::dma_region> pages;
    for (int i = 0; i < 16; ++i) {
        pages.push_back(h.alloc(4096));
        fill_pattern(pages.back().vaddr, 4096, 10 + i);
    }
    auto list = h.alloc(4096);
    auto* entries = static_cast<std::uint64_t*>(list.vaddr);
    for (int i = 1; i < 16; ++i) entries[i - 1] = pages[i].iova;
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 0, 128, pages[0].iova, list.iova))), 0);
    auto data = peek(h, 0, 65536);
    for (int i = 0; i < 16; ++i)
        EXPECT_EQ(std::memcmp(data.data() + i * 4096, pages[i].vaddr, 4096), 0) << i;
    // Read back into the same pages after clearing them.
    for (auto& p : pages) std::memset(p.vaddr, 0, 4096);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(read, 0, 128, pages[0].iova, list.iova))), 0);
    for (int i = 0; i < 16; ++i)
        EXPECT_EQ(std::memcmp(data.data() + i * 4096, pages[i].vaddr, 4096), 0) << i;
}

TEST(SimIo, ChainedPrpLists) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto data = h.alloc(8 * 4096);
    fill_pattern(data.vaddr, 8 * 4096, 77);
    // The first list starts 3 entries before the end of its page: two data entries, then the
    // last slot chains to a second list page holding the remaining five.
    auto list1 = h.alloc(4096), list2 = h.alloc(4096);
    auto* l1 = reinterpret_cast<std::uint64_t*>(static_cast<std::byte*>(list1.vaddr) + 4096 - 24);
    auto* l2 = static_cast<std::uint64_t*>(list2.vaddr);
    l1[0] = data.iova + 1 * 4096;
    l1[1] = data.iova + 2 * 4096;
    l1[2] = list2.iova;
    for (int i = 0; i < 5; ++i) l2[i] = data.iova + (3 + i) * 4096;
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 64, 64, data.iova, list1.iova + 4096 - 24))), 0);
    EXPECT_TRUE(equal(data.vaddr, peek(h, 64 * 512, 8 * 4096)));
}

TEST(SimIo, LongTransferChainsAtPageEnd) {
    auto cfg = small_config();
    cfg.mdts = 0;  // no limit: 2 MiB + 8 KiB needs 513 entries after PRP1
    host h(cfg);
    queue q = h.make_io_queue(1, 8);
    const std::size_t pages = 514, bytes = pages * 4096;
    auto data = h.alloc(bytes);
    fill_pattern(data.vaddr, bytes, 5);
    auto list1 = h.alloc(4096), list2 = h.alloc(4096);
    auto* l1 = static_cast<std::uint64_t*>(list1.vaddr);
    auto* l2 = static_cast<std::uint64_t*>(list2.vaddr);
    for (int i = 0; i < 511; ++i) l1[i] = data.iova + (1 + i) * 4096;
    l1[511] = list2.iova;
    for (std::size_t i = 512; i < pages; ++i) l2[i - 512] = data.iova + i * 4096;
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 0, static_cast<std::uint32_t>(bytes / 512), data.iova,
                                       list1.iova))),
              0);
    EXPECT_TRUE(equal(data.vaddr, peek(h, 0, bytes)));
}

TEST(SimIo, MdtsExceededIsInvalidField) {
    auto cfg = small_config();
    cfg.mdts = 2;  // 16 KiB
    host h(cfg);
    queue q = h.make_io_queue(1, 8);
    auto data = h.alloc(32768);
    auto list = h.alloc(4096);
    auto* l = static_cast<std::uint64_t*>(list.vaddr);
    for (int i = 0; i < 7; ++i) l[i] = data.iova + (1 + i) * 4096;
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 0, 32, data.iova, list.iova))), 0);  // 16 KiB: ok
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 0, 40, data.iova, list.iova))),
              st(0, nvme::sc::invalid_field));
    EXPECT_TRUE(nvme::status_dnr(h.run(q, host::rw(read, 0, 64, data.iova, list.iova)).status));
}

TEST(SimIo, LbaRangeNamespaceAndOpcodeChecks) {
    host h(small_config());  // 16 MiB / 512 = 32768 blocks
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 32767, 1, buf.iova))), 0);
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 32767, 2, buf.iova))),
              st(0, nvme::sc::lba_out_of_range));
    EXPECT_EQ(sct_sc(h.run(q, host::rw(write, ~0ull - 1, 2, buf.iova))),
              st(0, nvme::sc::lba_out_of_range));
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 0, 1, buf.iova, 0, 2))),
              st(0, nvme::sc::invalid_namespace));
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 0, 1, buf.iova, 0, 0))),
              st(0, nvme::sc::invalid_namespace));
    nvme::sqe bad{};
    bad.opcode = 0x55;
    bad.nsid = 1;
    EXPECT_EQ(sct_sc(h.run(q, bad)), st(0, nvme::sc::invalid_opcode));
    nvme::sqe fl{};
    fl.opcode = nvme::io_opcode::flush;
    fl.nsid = 1;
    EXPECT_EQ(sct_sc(h.run(q, fl)), 0);
    fl.nsid = 0xffffffff;
    EXPECT_EQ(sct_sc(h.run(q, fl)), 0);
}

TEST(SimIo, RingWrapsAndPhaseFlipsOverManyPasses) {
    host h(small_config());
    queue q = h.make_io_queue(1, 4, 4);  // 3 usable slots each
    auto buf = h.alloc(4096);
    std::uint32_t done = 0, wraps_seen = 0;
    bool last_phase = q.phase;
    for (int round = 0; round < 30; ++round) {
        int batch = 1 + round % 3;
        std::vector<std::uint16_t> cids;
        const std::uint32_t tail_before = q.tail;
        for (int i = 0; i < batch; ++i) {
            auto* p = static_cast<std::uint8_t*>(buf.vaddr) + i * 512;
            std::memset(p, round * 3 + i, 512);
            cids.push_back(h.put(q, host::rw(write, round * 3 + i, 1, buf.iova + i * 512)));
        }
        h.ring_sq(q);
        h.ctrl->step();
        for (int i = 0; i < batch; ++i) {
            nvme::cqe c{};
            ASSERT_TRUE(h.reap(q, c)) << "round " << round;
            EXPECT_EQ(c.cid, cids[i]);
            EXPECT_EQ(c.sqid, 1);
            EXPECT_EQ(sct_sc(c), 0);
            // Completed as soon as fetched: SQ head is just past this command's slot.
            EXPECT_EQ(c.sqhd, (tail_before + i + 1) % q.size);
            ++done;
        }
        nvme::cqe none{};
        EXPECT_FALSE(h.reap(q, none));
        if (q.phase != last_phase) {
            ++wraps_seen;
            last_phase = q.phase;
        }
        h.ring_cq(q);
        h.ctrl->step();
    }
    EXPECT_EQ(done, 60u);
    EXPECT_GE(wraps_seen, 10u);
    for (int round = 0; round < 30; ++round)
        for (int i = 0; i < 1 + round % 3; ++i) {
            int lba = round * 3 + i;
            EXPECT_EQ(peek(h, lba * 512, 1)[0], static_cast<std::uint8_t>(lba)) << lba;
        }
}

TEST(SimIo, FullCompletionQueueHoldsBackPosting) {
    host h(small_config());
    queue q = h.make_io_queue(1, 16, 4);  // CQ of 4 entries: at most 3 unconsumed
    auto buf = h.alloc(4096);
    std::vector<std::uint16_t> cids;
    for (int i = 0; i < 8; ++i) cids.push_back(h.put(q, host::rw(read, i, 1, buf.iova)));
    h.ring_sq(q);
    h.ctrl->step();
    auto* cq = static_cast<nvme::cqe*>(q.cq.vaddr);
    // Three posted, the fourth slot untouched.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(cq[i].status & 1, 1);
    EXPECT_EQ(cq[3].status, 0);
    h.ctrl->step();
    EXPECT_EQ(cq[3].status, 0);  // no progress without a head doorbell
    std::size_t got = 0;
    nvme::cqe c{};
    while (got < 8) {
        std::size_t batch = 0;
        while (h.reap(q, c)) {
            EXPECT_EQ(c.cid, cids[got + batch]);
            ++batch;
        }
        ASSERT_GT(batch, 0u) << "stalled after " << got;
        EXPECT_LE(batch, 3u);
        got += batch;
        h.ring_cq(q);
        h.ctrl->step();
    }
    EXPECT_FALSE(h.reap(q, c));
}

TEST(SimIo, DatasetManagementAndWriteZeroesReadAsZeroes) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(65536);
    fill_pattern(buf.vaddr, 65536, 9);
    auto list = h.alloc(4096);
    auto* l = static_cast<std::uint64_t*>(list.vaddr);
    for (int i = 0; i < 15; ++i) l[i] = buf.iova + (1 + i) * 4096;
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 0, 128, buf.iova, list.iova))), 0);
    auto ranges = h.alloc(4096);
    auto* r = static_cast<nvme::dsm_range*>(ranges.vaddr);
    r[0] = {0, 8, 4};     // blocks 4..11
    r[1] = {0, 16, 100};  // blocks 100..115
    nvme::sqe dsm{};
    dsm.opcode = nvme::io_opcode::dataset_management;
    dsm.nsid = 1;
    dsm.prp1 = ranges.iova;
    dsm.cdw10 = 1;  // two ranges
    dsm.cdw11 = nvme::dsm_deallocate;
    ASSERT_EQ(sct_sc(h.run(q, dsm)), 0);
    auto data = peek(h, 0, 65536);
    const auto* orig = static_cast<const std::uint8_t*>(buf.vaddr);
    for (std::size_t i = 0; i < 65536; ++i) {
        std::size_t blk = i / 512;
        bool zeroed = (blk >= 4 && blk < 12) || (blk >= 100 && blk < 116);
        ASSERT_EQ(data[i], zeroed ? 0 : orig[i]) << "byte " << i;
    }
    nvme::sqe wz = host::rw(nvme::io_opcode::write_zeroes, 20, 4, 0);
    ASSERT_EQ(sct_sc(h.run(q, wz)), 0);
    data = peek(h, 20 * 512, 4 * 512);
    for (auto b : data) ASSERT_EQ(b, 0);
    r[0] = {0, 8, 32768 - 4};  // runs off the end
    EXPECT_EQ(sct_sc(h.run(q, dsm)), st(0, nvme::sc::lba_out_of_range));
}

TEST(SimIo, NamespacesAreSeparate) {
    auto cfg = small_config();
    cfg.namespaces = {namespace_config{1 << 20, 512}, namespace_config{1 << 20, 4096}};
    host h(cfg);
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    std::memset(buf.vaddr, 0xab, 4096);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 0, 1, buf.iova, 0, 2))), 0);  // one 4 KiB block
    EXPECT_EQ(peek(h, 0, 4096, 2)[4095], 0xab);
    EXPECT_EQ(peek(h, 0, 4096, 1)[0], 0);
    EXPECT_EQ(sct_sc(h.run(q, host::rw(write, 256, 1, buf.iova, 0, 2))),
              st(0, nvme::sc::lba_out_of_range));
    std::uint8_t x;
    EXPECT_EQ(h.ctrl->peek(3, 0, &x, 1), -EINVAL);
    EXPECT_EQ(h.ctrl->peek(1, 1 << 20, &x, 1), -EINVAL);
}

TEST(SimIo, IovaIsNotTheVirtualAddress) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    EXPECT_NE(buf.iova, reinterpret_cast<std::uint64_t>(buf.vaddr));
    std::uint64_t t = 0;
    ASSERT_EQ(h.dev->translate(static_cast<std::byte*>(buf.vaddr) + 100, t), 0);
    EXPECT_EQ(t, buf.iova + 100);
    // A driver passing the virtual address gets a Data Transfer Error and a diagnostic.
    nvme::cqe c = h.run(q, host::rw(read, 0, 1, reinterpret_cast<std::uint64_t>(buf.vaddr)));
    EXPECT_EQ(sct_sc(c), st(0, nvme::sc::data_transfer_error));
    EXPECT_NE(h.ctrl->last_diagnostic().find("VIRTUAL address"), std::string::npos)
        << h.ctrl->last_diagnostic();
    // Caller memory registered with map_dma: translate per byte, keeps the page offset.
    alignas(4096) static std::uint8_t mine[8192];
    ASSERT_EQ(h.dev->map_dma(mine, sizeof mine), 0);
    EXPECT_EQ(h.dev->map_dma(mine + 4096, 4096), -EEXIST);
    ASSERT_EQ(h.dev->translate(mine + 4096, t), 0);
    EXPECT_NE(t, reinterpret_cast<std::uint64_t>(mine + 4096));
    EXPECT_EQ(t % 4096, 0u);
    std::memset(mine, 0x5a, sizeof mine);
    std::uint64_t t0 = 0;
    ASSERT_EQ(h.dev->translate(mine, t0), 0);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 0, 16, t0, t))), 0);
    EXPECT_EQ(peek(h, 8191, 1)[0], 0x5a);
    EXPECT_EQ(h.dev->unmap_dma(mine, sizeof mine), 0);
    EXPECT_EQ(h.dev->translate(mine, t0), -EFAULT);
    std::uint8_t other;
    EXPECT_EQ(h.dev->translate(&other, t0), -EFAULT);
}

TEST(SimIo, HostPageSizeIsReported) {
    auto cfg = small_config();
    cfg.host_page_size = 65536;
    host h(cfg);
    EXPECT_EQ(h.dev->host_page_size(), 65536u);
    auto r = h.alloc(100);
    EXPECT_EQ(r.iova % 65536, 0u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.vaddr) % 65536, 0u);
}

TEST(SimIo, MappingsArePageGranularAndLinearWithinAHostPage) {
    // 64 KiB host pages on a 4 KiB machine: two ranges can share a host page. As with an IOMMU,
    // the whole page is mapped (reference counted) and translation is linear inside it.
    auto cfg = small_config();
    cfg.host_page_size = 65536;
    host h(cfg);
    alignas(65536) static std::uint8_t page[65536];
    std::uint64_t a = 0, b = 0, tmp = 0;
    ASSERT_EQ(h.dev->map_dma(page, 4096), 0);
    ASSERT_EQ(h.dev->map_dma(page + 8192, 4096), 0);
    ASSERT_EQ(h.dev->translate(page, a), 0);
    ASSERT_EQ(h.dev->translate(page + 8192, b), 0);
    EXPECT_EQ(b - a, 8192u);
    EXPECT_EQ(a % 65536, 0u);
    EXPECT_EQ(h.dev->map_dma(page + 1024, 512), -EEXIST);  // inside an existing range
    EXPECT_EQ(h.dev->unmap_dma(page, 4096), 0);
    ASSERT_EQ(h.dev->translate(page + 8192, tmp), 0);  // the page is still referenced
    EXPECT_EQ(tmp, b);
    EXPECT_EQ(h.dev->unmap_dma(page + 8192, 4096), 0);
    EXPECT_EQ(h.dev->translate(page + 8192, tmp), -EFAULT);
    // Mapped again later: same IOVA page as before.
    ASSERT_EQ(h.dev->map_dma(page + 4096, 4096), 0);
    ASSERT_EQ(h.dev->translate(page + 4096, tmp), 0);
    EXPECT_EQ(tmp, a + 4096);
    EXPECT_EQ(h.dev->unmap_dma(page + 4096, 100), -EINVAL);  // size must match the mapping
    EXPECT_EQ(h.dev->unmap_dma(page + 4096, 4096), 0);
}

TEST(SimIo, SparseMemoryCommitsOnlyWrittenChunks) {
    auto cfg = small_config();
    cfg.namespaces = {namespace_config{1ull << 30, 512}};  // 1 GiB
    host h(cfg);
    EXPECT_EQ(h.ctrl->resident_bytes(), 0u);
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    std::memset(buf.vaddr, 1, 4096);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 1000000, 8, buf.iova))), 0);
    EXPECT_EQ(h.ctrl->resident_bytes(), 1u << 20);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(read, 2000000, 8, buf.iova))), 0);  // unwritten: zeroes
    EXPECT_EQ(static_cast<std::uint8_t*>(buf.vaddr)[0], 0);
    EXPECT_EQ(h.ctrl->resident_bytes(), 1u << 20);
    // Deallocating a whole chunk gives the memory back.
    nvme::sqe wz = host::rw(nvme::io_opcode::write_zeroes, (1000000 / 2048) * 2048, 2048, 0);
    ASSERT_EQ(sct_sc(h.run(q, wz)), 0);
    EXPECT_EQ(h.ctrl->resident_bytes(), 0u);
}

}  // namespace
}  // namespace convme::sim::testing

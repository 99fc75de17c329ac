// SPDX-License-Identifier: MIT
// The NVMe driver on the simulated controller: bring-up, identify, data path, splitting,
// queue-full behaviour, shadow doorbells, namespaces, admin extras, drain.
#include <convme/backend.hpp>
#include <convme/runtime.hpp>
#include <vector>

#include "driver/nvme/controller.hpp"
#include "driver_sim_fixture.hpp"

namespace convme::driver::testing {
namespace {

TEST(DriverSim, BringUpAndIdentify) {
    auto cfg = inline_config(32ull << 20, 512);
    cfg.mdts = 5;
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    const device_info& i = s.dev->info();
    EXPECT_EQ(i.block_size, 512u);
    EXPECT_EQ(i.capacity, 32ull << 20);
    EXPECT_EQ(i.max_transfer, 128u * 1024) << "MDTS 5 with 4 KiB MPSMIN";
    EXPECT_EQ(i.mem_alignment, 4u);
    EXPECT_EQ(i.backend, "sim");
    EXPECT_NE(i.name.find("nvme "), std::string::npos) << i.name;
    EXPECT_NE(i.name.find(" ns1"), std::string::npos) << i.name;
    EXPECT_NE(i.name.find("[dbbc]"), std::string::npos) << i.name;
    EXPECT_TRUE(i.supports_flush);
    const auto st = s.stats();
    EXPECT_EQ(st.page_size, 4096u);
    EXPECT_TRUE(st.shadow_doorbells);
    controller* c = nvme_controller_of(*s.dev);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->identity().mdts, 5);
    EXPECT_GE(c->io_queues_granted(), 1u);
}

task<std::error_code> write_then_read(block_device& dev, std::uint64_t off, std::size_t len,
                                      std::uint32_t seed) {
    dma_buffer w(len), r(len);
    fill(w.data(), len, seed);
    if (auto ec = co_await dev.write(off, w.span())) co_return ec;
    if (auto ec = co_await dev.read(off, r.span())) co_return ec;
    EXPECT_TRUE(same(w.data(), r.data(), len)) << "offset " << off;
    co_return std::error_code{};
}

TEST(DriverSim, ReadWriteVerifyWithRingWrap) {
    nvme_options o;
    o.queue_depth = 8;  // 7 commands in flight: 200 I/Os wrap the rings many times
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    for (std::uint32_t i = 0; i < 200; ++i) {
        auto ec = l.run_until_complete(write_then_read(*s.dev, (i % 64) * 8192, 8192, i));
        ASSERT_FALSE(ec) << ec.message();
    }
    // Check the media itself, not only our own read path.
    std::vector<std::byte> media(8192), expect(8192);
    ASSERT_EQ(s.ctrl->peek(1, 63 * 8192, media.data(), media.size()), 0);
    fill(expect.data(), expect.size(), 191);  // last write to slot 63 was i = 191
    EXPECT_TRUE(same(media.data(), expect.data(), 8192));
    const auto st = s.stats();
    EXPECT_EQ(st.submitted, 400u);
    EXPECT_EQ(st.completed, 400u);
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSim, SixtyFourKiBHostPages) {
    auto cfg = inline_config();
    cfg.host_page_size = 65536;
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_EQ(s.stats().page_size, 65536u);
    loop l;
    // 256 KiB at a 4-byte offset: several 64 KiB pages, PRP list, MDTS split.
    auto t = [](block_device& dev) -> task<void> {
        const std::size_t len = 256 * 1024;
        dma_buffer w(len + 65536), r(len + 65536);
        fill(w.data() + 4, len, 9);
        auto ec = co_await dev.write(0, std::span<const std::byte>(w.data() + 4, len));
        EXPECT_FALSE(ec) << ec.message();
        ec = co_await dev.read(0, std::span<std::byte>(r.data() + 4, len));
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_TRUE(same(w.data() + 4, r.data() + 4, len));
    };
    l.run_until_complete(t(*s.dev));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSim, QueueDepthBeyondRingSize) {
    nvme_options o;
    o.queue_depth = 4;  // 3 slots, 40 concurrent requests
    sim_device s(inline_config(), o);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    int done = 0;
    std::vector<dma_buffer> bufs;
    for (int i = 0; i < 40; ++i) {
        bufs.emplace_back(4096);
        fill(bufs.back().data(), 4096, 1000 + i);
    }
    for (int i = 0; i < 40; ++i) {
        l.spawn([](block_device& dev, dma_buffer& b, int i, int& done) -> task<void> {
            auto ec = co_await dev.write(std::uint64_t(i) * 4096, b.span());
            EXPECT_FALSE(ec) << ec.message();
            ++done;
        }(*s.dev, bufs[i], i, done));
    }
    while (done < 40) l.run_once();
    std::vector<std::byte> media(4096);
    for (int i = 0; i < 40; ++i) {
        ASSERT_EQ(s.ctrl->peek(1, std::uint64_t(i) * 4096, media.data(), 4096), 0);
        EXPECT_TRUE(same(media.data(), bufs[i].data(), 4096)) << i;
    }
    EXPECT_LE(s.ctrl->stats().max_sq_occupancy, 3u) << "never more than depth-1 entries on the SQ";
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSim, MdtsSplitsLargeRequests) {
    auto cfg = inline_config();
    cfg.mdts = 1;  // 8 KiB per command
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_EQ(s.dev->info().max_transfer, 8192u);
    loop l;
    const auto before = s.ctrl->stats().io_commands;
    auto ec = l.run_until_complete(write_then_read(*s.dev, 4096, 64 * 1024, 5));
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(s.ctrl->stats().io_commands - before, 16u) << "64 KiB = 8 commands each way";
    EXPECT_EQ(s.stats().split_requests, 2u);
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSim, PlainMemoryBuffersAreMappedOnDemand) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    std::vector<std::byte> w(3 * 4096 + 64),
        r(3 * 4096 + 64);  // not a dma_buffer, not page aligned
    std::byte* wp = w.data() + (4 - reinterpret_cast<std::uintptr_t>(w.data()) % 4) % 4;
    std::byte* rp = r.data() + (4 - reinterpret_cast<std::uintptr_t>(r.data()) % 4) % 4;
    fill(wp, 3 * 4096, 77);
    auto t = [&]() -> task<void> {
        auto ec = co_await s.dev->write(0, std::span<const std::byte>(wp, 3 * 4096));
        EXPECT_FALSE(ec) << ec.message();
        ec = co_await s.dev->read(0, std::span<std::byte>(rp, 3 * 4096));
        EXPECT_FALSE(ec) << ec.message();
    };
    l.run_until_complete(t());
    EXPECT_TRUE(same(wp, rp, 3 * 4096));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSim, FlushWriteZeroesTrim) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    ASSERT_TRUE(s.dev->info().supports_write_zeroes);
    ASSERT_TRUE(s.dev->info().supports_trim);
    loop l;
    auto t = [&]() -> task<void> {
        dma_buffer b(65536);
        fill(b.data(), b.size(), 3);
        EXPECT_FALSE(co_await s.dev->write(0, b.span()));
        EXPECT_FALSE(co_await s.dev->flush());
        EXPECT_FALSE(co_await s.dev->write_zeroes(4096, 8192));
        EXPECT_FALSE(co_await s.dev->trim(32768, 16384));
        EXPECT_FALSE(co_await s.dev->read(0, b.span()));
        for (std::size_t i = 4096; i < 4096 + 8192; ++i) EXPECT_EQ(b.data()[i], std::byte{0}) << i;
    };
    const auto before = s.ctrl->stats().io_commands;
    l.run_until_complete(t());
    EXPECT_EQ(s.ctrl->stats().io_commands - before, 5u);
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSim, FlushWithoutVolatileCacheNeedsNoCommand) {
    auto cfg = inline_config();
    cfg.volatile_write_cache = false;
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    const auto before = s.ctrl->stats().io_commands;
    auto ec = l.run_until_complete(
        [&]() -> task<std::error_code> { co_return co_await s.dev->flush(); }());
    EXPECT_FALSE(ec);
    EXPECT_EQ(s.ctrl->stats().io_commands, before);
    l.run_until_complete(s.dev->drain());
}

std::uint64_t run_workload(sim_device& s, int ios) {
    loop l;
    for (int i = 0; i < ios; ++i) {
        auto ec = l.run_until_complete(write_then_read(*s.dev, 0, 4096, i));
        EXPECT_FALSE(ec) << ec.message();
    }
    l.run_until_complete(s.dev->drain());
    return s.ctrl->stats().doorbell_mmio_writes;
}

TEST(DriverSim, ShadowDoorbellsInUseWhenEnabled) {
    nvme_options on, off;
    on.shadow_doorbells = true;
    off.shadow_doorbells = false;
    sim_device a(inline_config(), on), b(inline_config(), off);
    ASSERT_TRUE(a.dev) << a.why;
    ASSERT_TRUE(b.dev) << b.why;
    EXPECT_NE(a.dev->info().name.find("[dbbc]"), std::string::npos);
    EXPECT_EQ(b.dev->info().name.find("[dbbc]"), std::string::npos);
    const std::uint64_t mmio_on = run_workload(a, 100);
    const std::uint64_t mmio_off = run_workload(b, 100);
    EXPECT_GT(a.ctrl->stats().shadow_doorbell_reads, 0u)
        << "the controller took doorbell values from the shadow buffer";
    EXPECT_EQ(b.ctrl->stats().shadow_doorbell_reads, 0u);
    // Inline stepping lets the controller catch up (and move EventIdx) before every update, so
    // each update crosses EventIdx and rings: never more MMIO than without shadow doorbells
    // (+2: the Doorbell Buffer Config admin command's SQ and CQ doorbells). Savings need a device
    // that runs concurrently: ShadowDoorbellsSkipMmioWithConcurrentDevice.
    EXPECT_LE(mmio_on, mmio_off + 2);
    EXPECT_TRUE(a.stats().shadow_doorbells);
    EXPECT_FALSE(b.stats().shadow_doorbells);
    EXPECT_EQ(b.stats().shadow_skips, 0u);
}

TEST(DriverSim, ShadowDoorbellsSkipMmioWithConcurrentDevice) {
    // Device thread + deep queue: the host publishes new tails while the controller is still
    // working through the previous batch, and the EventIdx check skips those MMIO writes.
    auto cfg = inline_config();
    cfg.inline_mode = false;
    cfg.latency = std::chrono::microseconds(20);
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    int done = 0;
    std::vector<dma_buffer> bufs;
    for (int i = 0; i < 64; ++i) bufs.emplace_back(4096);
    for (int round = 0; round < 20; ++round) {
        for (int i = 0; i < 64; ++i) {
            l.spawn([](block_device& dev, dma_buffer& b, int i, int& done) -> task<void> {
                for (int k = 0; k < 4; ++k) {
                    auto ec = co_await dev.write(std::uint64_t(i) * 4096, b.span());
                    EXPECT_FALSE(ec) << ec.message();
                    co_await yield();
                }
                ++done;
            }(*s.dev, bufs[i], i, done));
            l.run_once();  // spread submissions over many loop iterations
        }
        while (done < 64 * (round + 1)) l.run_once();
    }
    const auto st = s.stats();
    EXPECT_GT(s.ctrl->stats().shadow_doorbell_reads, 0u);
    RecordProperty("doorbell_mmio_writes", std::to_string(st.doorbell_mmio_writes));
    RecordProperty("shadow_skips", std::to_string(st.shadow_skips));
    EXPECT_GT(st.shadow_skips, 0u) << "mmio=" << st.doorbell_mmio_writes;
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSim, ShadowDoorbellsNotUsedWhenControllerLacksThem) {
    auto cfg = inline_config();
    cfg.dbbc = false;
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_FALSE(s.stats().shadow_doorbells);
    run_workload(s, 10);
    EXPECT_EQ(s.ctrl->stats().shadow_doorbell_reads, 0u);
}

TEST(DriverSim, SmartLog) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    run_workload(s, 4);
    nvme::smart_log log{};
    auto ec = nvme_smart_log(*s.dev, log);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(log.temperature[0] | (log.temperature[1] << 8), 310);
    EXPECT_GT(log.host_writes[0], 0);
}

TEST(DriverSim, MultipleNamespaces) {
    auto cfg = inline_config();
    cfg.namespaces.push_back(
        sim::namespace_config{8ull << 20, 4096});  // ns1: 16 MiB/512, ns2: 8 MiB/4096
    auto ctrl = std::make_shared<sim::simulated_controller>(cfg);
    nvme_options o;
    o.nsid = 2;
    std::error_code ec;
    std::string why;
    auto dev = make_nvme_block_device(sim::make_pci_device(ctrl), o, ec, why);
    ASSERT_TRUE(dev) << why;
    EXPECT_EQ(dev->info().block_size, 4096u);
    EXPECT_EQ(dev->info().capacity, 8ull << 20);
    EXPECT_NE(dev->info().name.find(" ns2"), std::string::npos);
    loop l;
    ASSERT_FALSE(l.run_until_complete(write_then_read(*dev, 4096, 8192, 1)));
    l.run_until_complete(dev->drain());
    // Data landed in namespace 2, not 1.
    std::vector<std::byte> got(8192), expect(8192);
    fill(expect.data(), 8192, 1);
    ASSERT_EQ(ctrl->peek(2, 4096, got.data(), 8192), 0);
    EXPECT_TRUE(same(got.data(), expect.data(), 8192));

    o.nsid = 3;
    auto none = make_nvme_block_device(
        sim::make_pci_device(std::make_shared<sim::simulated_controller>(cfg)), o, ec, why);
    EXPECT_FALSE(none);
    EXPECT_TRUE(ec);
    EXPECT_NE(why.find("namespace 3"), std::string::npos) << why;
    EXPECT_NE(why.find("1,2"), std::string::npos) << why;
}

TEST(DriverSim, DrainDeletesQueueAndRefusesLaterIo) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    ASSERT_FALSE(l.run_until_complete(write_then_read(*s.dev, 0, 4096, 1)));
    EXPECT_EQ(s.stats().io_queues, 1u);
    const auto admin_before = s.ctrl->stats().admin_commands;
    l.run_until_complete(s.dev->drain());
    EXPECT_EQ(s.ctrl->stats().admin_commands - admin_before, 2u) << "Delete SQ + Delete CQ";
    EXPECT_EQ(s.stats().io_queues, 0u);
    auto ec = l.run_until_complete([&]() -> task<std::error_code> {
        dma_buffer b(4096);
        co_return co_await s.dev->read(0, b.span());
    }());
    EXPECT_EQ(ec, make_error_code(errc::shutting_down));
}

TEST(DriverSim, TwoCoresEachWithOwnQueuePair) {
    auto cfg = inline_config(64ull << 20);
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    runtime_options ro;
    ro.cores = 2;
    ro.pin_threads = false;
    runtime rt(ro);
    block_device& dev = *s.dev;
    auto per_core = [&dev](unsigned core) -> task<int> {
        int failures = 0;
        for (int i = 0; i < 50; ++i) {
            auto ec =
                co_await write_then_read(dev, (core * 1000 + i) * 4096ull, 4096, core * 100 + i);
            if (ec) ++failures;
        }
        co_await dev.drain();
        co_return failures;
    };
    const int failures = rt.run([&]() -> task<int> {
        int f1 = co_await run_on(1, [&] { return per_core(1); });
        int f0 = co_await per_core(0);
        co_return f0 + f1;
    }());
    EXPECT_EQ(failures, 0);
    // Both cores created (and deleted) their own I/O queue pair: 2 x (create CQ, SQ, delete SQ,
    // CQ).
    std::vector<std::byte> got(4096), expect(4096);
    fill(expect.data(), 4096, 100 + 49);
    ASSERT_EQ(s.ctrl->peek(1, (1000 + 49) * 4096ull, got.data(), 4096), 0);
    EXPECT_TRUE(same(got.data(), expect.data(), 4096));
}

namespace {
device_uri uri_with(std::map<std::string, std::string> params) {
    return {"sim", "mem", std::move(params)};
}
}  // namespace

TEST(DriverOptions, ParsesKnownKeys) {
    nvme_options o;
    std::string why;
    ASSERT_TRUE(parse_nvme_options(
        uri_with(
            {{"ns", "2"}, {"qd", "64"}, {"queues", "4"}, {"dbbc", "0"}, {"timeout_ms", "250"}}),
        o, why))
        << why;
    EXPECT_EQ(o.nsid, 2u);
    EXPECT_EQ(o.queue_depth, 64u);
    EXPECT_EQ(o.max_io_queues, 4u);
    EXPECT_FALSE(o.shadow_doorbells);
    EXPECT_EQ(o.io_timeout.count(), 250);
}

TEST(DriverOptions, RejectsMalformedValuesAndKeepsDefaults) {
    nvme_options o;
    std::string why;
    EXPECT_FALSE(parse_nvme_options(uri_with({{"qd", "abc"}}), o, why));
    EXPECT_NE(why.find("qd"), std::string::npos) << why;
    EXPECT_FALSE(parse_nvme_options(uri_with({{"qd", "1"}}), o, why));
    EXPECT_FALSE(parse_nvme_options(uri_with({{"dbbc", "2"}}), o, why));
    EXPECT_FALSE(parse_nvme_options(uri_with({{"ns", "0"}}), o, why));
    EXPECT_FALSE(parse_nvme_options(uri_with({{"timeout_ms", "-5"}}), o, why));
    EXPECT_EQ(o.queue_depth, 128u);
    EXPECT_TRUE(o.shadow_doorbells);
}

TEST(DriverSimPassthrough, RawIoAndAdminCommands) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    auto t = [&]() -> task<void> {
        dma_buffer w(8192), r(8192);
        fill(w.data(), 8192, 42);
        EXPECT_FALSE(co_await s.dev->write(512 * 10, w.span()));
        // Raw read of 16 blocks at LBA 10.
        nvme::sqe cmd{};
        cmd.opcode = nvme::io_opcode::read;
        cmd.nsid = 1;
        cmd.cdw10 = 10;
        cmd.cdw12 = 16 - 1;
        nvme::cqe cqe{};
        auto ec = co_await nvme_io_passthrough(*s.dev, cmd, r.span(), cqe);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(cqe.status >> 1, 0);
        EXPECT_TRUE(same(w.data(), r.data(), 8192));
        // An opcode the controller does not know: the CQE and the error code say so.
        nvme::sqe bad{};
        bad.opcode = 0x7f;
        bad.nsid = 1;
        ec = co_await nvme_io_passthrough(*s.dev, bad, {}, cqe);
        EXPECT_EQ(ec, make_nvme_error(nvme::sc::invalid_opcode)) << ec.message();
        EXPECT_EQ(nvme::status_sct_sc(cqe.status), nvme::sc::invalid_opcode);
        // Admin: Identify Controller through the passthrough matches what bring-up read.
        std::vector<std::byte> id(4096);
        nvme::sqe ident{};
        ident.opcode = nvme::admin_op::identify;
        ident.cdw10 = nvme::cns::controller;
        ec = co_await nvme_admin_passthrough(*s.dev, ident, id, cqe);
        EXPECT_FALSE(ec) << ec.message();
        nvme::identify_controller idc;
        std::memcpy(&idc, id.data(), sizeof idc);
        EXPECT_EQ(idc.mdts, nvme_controller_of(*s.dev)->identity().mdts);
        EXPECT_EQ(std::memcmp(idc.sn, nvme_controller_of(*s.dev)->identity().sn, sizeof idc.sn), 0);
        co_await s.dev->drain();
    };
    l.run_until_complete(t());
}

TEST(DriverSimLifetime, DestroyWithoutDrainAfterTheLoopEnded) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    {
        loop l;
        ASSERT_FALSE(l.run_until_complete(write_then_read(*s.dev, 0, 4096, 3)));
    }  // the loop is gone; its queue pair still exists on the controller
    const auto admin_before = s.ctrl->stats().admin_commands;
    s.dev.reset();  // must not touch the dead loop; deletes the queues and shuts down
    EXPECT_EQ(s.ctrl->stats().admin_commands - admin_before, 2u) << "Delete SQ + Delete CQ";
}

TEST(DriverSimLifetime, DestroyWithoutDrainOnTheOwningLoop) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    ASSERT_FALSE(l.run_until_complete(write_then_read(*s.dev, 0, 4096, 4)));
    l.run_until_complete([&]() -> task<void> {
        s.dev.reset();  // on the loop itself: the poller is unregistered
        co_return;
    }());
    EXPECT_FALSE(l.run_once()) << "no poller left behind";
}

TEST(DriverSimMapping, FreedBuffersAreUnmappedAndNewOnesWork) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    // Many short-lived buffers (often reusing the same addresses): each is mapped on first use
    // and unmapped when freed, so the cached translations never go stale.
    for (std::uint32_t i = 0; i < 20; ++i) {
        auto ec = l.run_until_complete(write_then_read(*s.dev, i * 16384ull, 16384, 500 + i));
        ASSERT_FALSE(ec) << i << ": " << ec.message();
    }
    std::vector<std::byte> got(16384), expect(16384);
    for (std::uint32_t i = 0; i < 20; ++i) {
        ASSERT_EQ(s.ctrl->peek(1, i * 16384ull, got.data(), got.size()), 0);
        fill(expect.data(), expect.size(), 500 + i);
        EXPECT_TRUE(same(got.data(), expect.data(), got.size())) << i;
    }
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimMapping, UnmappableMemoryFailsTheRequestNotTheProcess) {
    sim_device s(inline_config());
    ASSERT_TRUE(s.dev) << s.why;
    loop l;
    // An address range that is not mapped in this process: mapping it fails, the request fails
    // with a clear errno, the queue keeps working.
    auto* bogus = reinterpret_cast<std::byte*>(std::uintptr_t(0x10));
    auto ec = l.run_until_complete([&]() -> task<std::error_code> {
        co_return co_await s.dev->read(0, std::span<std::byte>(bogus, 4096));
    }());
    EXPECT_TRUE(ec);
    EXPECT_EQ(&ec.category(), &std::system_category()) << ec.message();
    EXPECT_FALSE(l.run_until_complete(write_then_read(*s.dev, 0, 4096, 1)));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimConfig, DoorbellStrideWithAndWithoutShadowDoorbells) {
    for (bool dbbc : {false, true}) {
        auto cfg = inline_config();
        cfg.dstrd = 2;  // doorbells 16 bytes apart (shadow buffer uses the same stride)
        nvme_options o;
        o.shadow_doorbells = dbbc;
        o.queue_depth = 8;
        sim_device s(cfg, o);
        ASSERT_TRUE(s.dev) << s.why;
        EXPECT_EQ(s.stats().shadow_doorbells, dbbc);
        loop l;
        for (std::uint32_t i = 0; i < 30; ++i)
            ASSERT_FALSE(l.run_until_complete(write_then_read(*s.dev, i * 4096ull, 4096, i)))
                << dbbc << " " << i;
        l.run_until_complete(s.dev->drain());
    }
}

TEST(DriverSimConfig, ControllerPageSizeBelowHostPageSize) {
    auto cfg = inline_config();
    cfg.host_page_size = 65536;
    cfg.mpsmax = 0;  // controller only does 4 KiB pages
    sim_device s(cfg);
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_EQ(s.stats().page_size, 4096u);
    loop l;
    ASSERT_FALSE(l.run_until_complete(write_then_read(*s.dev, 0, 64 * 1024, 8)));
    l.run_until_complete(s.dev->drain());
}

TEST(DriverSimConfig, QueueDepthClampedToMqes) {
    auto cfg = inline_config();
    cfg.mqes = 3;  // at most 4 entries per queue
    nvme_options o;
    o.queue_depth = 128;
    sim_device s(cfg, o);
    ASSERT_TRUE(s.dev) << s.why;
    EXPECT_EQ(s.dev->info().queue_depth, 3u);
    loop l;
    int done = 0;
    std::vector<dma_buffer> bufs;
    for (int i = 0; i < 10; ++i) bufs.emplace_back(4096);
    for (int i = 0; i < 10; ++i)
        l.spawn([](block_device& dev, dma_buffer& b, int i, int& done) -> task<void> {
            EXPECT_FALSE(co_await dev.write(std::uint64_t(i) * 4096, b.span()));
            ++done;
        }(*s.dev, bufs[i], i, done));
    while (done < 10) l.run_once();
    l.run_until_complete(s.dev->drain());
}

}  // namespace
}  // namespace convme::driver::testing

// SPDX-License-Identifier: MIT
// Simulated controller: shadow doorbells with EventIdx, fault injection, file-backed
// persistence, URI configuration parsing.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "sim_test_host.hpp"

namespace convme::sim::testing {
namespace {

using nvme::io_opcode::read;
using nvme::io_opcode::write;

struct shadow_setup {
    driver::dma_region db, ei;
    std::uint32_t* dbs() const { return static_cast<std::uint32_t*>(db.vaddr); }
    std::uint32_t* eis() const { return static_cast<std::uint32_t*>(ei.vaddr); }
};

shadow_setup configure_shadow(host& h) {
    shadow_setup s{h.alloc(4096), h.alloc(4096)};
    nvme::sqe c{};
    c.opcode = nvme::admin_op::doorbell_buffer_config;
    c.prp1 = s.db.iova;
    c.prp2 = s.ei.iova;
    EXPECT_EQ(sct_sc(h.run_admin(c)), 0);
    return s;
}

// Linux's rule: ring the MMIO doorbell only if the device's EventIdx lies in [old, new).
bool need_event(std::uint16_t event_idx, std::uint16_t new_idx, std::uint16_t old) {
    return static_cast<std::uint16_t>(new_idx - event_idx - 1) <
           static_cast<std::uint16_t>(new_idx - old);
}

TEST(SimShadowDoorbells, TailComesFromTheBufferAndEventIdxFollows) {
    host h(small_config());
    shadow_setup s = configure_shadow(h);
    queue q = h.make_io_queue(1, 16);
    auto buf = h.alloc(4096);
    const std::uint32_t sq_idx = 2, cq_idx = 3;  // 2*qid and 2*qid+1, stride 4 bytes

    // Host writes the shadow tail only: the device has no reason to look (no MMIO), like QEMU.
    h.put(q, host::rw(read, 0, 1, buf.iova));
    s.dbs()[sq_idx] = q.tail;
    h.ctrl->step();
    nvme::cqe c{};
    EXPECT_FALSE(h.reap(q, c));
    // The MMIO write wakes it; the value is taken from the shadow buffer.
    std::uint16_t old = 0;
    ASSERT_TRUE(need_event(static_cast<std::uint16_t>(s.eis()[sq_idx]),
                           static_cast<std::uint16_t>(q.tail), old));
    h.ring_sq(q);
    h.ctrl->step();
    ASSERT_TRUE(h.reap(q, c));
    EXPECT_EQ(sct_sc(c), 0);
    EXPECT_EQ(s.eis()[sq_idx], q.tail);  // EventIdx = last tail processed
    EXPECT_GE(h.ctrl->stats().shadow_doorbell_reads, 1u);

    // Shadow-only tail update whose MMIO write carries a stale value: the device uses the buffer.
    h.put(q, host::rw(read, 1, 1, buf.iova));
    h.put(q, host::rw(read, 2, 1, buf.iova));
    s.dbs()[sq_idx] = q.tail;
    h.dev->bar0()[nvme::reg::sq_tail_doorbell(1, 0) / 4] = 12345;  // any change wakes it
    h.ctrl->step();
    ASSERT_TRUE(h.reap(q, c));
    ASSERT_TRUE(h.reap(q, c));
    EXPECT_EQ(s.eis()[sq_idx], q.tail);

    // CQ head: written to the shadow buffer, MMIO wake-up, EventIdx follows.
    s.dbs()[cq_idx] = q.head;
    h.ring_cq(q);
    h.ctrl->step();
    EXPECT_EQ(s.eis()[cq_idx], q.head);
    // The admin queue keeps using its MMIO doorbells.
    nvme::sqe g{};
    g.opcode = nvme::admin_op::get_features;
    g.cdw10 = nvme::feature::number_of_queues;
    EXPECT_EQ(sct_sc(h.run_admin(g)), 0);
}

TEST(SimShadowDoorbells, RepeatedMmioValueStillWakesTheDevice) {
    // With shadow doorbells the host rings MMIO only now and then, so after a wrap it can write
    // the very value the register got last time. Every write must count, as a trap would.
    host h(small_config());
    shadow_setup s = configure_shadow(h);
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    h.put(q, host::rw(read, 0, 1, buf.iova));
    s.dbs()[2] = q.tail;
    h.ring_sq(q);  // MMIO value 1
    h.ctrl->step();
    nvme::cqe c{};
    ASSERT_TRUE(h.reap(q, c));
    h.put(q, host::rw(read, 1, 1, buf.iova));
    s.dbs()[2] = q.tail;  // shadow 2, MMIO still 1 from before
    h.ctrl->step();
    EXPECT_FALSE(h.reap(q, c));                                // no wake-up yet
    h.dev->bar0()[nvme::reg::sq_tail_doorbell(1, 0) / 4] = 1;  // same value again
    h.ctrl->step();
    ASSERT_TRUE(h.reap(q, c));
    EXPECT_EQ(sct_sc(c), 0);
    EXPECT_EQ(h.ctrl->stats().doorbell_mmio_writes >= 2, true);
}

TEST(SimShadowDoorbells, FullCqReadsShadowHeadWhenWoken) {
    host h(small_config());
    shadow_setup s = configure_shadow(h);
    queue q = h.make_io_queue(1, 16, 4);
    auto buf = h.alloc(4096);
    for (int i = 0; i < 6; ++i) h.put(q, host::rw(read, i, 1, buf.iova));
    s.dbs()[2] = q.tail;
    h.ring_sq(q);
    h.ctrl->step();
    nvme::cqe c{};
    int got = 0;
    while (h.reap(q, c)) ++got;
    EXPECT_EQ(got, 3);
    // Blocked on a full CQ, the device published EventIdx = the head it knows (0), so a host
    // following Linux's rule knows it must ring the MMIO doorbell after consuming.
    EXPECT_EQ(s.eis()[3], 0u);
    s.dbs()[3] = q.head;  // consumed three
    ASSERT_TRUE(
        need_event(static_cast<std::uint16_t>(s.eis()[3]), static_cast<std::uint16_t>(q.head), 0));
    h.ring_cq(q);
    h.ctrl->step();
    while (h.reap(q, c)) ++got;
    EXPECT_EQ(got, 6);
}

TEST(SimShadowDoorbells, BadBufferAddressesAreRejected) {
    host h(small_config());
    nvme::sqe c{};
    c.opcode = nvme::admin_op::doorbell_buffer_config;
    c.prp1 = 0;
    c.prp2 = 0;
    EXPECT_EQ(sct_sc(h.run_admin(c)), st(0, nvme::sc::invalid_field));
    auto a = h.alloc(4096);
    c.prp1 = a.iova + 64;
    c.prp2 = a.iova;
    EXPECT_EQ(sct_sc(h.run_admin(c)), st(0, nvme::sc::invalid_field));
}

TEST(SimFaults, ErrorStatusSkipAndCount) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    fault f;
    f.what = fault::kind::error_status;
    f.opcode = read;
    f.skip = 1;
    f.count = 2;
    f.status = nvme::make_status(nvme::sct::media, nvme::sc::unrecovered_read_error);
    h.ctrl->inject(f);
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 0, 1, buf.iova))), 0);  // skipped
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 0, 1, buf.iova))),
              st(2, nvme::sc::unrecovered_read_error));
    EXPECT_EQ(sct_sc(h.run(q, host::rw(write, 0, 1, buf.iova))), 0);  // other opcode
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 0, 1, buf.iova))),
              st(2, nvme::sc::unrecovered_read_error));
    EXPECT_EQ(sct_sc(h.run(q, host::rw(read, 0, 1, buf.iova))), 0);  // count used up
}

TEST(SimFaults, AdminFaultsMatchOnlyAdminCommands) {
    host h(small_config());
    fault f;
    f.admin = true;
    f.opcode = nvme::admin_op::identify;
    f.status = nvme::make_status(nvme::sct::generic, nvme::sc::internal_error);
    h.ctrl->inject(f);
    auto buf = h.alloc(4096);
    nvme::sqe id{};
    id.opcode = nvme::admin_op::identify;
    id.prp1 = buf.iova;
    id.cdw10 = nvme::cns::controller;
    EXPECT_EQ(sct_sc(h.run_admin(id)), st(0, nvme::sc::internal_error));
    EXPECT_EQ(sct_sc(h.run_admin(id)), 0);
}

TEST(SimFaults, DropCompletionWithAndWithoutExecution) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    std::memset(buf.vaddr, 0x11, 4096);
    fault f;
    f.what = fault::kind::drop_completion;
    f.opcode = write;
    f.execute = false;
    h.ctrl->inject(f);
    h.put(q, host::rw(write, 0, 8, buf.iova));
    h.ring_sq(q);
    h.ctrl->step();
    nvme::cqe c{};
    EXPECT_FALSE(h.reap(q, c));
    std::uint8_t b = 0xff;
    ASSERT_EQ(h.ctrl->peek(1, 0, &b, 1), 0);
    EXPECT_EQ(b, 0);  // not executed
    f.execute = true;
    h.ctrl->inject(f);
    h.put(q, host::rw(write, 8, 8, buf.iova));
    h.ring_sq(q);
    h.ctrl->step();
    EXPECT_FALSE(h.reap(q, c));
    ASSERT_EQ(h.ctrl->peek(1, 8 * 512, &b, 1), 0);
    EXPECT_EQ(b, 0x11);  // executed, completion lost
    // The queue keeps working; the lost commands left no entries behind.
    std::uint16_t cid = h.put(q, host::rw(read, 8, 1, buf.iova));
    h.ring_sq(q);
    h.ctrl->step();
    ASSERT_TRUE(h.reap(q, c));
    EXPECT_EQ(c.cid, cid);
    EXPECT_FALSE(h.reap(q, c));
}

TEST(SimFaults, LatencyHoldsCompletions) {
    auto cfg = small_config();
    cfg.latency = std::chrono::hours(1);
    host h(cfg);
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    h.put(q, host::rw(read, 0, 1, buf.iova));
    h.ring_sq(q);
    for (int i = 0; i < 10; ++i) h.ctrl->step();
    nvme::cqe c{};
    EXPECT_FALSE(h.reap(q, c));
    EXPECT_EQ(h.ctrl->stats().io_commands, 1u);  // fetched, waiting
}

std::string temp_path(const char* tag) {
    return "/tmp/convme_sim_" + std::string(tag) + "_" + std::to_string(::getpid());
}

TEST(SimFile, DataPersistsAcrossControllerInstances) {
    std::string path = temp_path("persist");
    std::remove(path.c_str());
    auto cfg = small_config();
    cfg.backing_file = path;
    cfg.namespaces = {namespace_config{2 << 20, 512}, namespace_config{1 << 20, 4096}};
    {
        host h(cfg);
        queue q = h.make_io_queue(1, 8);
        auto buf = h.alloc(4096);
        fill_pattern(buf.vaddr, 4096, 42);
        ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 10, 8, buf.iova))), 0);
        ASSERT_EQ(sct_sc(h.run(q, host::rw(write, 3, 1, buf.iova, 0, 2))), 0);
        nvme::sqe fl{};
        fl.opcode = nvme::io_opcode::flush;
        fl.nsid = 1;
        ASSERT_EQ(sct_sc(h.run(q, fl)), 0);
        std::uint32_t cc = h.dev->read32(nvme::reg::cc);
        h.dev->write32(nvme::reg::cc, cc | nvme::cc::shn_normal);
        EXPECT_EQ(h.dev->read32(nvme::reg::csts) & nvme::csts::shst_mask,
                  nvme::csts::shst_complete);
    }
    {
        host h(cfg);
        EXPECT_EQ(h.ctrl->resident_bytes(), 0u);
        queue q = h.make_io_queue(1, 8);
        auto buf = h.alloc(4096);
        ASSERT_EQ(sct_sc(h.run(q, host::rw(read, 10, 8, buf.iova))), 0);
        std::vector<std::uint8_t> expect(4096);
        fill_pattern(expect.data(), 4096, 42);
        EXPECT_EQ(std::memcmp(buf.vaddr, expect.data(), 4096), 0);
        std::vector<std::uint8_t> ns2(4096);
        ASSERT_EQ(h.ctrl->peek(2, 3 * 4096, ns2.data(), 4096), 0);
        EXPECT_EQ(ns2, expect);
    }
    std::remove(path.c_str());
}

TEST(SimFile, UnopenableFileThrowsWithReason) {
    auto cfg = small_config();
    cfg.backing_file = "/nonexistent-dir/x/y.img";
    try {
        simulated_controller c(cfg);
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x/y.img"), std::string::npos);
    }
}

TEST(SimConfig, ParsesAllKeys) {
    controller_config cfg;
    std::string why;
    std::map<std::string, std::string> p = {
        {"size", "64M"},      {"lba", "4096"}, {"namespaces", "2"}, {"mdts", "7"},
        {"latency_us", "25"}, {"dbbc", "0"},   {"inline", "1"},     {"host_page", "65536"},
        {"mqes", "255"},      {"qd", "32"}};
    ASSERT_TRUE(parse_sim_config("mem", p, cfg, why)) << why;
    ASSERT_EQ(cfg.namespaces.size(), 2u);
    EXPECT_EQ(cfg.namespaces[1].size_bytes, 64u << 20);
    EXPECT_EQ(cfg.namespaces[1].lba_size, 4096u);
    EXPECT_EQ(cfg.mdts, 7);
    EXPECT_EQ(cfg.latency, std::chrono::microseconds(25));
    EXPECT_FALSE(cfg.dbbc);
    EXPECT_TRUE(cfg.inline_mode);
    EXPECT_EQ(cfg.host_page_size, 65536u);
    EXPECT_EQ(cfg.mqes, 255u);
    EXPECT_TRUE(cfg.backing_file.empty());
    ASSERT_TRUE(parse_sim_config("file=/tmp/x.img", {}, cfg, why)) << why;
    EXPECT_EQ(cfg.backing_file, "/tmp/x.img");
    EXPECT_EQ(cfg.namespaces.at(0).size_bytes, 1u << 30);
}

TEST(SimConfig, MalformedValuesNameTheKeyAndValue) {
    controller_config cfg;
    std::string why;
    auto bad = [&](const std::string& key, const std::string& value) {
        why.clear();
        EXPECT_FALSE(parse_sim_config("mem", {{key, value}}, cfg, why)) << key << "=" << value;
        EXPECT_NE(why.find(key), std::string::npos) << why;
        EXPECT_NE(why.find(value), std::string::npos) << why;
    };
    bad("size", "lots");
    bad("size", "1000");  // not a multiple of 512
    bad("lba", "1024");
    bad("lba", "x");
    bad("namespaces", "0");
    bad("mdts", "99");
    bad("latency_us", "-1");
    bad("dbbc", "maybe");
    bad("inline", "2");
    bad("host_page", "8192");
    bad("mqes", "0");
    EXPECT_FALSE(parse_sim_config("disk", {}, cfg, why));
    EXPECT_NE(why.find("disk"), std::string::npos);
    EXPECT_FALSE(parse_sim_config("file=", {}, cfg, why));
}

}  // namespace
}  // namespace convme::sim::testing

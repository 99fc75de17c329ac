// SPDX-License-Identifier: MIT
// Simulated controller: admin commands (identify, queue creation/deletion rules, features, log
// pages, abort, asynchronous events).
#include <string>

#include "sim_test_host.hpp"

namespace convme::sim::testing {
namespace {

using nvme::sc::invalid_field;

nvme::sqe identify_cmd(std::uint32_t cns, std::uint64_t prp1, std::uint32_t nsid = 0) {
    nvme::sqe c{};
    c.opcode = nvme::admin_op::identify;
    c.nsid = nsid;
    c.prp1 = prp1;
    c.cdw10 = cns;
    return c;
}

TEST(SimAdmin, IdentifyControllerContents) {
    auto cfg = small_config();
    cfg.mdts = 6;
    cfg.namespaces.assign(3, namespace_config{1 << 20, 4096});
    host h(cfg);
    auto buf = h.alloc(4096);
    ASSERT_EQ(sct_sc(h.run_admin(identify_cmd(nvme::cns::controller, buf.iova))), 0);
    const auto& id = *static_cast<const nvme::identify_controller*>(buf.vaddr);
    EXPECT_NE(id.vid, 0);
    EXPECT_EQ(std::string(id.mn, 10), "CONVME-SIM");
    EXPECT_EQ(id.mn[10], ' ');  // space padded, not NUL terminated
    EXPECT_NE(id.sn[0], ' ');
    EXPECT_NE(id.fr[0], ' ');
    EXPECT_EQ(id.mdts, 6);
    EXPECT_EQ(id.oacs & nvme::oacs_doorbell_buffer_config, nvme::oacs_doorbell_buffer_config);
    EXPECT_EQ(id.oncs & (nvme::oncs_dsm | nvme::oncs_write_zeroes),
              nvme::oncs_dsm | nvme::oncs_write_zeroes);
    EXPECT_EQ(id.vwc & 1, 1);
    EXPECT_EQ(id.nn, 3u);
    EXPECT_EQ(id.sqes, 0x66);
    EXPECT_EQ(id.cqes, 0x44);
    EXPECT_EQ(id.ver, 0x00010400u);
}

TEST(SimAdmin, NoDoorbellBufferConfigWhenDisabled) {
    auto cfg = small_config();
    cfg.dbbc = false;
    cfg.volatile_write_cache = false;
    host h(cfg);
    auto buf = h.alloc(4096);
    ASSERT_EQ(sct_sc(h.run_admin(identify_cmd(nvme::cns::controller, buf.iova))), 0);
    const auto& id = *static_cast<const nvme::identify_controller*>(buf.vaddr);
    EXPECT_EQ(id.oacs & nvme::oacs_doorbell_buffer_config, 0);
    EXPECT_EQ(id.vwc & 1, 0);
    nvme::sqe c{};
    c.opcode = nvme::admin_op::doorbell_buffer_config;
    c.prp1 = buf.iova;
    c.prp2 = buf.iova;
    EXPECT_EQ(sct_sc(h.run_admin(c)), st(0, nvme::sc::invalid_opcode));
}

TEST(SimAdmin, IdentifyNamespaceAndActiveList) {
    auto cfg = small_config();
    cfg.namespaces = {namespace_config{8 << 20, 512}, namespace_config{4 << 20, 4096}};
    host h(cfg);
    auto buf = h.alloc(4096);
    ASSERT_EQ(sct_sc(h.run_admin(identify_cmd(nvme::cns::ns, buf.iova, 2))), 0);
    const auto& ns = *static_cast<const nvme::identify_namespace*>(buf.vaddr);
    EXPECT_EQ(ns.nsze, (4u << 20) / 4096);
    EXPECT_EQ(ns.ncap, ns.nsze);
    EXPECT_EQ(ns.lbaf[ns.flbas & 0xf].lbads, 12);
    ASSERT_EQ(sct_sc(h.run_admin(identify_cmd(nvme::cns::ns, buf.iova, 1))), 0);
    EXPECT_EQ(ns.nsze, (8u << 20) / 512);
    EXPECT_EQ(ns.lbaf[0].lbads, 9);
    EXPECT_EQ(sct_sc(h.run_admin(identify_cmd(nvme::cns::ns, buf.iova, 3))),
              st(0, nvme::sc::invalid_namespace));
    ASSERT_EQ(sct_sc(h.run_admin(identify_cmd(nvme::cns::active_ns_list, buf.iova, 0))), 0);
    const auto* list = static_cast<const std::uint32_t*>(buf.vaddr);
    EXPECT_EQ(list[0], 1u);
    EXPECT_EQ(list[1], 2u);
    EXPECT_EQ(list[2], 0u);
    ASSERT_EQ(sct_sc(h.run_admin(identify_cmd(nvme::cns::active_ns_list, buf.iova, 1))), 0);
    EXPECT_EQ(list[0], 2u);
    EXPECT_EQ(list[1], 0u);
    EXPECT_EQ(sct_sc(h.run_admin(identify_cmd(0x55, buf.iova))), st(0, invalid_field));
}

TEST(SimAdmin, CreateQueueValidation) {
    auto cfg = small_config();
    cfg.mqes = 63;
    host h(cfg);
    auto mem = h.alloc(64 * 64);
    auto cqmem = h.alloc(64 * 16);
    const std::uint16_t bad_qid = st(1, nvme::sc::invalid_qid);
    EXPECT_EQ(sct_sc(h.create_cq(0, 16, cqmem.iova)), bad_qid);
    EXPECT_EQ(sct_sc(h.create_cq(9, 16, cqmem.iova)), bad_qid);  // max_io_queues = 8
    EXPECT_EQ(sct_sc(h.create_cq(1, 65, cqmem.iova)), st(1, nvme::sc::invalid_queue_size));
    EXPECT_EQ(sct_sc(h.create_cq(1, 16, cqmem.iova, false)), st(0, invalid_field));  // CAP.CQR
    EXPECT_EQ(sct_sc(h.create_cq(1, 16, cqmem.iova + 8)), st(0, nvme::sc::invalid_prp_offset));
    // SQ on a CQ that does not exist.
    EXPECT_EQ(sct_sc(h.create_sq(1, 16, mem.iova, 1)), st(1, nvme::sc::cq_invalid));
    EXPECT_EQ(sct_sc(h.create_cq(1, 64, cqmem.iova)), 0);
    EXPECT_EQ(sct_sc(h.create_cq(1, 64, cqmem.iova)), bad_qid);  // already exists
    EXPECT_EQ(sct_sc(h.create_sq(1, 64, mem.iova, 1, false)), st(0, invalid_field));
    EXPECT_EQ(sct_sc(h.create_sq(1, 1, mem.iova, 1)), st(1, nvme::sc::invalid_queue_size));
    EXPECT_EQ(sct_sc(h.create_sq(1, 64, mem.iova, 1)), 0);
    EXPECT_EQ(sct_sc(h.create_sq(1, 64, mem.iova, 1)), bad_qid);
    // Deletion order: the CQ cannot go while its SQ exists.
    nvme::sqe del{};
    del.opcode = nvme::admin_op::delete_io_cq;
    del.cdw10 = 1;
    EXPECT_EQ(sct_sc(h.run_admin(del)), st(1, nvme::sc::invalid_queue_deletion));
    nvme::sqe dsq{};
    dsq.opcode = nvme::admin_op::delete_io_sq;
    dsq.cdw10 = 1;
    EXPECT_EQ(sct_sc(h.run_admin(dsq)), 0);
    EXPECT_EQ(sct_sc(h.run_admin(dsq)), bad_qid);
    EXPECT_EQ(sct_sc(h.run_admin(del)), 0);
    EXPECT_EQ(sct_sc(h.run_admin(del)), bad_qid);
    dsq.cdw10 = 0;
    EXPECT_EQ(sct_sc(h.run_admin(dsq)), bad_qid);  // the admin queue cannot be deleted
}

TEST(SimAdmin, QueueMemoryMustBeMapped) {
    host h(small_config());
    EXPECT_EQ(sct_sc(h.create_cq(1, 16, 0x7000'0000'0000ull)),
              st(0, nvme::sc::data_transfer_error));
}

TEST(SimAdmin, NumberOfQueuesFeature) {
    host h(small_config());  // max_io_queues = 8
    nvme::sqe set{};
    set.opcode = nvme::admin_op::set_features;
    set.cdw10 = nvme::feature::number_of_queues;
    set.cdw11 = 99 | (2u << 16);  // ask 100 SQs, 3 CQs
    nvme::cqe c = h.run_admin(set);
    ASSERT_EQ(sct_sc(c), 0);
    EXPECT_EQ(c.dw0 & 0xffff, 7u);
    EXPECT_EQ(c.dw0 >> 16, 2u);
    nvme::sqe get{};
    get.opcode = nvme::admin_op::get_features;
    get.cdw10 = nvme::feature::number_of_queues;
    c = h.run_admin(get);
    EXPECT_EQ(c.dw0, 7u | (2u << 16));
    set.cdw11 = 0xffff;
    EXPECT_EQ(sct_sc(h.run_admin(set)), st(0, invalid_field));
    // Once I/O queues exist the allocation cannot change.
    h.make_io_queue(1, 8);
    set.cdw11 = 1 | (1u << 16);
    EXPECT_EQ(sct_sc(h.run_admin(set)), st(0, nvme::sc::command_sequence_error));
}

TEST(SimAdmin, VolatileWriteCacheFeature) {
    host h(small_config());
    nvme::sqe set{};
    set.opcode = nvme::admin_op::set_features;
    set.cdw10 = nvme::feature::volatile_write_cache;
    set.cdw11 = 0;
    EXPECT_EQ(sct_sc(h.run_admin(set)), 0);
    nvme::sqe get{};
    get.opcode = nvme::admin_op::get_features;
    get.cdw10 = nvme::feature::volatile_write_cache;
    EXPECT_EQ(h.run_admin(get).dw0, 0u);
    set.cdw11 = 1;
    EXPECT_EQ(sct_sc(h.run_admin(set)), 0);
    EXPECT_EQ(h.run_admin(get).dw0, 1u);
    get.cdw10 = 0x77;
    EXPECT_EQ(sct_sc(h.run_admin(get)), st(0, invalid_field));
}

TEST(SimAdmin, SmartLogCountsHostIo) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(sct_sc(h.run(q, host::rw(nvme::io_opcode::write, i * 8, 8, buf.iova))), 0);
    ASSERT_EQ(sct_sc(h.run(q, host::rw(nvme::io_opcode::read, 0, 8, buf.iova))), 0);
    auto logbuf = h.alloc(4096);
    nvme::sqe c{};
    c.opcode = nvme::admin_op::get_log_page;
    c.nsid = 0xffffffff;
    c.prp1 = logbuf.iova;
    c.cdw10 = nvme::log_page::smart_health | ((512 / 4 - 1) << 16);
    ASSERT_EQ(sct_sc(h.run_admin(c)), 0);
    const auto& log = *static_cast<const nvme::smart_log*>(logbuf.vaddr);
    EXPECT_EQ(log.host_writes[0], 3);
    EXPECT_EQ(log.host_reads[0], 1);
    EXPECT_EQ(log.data_units_written[0], 1);  // 24 units of 512 B, rounded up to thousands
    EXPECT_EQ(log.data_units_read[0], 1);
    int kelvin = log.temperature[0] | (log.temperature[1] << 8);
    EXPECT_GT(kelvin, 273);
    EXPECT_EQ(h.ctrl->stats().bytes_written, 3u * 4096);
    c.cdw10 = 0x42 | (127u << 16);
    EXPECT_EQ(sct_sc(h.run_admin(c)), st(0, invalid_field));
}

TEST(SimAdmin, ErrorLogRecordsFailedCommands) {
    host h(small_config());
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    std::uint64_t beyond = (16ull << 20) / 512;
    nvme::cqe bad = h.run(q, host::rw(nvme::io_opcode::read, beyond, 1, buf.iova));
    EXPECT_EQ(sct_sc(bad), st(0, nvme::sc::lba_out_of_range));
    nvme::sqe c{};
    c.opcode = nvme::admin_op::get_log_page;
    c.prp1 = buf.iova;
    c.cdw10 = nvme::log_page::error_info | ((256 / 4 - 1) << 16);
    ASSERT_EQ(sct_sc(h.run_admin(c)), 0);
    const auto* e = static_cast<const std::uint8_t*>(buf.vaddr);
    std::uint64_t count;
    std::uint16_t sqid, cid;
    std::uint64_t lba;
    std::memcpy(&count, e, 8);
    std::memcpy(&sqid, e + 8, 2);
    std::memcpy(&cid, e + 10, 2);
    std::memcpy(&lba, e + 16, 8);
    EXPECT_GE(count, 1u);
    EXPECT_EQ(sqid, 1);
    EXPECT_EQ(cid, bad.cid);
    EXPECT_EQ(lba, beyond);
}

TEST(SimAdmin, AbortOfDelayedCommandAndOfUnknownCommand) {
    auto cfg = small_config();
    cfg.latency = std::chrono::hours(1);  // never completes on its own during the test
    host h(cfg);
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    std::uint16_t victim = h.put(q, host::rw(nvme::io_opcode::read, 0, 8, buf.iova));
    h.ring_sq(q);
    h.ctrl->step();
    nvme::cqe c{};
    EXPECT_FALSE(h.reap(q, c));  // still waiting for its latency
    nvme::sqe ab{};
    ab.opcode = nvme::admin_op::abort;
    ab.cdw10 = 1u | (std::uint32_t{victim} << 16);
    nvme::cqe ar = h.run_admin(ab);
    EXPECT_EQ(sct_sc(ar), 0);
    EXPECT_EQ(ar.dw0 & 1, 0u);  // aborted
    ASSERT_TRUE(h.reap(q, c));
    EXPECT_EQ(c.cid, victim);
    EXPECT_EQ(sct_sc(c), st(0, nvme::sc::abort_requested));
    // Not outstanding anymore: Abort reports "not aborted".
    ar = h.run_admin(ab);
    EXPECT_EQ(ar.dw0 & 1, 1u);
    EXPECT_EQ(h.ctrl->stats().aborts, 2u);
}

TEST(SimAdmin, DeletingSqAbortsItsDelayedCommands) {
    auto cfg = small_config();
    cfg.latency = std::chrono::hours(1);
    host h(cfg);
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    std::uint16_t a = h.put(q, host::rw(nvme::io_opcode::read, 0, 8, buf.iova));
    std::uint16_t b = h.put(q, host::rw(nvme::io_opcode::read, 8, 8, buf.iova));
    h.ring_sq(q);
    h.ctrl->step();
    nvme::sqe dsq{};
    dsq.opcode = nvme::admin_op::delete_io_sq;
    dsq.cdw10 = 1;
    EXPECT_EQ(sct_sc(h.run_admin(dsq)), 0);
    nvme::cqe c{};
    ASSERT_TRUE(h.reap(q, c));
    EXPECT_EQ(c.cid, a);
    EXPECT_EQ(sct_sc(c), st(0, nvme::sc::aborted_sq_deleted));
    ASSERT_TRUE(h.reap(q, c));
    EXPECT_EQ(c.cid, b);
}

TEST(SimAdmin, AsyncEventRequestIsHeldUntilAnEvent) {
    host h(small_config());
    h.make_io_queue(1, 8);
    nvme::sqe aer{};
    aer.opcode = nvme::admin_op::async_event_request;
    std::uint16_t cid = h.put(h.admin, aer);
    h.ring_sq(h.admin);
    h.ctrl->step();
    nvme::cqe c{};
    EXPECT_FALSE(h.reap(h.admin, c));
    // An out-of-range SQ tail is an Invalid Doorbell Write Value event.
    h.dev->bar0()[nvme::reg::sq_tail_doorbell(1, 0) / 4] = 100;
    h.ctrl->step();
    ASSERT_TRUE(h.reap(h.admin, c));
    EXPECT_EQ(c.cid, cid);
    EXPECT_EQ(sct_sc(c), 0);
    EXPECT_EQ(c.dw0 & 0x7, 0u);           // error status event
    EXPECT_EQ((c.dw0 >> 8) & 0xff, 1u);   // invalid doorbell write value
    EXPECT_EQ((c.dw0 >> 16) & 0xff, 1u);  // error information log
}

TEST(SimAdmin, InvalidAdminOpcode) {
    host h(small_config());
    nvme::sqe c{};
    c.opcode = 0x7f;
    EXPECT_EQ(sct_sc(h.run_admin(c)), st(0, nvme::sc::invalid_opcode));
}

}  // namespace
}  // namespace convme::sim::testing

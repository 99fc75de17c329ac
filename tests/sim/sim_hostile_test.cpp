// SPDX-License-Identifier: MIT
// The simulated controller's hostile behaviours (issue 11), driven by the hand-written host:
// disable/enable delays, late completions that an Abort cannot stop, first-fit IOVA reuse, SQ
// head lag, queue creation against the granted count, metadata and zoned namespaces, limits.
#include <chrono>
#include <thread>

#include "sim_test_host.hpp"

namespace convme::sim::testing {
namespace {

using namespace std::chrono_literals;

void set_queues(host& h, std::uint32_t n) {
    nvme::sqe c{};
    c.opcode = nvme::admin_op::set_features;
    c.cdw10 = nvme::feature::number_of_queues;
    c.cdw11 = ((n - 1) << 16) | (n - 1);
    EXPECT_EQ(sct_sc(h.run_admin(c)), 0);
}

TEST(SimHostile, DisableKeepsProcessingUntilTheDelayThenDropsTheQueues) {
    auto cfg = small_config();
    cfg.disable_delay = 30ms;
    host h(cfg);
    set_queues(h, 2);
    queue q = h.make_io_queue(1, 16);
    auto buf = h.alloc(4096);
    h.dev->write32(nvme::reg::cc, 0);  // CC.EN=0: RDY stays 1 for 30 ms
    EXPECT_TRUE(h.ctrl->stats().disabling);
    EXPECT_TRUE(h.dev->read32(nvme::reg::csts) & nvme::csts::rdy);
    // Still fetching and posting: a read submitted now completes.
    nvme::cqe c = h.run(q, host::rw(nvme::io_opcode::read, 0, 8, buf.iova));
    EXPECT_EQ(sct_sc(c), 0);
    std::this_thread::sleep_for(40ms);
    h.ctrl->step();
    EXPECT_FALSE(h.dev->read32(nvme::reg::csts) & nvme::csts::rdy);
    EXPECT_FALSE(h.ctrl->stats().disabling);
    EXPECT_EQ(h.ctrl->stats().resets, 1u);
}

TEST(SimHostile, ClearingEnableWhileEnablingLatchesFatalUntilACleanDisable) {
    auto cfg = small_config();
    cfg.enable_delay = 50ms;
    host h(cfg, false);
    EXPECT_EQ(h.dev->enable_bus_master(), 0);
    h.enable();
    EXPECT_TRUE(h.ctrl->stats().enabling);
    EXPECT_FALSE(h.dev->read32(nvme::reg::csts) & nvme::csts::rdy);
    h.dev->write32(nvme::reg::cc, 0);  // while enabling: undefined, the model goes fatal
    EXPECT_TRUE(h.dev->read32(nvme::reg::csts) & nvme::csts::cfs);
    h.dev->write32(nvme::reg::cc,
                   nvme::cc::en | (6u << nvme::cc::iosqes_shift) | (4u << nvme::cc::iocqes_shift));
    std::this_thread::sleep_for(60ms);
    h.ctrl->step();
    EXPECT_FALSE(h.dev->read32(nvme::reg::csts) & nvme::csts::rdy)
        << "refused while the fatal status is latched";
    h.dev->write32(nvme::reg::cc, 0);  // clean disable clears it
    EXPECT_FALSE(h.dev->read32(nvme::reg::csts) & nvme::csts::cfs);
}

// CSTS.CFS raised while the controller is disabled stays visible after CC.EN=1 until the next
// CC.EN=0: the model used to clear the bit on enable but stay fatal, i.e. report a healthy,
// ready controller that answered nothing (admin commands timed out instead of failing on CFS).
TEST(SimHostile, FatalStatusRaisedWhileDisabledStaysVisibleUntilTheNextDisable) {
    host h(small_config(), false);
    EXPECT_EQ(h.dev->enable_bus_master(), 0);
    h.ctrl->set_fatal();
    const std::uint32_t csts = h.enable();
    EXPECT_TRUE(csts & nvme::csts::cfs) << "CSTS=" << csts;
    EXPECT_TRUE(h.ctrl->stats().fatal);
    h.dev->write32(nvme::reg::cc, 0);
    h.ctrl->step();
    EXPECT_FALSE(h.dev->read32(nvme::reg::csts) & nvme::csts::cfs);
    EXPECT_FALSE(h.ctrl->stats().fatal);
    EXPECT_TRUE(h.enable() & nvme::csts::rdy);
    set_queues(h, 2);
}

// An enable that fails (CSTS.CFS while CSTS.RDY=0) may be given up with CC.EN=0: that is the
// reset a fatal controller needs, not the undefined "disable while enabling".
TEST(SimHostile, ClearingEnableAfterTheEnableFailedIsACleanReset) {
    auto cfg = small_config();
    cfg.enable_delay = 50ms;
    host h(cfg, false);
    EXPECT_EQ(h.dev->enable_bus_master(), 0);
    h.enable();
    ASSERT_TRUE(h.ctrl->stats().enabling);
    h.ctrl->set_fatal();
    h.dev->write32(nvme::reg::cc, 0);
    h.ctrl->step();
    EXPECT_FALSE(h.dev->read32(nvme::reg::csts) & nvme::csts::cfs);
    EXPECT_FALSE(h.ctrl->stats().fatal) << h.ctrl->last_diagnostic();
    h.enable();
    std::this_thread::sleep_for(60ms);
    h.ctrl->step();
    EXPECT_TRUE(h.dev->read32(nvme::reg::csts) & nvme::csts::rdy);
    set_queues(h, 2);
}

TEST(SimHostile, LateCompletionIsNotAbortableAndMovesDataLate) {
    host h(small_config());
    set_queues(h, 2);
    queue q = h.make_io_queue(1, 16);
    auto buf = h.alloc(4096);
    fault f;
    f.what = fault::kind::late_completion;
    f.opcode = nvme::io_opcode::read;
    f.delay = 40ms;
    h.ctrl->inject(f);
    const std::uint16_t cid = h.put(q, host::rw(nvme::io_opcode::read, 0, 8, buf.iova));
    h.ring_sq(q);
    h.ctrl->step();
    nvme::cqe c{};
    EXPECT_FALSE(h.reap(q, c));
    nvme::sqe abort{};
    abort.opcode = nvme::admin_op::abort;
    abort.cdw10 = (std::uint32_t{cid} << 16) | 1;
    nvme::cqe a = h.run_admin(abort);
    EXPECT_EQ(sct_sc(a), 0);
    EXPECT_EQ(a.dw0 & 1, 1u) << "Abort must answer 'not aborted'";
    std::this_thread::sleep_for(50ms);
    h.ctrl->step();
    ASSERT_TRUE(h.reap(q, c));
    EXPECT_EQ(c.cid, cid);
    EXPECT_EQ(sct_sc(c), 0);
    EXPECT_EQ(h.ctrl->stats().late_completions, 1u);
}

TEST(SimHostile, FreedIovasAreReusedFirstFitAndFreeingUnderALiveQueueIsCounted) {
    host h(small_config());
    set_queues(h, 2);
    driver::dma_region a, b;
    ASSERT_EQ(h.dev->alloc_dma(4096, 4096, a), 0);
    const std::uint64_t iova = a.iova;
    h.dev->free_dma(a);
    ASSERT_EQ(h.dev->alloc_dma(4096, 4096, b), 0);
    EXPECT_EQ(b.iova, iova) << "the freed IOVA is handed out again";
    h.dev->free_dma(b);
    EXPECT_EQ(h.ctrl->stats().dma_lifetime_violations, 0u);
    // Freeing the ring of a live queue is a lifetime violation.
    queue q;
    q.qid = 1;
    q.size = q.cq_size = 16;
    ASSERT_EQ(h.dev->alloc_dma(16 * 64, 4096, q.sq), 0);
    q.cq = h.alloc(16 * 16);
    EXPECT_EQ(sct_sc(h.create_cq(1, 16, q.cq.iova)), 0);
    EXPECT_EQ(sct_sc(h.create_sq(1, 16, q.sq.iova, 1)), 0);
    h.dev->free_dma(q.sq);
    EXPECT_EQ(h.ctrl->stats().dma_lifetime_violations, 1u);
    EXPECT_NE(h.ctrl->last_diagnostic().find("ring of SQ 1"), std::string::npos)
        << h.ctrl->last_diagnostic();
}

TEST(SimHostile, SqHeadIsReportedWithLag) {
    auto cfg = small_config();
    cfg.sqhd_lag = 3;
    host h(cfg);
    set_queues(h, 2);
    queue q = h.make_io_queue(1, 8);
    auto buf = h.alloc(4096);
    for (int i = 0; i < 5; ++i) {
        nvme::cqe c = h.run(q, host::rw(nvme::io_opcode::read, 0, 1, buf.iova));
        const std::uint32_t real = static_cast<std::uint32_t>(i + 1) % 8;
        const std::uint32_t lagged = (real + 8 - std::min<std::uint32_t>(3, i + 1)) % 8;
        EXPECT_EQ(c.sqhd, lagged) << i;
    }
}

TEST(SimHostile, CreateQueueBeyondTheGrantedCountIsRefused) {
    host h(small_config());
    set_queues(h, 2);
    auto cq = h.alloc(16 * 16);
    EXPECT_EQ(sct_sc(h.create_cq(3, 16, cq.iova)),
              st(nvme::sct::command_specific, nvme::sc::invalid_qid));
    EXPECT_EQ(sct_sc(h.create_cq(2, 16, cq.iova)), 0);
}

TEST(SimHostile, NamespacesReportMetadataFormatsAndTheirCommandSet) {
    auto cfg = small_config();
    namespace_config md{16ull << 20, 512};
    md.metadata_size = 8;
    md.extended_lba = true;
    namespace_config zoned{16ull << 20, 512};
    zoned.csi = nvme::csi::zoned;
    zoned.zone_bytes = 1u << 20;
    cfg.namespaces = {md, zoned};
    host h(cfg);
    auto buf = h.alloc(4096);
    nvme::sqe id{};
    id.opcode = nvme::admin_op::identify;
    id.nsid = 1;
    id.prp1 = buf.iova;
    id.cdw10 = nvme::cns::ns;
    ASSERT_EQ(sct_sc(h.run_admin(id)), 0);
    const auto* ns = static_cast<const nvme::identify_namespace*>(buf.vaddr);
    EXPECT_EQ(ns->flbas, 0x11);
    EXPECT_EQ(ns->lbaf[1].ms, 8);
    EXPECT_EQ(ns->lbaf[0].ms, 0);
    id.nsid = 2;
    id.cdw10 = nvme::cns::ns_id_descriptors;
    ASSERT_EQ(sct_sc(h.run_admin(id)), 0);
    const auto* d = static_cast<const std::uint8_t*>(buf.vaddr);
    EXPECT_EQ(d[0], nvme::nidt_csi);
    EXPECT_EQ(d[4], nvme::csi::zoned);
    // Zoned: writes only at the write pointer.
    set_queues(h, 2);
    queue q = h.make_io_queue(1, 16);
    auto data = h.alloc(4096);
    EXPECT_EQ(sct_sc(h.run(q, host::rw(nvme::io_opcode::write, 8, 8, data.iova, 0, 2))),
              st(nvme::sct::command_specific, nvme::sc::zone_invalid_write));
    EXPECT_EQ(sct_sc(h.run(q, host::rw(nvme::io_opcode::write, 0, 8, data.iova, 0, 2))), 0);
    EXPECT_EQ(sct_sc(h.run(q, host::rw(nvme::io_opcode::write, 8, 8, data.iova, 0, 2))), 0);
}

TEST(SimHostile, WriteZeroesAndDatasetManagementLimits) {
    auto cfg = small_config();
    cfg.wzsl = 1;     // 2 x 4 KiB = 16 blocks of 512
    cfg.dmrsl = 100;  // blocks per range
    cfg.dmrl = 2;     // ranges
    host h(cfg);
    set_queues(h, 2);
    queue q = h.make_io_queue(1, 16);
    EXPECT_EQ(sct_sc(h.run(q, host::rw(nvme::io_opcode::write_zeroes, 0, 16, 0))), 0);
    EXPECT_EQ(sct_sc(h.run(q, host::rw(nvme::io_opcode::write_zeroes, 0, 17, 0))),
              st(nvme::sct::generic, nvme::sc::invalid_field));
    auto ranges = h.alloc(4096);
    auto* r = static_cast<nvme::dsm_range*>(ranges.vaddr);
    r[0] = {0, 100, 0};
    r[1] = {0, 101, 200};
    nvme::sqe dsm{};
    dsm.opcode = nvme::io_opcode::dataset_management;
    dsm.nsid = 1;
    dsm.prp1 = ranges.iova;
    dsm.cdw10 = 1;  // two ranges
    dsm.cdw11 = nvme::dsm_deallocate;
    EXPECT_EQ(sct_sc(h.run(q, dsm)), st(nvme::sct::generic, nvme::sc::invalid_field));
    r[1].nlb = 100;
    EXPECT_EQ(sct_sc(h.run(q, dsm)), 0);
    dsm.cdw10 = 2;  // three ranges > DMRL
    EXPECT_EQ(sct_sc(h.run(q, dsm)), st(nvme::sct::generic, nvme::sc::invalid_field));
}

}  // namespace
}  // namespace convme::sim::testing

// SPDX-License-Identifier: MIT
// Simulated controller: register handshake (CAP, CC/CSTS, shutdown), fatal status, removal,
// function reset, bus mastering.
#include "sim_test_host.hpp"

namespace convme::sim::testing {
namespace {

TEST(SimRegisters, CapAndVersionDescribeTheConfiguration) {
    auto cfg = small_config();
    cfg.mqes = 255;
    cfg.dstrd = 2;
    cfg.timeout_500ms = 7;
    host h(cfg, false);
    nvme::cap_fields cap{h.dev->read64(nvme::reg::cap)};
    EXPECT_EQ(cap.mqes(), 255u);
    EXPECT_TRUE(cap.cqr());
    EXPECT_EQ(cap.to_500ms(), 7u);
    EXPECT_EQ(cap.dstrd(), 2u);
    EXPECT_EQ(cap.css() & 1u, 1u);
    EXPECT_EQ(cap.mpsmin(), 0u);
    EXPECT_EQ(cap.mpsmax(), 4u);
    EXPECT_EQ(h.dev->read32(nvme::reg::vs), 0x00010400u);
    // Doorbells for every queue fit in BAR0 with the configured stride.
    EXPECT_GE(h.dev->bar0_size(), nvme::reg::cq_head_doorbell(8, 2) + 4u);
    // CAP is read-only.
    h.dev->write32(nvme::reg::cap, 0);
    EXPECT_EQ(nvme::cap_fields{h.dev->read64(nvme::reg::cap)}.mqes(), 255u);
}

TEST(SimRegisters, EnableSetsReadyAndDisableClearsIt) {
    host h(small_config(), false);
    ASSERT_EQ(h.dev->enable_bus_master(), 0);
    EXPECT_EQ(h.dev->read32(nvme::reg::csts) & nvme::csts::rdy, 0u);
    std::uint32_t csts = h.enable();
    EXPECT_EQ(csts & nvme::csts::rdy, nvme::csts::rdy);
    EXPECT_EQ(csts & nvme::csts::cfs, 0u);
    h.dev->write32(nvme::reg::cc, 0);
    EXPECT_EQ(h.dev->read32(nvme::reg::csts) & nvme::csts::rdy, 0u);
    EXPECT_EQ(h.ctrl->stats().resets, 1u);
    // Enabling again works (the admin queue starts over).
    h.admin.tail = h.admin.head = 0;
    h.admin.phase = true;
    std::memset(h.admin.cq.vaddr, 0, h.admin.cq.size);
    h.dev->write32(nvme::reg::cc, nvme::cc::en | (6u << 16) | (4u << 20));
    EXPECT_EQ(h.dev->read32(nvme::reg::csts) & nvme::csts::rdy, nvme::csts::rdy);
    nvme::sqe id{};
    id.opcode = nvme::admin_op::get_features;
    id.cdw10 = nvme::feature::number_of_queues;
    EXPECT_EQ(sct_sc(h.run_admin(id)), 0);
}

TEST(SimRegisters, BadControllerConfigurationIsFatal) {
    host h(small_config(), false);
    ASSERT_EQ(h.dev->enable_bus_master(), 0);
    // MPS = 5 (128 KiB) is above CAP.MPSMAX = 4.
    std::uint32_t csts = h.enable(32, 5u << nvme::cc::mps_shift);
    EXPECT_EQ(csts & nvme::csts::rdy, 0u);
    EXPECT_EQ(csts & nvme::csts::cfs, nvme::csts::cfs);
    EXPECT_NE(h.ctrl->last_diagnostic().find("MPS"), std::string::npos);
}

TEST(SimRegisters, EnableWithoutBusMasterIsFatal) {
    host h(small_config(), false);
    std::uint32_t csts = h.enable();
    EXPECT_EQ(csts & nvme::csts::cfs, nvme::csts::cfs);
    EXPECT_NE(h.ctrl->last_diagnostic().find("bus master"), std::string::npos);
}

TEST(SimRegisters, ShutdownReportsCompleteAndClearing) {
    host h(small_config());
    std::uint32_t cc = h.dev->read32(nvme::reg::cc);
    h.dev->write32(nvme::reg::cc, cc | nvme::cc::shn_normal);
    EXPECT_EQ(h.dev->read32(nvme::reg::csts) & nvme::csts::shst_mask, nvme::csts::shst_complete);
    h.dev->write32(nvme::reg::cc, cc);
    EXPECT_EQ(h.dev->read32(nvme::reg::csts) & nvme::csts::shst_mask, 0u);
}

TEST(SimRegisters, SetFatalStopsProcessingUntilReset) {
    host h(small_config());
    h.ctrl->set_fatal();
    EXPECT_EQ(h.dev->read32(nvme::reg::csts) & nvme::csts::cfs, nvme::csts::cfs);
    nvme::sqe c{};
    c.opcode = nvme::admin_op::get_features;
    c.cdw10 = nvme::feature::number_of_queues;
    h.put(h.admin, c);
    h.ring_sq(h.admin);
    h.ctrl->step();
    nvme::cqe cqe{};
    EXPECT_FALSE(h.reap(h.admin, cqe));
    std::uint64_t before = h.ctrl->stats().commands;
    // Controller reset clears the fatal state; the queued command is gone with the queues.
    h.dev->write32(nvme::reg::cc, 0);
    EXPECT_EQ(h.dev->read32(nvme::reg::csts), 0u);
    EXPECT_EQ(h.ctrl->stats().commands, before);
}

TEST(SimRegisters, RemovedDeviceReadsAllOnesAndProcessesNothing) {
    host h(small_config());
    h.ctrl->remove();
    EXPECT_EQ(h.dev->read32(nvme::reg::csts), 0xffffffffu);
    EXPECT_EQ(h.dev->read32(nvme::reg::vs), 0xffffffffu);
    EXPECT_EQ(h.dev->read64(nvme::reg::cap), ~0ull);
    // Through the mapped BAR as well.
    EXPECT_EQ(h.dev->bar0()[nvme::reg::csts / 4], 0xffffffffu);
    EXPECT_EQ(h.dev->bar0()[nvme::reg::doorbell_base / 4], 0xffffffffu);
    std::uint64_t before = h.ctrl->stats().commands;
    nvme::sqe c{};
    c.opcode = nvme::admin_op::identify;
    h.put(h.admin, c);
    h.ring_sq(h.admin);
    h.ctrl->step();
    EXPECT_EQ(h.ctrl->stats().commands, before);
    EXPECT_EQ(h.dev->function_reset(), -ENODEV);
}

TEST(SimRegisters, FunctionResetReturnsToPowerOnState) {
    host h(small_config());
    h.make_io_queue(1, 8);
    EXPECT_EQ(h.dev->function_reset(), 0);
    EXPECT_EQ(h.dev->read32(nvme::reg::csts), 0u);
    EXPECT_EQ(h.dev->read32(nvme::reg::cc), 0u);
    EXPECT_EQ(h.dev->read32(nvme::reg::aqa), 0u);
    EXPECT_EQ(h.ctrl->stats().resets, 1u);
}

}  // namespace
}  // namespace convme::sim::testing

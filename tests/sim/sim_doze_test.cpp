// SPDX-License-Identifier: MIT
// The simulated controller's device thread: it dozes when its doorbells are idle, a doorbell write
// (trapped by the pci_device face) wakes it, it notifies armed completion queues, and it stops
// promptly even while dozing until a far-away delayed completion.
#include <atomic>
#include <chrono>
#include <thread>

#include "eventually.hpp"
#include "sim_test_host.hpp"

namespace convme::sim::testing {
namespace {

using namespace std::chrono_literals;

// small_config() with or without the device thread. Built with clear() + push_back(): copying the
// defaulted init-list member trips a gcc 12 -O2 maybe-uninitialized false positive here.
controller_config config(bool device_thread) {
    controller_config c;
    c.namespaces.clear();
    c.namespaces.push_back(namespace_config{16ull << 20, 512});
    c.inline_mode = !device_thread;
    c.max_io_queues = 8;
    return c;
}
controller_config threaded_config() {
    return config(true);
}

using convme_test::eventually;

nvme::sqe identify_controller(std::uint64_t prp1) {
    nvme::sqe c{};
    c.opcode = nvme::admin_op::identify;
    c.prp1 = prp1;
    c.cdw10 = nvme::cns::controller;
    return c;
}

// Submit on `q`, wait for the device thread to answer, acknowledge the CQ entry.
nvme::cqe submit_and_wait(host& h, queue& q, const nvme::sqe& cmd) {
    const std::uint16_t cid = h.put(q, cmd);
    h.ring_sq(q);
    nvme::cqe c{};
    EXPECT_TRUE(eventually([&] { return h.reap(q, c); }))
        << "no completion for opcode " << int(cmd.opcode);
    EXPECT_EQ(c.cid, cid);
    h.ring_cq(q);
    return c;
}

TEST(SimDoze, RegisterWritesAreTrappedOnlyWithADeviceThread) {
    host threaded(threaded_config());
    EXPECT_EQ(threaded.dev->bar0(), nullptr);  // the driver then rings doorbells with write32()
    host stepped(config(false));
    EXPECT_NE(stepped.dev->bar0(), nullptr);
}

TEST(SimDoze, IdleDeviceThreadSleepsAndADoorbellWakesIt) {
    host h(threaded_config());
    auto dozing = [&] { return h.ctrl->stats().device_dozing; };
    ASSERT_TRUE(eventually(dozing));
    // The dozing flag goes up before the sleep is counted: wait for the count too.
    EXPECT_TRUE(eventually([&] { return h.ctrl->stats().device_sleeps >= 1; }));
    // No safety-net timeout in the doze: only the doorbell write can get this command done.
    const auto buf = h.alloc(4096);
    EXPECT_EQ(sct_sc(submit_and_wait(h, h.admin, identify_controller(buf.iova))), 0);
    EXPECT_EQ(h.ctrl->stats().admin_commands, 1u);
    // Many rounds, each started once the device fell asleep again: no wake-up is lost.
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(eventually(dozing)) << i;
        ASSERT_EQ(sct_sc(submit_and_wait(h, h.admin, identify_controller(buf.iova))), 0) << i;
    }
    EXPECT_EQ(h.ctrl->stats().admin_commands, 21u);
}

TEST(SimDoze, ArmedCompletionQueueIsNotifiedUntilDisarmed) {
    host h(threaded_config());
    std::atomic<int> notified{0};
    auto bump = [](void* p) { static_cast<std::atomic<int>*>(p)->fetch_add(1); };
    ASSERT_TRUE(h.dev->set_completion_notify(0, bump, &notified));
    const auto buf = h.alloc(4096);
    EXPECT_EQ(sct_sc(submit_and_wait(h, h.admin, identify_controller(buf.iova))), 0);
    // The notice follows the posting: by the time the host could see the entry, it is on its way.
    EXPECT_TRUE(eventually([&] { return notified.load() >= 1; }));
    ASSERT_TRUE(h.dev->set_completion_notify(0, nullptr, nullptr));
    const int before = notified.load();
    EXPECT_EQ(sct_sc(submit_and_wait(h, h.admin, identify_controller(buf.iova))), 0);
    EXPECT_EQ(notified.load(), before);  // disarmed: never called again after the call returned
}

TEST(SimDoze, InlineModeHasNoCompletionNotification) {
    host h(config(false));
    int n = 0;
    EXPECT_FALSE(h.dev->set_completion_notify(
        0, [](void* p) { ++*static_cast<int*>(p); }, &n));
}

TEST(SimDoze, DelayedCompletionArrivesWhileDozing) {
    auto cfg = threaded_config();
    cfg.latency = 20ms;
    host h(cfg);
    const auto buf = h.alloc(4096);
    queue q;
    q.qid = 1;
    q.size = q.cq_size = 16;
    q.sq = h.alloc(16 * 64);
    q.cq = h.alloc(16 * 16);
    nvme::sqe cq{};
    cq.opcode = nvme::admin_op::create_io_cq;
    cq.prp1 = q.cq.iova;
    cq.cdw10 = 1u | (15u << 16);
    cq.cdw11 = nvme::queue_phys_contig;
    ASSERT_EQ(sct_sc(submit_and_wait(h, h.admin, cq)), 0);
    nvme::sqe sq = cq;
    sq.opcode = nvme::admin_op::create_io_sq;
    sq.prp1 = q.sq.iova;
    sq.cdw11 = nvme::queue_phys_contig | (1u << 16);
    ASSERT_EQ(sct_sc(submit_and_wait(h, h.admin, sq)), 0);
    const std::uint64_t sleeps_before = h.ctrl->stats().device_sleeps;
    EXPECT_EQ(sct_sc(submit_and_wait(h, q, host::rw(nvme::io_opcode::read, 0, 8, buf.iova))), 0);
    // 20 ms of model latency is spent asleep (a timed doze), not spinning.
    EXPECT_GT(h.ctrl->stats().device_sleeps, sleeps_before);
}

TEST(SimDoze, DestroyingTheControllerWakesADozingDeviceThread) {
    auto cfg = threaded_config();
    cfg.latency = 600s;  // the device thread would doze until this completion is due
    auto h = std::make_unique<host>(cfg);
    const auto buf = h->alloc(4096);
    queue q;
    q.qid = 1;
    q.size = q.cq_size = 16;
    q.sq = h->alloc(16 * 64);
    q.cq = h->alloc(16 * 16);
    nvme::sqe cq{};
    cq.opcode = nvme::admin_op::create_io_cq;
    cq.prp1 = q.cq.iova;
    cq.cdw10 = 1u | (15u << 16);
    cq.cdw11 = nvme::queue_phys_contig;
    ASSERT_EQ(sct_sc(submit_and_wait(*h, h->admin, cq)), 0);
    nvme::sqe sq = cq;
    sq.opcode = nvme::admin_op::create_io_sq;
    sq.prp1 = q.sq.iova;
    sq.cdw11 = nvme::queue_phys_contig | (1u << 16);
    ASSERT_EQ(sct_sc(submit_and_wait(*h, h->admin, sq)), 0);
    h->put(q, host::rw(nvme::io_opcode::read, 0, 8, buf.iova));
    h->ring_sq(q);
    ASSERT_TRUE(eventually([&] { return h->ctrl->stats().io_commands == 1; }));
    ASSERT_TRUE(eventually([&] { return h->ctrl->stats().device_dozing; }));
    // Returns although the I/O is due in 10 minutes (a generous bound, not a timing measure).
    const auto t0 = std::chrono::steady_clock::now();
    h.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
}

}  // namespace
}  // namespace convme::sim::testing

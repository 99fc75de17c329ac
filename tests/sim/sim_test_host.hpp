// SPDX-License-Identifier: MIT
// A tiny hand-written NVMe host for testing the simulated controller model directly: it writes
// registers, builds SQEs by hand, rings doorbells through the BAR0 pointer and reads CQEs, with
// the controller in inline mode (nothing happens until step()).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <convme/nvme_spec.hpp>
#include <cstring>
#include <memory>
#include <vector>

#include "driver/sim/sim_controller.hpp"

namespace convme::sim::testing {

inline controller_config small_config() {
    controller_config c;
    c.namespaces = {namespace_config{16ull << 20, 512}};
    c.inline_mode = true;
    c.max_io_queues = 8;
    return c;
}

struct queue {
    std::uint16_t qid = 0;
    std::uint32_t size = 0;     // SQ entries
    std::uint32_t cq_size = 0;  // CQ entries
    driver::dma_region sq{}, cq{};
    std::uint32_t tail = 0, head = 0;
    bool phase = true;
    nvme::sqe* sqes() const { return static_cast<nvme::sqe*>(sq.vaddr); }
    volatile nvme::cqe* cqes() const { return static_cast<volatile nvme::cqe*>(cq.vaddr); }
};

class host {
  public:
    explicit host(controller_config cfg, bool bring_up = true) {
        ctrl = std::make_shared<simulated_controller>(cfg);
        dev = make_pci_device(ctrl);
        dstrd = cfg.dstrd;
        if (bring_up) {
            EXPECT_EQ(dev->enable_bus_master(), 0);
            enable();
        }
    }
    ~host() {
        for (auto& r : regions) dev->free_dma(r);
    }

    driver::dma_region alloc(std::size_t size, std::size_t align = 4096) {
        driver::dma_region r;
        EXPECT_EQ(dev->alloc_dma(size, align, r), 0);
        regions.push_back(r);
        return r;
    }

    // Admin queue setup + CC.EN=1; returns CSTS afterwards.
    std::uint32_t enable(std::uint32_t entries = 32, std::uint32_t cc_extra = 0) {
        admin.qid = 0;
        admin.size = entries;
        admin.cq_size = entries;
        admin.sq = alloc(entries * 64);
        admin.cq = alloc(entries * 16);
        dev->write32(nvme::reg::aqa, (entries - 1) | ((entries - 1) << 16));
        dev->write64(nvme::reg::asq, admin.sq.iova);
        dev->write64(nvme::reg::acq, admin.cq.iova);
        dev->write32(nvme::reg::cc, nvme::cc::en | (6u << nvme::cc::iosqes_shift) |
                                        (4u << nvme::cc::iocqes_shift) | cc_extra);
        ctrl->step();
        return dev->read32(nvme::reg::csts);
    }

    void ring_sq(queue& q) { ring(nvme::reg::sq_tail_doorbell(q.qid, dstrd), q.tail); }
    void ring_cq(queue& q) { ring(nvme::reg::cq_head_doorbell(q.qid, dstrd), q.head); }
    // Through the mapped BAR (inline mode), or write32() when the device thread traps writes.
    void ring(std::uint32_t off, std::uint32_t v) {
        if (volatile std::uint32_t* bar = dev->bar0())
            bar[off / 4] = v;
        else
            dev->write32(off, v);
    }

    // Place a command in the SQ (no doorbell); assigns a fresh cid unless keep_cid.
    std::uint16_t put(queue& q, nvme::sqe cmd, bool keep_cid = false) {
        if (!keep_cid) cmd.cid = next_cid++;
        std::memcpy(&q.sqes()[q.tail], &cmd, sizeof cmd);
        q.tail = (q.tail + 1) % q.size;
        return cmd.cid;
    }

    // Next CQE if its phase matches (consumes it locally; ring_cq() tells the device).
    bool reap(queue& q, nvme::cqe& out) {
        nvme::cqe& e = static_cast<nvme::cqe*>(q.cq.vaddr)[q.head];
        // Acquire: pairs with the device's release store of the phase tag, so the other fields
        // read below are complete even when a device thread posts concurrently.
        const std::uint16_t status =
            std::atomic_ref<std::uint16_t>(e.status).load(std::memory_order_acquire);
        if ((status & 1) != (q.phase ? 1 : 0)) return false;
        out.dw0 = e.dw0;
        out.dw1 = e.dw1;
        out.sqhd = e.sqhd;
        out.sqid = e.sqid;
        out.cid = e.cid;
        out.status = status;
        q.head = (q.head + 1) % q.cq_size;
        if (q.head == 0) q.phase = !q.phase;
        return true;
    }

    // Submit one command, step, return its completion (fails the test if none).
    nvme::cqe run(queue& q, nvme::sqe cmd) {
        std::uint16_t cid = put(q, cmd);
        ring_sq(q);
        ctrl->step();
        nvme::cqe c{};
        bool got = reap(q, c);
        EXPECT_TRUE(got) << "no completion for opcode " << int(cmd.opcode);
        if (got) {
            EXPECT_EQ(c.cid, cid);
            ring_cq(q);
            ctrl->step();
        }
        return c;
    }
    nvme::cqe run_admin(nvme::sqe cmd) { return run(admin, cmd); }

    nvme::cqe create_cq(std::uint16_t qid, std::uint32_t size, std::uint64_t iova, bool pc = true) {
        nvme::sqe c{};
        c.opcode = nvme::admin_op::create_io_cq;
        c.prp1 = iova;
        c.cdw10 = qid | ((size - 1) << 16);
        c.cdw11 = pc ? nvme::queue_phys_contig : 0;
        return run_admin(c);
    }
    nvme::cqe create_sq(std::uint16_t qid, std::uint32_t size, std::uint64_t iova,
                        std::uint16_t cqid, bool pc = true) {
        nvme::sqe c{};
        c.opcode = nvme::admin_op::create_io_sq;
        c.prp1 = iova;
        c.cdw10 = qid | ((size - 1) << 16);
        c.cdw11 = (pc ? nvme::queue_phys_contig : 0) | (std::uint32_t{cqid} << 16);
        return run_admin(c);
    }

    // I/O queue pair with separate sizes for SQ and CQ.
    queue make_io_queue(std::uint16_t qid, std::uint32_t sq_size, std::uint32_t cq_size = 0) {
        if (cq_size == 0) cq_size = sq_size;
        queue q;
        q.qid = qid;
        q.size = sq_size;
        q.cq_size = cq_size;
        q.sq = alloc(sq_size * 64);
        q.cq = alloc(cq_size * 16);
        EXPECT_EQ(create_cq(qid, cq_size, q.cq.iova).status >> 1, 0);
        EXPECT_EQ(create_sq(qid, sq_size, q.sq.iova, qid).status >> 1, 0);
        return q;
    }

    static nvme::sqe rw(std::uint8_t op, std::uint64_t slba, std::uint32_t blocks,
                        std::uint64_t prp1, std::uint64_t prp2 = 0, std::uint32_t nsid = 1) {
        nvme::sqe c{};
        c.opcode = op;
        c.nsid = nsid;
        c.prp1 = prp1;
        c.prp2 = prp2;
        c.cdw10 = static_cast<std::uint32_t>(slba);
        c.cdw11 = static_cast<std::uint32_t>(slba >> 32);
        c.cdw12 = blocks - 1;
        return c;
    }

    std::shared_ptr<simulated_controller> ctrl;
    std::unique_ptr<driver::pci_device> dev;
    std::uint32_t dstrd = 0;
    queue admin;
    std::uint16_t next_cid = 1;
    std::vector<driver::dma_region> regions;
};

// Status field without the phase bit: (SCT << 8) | SC.
inline std::uint16_t sct_sc(const nvme::cqe& c) {
    return nvme::status_sct_sc(c.status);
}
inline constexpr std::uint16_t st(std::uint16_t sct, std::uint16_t sc) {
    return static_cast<std::uint16_t>((sct << 8) | sc);
}

inline void fill_pattern(void* p, std::size_t n, std::uint32_t seed) {
    auto* b = static_cast<std::uint8_t*>(p);
    for (std::size_t i = 0; i < n; ++i)
        b[i] = static_cast<std::uint8_t>((i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

}  // namespace convme::sim::testing

// SPDX-License-Identifier: MIT
// Queue-pair ring mechanics, doorbells (plain and shadow/EventIdx) and command-id allocation on an
// in-memory fake controller: no simulator involved.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "driver/nvme/cid_pool.hpp"
#include "driver/nvme/doorbell.hpp"
#include "driver/nvme/queue_pair.hpp"

namespace convme::driver {
namespace {

TEST(DoorbellNeedEvent, BasicCrossing) {
    // Controller asked to be told once the tail moves past 5.
    EXPECT_TRUE(doorbell_need_event(5, 6, 5));
    EXPECT_TRUE(doorbell_need_event(5, 8, 3));   // batch crossing the event index
    EXPECT_FALSE(doorbell_need_event(5, 5, 3));  // not past it yet
    EXPECT_FALSE(doorbell_need_event(5, 9, 6));  // already past before this update
    EXPECT_TRUE(doorbell_need_event(0, 1, 0));   // initial state: first update notifies
}

TEST(DoorbellNeedEvent, SixteenBitWraparound) {
    EXPECT_TRUE(doorbell_need_event(0xffff, 0x0001, 0xfffe));
    EXPECT_TRUE(doorbell_need_event(0x0000, 0x0002, 0xfffe));
    EXPECT_FALSE(doorbell_need_event(0x0005, 0x0002, 0xfffe));
    EXPECT_FALSE(doorbell_need_event(0xfff0, 0x0002, 0xfffe));
    // Same answers as the unwrapped arithmetic, shifted by any offset.
    for (std::uint32_t base : {0u, 100u, 65500u, 65535u}) {
        for (std::uint32_t ev = 0; ev < 12; ++ev) {
            for (std::uint32_t old_v = 0; old_v < 10; ++old_v) {
                for (std::uint32_t nv = old_v; nv < 12; ++nv) {
                    const bool expect = ev >= old_v && ev < nv;
                    EXPECT_EQ(doorbell_need_event(static_cast<std::uint16_t>(base + ev),
                                                  static_cast<std::uint16_t>(base + nv),
                                                  static_cast<std::uint16_t>(base + old_v)),
                              expect)
                        << base << " " << ev << " " << old_v << " " << nv;
                }
            }
        }
    }
}

TEST(Doorbell, ShadowSkipsMmioUntilEventIdxAsks) {
    std::uint32_t reg = 0;
    std::uint32_t shadow = 0, event = 0;
    doorbell db(&reg, nullptr, 0x1000);
    db.set_shadow(&shadow, &event, false);
    doorbell_counters c;
    db.write(1, c);  // event 0, old 0 -> 1: crosses, MMIO
    EXPECT_EQ(reg, 1u);
    EXPECT_EQ(shadow, 1u);
    EXPECT_EQ(c.mmio_writes, 1u);
    db.write(2, c);  // controller has not moved EventIdx: skip
    db.write(3, c);
    EXPECT_EQ(reg, 1u);
    EXPECT_EQ(shadow, 3u);
    EXPECT_EQ(c.shadow_skips, 2u);
    event = 3;  // "tell me when you pass 3"
    db.write(4, c);
    EXPECT_EQ(reg, 4u);
    EXPECT_EQ(c.mmio_writes, 2u);
}

TEST(Doorbell, AlwaysMmioStillUpdatesShadow) {
    std::uint32_t reg = 0, shadow = 0, event = 0;
    doorbell db(&reg, nullptr, 0x1000);
    db.set_shadow(&shadow, &event, true);
    doorbell_counters c;
    db.write(1, c);
    db.write(2, c);
    EXPECT_EQ(reg, 2u);
    EXPECT_EQ(shadow, 2u);
    EXPECT_EQ(c.mmio_writes, 2u);
    EXPECT_EQ(c.shadow_skips, 0u);
}

TEST(CidPool, AllocatesEveryIdOnceAndRecycles) {
    cid_pool p(7);
    std::set<std::uint16_t> seen;
    while (!p.empty()) EXPECT_TRUE(seen.insert(p.pop()).second);
    EXPECT_EQ(seen.size(), 7u);
    EXPECT_EQ(*seen.rbegin(), 6);
    EXPECT_EQ(p.in_use(), 7u);
    p.push(3);
    EXPECT_EQ(p.available(), 1u);
    EXPECT_EQ(p.pop(), 3);  // LIFO: most recently freed first
    p.reset(4);
    EXPECT_EQ(p.available(), 4u);
    EXPECT_EQ(p.pop(), 0);
}

// A queue pair over plain memory with a hand-driven "controller" that consumes SQEs and posts
// CQEs with the right phase.
struct fake_ring {
    std::uint32_t depth;
    std::vector<nvme::sqe> sq;
    std::vector<nvme::cqe> cq;
    std::uint32_t sq_db = 0, cq_db = 0;
    queue_pair qp;
    // Device side state.
    std::uint32_t dev_sq_head = 0, dev_cq_tail = 0;
    std::uint16_t dev_phase = 1;

    explicit fake_ring(std::uint32_t d) : depth(d), sq(d), cq(d) {
        qp.init(1, d, sq.data(), cq.data(), doorbell(&sq_db, nullptr, 0x1008),
                doorbell(&cq_db, nullptr, 0x100c));
    }
    // Consume every SQE up to the doorbell value and complete each (status sc).
    unsigned device_run(std::uint16_t sc = 0) {
        unsigned n = 0;
        while (dev_sq_head != sq_db) {
            const nvme::sqe& s = sq[dev_sq_head];
            dev_sq_head = (dev_sq_head + 1) % depth;
            nvme::cqe& c = cq[dev_cq_tail];
            c.dw0 = s.cdw10;
            c.sqhd = static_cast<std::uint16_t>(dev_sq_head);
            c.sqid = 1;
            c.cid = s.cid;
            c.status = static_cast<std::uint16_t>(nvme::make_status(0, sc) | dev_phase);
            if (++dev_cq_tail == depth) {
                dev_cq_tail = 0;
                dev_phase ^= 1;
            }
            ++n;
        }
        return n;
    }
};

TEST(QueuePair, SubmitCompleteAcrossManyWraps) {
    fake_ring r(8);
    std::uint32_t next = 0, done = 0;
    for (int round = 0; round < 50; ++round) {
        // Fill as much as the ring allows (depth - 1), one doorbell for the batch.
        while (r.qp.sq_free() > 0) {
            nvme::sqe s{};
            s.cid = static_cast<std::uint16_t>(next % 100);
            s.cdw10 = next++;
            ASSERT_TRUE(r.qp.push(s));
        }
        EXPECT_FALSE(r.qp.push(nvme::sqe{})) << "a full SQ must refuse";
        r.qp.ring_sq();
        r.device_run();
        const unsigned n = r.qp.reap([&](const nvme::cqe& c) {
            EXPECT_EQ(c.dw0, done) << "completions in order";
            EXPECT_EQ(c.cid, done % 100);
            ++done;
        });
        EXPECT_EQ(n, 7u);
        EXPECT_EQ(r.cq_db, r.qp.cq_head());
        EXPECT_EQ(r.qp.sq_free(), 7u) << "sqhd from the CQEs frees the SQ";
    }
    EXPECT_EQ(done, next);
    EXPECT_EQ(r.qp.counters().submitted, 350u);
    EXPECT_EQ(r.qp.counters().completed, 350u);
    EXPECT_EQ(r.qp.counters().sq_db.mmio_writes, 50u) << "one SQ doorbell per batch";
    EXPECT_EQ(r.qp.counters().cq_db.mmio_writes, 50u) << "one CQ doorbell per reap batch";
}

TEST(QueuePair, PhaseFlipsOnWrapAndStaleEntriesAreIgnored) {
    fake_ring r(4);
    EXPECT_EQ(r.qp.phase(), 1u);
    unsigned total = 0;
    for (int i = 0; i < 9; ++i) {
        ASSERT_TRUE(r.qp.push(nvme::sqe{}));
        r.qp.ring_sq();
        // Nothing posted yet: the previous lap's entries (old phase) must not be reaped.
        EXPECT_EQ(r.qp.reap([](const nvme::cqe&) {}), 0u);
        r.device_run();
        total += r.qp.reap([](const nvme::cqe&) {});
    }
    EXPECT_EQ(total, 9u);
    // 9 completions on a 4-entry CQ: head at 1, phase flipped twice -> back to 1.
    EXPECT_EQ(r.qp.cq_head(), 1u);
    EXPECT_EQ(r.qp.phase(), 1u);
}

TEST(QueuePair, ReapBudgetAndPartialBatches) {
    fake_ring r(16);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(r.qp.push(nvme::sqe{}));
    EXPECT_TRUE(r.qp.sq_pending());
    r.qp.ring_sq();
    EXPECT_FALSE(r.qp.sq_pending());
    r.qp.ring_sq();  // nothing new: no second doorbell write
    EXPECT_EQ(r.qp.counters().sq_db.mmio_writes, 1u);
    r.device_run();
    EXPECT_EQ(r.qp.reap([](const nvme::cqe&) {}, 4), 4u);
    EXPECT_EQ(r.cq_db, 4u);
    EXPECT_EQ(r.qp.reap([](const nvme::cqe&) {}), 6u);
    EXPECT_EQ(r.cq_db, 10u);
}

TEST(QueuePair, ShadowDoorbellsSkipMmioWhenDeviceDoesNotAsk) {
    fake_ring r(16);
    std::uint32_t shadow[4] = {}, event[4] = {};
    r.qp.sq_doorbell().set_shadow(&shadow[2], &event[2], false);
    r.qp.cq_doorbell().set_shadow(&shadow[3], &event[3], false);
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(r.qp.push(nvme::sqe{}));
        r.qp.ring_sq();
    }
    // First update crossed EventIdx 0; the rest only updated the shadow.
    EXPECT_EQ(r.qp.counters().sq_db.mmio_writes, 1u);
    EXPECT_EQ(r.qp.counters().sq_db.shadow_skips, 4u);
    EXPECT_EQ(shadow[2], 5u);
    EXPECT_EQ(r.sq_db, 1u);
}

}  // namespace
}  // namespace convme::driver

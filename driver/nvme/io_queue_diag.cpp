// SPDX-License-Identifier: MIT
// io_queue::dump_stuck: when a command times out, everything the host believes about its queue
// (ring positions, doorbell values and what the shadow slots / EventIdx hold now, the commands in
// flight and where their entries lie in the SQ), so that it can be compared with what the
// controller saw. Written to stderr; with CONVME_NVME_DIAG_KMSG=1 in the environment also to
// /dev/kmsg (the lab's guests, whose console shows the kernel log while a program's stderr goes
// to a file).
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "driver/nvme/io_queue.hpp"

namespace convme::driver {

namespace {

class diag_out {
  public:
    explicit diag_out(const std::string& prefix) : prefix_(prefix) {
        const char* k = std::getenv("CONVME_NVME_DIAG_KMSG");
        if (k && std::strcmp(k, "1") == 0) kmsg_ = std::fopen("/dev/kmsg", "w");
    }
    ~diag_out() {
        if (kmsg_) std::fclose(kmsg_);
    }
    diag_out(const diag_out&) = delete;
    diag_out& operator=(const diag_out&) = delete;

    [[gnu::format(printf, 2, 3)]] void line(const char* fmt, ...) noexcept {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        std::fprintf(stderr, "%s%s\n", prefix_.c_str(), buf);
        if (kmsg_) {
            std::fprintf(kmsg_, "<3>%s%s\n", prefix_.c_str(), buf);
            std::fflush(kmsg_);
        }
    }

  private:
    std::string prefix_;
    std::FILE* kmsg_ = nullptr;
};

}  // namespace

void io_queue::dump_stuck(std::uint16_t first_cid) noexcept {
    if (dumps_ >= 4) return;  // a wedged queue would repeat itself every timeout
    ++dumps_;
    diag_out out("convme: diag " + dev_.name() + " q" + std::to_string(qid_) + ": ");
    const auto& qc = qp_.counters();
    const std::uint32_t csts = dev_.read32(nvme::reg::csts);
    out.line(
        "timeout of cid %u: now %u ms, scan epoch %u, gen %u (ctrl %u), csts 0x%x, in_flight %zu, "
        "cids in use %u of %u, pending %s, deferred %s",
        static_cast<unsigned>(first_cid), now_ms(), scan_epoch_, generation_, ctrl_.generation(),
        csts, in_flight_, cids_.in_use(), cids_.total(), pending_.empty() ? "empty" : "NOT empty",
        deferred_.empty() ? "empty" : "NOT empty");
    const doorbell& sq = qp_.sq_doorbell();
    const doorbell& cq = qp_.cq_doorbell();
    out.line(
        "sq: depth %u tail %u rung %u head(sqhd) %u free %u | db last %u shadow %u eventidx %u "
        "(%s) | submitted %llu mmio %llu skipped %llu",
        qp_.depth(), qp_.sq_tail(), qp_.sq_rung(), qp_.sq_head(), qp_.sq_free(), sq.last_value(),
        sq.shadow_now(), sq.event_idx_now(), sq.shadowed() ? "shadowed" : "mmio only",
        static_cast<unsigned long long>(qc.submitted),
        static_cast<unsigned long long>(qc.sq_db.mmio_writes),
        static_cast<unsigned long long>(qc.sq_db.shadow_skips));
    out.line(
        "cq: head %u phase %u ready %d | db last %u shadow %u eventidx %u | completed %llu "
        "mmio %llu skipped %llu | kicks %llu, quiet ticks %u, aborts %llu",
        qp_.cq_head(), qp_.phase(), qp_.cq_ready() ? 1 : 0, cq.last_value(), cq.shadow_now(),
        cq.event_idx_now(), static_cast<unsigned long long>(qc.completed),
        static_cast<unsigned long long>(qc.cq_db.mmio_writes),
        static_cast<unsigned long long>(qc.cq_db.shadow_skips),
        static_cast<unsigned long long>(io_counters_.doorbell_kicks), quiet_ticks_,
        static_cast<unsigned long long>(io_counters_.aborts_sent));
    // The CQ entries at and after the head: what the controller posted (or left) there. The
    // controller may be writing them right now (the queue is stuck, not stopped): device loads.
    const nvme::cqe* cqr = qp_.cq_ring();
    for (std::uint32_t k = 0; k < 4; ++k) {
        const std::uint32_t i = (qp_.cq_head() + k) % qp_.depth();
        const nvme::cqe& e = cqr[i];
        const unsigned status = device_load<std::uint16_t>(&e.status);
        out.line("cq[%u]: cid %u status 0x%x (phase %u) sqhd %u sqid %u", i,
                 static_cast<unsigned>(device_load<std::uint16_t>(&e.cid)), status, status & 1u,
                 static_cast<unsigned>(device_load<std::uint16_t>(&e.sqhd)),
                 static_cast<unsigned>(device_load<std::uint16_t>(&e.sqid)));
    }
    // Every command in flight, with the SQ entries that carry its cid (the newest entry with a
    // cid is the one in flight; older ones are earlier uses of the id).
    const nvme::sqe* sqr = qp_.sq_ring();
    unsigned shown = 0;
    for (std::size_t cid = 0; cid < slots_.size(); ++cid) {
        const slot& s = slots_[cid];
        if (!s.req) continue;
        if (++shown > 40) {
            out.line("... more commands in flight");
            break;
        }
        std::string where;
        for (std::uint32_t i = 0; i < qp_.depth(); ++i) {
            const nvme::sqe& e = sqr[i];
            if (e.cid != cid || e.opcode == 0) continue;
            char b[96];
            std::snprintf(b, sizeof b, " [sq %u: op 0x%x slba %llu nlb %u prp1 0x%llx prp2 0x%llx]",
                          i, static_cast<unsigned>(e.opcode),
                          static_cast<unsigned long long>(e.cdw10 | (std::uint64_t(e.cdw11) << 32)),
                          static_cast<unsigned>(e.cdw12 & 0xffffu) + 1,
                          static_cast<unsigned long long>(e.prp1),
                          static_cast<unsigned long long>(e.prp2));
            where += b;
        }
        out.line("cid %zu: %s offset %llu length %llu data %p, epoch age %u, flags 0x%x%s", cid,
                 io_op_name(s.req->op), static_cast<unsigned long long>(s.req->offset),
                 static_cast<unsigned long long>(s.req->length), static_cast<void*>(s.req->data),
                 scan_epoch_ - s.stamp, static_cast<unsigned>(s.flags), where.c_str());
    }
}

}  // namespace convme::driver

// SPDX-License-Identifier: MIT
// The simulated controller's engine: register handshake (CC/CSTS), doorbell scanning (MMIO and
// shadow buffers), command fetch, the latency queue and completion posting with phase tags.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>

#include "driver/sim/sim_impl.hpp"

namespace convme::sim {
namespace {

void validate(const controller_config& c) {
    auto fail = [](const std::string& m) { throw std::invalid_argument("sim: " + m); };
    if (c.namespaces.empty() || c.namespaces.size() > 1024) fail("namespaces must be 1..1024");
    for (const auto& n : c.namespaces) {
        if (n.lba_size != 512 && n.lba_size != 4096) fail("lba size must be 512 or 4096");
        if (n.metadata_size > 128) fail("metadata size must be 0..128");
        if (n.csi != nvme::csi::nvm && n.csi != nvme::csi::zoned)
            fail("csi must be 0 (NVM) or 2 (zoned)");
        if (n.csi == nvme::csi::zoned &&
            (n.zone_bytes < n.lba_size || n.zone_bytes % n.lba_size != 0))
            fail("zone size must be a multiple of the lba size");
        if (n.size_bytes < n.lba_size || n.size_bytes % n.lba_size != 0)
            fail("namespace size " + std::to_string(n.size_bytes) +
                 " must be a non-zero multiple of the lba size " + std::to_string(n.lba_size));
    }
    if (c.mqes < 1 || c.mqes > 0xffff) fail("mqes must be 1..65535");
    if (c.dstrd > 8) fail("dstrd must be 0..8");
    if (c.mpsmin > c.mpsmax || c.mpsmax > 15) fail("need mpsmin <= mpsmax <= 15");
    if (c.mdts > 20) fail("mdts must be 0..20");
    if (c.max_io_queues < 1 || c.max_io_queues > 1024) fail("max_io_queues must be 1..1024");
    if (c.host_page_size != 4096 && c.host_page_size != 65536)
        fail("host_page must be 4096 or 65536");
    if (c.timeout_500ms < 1 || c.timeout_500ms > 255) fail("timeout_500ms must be 1..255");
    if (c.latency.count() < 0) fail("latency must not be negative");
    const auto cap_to = std::chrono::milliseconds(500) * c.timeout_500ms;
    if (c.disable_delay.count() < 0 || c.disable_delay >= cap_to || c.enable_delay.count() < 0 ||
        c.enable_delay >= cap_to)
        fail("disable/enable delays must be below CAP.TO (" + std::to_string(cap_to.count()) +
             " ms)");
}

std::uint64_t cap_value(const controller_config& c) {
    std::uint64_t cap = c.mqes & 0xffffu;
    cap |= 1ull << 16;  // CQR: queues must be physically contiguous
    cap |= std::uint64_t{c.timeout_500ms & 0xff} << 24;
    cap |= std::uint64_t{c.dstrd & 0xf} << 32;
    cap |= 1ull << 37;  // CSS: NVM command set
    cap |= std::uint64_t{c.mpsmin & 0xf} << 48;
    cap |= std::uint64_t{c.mpsmax & 0xf} << 52;
    return cap;
}

}  // namespace

simulated_controller::impl::impl(controller_config c)
    : cfg((validate(c), std::move(c))), stride_bytes(4u << cfg.dstrd), iova(cfg.host_page_size) {
    std::uint64_t total = 0;
    for (const auto& n : cfg.namespaces) {
        std::uint32_t shift = n.lba_size == 512 ? 9 : 12;
        namespace_layout l{total, n.size_bytes >> shift, shift};
        l.ms = n.metadata_size;
        l.extended = n.extended_lba;
        l.csi = n.csi;
        if (n.csi == nvme::csi::zoned) {
            l.zone_blocks = n.zone_bytes >> shift;
            l.write_pointer.resize((l.blocks + l.zone_blocks - 1) / l.zone_blocks);
            for (std::size_t z = 0; z < l.write_pointer.size(); ++z)
                l.write_pointer[z] = z * l.zone_blocks;
        }
        ns.push_back(std::move(l));
        total += n.size_bytes;
    }
    if (cfg.backing_file.empty()) {
        store = make_ram_media(total);
        display_name = "sim:mem";
    } else {
        int err = 0;
        std::string why;
        store = open_file_media(cfg.backing_file, total, err, why);
        if (!store) throw std::system_error(err, std::system_category(), why);
        display_name = "sim:file=" + cfg.backing_file;
    }
    std::size_t doorbells = std::size_t{2} * (cfg.max_io_queues + 1) * stride_bytes;
    bar_bytes = (nvme::reg::doorbell_base + doorbells + 4095) / 4096 * 4096;
    bar = static_cast<std::uint32_t*>(std::aligned_alloc(4096, bar_bytes));
    if (!bar) throw std::bad_alloc();
    std::memset(bar, 0, bar_bytes);
    for (std::size_t off = nvme::reg::doorbell_base; off < bar_bytes; off += 4)
        reg_store(static_cast<std::uint32_t>(off), doorbell_idle);
    std::uint64_t cap = cap_value(cfg);
    reg_store(nvme::reg::cap, static_cast<std::uint32_t>(cap));
    reg_store(nvme::reg::cap + 4, static_cast<std::uint32_t>(cap >> 32));
    reg_store(nvme::reg::vs, 0x00010400);  // NVMe 1.4
    sqs.resize(cfg.max_io_queues + 1);
    cqs.resize(cfg.max_io_queues + 1);
    notifiers.resize(cfg.max_io_queues + 1);
    irq_efd.assign(cfg.max_io_queues + 1, -1);
    irq_masked.assign(irq_efd.size(), 0);
    irq_pending.assign(irq_efd.size(), 0);
    write_cache = cfg.volatile_write_cache;
}

simulated_controller::impl::~impl() {
    std::free(bar);
}

// ------------------------------------------------------------------ registers

std::uint32_t simulated_controller::impl::reg_load(std::uint32_t off) const noexcept {
    return std::atomic_ref<std::uint32_t>(bar[off / 4]).load(std::memory_order_acquire);
}

void simulated_controller::impl::reg_store(std::uint32_t off, std::uint32_t v) noexcept {
    std::atomic_ref<std::uint32_t>(bar[off / 4]).store(v, std::memory_order_release);
}

bool simulated_controller::impl::take_doorbell(std::uint32_t off, std::uint32_t& value) noexcept {
    std::atomic_ref<std::uint32_t> r(bar[off / 4]);
    // Plain load first: the idle case must not pull the cache line away from the host.
    if (r.load(std::memory_order_relaxed) == doorbell_idle) return false;
    value = r.exchange(doorbell_idle, std::memory_order_acq_rel);
    return value != doorbell_idle;
}

void simulated_controller::impl::arm_doorbells(std::uint16_t qid) noexcept {
    reg_store(nvme::reg::sq_tail_doorbell(qid, cfg.dstrd), doorbell_idle);
    reg_store(nvme::reg::cq_head_doorbell(qid, cfg.dstrd), doorbell_idle);
}

void simulated_controller::impl::set_csts(std::uint32_t v) noexcept {
    csts = v;
    if (!removed.load(std::memory_order_relaxed)) reg_store(nvme::reg::csts, v);
}

std::uint32_t simulated_controller::impl::shadow_load(std::uint32_t index) const noexcept {
    return std::atomic_ref<std::uint32_t>(shadow_db[index]).load(std::memory_order_acquire);
}

void simulated_controller::impl::event_idx_store(std::uint32_t index, std::uint32_t v) noexcept {
    std::atomic_ref<std::uint32_t>(event_idx[index]).store(v, std::memory_order_release);
}

void simulated_controller::impl::diag(const std::string& msg) {
    last_diag = msg;
    if (diag_printed < 8) {
        ++diag_printed;
        std::fprintf(stderr, "convme %s: %s\n", display_name.c_str(), msg.c_str());
    }
}

void simulated_controller::impl::go_fatal(const std::string& why) {
    fatal = true;
    set_csts(csts | nvme::csts::cfs);
    diag("controller fatal status (CSTS.CFS=1): " + why);
}

void simulated_controller::impl::check_cc() {
    std::uint32_t cc = reg_load(nvme::reg::cc);
    if (cc == cc_seen) return;
    std::uint32_t old = cc_seen;
    cc_seen = cc;
    const bool en = cc & nvme::cc::en, was_en = old & nvme::cc::en;
    if (was_en && !en && ready) {
        std::string ids;
        for (std::uint16_t q : live_sqs)
            if (q != 0) ids += " " + std::to_string(q);
        if (!ids.empty()) {
            ++st.disables_with_io_queues;
            diag("CC.EN=0 with I/O SQ(s) still live:" + ids);
            if (std::any_of(delayed.begin(), delayed.end(),
                            [](const delayed_cmd& d) { return d.sqid != 0; }))
                ++st.disables_with_io_in_flight;
        }
    }
    if (was_en && !en) {
        if (enabling && fatal) {
            // The enable failed (CSTS.CFS): clearing CC.EN now is the reset the host owes it.
            enabling = false;
            reset_controller();
        } else if (enabling) {
            // Undefined in the spec (CC.EN cleared while CC.EN=1 and CSTS.RDY=0); this model
            // latches a fatal status that only a clean disable (from RDY=1 or CFS) clears.
            enabling = false;
            fatal_latched = true;
            go_fatal(
                "CC.EN cleared while the controller was still enabling (CC.EN=1, CSTS.RDY=0); "
                "the host must wait for CSTS.RDY=1 (up to CAP.TO) before disabling");
        } else if (ready && cfg.disable_delay.count() > 0) {
            // The controller goes on fetching and posting until RDY=0 (finish_transitions).
            disabling = true;
            disable_due = clock_type::now() + cfg.disable_delay;
        } else {
            reset_controller();
        }
    } else if (!was_en && en) {
        if (disabling) {
            disabling = false;
            reset_controller();
            fatal_latched = true;
            go_fatal("CC.EN set to 1 before CSTS.RDY reached 0 after a disable");
        } else if (fatal_latched) {
            diag("CC.EN=1 refused: fatal status latched (clear CC.EN first)");
        } else if (cfg.enable_delay.count() > 0) {
            enabling = true;
            enable_due = clock_type::now() + cfg.enable_delay;
            enable_cc = cc;
        } else {
            enable_controller(cc);
        }
    }
    std::uint32_t shn = cc & nvme::cc::shn_mask, old_shn = old & nvme::cc::shn_mask;
    if (shn && !old_shn) {
        if (cfg.shutdown_delay.count() > 0) {
            shutting_down = true;
            shutdown_due = clock_type::now() + cfg.shutdown_delay;
            set_csts((csts & ~nvme::csts::shst_mask) | nvme::csts::shst_occurring);
        } else {
            // Shutdown: make everything written so far durable, then report completion.
            if (int rc = store->flush(); rc != 0)
                diag("flushing the backing file at shutdown failed: " +
                     std::string(std::strerror(-rc)));
            set_csts((csts & ~nvme::csts::shst_mask) | nvme::csts::shst_complete);
        }
    } else if (!shn && old_shn) {
        shutting_down = false;
        set_csts(csts & ~nvme::csts::shst_mask);
    }
}

void simulated_controller::impl::finish_transitions() {
    const auto now = clock_type::now();
    if (disabling && now >= disable_due) {
        disabling = false;
        reset_controller();
    }
    if (enabling && now >= enable_due) {
        enabling = false;
        enable_controller(enable_cc);
    }
    if (shutting_down && now >= shutdown_due) {
        shutting_down = false;
        if (int rc = store->flush(); rc != 0)
            diag("flushing the backing file at shutdown failed: " +
                 std::string(std::strerror(-rc)));
        set_csts((csts & ~nvme::csts::shst_mask) | nvme::csts::shst_complete);
    }
}

void simulated_controller::impl::enable_controller(std::uint32_t cc) {
    std::uint32_t css = (cc >> 4) & 7, mps_field = (cc >> nvme::cc::mps_shift) & 0xf;
    std::uint32_t ams = (cc >> 11) & 7, iosqes = (cc >> nvme::cc::iosqes_shift) & 0xf;
    std::uint32_t iocqes = (cc >> nvme::cc::iocqes_shift) & 0xf;
    if (css != 0)
        return go_fatal("CC.CSS=" + std::to_string(css) + " is not the NVM command set (0)");
    if (mps_field < cfg.mpsmin || mps_field > cfg.mpsmax)
        return go_fatal("CC.MPS=" + std::to_string(mps_field) + " outside CAP.MPSMIN..MPSMAX (" +
                        std::to_string(cfg.mpsmin) + ".." + std::to_string(cfg.mpsmax) + ")");
    if (ams != 0)
        return go_fatal("CC.AMS=" + std::to_string(ams) + ": only round robin (0) is supported");
    if (iosqes != 6 || iocqes != 4)
        return go_fatal("CC.IOSQES/IOCQES must be 6/4 (64-byte SQEs, 16-byte CQEs), got " +
                        std::to_string(iosqes) + "/" + std::to_string(iocqes));
    mps = std::size_t{4096} << mps_field;
    std::uint32_t aqa = reg_load(nvme::reg::aqa);
    std::uint32_t asqs = (aqa & 0xfff) + 1, acqs = ((aqa >> 16) & 0xfff) + 1;
    if (asqs < 2 || acqs < 2)
        return go_fatal(
            "AQA gives an admin queue of fewer than 2 entries (AQA=" + std::to_string(aqa) + ")");
    std::uint64_t asq = reg_load(nvme::reg::asq) | std::uint64_t{reg_load(nvme::reg::asq + 4)}
                                                       << 32;
    std::uint64_t acq = reg_load(nvme::reg::acq) | std::uint64_t{reg_load(nvme::reg::acq + 4)}
                                                       << 32;
    if ((asq & (mps - 1)) || (acq & (mps - 1)))
        return go_fatal("ASQ/ACQ must be aligned to the memory page size " + std::to_string(mps));
    std::string why;
    auto* sq_ring = reinterpret_cast<nvme::sqe*>(iova.resolve(asq, std::size_t{asqs} * 64, &why));
    if (!sq_ring) return go_fatal("admin SQ at ASQ is not reachable: " + why);
    auto* cq_ring = reinterpret_cast<nvme::cqe*>(iova.resolve(acq, std::size_t{acqs} * 16, &why));
    if (!cq_ring) return go_fatal("admin CQ at ACQ is not reachable: " + why);
    iova_generation = iova.generation();
    cqs[0] = cq_state{};
    cqs[0].live = true;
    cqs[0].size = acqs;
    cqs[0].base = acq;
    cqs[0].ring = cq_ring;
    cqs[0].sq_refs = 1;
    sqs[0] = sq_state{};
    sqs[0].live = true;
    sqs[0].size = asqs;
    sqs[0].base = asq;
    sqs[0].ring = sq_ring;
    live_sqs.assign(1, 0);
    live_cqs.assign(1, 0);
    // Doorbell writes made while the controller was not ready are dropped with the reset.
    for (std::size_t off = nvme::reg::doorbell_base; off < bar_bytes; off += 4)
        reg_store(static_cast<std::uint32_t>(off), doorbell_idle);
    ready = true;
    // A fatal status that arrived while the controller was disabled or enabling stays visible:
    // only CC.EN=0 (reset_controller) clears it. (Clearing CFS here left the model fatal with
    // CSTS.CFS=0: a controller that silently answered nothing.)
    set_csts(csts | nvme::csts::rdy);
}

void simulated_controller::impl::reset_controller() {
    for (auto& s : sqs) s = sq_state{};
    for (auto& c : cqs) c = cq_state{};
    live_sqs.clear();
    live_cqs.clear();
    delayed.clear();
    abort_on_fetch.clear();
    held_aers.clear();
    event_queue.clear();
    shadow_db = event_idx = nullptr;
    shadow_db_iova = event_idx_iova = 0;
    granted_sq = granted_cq = 0;
    queues_feature_set = false;
    write_cache = cfg.volatile_write_cache;
    async_event_config = 0;
    ready = false;
    fatal = false;
    fatal_latched = false;
    disabling = enabling = shutting_down = false;
    ++st.resets;
    // Doorbells of dropped queues: pending writes are discarded with the queues.
    for (std::size_t off = nvme::reg::doorbell_base; off < bar_bytes; off += 4)
        reg_store(static_cast<std::uint32_t>(off), doorbell_idle);
    set_csts(0);
}

bool simulated_controller::impl::revalidate_queues() {
    iova_generation = iova.generation();
    std::string why;
    for (std::uint16_t q : live_sqs)
        if (!iova.resolve(sqs[q].base, std::size_t{sqs[q].size} * 64, &why)) {
            go_fatal("memory of SQ " + std::to_string(q) +
                     " went away while the queue exists: " + why);
            return false;
        }
    for (std::uint16_t q : live_cqs)
        if (!iova.resolve(cqs[q].base, std::size_t{cqs[q].size} * 16, &why)) {
            go_fatal("memory of CQ " + std::to_string(q) +
                     " went away while the queue exists: " + why);
            return false;
        }
    if (shadow_db &&
        (!iova.resolve(shadow_db_iova, mps, &why) || !iova.resolve(event_idx_iova, mps, &why))) {
        go_fatal("shadow doorbell / EventIdx buffer went away: " + why);
        return false;
    }
    return true;
}

// ------------------------------------------------------------------ DMA lifetime checks

void simulated_controller::impl::check_free(std::uint64_t lo, std::size_t size, const char* what) {
    if (!ready || removed.load(std::memory_order_relaxed))
        return;  // a disabled controller does no DMA
    const std::uint64_t hi = lo + size;
    auto overlaps = [&](std::uint64_t a, std::uint64_t len) { return a < hi && a + len > lo; };
    std::string hit;
    for (std::uint16_t q : live_sqs)
        if (overlaps(sqs[q].base, std::uint64_t{sqs[q].size} * 64))
            hit = "the ring of SQ " + std::to_string(q);
    for (std::uint16_t q : live_cqs)
        if (overlaps(cqs[q].base, std::uint64_t{cqs[q].size} * 16))
            hit = "the ring of CQ " + std::to_string(q);
    if (shadow_db && (overlaps(shadow_db_iova, mps) || overlaps(event_idx_iova, mps)))
        hit = "the shadow doorbell / EventIdx buffers";
    const std::uint64_t page_mask = ~std::uint64_t{mps - 1};
    for (const delayed_cmd& d : delayed) {
        if ((d.cmd.prp1 && overlaps(d.cmd.prp1 & page_mask, mps)) ||
            (d.cmd.prp2 && overlaps(d.cmd.prp2 & page_mask, mps)))
            hit = "command cid " + std::to_string(d.cmd.cid) + " (opcode " +
                  std::to_string(d.cmd.opcode) +
                  (d.sqid == 0 ? ", admin" : ", SQ " + std::to_string(d.sqid)) +
                  ") the device still holds";
    }
    if (hit.empty()) return;
    ++st.dma_lifetime_violations;
    char range[64];
    std::snprintf(range, sizeof range, " (IOVA 0x%llx+%zu)", static_cast<unsigned long long>(lo),
                  size);
    diag(std::string(what) + range + " while the controller may still use it for " + hit +
         ": a real device would corrupt whatever reuses it");
}

// ------------------------------------------------------------------ the processing pass

bool simulated_controller::impl::process() {
    if (removed.load(std::memory_order_relaxed)) return false;
    check_cc();
    if (disabling || enabling || shutting_down) [[unlikely]]
        finish_transitions();
    if (!ready || fatal) return false;
    // Doorbell writes to queues that do not exist: looked for now and then, and at creation.
    if ((++passes & 63) == 0) [[unlikely]]
        scan_absent_doorbells();
    if (iova.generation() != iova_generation && !revalidate_queues()) return true;
    bool work = false;
    for (std::size_t i = 0; i < live_cqs.size(); ++i) work |= scan_cq(live_cqs[i]);
    for (std::size_t i = 0; i < live_sqs.size() && ready && !fatal; ++i)
        work |= scan_sq(live_sqs[i]);
    if (!delayed.empty() && ready && !fatal) work |= run_delayed();
    return work;
}

void simulated_controller::impl::scan_absent_doorbells() {
    for (std::uint32_t q = 1; q < sqs.size(); ++q) {
        std::uint32_t v = 0;
        if (!sqs[q].live &&
            take_doorbell(nvme::reg::sq_tail_doorbell(static_cast<std::uint16_t>(q), cfg.dstrd), v))
            invalid_doorbell(static_cast<std::uint16_t>(q), true, v);
        if (!cqs[q].live &&
            take_doorbell(nvme::reg::cq_head_doorbell(static_cast<std::uint16_t>(q), cfg.dstrd), v))
            invalid_doorbell(static_cast<std::uint16_t>(q), false, v);
    }
}

void simulated_controller::impl::invalid_doorbell(std::uint16_t qid, bool sq, std::uint32_t value) {
    ++st.invalid_doorbell_writes;
    diag(std::string("invalid doorbell write: ") + (sq ? "SQ " : "CQ ") + std::to_string(qid) +
         (sq ? " tail " : " head ") + std::to_string(value) + " (ignored)");
    // Asynchronous event: Error status (0), Invalid Doorbell Write Value (1), log page 01h.
    raise_event(0u | (1u << 8) | (1u << 16));
}

bool simulated_controller::impl::scan_sq(std::uint16_t qid) {
    sq_state& sq = sqs[qid];
    if (!sq.live) return false;
    bool wake = false;
    std::uint32_t v = 0;
    if (take_doorbell(nvme::reg::sq_tail_doorbell(qid, cfg.dstrd), v)) {
        ++st.doorbell_mmio_writes;
        wake = true;
        if (!sq.shadow) {
            if (v >= sq.size)
                invalid_doorbell(qid, true, v);
            else
                sq.tail = v;
        }
    }
    auto take_shadow = [&] {
        std::uint32_t t = shadow_load(sq_db_index(qid));
        if (t == sq.tail || t >= sq.size) return false;
        sq.tail = t;
        ++st.shadow_doorbell_reads;
        return true;
    };
    // With shadow doorbells the MMIO write is only a wake-up; the value lives in the buffer.
    if (sq.shadow && wake) take_shadow();
    bool work = wake;
    while (true) {
        if (sq.head != sq.tail && sq.outstanding < sq.size) {
            std::uint64_t occ = (sq.tail + sq.size - sq.head) % sq.size;
            st.max_sq_occupancy = std::max(st.max_sq_occupancy, occ);
            fetch(qid);
            work = true;
        }
        if (!sq.live || !sq.shadow || !work) break;
        // EventIdx = last tail processed, then look again: a host that saw the old EventIdx
        // skipped its MMIO write and relies on this re-read (QEMU / Linux protocol).
        if (cfg.forget_eventidx_every && ++sq.eventidx_publishes % cfg.forget_eventidx_every == 0) {
            ++st.forgotten_eventidx;  // neither published nor looked again: the hostile bug
            break;
        }
        event_idx_store(sq_db_index(qid), sq.tail);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!take_shadow()) break;
    }
    return work;
}

bool simulated_controller::impl::advance_cq_head(cq_state& cq, std::uint32_t head) noexcept {
    if (head >= cq.size) return false;
    std::uint32_t consumed = (head + cq.size - cq.head) % cq.size;
    std::uint32_t posted = (cq.tail + cq.size - cq.head) % cq.size;
    if (consumed > posted) return false;  // beyond what was posted (or a stale value)
    cq.head = head;
    return true;
}

bool simulated_controller::impl::scan_cq(std::uint16_t qid) {
    cq_state& cq = cqs[qid];
    if (!cq.live) return false;
    bool wake = false;
    std::uint32_t v = 0;
    if (take_doorbell(nvme::reg::cq_head_doorbell(qid, cfg.dstrd), v)) {
        ++st.doorbell_mmio_writes;
        wake = true;
        if (!cq.shadow && !advance_cq_head(cq, v)) invalid_doorbell(qid, false, v);
    }
    if (cq.shadow && wake) {
        std::uint32_t h = shadow_load(cq_db_index(qid));
        if (h != cq.head && advance_cq_head(cq, h)) ++st.shadow_doorbell_reads;
        event_idx_store(cq_db_index(qid), cq.head);
    }
    bool work = wake;
    if (!cq.ready.empty()) work |= post(qid, wake);
    return work;
}

void simulated_controller::impl::fetch(std::uint16_t qid) {
    sq_state& sq = sqs[qid];
    while (sq.live && ready && !fatal && sq.head != sq.tail && sq.outstanding < sq.size) {
        nvme::sqe cmd;
        std::memcpy(&cmd, &sq.ring[sq.head], sizeof cmd);
        sq.head = (sq.head + 1) % sq.size;
        ++sq.outstanding;
        ++sq.fetched;
        dispatch(qid, cmd);
    }
}

bool simulated_controller::impl::match_fault(bool admin, std::uint8_t opcode, std::uint32_t nsid,
                                             fault& hit) {
    for (auto it = faults.begin(); it != faults.end(); ++it) {
        if (it->admin != admin || it->opcode != opcode || (it->nsid != 0 && it->nsid != nsid))
            continue;
        if (it->skip > 0) {
            --it->skip;
            return false;
        }
        hit = *it;
        if (--it->count == 0) faults.erase(it);
        return true;
    }
    return false;
}

void simulated_controller::impl::dispatch(std::uint16_t sqid, const nvme::sqe& cmd) {
    ++st.commands;
    if (sqid == 0)
        ++st.admin_commands;
    else
        ++st.io_commands;
    if (!abort_on_fetch.empty()) {
        auto it =
            std::find(abort_on_fetch.begin(), abort_on_fetch.end(), std::make_pair(sqid, cmd.cid));
        if (it != abort_on_fetch.end()) {
            abort_on_fetch.erase(it);
            complete(sqid, cmd.cid, generic_status(nvme::sc::abort_requested, false), 0, &cmd);
            return;
        }
    }
    fault f;
    bool has_fault = !faults.empty() && match_fault(sqid == 0, cmd.opcode, cmd.nsid, f);
    if (has_fault && f.what == fault::kind::late_completion) {
        delayed_cmd d{clock_type::now() + f.delay, sqid, cmd, true, f};
        d.abortable = false;
        delayed.push_back(d);
        return;
    }
    if (sqid != 0 && cfg.latency.count() > 0) {
        delayed.push_back({clock_type::now() + cfg.latency, sqid, cmd, has_fault, f});
        return;
    }
    run_command(sqid, cmd, has_fault ? &f : nullptr);
}

void simulated_controller::impl::run_command(std::uint16_t sqid, const nvme::sqe& cmd,
                                             const fault* f) {
    if (f && f->what == fault::kind::late_completion) {
        ++st.late_completions;
        f = nullptr;  // the delay was the fault: execute normally now
    }
    if (f && f->what == fault::kind::error_status) {
        complete(sqid, cmd.cid, f->status, 0, &cmd);
        return;
    }
    bool dropped = f && f->what == fault::kind::drop_completion;
    if (dropped && !f->execute) {
        drop(sqid);
        return;
    }
    std::uint32_t dw0 = 0;
    bool hold = false;
    std::uint16_t status = sqid == 0 ? execute_admin(cmd, dw0, hold) : execute_io(cmd);
    if (dropped) {
        if (hold)
            held_aers.erase(std::remove(held_aers.begin(), held_aers.end(), cmd.cid),
                            held_aers.end());
        drop(sqid);
        return;
    }
    if (!hold) complete(sqid, cmd.cid, status, dw0, &cmd);
}

bool simulated_controller::impl::run_delayed() {
    auto now = clock_type::now();
    // Due times are not monotonic (late completions among latency-delayed ones): take every due
    // command out first, then run them (an Abort among them may edit `delayed`).
    std::vector<delayed_cmd> due;
    for (auto it = delayed.begin(); it != delayed.end();) {
        if (it->due <= now) {
            due.push_back(*it);
            it = delayed.erase(it);
        } else {
            ++it;
        }
    }
    for (const delayed_cmd& d : due) {
        if (!ready || fatal) break;
        if (!sqs[d.sqid].live) continue;
        run_command(d.sqid, d.cmd, d.has_fault ? &d.hit : nullptr);
    }
    return !due.empty();
}

clock_type::time_point simulated_controller::impl::next_due() const noexcept {
    auto t = clock_type::time_point::max();
    for (const delayed_cmd& d : delayed) t = std::min(t, d.due);
    if (disabling) t = std::min(t, disable_due);
    if (enabling) t = std::min(t, enable_due);
    if (shutting_down) t = std::min(t, shutdown_due);
    return t;
}

void simulated_controller::impl::drop(std::uint16_t sqid) {
    if (sqs[sqid].live && sqs[sqid].outstanding > 0) --sqs[sqid].outstanding;
}

void simulated_controller::impl::complete(std::uint16_t sqid, std::uint16_t cid,
                                          std::uint16_t status, std::uint32_t dw0,
                                          const nvme::sqe* cmd) {
    sq_state& sq = sqs[sqid];
    if (!sq.live) return;
    if (status != 0) {
        ++error_count;
        std::uint64_t lba = 0;
        std::uint32_t nsid = 0;
        if (cmd) {
            nsid = cmd->nsid;
            if (sqid != 0) lba = cmd->cdw10 | std::uint64_t{cmd->cdw11} << 32;
        }
        error_log.push_front({error_count, sqid, cid, status, lba, nsid});
        if (error_log.size() > 4) error_log.pop_back();
    }
    cqs[sq.cqid].ready.push_back({sqid, cid, status, dw0});
    post(sq.cqid, true);
}

bool simulated_controller::impl::post(std::uint16_t cqid, bool refresh_shadow) {
    cq_state& cq = cqs[cqid];
    bool posted = false;
    while (!cq.ready.empty()) {
        if ((cq.tail + 1) % cq.size == cq.head) {
            // Full: never overwrite an entry the host has not consumed. A shadow CQ head is
            // looked at when there is a reason to (new completion or a CQ doorbell wake-up).
            if (!cq.shadow || !refresh_shadow) break;
            // Publish EventIdx = the head we know, then look at the shadow head again: if it did
            // not move, the host will see EventIdx == its old head when it consumes and ring
            // the MMIO doorbell (Dekker-style, as QEMU does before posting).
            event_idx_store(cq_db_index(cqid), cq.head);
            std::atomic_thread_fence(std::memory_order_seq_cst);
            std::uint32_t h = shadow_load(cq_db_index(cqid));
            if (h == cq.head || !advance_cq_head(cq, h)) break;
            ++st.shadow_doorbell_reads;
            continue;
        }
        const completion c = cq.ready.front();
        cq.ready.pop_front();
        nvme::cqe* e = &cq.ring[cq.tail];
        // Field by field, as DMA writes land: the host may be reading an entry it does not own
        // yet (its timeout diagnostics dump the entries at the head).
        auto dma_write = [](auto& field, auto v) {
            std::atomic_ref(field).store(v, std::memory_order_relaxed);
        };
        dma_write(e->dw0, c.dw0);
        dma_write(e->dw1, std::uint32_t{0});
        dma_write(e->sqhd, static_cast<std::uint16_t>(reported_sq_head(sqs[c.sqid], c.sqid)));
        dma_write(e->sqid, c.sqid);
        dma_write(e->cid, c.cid);
        // The phase tag is written last: once the host sees it, the rest of the entry is valid.
        std::atomic_ref<std::uint16_t>(e->status).store(
            static_cast<std::uint16_t>(c.status | (cq.phase ? 1 : 0)), std::memory_order_release);
        cq.tail = (cq.tail + 1) % cq.size;
        if (cq.tail == 0) cq.phase = !cq.phase;
        ++cq.posted;
        drop(c.sqid);
        posted = true;
    }
    return posted;
}

std::uint32_t simulated_controller::impl::reported_sq_head(const sq_state& sq,
                                                           std::uint16_t sqid) const noexcept {
    if (cfg.sqhd_lag == 0 || sqid == 0) return sq.head;
    // The head as it was `sqhd_lag` fetches ago (a controller whose SQHD trails its real head).
    const std::uint64_t lag = std::min<std::uint64_t>(cfg.sqhd_lag, sq.fetched) % sq.size;
    return static_cast<std::uint32_t>((sq.head + sq.size - lag) % sq.size);
}

void simulated_controller::impl::raise_event(std::uint32_t dw0) {
    if (!ready) return;
    if (held_aers.empty()) {
        if (event_queue.size() < 8) event_queue.push_back(dw0);
        return;
    }
    std::uint16_t cid = held_aers.front();
    held_aers.erase(held_aers.begin());
    complete(0, cid, 0, dw0);
}

// ------------------------------------------------------------------ PRP data movement

std::uint16_t simulated_controller::impl::to_host(const nvme::sqe& cmd, const void* src,
                                                  std::size_t len) {
    std::string why;
    std::uint16_t s = map_prps(iova, cmd.prp1, cmd.prp2, len, mps, segs, why);
    if (s != 0) {
        if (!why.empty())
            diag("command opcode " + std::to_string(cmd.opcode) + " cid " +
                 std::to_string(cmd.cid) + ": " + why);
        return s;
    }
    const auto* p = static_cast<const std::byte*>(src);
    for (const auto& seg : segs) {
        std::memcpy(seg.host, p, seg.len);
        p += seg.len;
    }
    return 0;
}

std::uint16_t simulated_controller::impl::from_host(const nvme::sqe& cmd, void* dst,
                                                    std::size_t len) {
    std::string why;
    std::uint16_t s = map_prps(iova, cmd.prp1, cmd.prp2, len, mps, segs, why);
    if (s != 0) {
        if (!why.empty())
            diag("command opcode " + std::to_string(cmd.opcode) + " cid " +
                 std::to_string(cmd.cid) + ": " + why);
        return s;
    }
    auto* p = static_cast<std::byte*>(dst);
    for (const auto& seg : segs) {
        std::memcpy(p, seg.host, seg.len);
        p += seg.len;
    }
    return 0;
}

// ------------------------------------------------------------------ device thread

namespace {
using namespace std::chrono_literals;
// Spin this long after the last piece of work before dozing, when the host loop runs on another
// CPU: it usually rings again within a microsecond, and a futex wake-up of a halted (virtual) CPU
// costs tens of microseconds. On the host's own CPU the device does not spin at all: the host
// cannot ring while we hold its CPU, so spinning would only delay it (that was the bimodality on
// loaded 2-core machines).
constexpr auto idle_spin = 50us;
// A delayed command due sooner than this is waited for by spinning: a timed futex wait can
// oversleep by the timer slack (50 us by default).
constexpr auto min_timed_sleep = 100us;
}  // namespace

bool simulated_controller::impl::sharing_cpu_with_host() const noexcept {
    const int host = host_cpu.load(std::memory_order_relaxed);
    return host >= 0 && host == ::sched_getcpu();
}

void simulated_controller::impl::notify_completions() {
    for (std::uint16_t q : live_cqs) {
        cq_notifier& n = notifiers[q];
        if (!n.fn || n.seen == cqs[q].posted) continue;
        n.seen = cqs[q].posted;
        n.fn(n.ctx);  // after the entries' phase tags were stored (release): the host finds them
    }
    // The MSI-X model: a CQ created with IEN=1 signals its vector's eventfd (bind_irq_eventfd)
    // after new entries were posted, as vfio-pci's interrupt handler does for a real function.
    for (std::uint16_t q : live_cqs) {
        cq_state& cq = cqs[q];
        if (!cq.ien || cq.irq_seen == cq.posted || cq.iv >= irq_efd.size() || irq_efd[cq.iv] < 0)
            continue;
        cq.irq_seen = cq.posted;
        signal_vector(cq.iv);
    }
}

void simulated_controller::impl::unmask_vector(std::uint16_t v) {
    if (cfg.complete_at_unmask && irq_masked[v] && ready && !fatal) {
        (void)process();  // fetch what the doorbells announced (the device thread may doze)
        for (delayed_cmd& d : delayed) {
            const std::uint16_t cq = d.sqid < sqs.size() ? sqs[d.sqid].cqid : 0;
            if (d.sqid != 0 && cq < cqs.size() && cqs[cq].ien && cqs[cq].iv == v) {
                d.due = clock_type::now();  // one command: the race needs only one
                break;
            }
        }
        (void)run_delayed();
        notify_completions();  // still masked: Pending
    }
    irq_masked[v] = 0;
    if (irq_pending[v] && irq_efd[v] >= 0) signal_vector(v);
}

void simulated_controller::impl::signal_vector(std::uint16_t v) {
    if (irq_masked[v]) {
        ++st.interrupts_held;
        irq_pending[v] = 1;
        return;
    }
    irq_pending[v] = 0;
    ++st.interrupts;
    const std::uint64_t one = 1;
    (void)!::write(irq_efd[v], &one, sizeof one);
}

bool simulated_controller::impl::process_locked(clock_type::time_point& next_due) {
    std::lock_guard lock(mu);
    const bool worked = process();
    notify_completions();
    next_due = this->next_due();
    return worked;
}

void simulated_controller::impl::thread_main() {
    auto last_work = clock_type::now();
    clock_type::time_point next_due;
    while (!stop_thread.load(std::memory_order_relaxed)) {
        if (process_locked(next_due)) {
            last_work = clock_type::now();
            continue;
        }
        const auto now = clock_type::now();
        if (next_due - now < min_timed_sleep) continue;
        if (now - last_work < idle_spin && !sharing_cpu_with_host()) continue;
        // Doze until a doorbell write (sim_pci_device::write32), the stop request or the next
        // delayed command. Announce first, then look once more: see sim_doze.hpp.
        doze.prepare();
        if (stop_thread.load(std::memory_order_relaxed) || process_locked(next_due)) {
            doze.cancel();
            last_work = clock_type::now();
            continue;
        }
        doze.sleep(next_due);
        last_work = clock_type::now();  // more work usually follows a wake-up: spin again first
    }
}

// ------------------------------------------------------------------ public API

simulated_controller::simulated_controller(controller_config cfg)
    : impl_(std::make_unique<impl>(std::move(cfg))) {
    if (!impl_->cfg.inline_mode)
        impl_->device_thread = std::thread([this] { impl_->thread_main(); });
}

simulated_controller::~simulated_controller() {
    if (impl_->device_thread.joinable()) {
        impl_->stop_thread.store(true, std::memory_order_relaxed);
        impl_->doze.wake_if_asleep();  // its fence orders the store above before the check
        impl_->device_thread.join();
    }
}

const controller_config& simulated_controller::config() const noexcept {
    return impl_->cfg;
}

void simulated_controller::step() noexcept {
    std::lock_guard lock(impl_->mu);
    for (int i = 0; i < 1000 && impl_->process(); ++i) {
    }
}

void simulated_controller::inject(const fault& f) {
    std::lock_guard lock(impl_->mu);
    if (f.count > 0) impl_->faults.push_back(f);
}

void simulated_controller::set_fatal() noexcept {
    std::lock_guard lock(impl_->mu);
    if (!impl_->removed) impl_->go_fatal("set_fatal() was called (injected controller failure)");
}

void simulated_controller::remove() noexcept {
    std::lock_guard lock(impl_->mu);
    impl_->removed.store(true);
    std::memset(impl_->bar, 0xff, impl_->bar_bytes);
}

controller_stats simulated_controller::stats() const noexcept {
    std::lock_guard lock(impl_->mu);
    controller_stats s = impl_->st;
    s.disabling = impl_->disabling;
    s.enabling = impl_->enabling;
    s.fatal = impl_->fatal;
    s.device_sleeps = impl_->doze.sleeps();
    s.device_dozing = impl_->doze.asleep();
    return s;
}

int simulated_controller::peek(std::uint32_t nsid, std::uint64_t byte_offset, void* out,
                               std::size_t len) const {
    std::lock_guard lock(impl_->mu);
    if (nsid == 0 || nsid > impl_->ns.size()) return -EINVAL;
    const auto& n = impl_->ns[nsid - 1];
    std::uint64_t size = n.blocks << n.lba_shift;
    if (byte_offset > size || len > size - byte_offset) return -EINVAL;
    return impl_->store->read(n.base + byte_offset, out, len);
}

std::string simulated_controller::last_diagnostic() const {
    std::lock_guard lock(impl_->mu);
    return impl_->last_diag;
}

std::uint64_t simulated_controller::resident_bytes() const {
    std::lock_guard lock(impl_->mu);
    return impl_->store->resident_bytes();
}

}  // namespace convme::sim

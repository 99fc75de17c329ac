// SPDX-License-Identifier: MIT
// Admin command set of the simulated controller: queue management, identify, features, log
// pages, abort, doorbell buffer config and asynchronous event requests.
#include <algorithm>
#include <cstring>

#include "driver/sim/sim_impl.hpp"

namespace convme::sim {
namespace {

void put_padded(char* dst, std::size_t n, const char* text) {
    std::memset(dst, ' ', n);
    std::memcpy(dst, text, std::min(n, std::strlen(text)));
}

// 128-bit little-endian counter in a log page.
void put_u128(std::uint8_t (&dst)[16], std::uint64_t v) {
    std::memset(dst, 0, sizeof dst);
    std::memcpy(dst, &v, sizeof v);
}

std::uint16_t qid_of(const nvme::sqe& c) {
    return static_cast<std::uint16_t>(c.cdw10 & 0xffff);
}
std::uint32_t qsize_of(const nvme::sqe& c) {
    return ((c.cdw10 >> 16) & 0xffff) + 1;
}

}  // namespace

std::uint16_t simulated_controller::impl::execute_admin(const nvme::sqe& cmd, std::uint32_t& dw0,
                                                        bool& hold) {
    namespace op = nvme::admin_op;
    if (cmd.flags & 0xc0) return generic_status(nvme::sc::invalid_field);  // SGLs not supported
    switch (cmd.opcode) {
        case op::create_io_cq:
            return create_cq(cmd);
        case op::create_io_sq:
            return create_sq(cmd);
        case op::delete_io_sq:
            return delete_sq(cmd);
        case op::delete_io_cq:
            return delete_cq(cmd);
        case op::identify:
            return identify(cmd);
        case op::set_features:
            return set_features(cmd, dw0);
        case op::get_features:
            return get_features(cmd, dw0);
        case op::get_log_page:
            return get_log_page(cmd);
        case op::abort:
            return abort_command(cmd, dw0);
        case op::doorbell_buffer_config:
            if (!cfg.dbbc) return generic_status(nvme::sc::invalid_opcode);
            return doorbell_buffer_config(cmd);
        case op::async_event_request:
            if (held_aers.size() >= 4)         // AERL = 3 (0's based)
                return specific_status(0x05);  // Asynchronous Event Request Limit Exceeded
            if (!event_queue.empty()) {
                dw0 = event_queue.front();
                event_queue.pop_front();
                return 0;
            }
            held_aers.push_back(cmd.cid);
            hold = true;
            return 0;
        default:
            return generic_status(nvme::sc::invalid_opcode);
    }
}

std::uint16_t simulated_controller::impl::create_cq(const nvme::sqe& cmd) {
    std::uint16_t qid = qid_of(cmd);
    std::uint32_t size = qsize_of(cmd);
    if (qid == 0 || qid > cfg.max_io_queues || cqs[qid].live)
        return specific_status(nvme::sc::invalid_qid);
    // Only as many queues as Set Features (Number of Queues) granted.
    if (queues_feature_set && qid > granted_cq) {
        diag("Create I/O CQ " + std::to_string(qid) + ": beyond the " + std::to_string(granted_cq) +
             " granted");
        return specific_status(nvme::sc::invalid_qid);
    }
    if (size < 2 || size > cfg.mqes + 1) return specific_status(nvme::sc::invalid_queue_size);
    if (!(cmd.cdw11 & nvme::queue_phys_contig))
        return generic_status(nvme::sc::invalid_field);  // CAP.CQR=1
    if (cmd.prp1 == 0 || (cmd.prp1 & (mps - 1)))
        return generic_status(nvme::sc::invalid_prp_offset);
    std::string why;
    auto* ring = reinterpret_cast<nvme::cqe*>(iova.resolve(cmd.prp1, std::size_t{size} * 16, &why));
    if (!ring) {
        diag("Create I/O CQ " + std::to_string(qid) + ": " + why);
        return generic_status(nvme::sc::data_transfer_error);
    }
    if ((cmd.cdw11 & nvme::cq_irq_enabled) && (cmd.cdw11 >> 16) > cfg.max_io_queues)
        return specific_status(0x08);  // Invalid Interrupt Vector
    cq_state& cq = cqs[qid];
    cq = cq_state{};
    cq.live = true;
    cq.size = size;
    cq.base = cmd.prp1;
    cq.ring = ring;
    cq.ien = (cmd.cdw11 & nvme::cq_irq_enabled) != 0;
    cq.iv = static_cast<std::uint16_t>(cmd.cdw11 >> 16);
    // A doorbell written before the queue existed (while the controller was ready) is invalid.
    if (std::uint32_t v = 0; take_doorbell(nvme::reg::cq_head_doorbell(qid, cfg.dstrd), v))
        invalid_doorbell(qid, false, v);
    cq.shadow = shadow_db != nullptr;
    live_cqs.push_back(qid);
    return 0;
}

std::uint16_t simulated_controller::impl::create_sq(const nvme::sqe& cmd) {
    std::uint16_t qid = qid_of(cmd);
    std::uint32_t size = qsize_of(cmd);
    std::uint16_t cqid = static_cast<std::uint16_t>(cmd.cdw11 >> 16);
    if (qid == 0 || qid > cfg.max_io_queues || sqs[qid].live)
        return specific_status(nvme::sc::invalid_qid);
    if (queues_feature_set && qid > granted_sq) {
        diag("Create I/O SQ " + std::to_string(qid) + ": beyond the " + std::to_string(granted_sq) +
             " granted");
        return specific_status(nvme::sc::invalid_qid);
    }
    if (cqid == 0 || cqid > cfg.max_io_queues || !cqs[cqid].live)
        return specific_status(nvme::sc::cq_invalid);
    if (size < 2 || size > cfg.mqes + 1) return specific_status(nvme::sc::invalid_queue_size);
    if (!(cmd.cdw11 & nvme::queue_phys_contig)) return generic_status(nvme::sc::invalid_field);
    if (cmd.prp1 == 0 || (cmd.prp1 & (mps - 1)))
        return generic_status(nvme::sc::invalid_prp_offset);
    std::string why;
    auto* ring = reinterpret_cast<nvme::sqe*>(iova.resolve(cmd.prp1, std::size_t{size} * 64, &why));
    if (!ring) {
        diag("Create I/O SQ " + std::to_string(qid) + ": " + why);
        return generic_status(nvme::sc::data_transfer_error);
    }
    sq_state& sq = sqs[qid];
    sq = sq_state{};
    sq.live = true;
    sq.cqid = cqid;
    sq.size = size;
    sq.base = cmd.prp1;
    sq.ring = ring;
    if (std::uint32_t v = 0; take_doorbell(nvme::reg::sq_tail_doorbell(qid, cfg.dstrd), v))
        invalid_doorbell(qid, true, v);
    sq.shadow = shadow_db != nullptr;
    ++cqs[cqid].sq_refs;
    live_sqs.push_back(qid);
    return 0;
}

std::uint16_t simulated_controller::impl::delete_sq(const nvme::sqe& cmd) {
    std::uint16_t qid = qid_of(cmd);
    if (qid == 0 || qid > cfg.max_io_queues || !sqs[qid].live)
        return specific_status(nvme::sc::invalid_qid);
    // Commands still waiting in the device complete as "aborted due to SQ deletion" first.
    for (auto it = delayed.begin(); it != delayed.end();) {
        if (it->sqid != qid) {
            ++it;
            continue;
        }
        complete(qid, it->cmd.cid, generic_status(nvme::sc::aborted_sq_deleted, false), 0,
                 &it->cmd);
        it = delayed.erase(it);
    }
    abort_on_fetch.erase(std::remove_if(abort_on_fetch.begin(), abort_on_fetch.end(),
                                        [&](const auto& a) { return a.first == qid; }),
                         abort_on_fetch.end());
    --cqs[sqs[qid].cqid].sq_refs;
    sqs[qid] = sq_state{};
    live_sqs.erase(std::remove(live_sqs.begin(), live_sqs.end(), qid), live_sqs.end());
    reg_store(nvme::reg::sq_tail_doorbell(qid, cfg.dstrd), doorbell_idle);
    return 0;
}

std::uint16_t simulated_controller::impl::delete_cq(const nvme::sqe& cmd) {
    std::uint16_t qid = qid_of(cmd);
    if (qid == 0 || qid > cfg.max_io_queues || !cqs[qid].live)
        return specific_status(nvme::sc::invalid_qid);
    if (cqs[qid].sq_refs != 0) return specific_status(nvme::sc::invalid_queue_deletion);
    cqs[qid] = cq_state{};
    live_cqs.erase(std::remove(live_cqs.begin(), live_cqs.end(), qid), live_cqs.end());
    reg_store(nvme::reg::cq_head_doorbell(qid, cfg.dstrd), doorbell_idle);
    return 0;
}

std::uint16_t simulated_controller::impl::identify(const nvme::sqe& cmd) {
    std::uint32_t cns = cmd.cdw10 & 0xff;
    if (cns == nvme::cns::controller) return identify_controller(cmd);
    if (cns == nvme::cns::ns) return identify_namespace(cmd);
    if (cns == nvme::cns::ns_id_descriptors) {
        if (cmd.nsid == 0 || cmd.nsid > ns.size())
            return generic_status(nvme::sc::invalid_namespace);
        // One descriptor: Command Set Identifier (NIDT 04h, NIDL 1).
        std::uint8_t list[4096] = {};
        list[0] = nvme::nidt_csi;
        list[1] = 1;
        list[4] = ns[cmd.nsid - 1].csi;
        return to_host(cmd, list, sizeof list);
    }
    if (cns == nvme::cns::csi_controller) {
        const std::uint8_t csi = static_cast<std::uint8_t>(cmd.cdw11 >> 24);
        if (csi != nvme::csi::nvm) return generic_status(nvme::sc::invalid_field);
        nvme::identify_controller_nvm id{};
        id.wzsl = cfg.wzsl;
        id.dmrl = cfg.dmrl;
        id.dmrsl = cfg.dmrsl;
        return to_host(cmd, &id, sizeof id);
    }
    if (cns == nvme::cns::active_ns_list) {
        if (cmd.nsid >= 0xfffffffe) return generic_status(nvme::sc::invalid_namespace);
        std::uint32_t list[1024] = {};
        std::size_t k = 0;
        for (std::uint64_t id = std::uint64_t{cmd.nsid} + 1; id <= ns.size() && k < 1024; ++id)
            list[k++] = static_cast<std::uint32_t>(id);
        return to_host(cmd, list, sizeof list);
    }
    return generic_status(nvme::sc::invalid_field);
}

std::uint16_t simulated_controller::impl::identify_controller(const nvme::sqe& cmd) {
    nvme::identify_controller id{};
    id.vid = 0x1b36;  // Red Hat / QEMU's IDs: tools treat the sim like QEMU's nvme device
    id.ssvid = 0x1af4;
    put_padded(id.sn, sizeof id.sn, "CONVME-SIM-0001");
    put_padded(id.mn, sizeof id.mn, "CONVME-SIM");
    put_padded(id.fr, sizeof id.fr, "1.0");
    id.rab = 6;
    id.mdts = cfg.mdts;
    id.cntlid = 1;
    id.ver = 0x00010400;
    id.rtd3e = cfg.rtd3e_us;
    id.oacs = cfg.dbbc ? nvme::oacs_doorbell_buffer_config : 0;
    id.acl = 3;
    id.aerl = 3;
    id.frmw = 0x02;
    id.lpa = 0;
    id.elpe = 3;  // 4 error log entries
    id.sqes = 0x66;
    id.cqes = 0x44;
    id.maxcmd = 0;
    id.nn = static_cast<std::uint32_t>(ns.size());
    id.oncs = nvme::oncs_dsm | nvme::oncs_write_zeroes;
    id.vwc = cfg.volatile_write_cache ? 1 : 0;
    return to_host(cmd, &id, sizeof id);
}

// Format 0 without metadata; a namespace configured with metadata (ms) has format 1 in use.
std::uint16_t simulated_controller::impl::identify_namespace(const nvme::sqe& cmd) {
    if (cmd.nsid == 0 || cmd.nsid > ns.size()) return generic_status(nvme::sc::invalid_namespace);
    const namespace_layout& n = ns[cmd.nsid - 1];
    nvme::identify_namespace id{};
    id.nsze = id.ncap = id.nuse = n.blocks;
    id.nsfeat = 0x01;                // thin provisioning (deallocate supported)
    id.reserved_32[33 - 32] = 0x01;  // DLFEAT: deallocated blocks read as zeroes
    if (n.ms == 0) {
        id.nlbaf = 0;
        id.flbas = 0;
        id.lbaf[0].lbads = static_cast<std::uint8_t>(n.lba_shift);
    } else {
        // Format 0: no metadata (what a host should pick); format 1, in use: with metadata.
        id.nlbaf = 1;
        id.flbas = static_cast<std::uint8_t>(1u | (n.extended ? 0x10u : 0u));
        id.mc = n.extended ? 0x01 : 0x02;  // metadata as part of an extended LBA / separate buffer
        id.lbaf[0].lbads = static_cast<std::uint8_t>(n.lba_shift);
        id.lbaf[1].lbads = static_cast<std::uint8_t>(n.lba_shift);
        id.lbaf[1].ms = n.ms;
    }
    return to_host(cmd, &id, sizeof id);
}

std::uint16_t simulated_controller::impl::set_features(const nvme::sqe& cmd, std::uint32_t& dw0) {
    std::uint32_t fid = cmd.cdw10 & 0xff;
    if (cmd.cdw10 & (1u << 31)) return specific_status(0x0d);  // Feature Identifier Not Saveable
    switch (fid) {
        case nvme::feature::number_of_queues: {
            std::uint32_t nsqr = cmd.cdw11 & 0xffff, ncqr = cmd.cdw11 >> 16;
            if (nsqr == 0xffff || ncqr == 0xffff) return generic_status(nvme::sc::invalid_field);
            if (live_sqs.size() > 1 || live_cqs.size() > 1)
                return generic_status(nvme::sc::command_sequence_error);
            granted_sq = std::min(nsqr + 1, cfg.max_io_queues);
            granted_cq = std::min(ncqr + 1, cfg.max_io_queues);
            queues_feature_set = true;
            dw0 = (granted_sq - 1) | ((granted_cq - 1) << 16);
            return 0;
        }
        case nvme::feature::volatile_write_cache:
            if (!cfg.volatile_write_cache) return generic_status(nvme::sc::invalid_field);
            write_cache = cmd.cdw11 & 1;
            return 0;
        case 0x01:
            arbitration = cmd.cdw11;
            return 0;
        case 0x04:
            temp_threshold = cmd.cdw11 & 0xffff;
            return 0;
        case 0x0b:
            async_event_config = cmd.cdw11;
            return 0;
        case nvme::feature::interrupt_coalescing:
            irq_coalescing = cmd.cdw11 & 0xffff;
            return 0;
        default:
            return generic_status(nvme::sc::invalid_field);
    }
}

std::uint16_t simulated_controller::impl::get_features(const nvme::sqe& cmd, std::uint32_t& dw0) {
    std::uint32_t fid = cmd.cdw10 & 0xff;
    switch (fid) {
        case nvme::feature::number_of_queues: {
            std::uint32_t s = queues_feature_set ? granted_sq : cfg.max_io_queues;
            std::uint32_t c = queues_feature_set ? granted_cq : cfg.max_io_queues;
            dw0 = (s - 1) | ((c - 1) << 16);
            return 0;
        }
        case nvme::feature::volatile_write_cache:
            if (!cfg.volatile_write_cache) return generic_status(nvme::sc::invalid_field);
            dw0 = write_cache ? 1 : 0;
            return 0;
        case 0x01:
            dw0 = arbitration;
            return 0;
        case 0x04:
            dw0 = temp_threshold;
            return 0;
        case 0x0b:
            dw0 = async_event_config;
            return 0;
        case nvme::feature::interrupt_coalescing:
            dw0 = irq_coalescing;
            return 0;
        default:
            return generic_status(nvme::sc::invalid_field);
    }
}

std::uint16_t simulated_controller::impl::get_log_page(const nvme::sqe& cmd) {
    std::uint32_t lid = cmd.cdw10 & 0xff;
    std::uint64_t numd = ((cmd.cdw10 >> 16) | (std::uint64_t{cmd.cdw11 & 0xffff} << 16)) + 1;
    std::uint64_t offset = cmd.cdw12 | std::uint64_t{cmd.cdw13} << 32;
    std::uint64_t len = numd * 4;
    std::vector<std::uint8_t> page;
    if (lid == nvme::log_page::smart_health) {
        if (cmd.nsid != 0 && cmd.nsid != 0xffffffff) return generic_status(nvme::sc::invalid_field);
        nvme::smart_log log{};
        log.temperature[0] = 310 & 0xff;  // 310 K
        log.temperature[1] = 310 >> 8;
        log.avail_spare = 100;
        log.spare_thresh = 10;
        // Data units are thousands of 512-byte units, rounded up.
        put_u128(log.data_units_read, (st.bytes_read / 512 + 999) / 1000);
        put_u128(log.data_units_written, (st.bytes_written / 512 + 999) / 1000);
        put_u128(log.host_reads, host_read_cmds);
        put_u128(log.host_writes, host_write_cmds);
        put_u128(log.power_cycles, 1);
        put_u128(log.num_err_log_entries, error_count);
        page.assign(reinterpret_cast<std::uint8_t*>(&log),
                    reinterpret_cast<std::uint8_t*>(&log) + sizeof log);
    } else if (lid == nvme::log_page::error_info) {
        page.assign(64 * 4, 0);
        std::size_t i = 0;
        for (const error_entry& e : error_log) {
            std::uint8_t* p = page.data() + 64 * i++;
            std::memcpy(p + 0, &e.count, 8);
            std::memcpy(p + 8, &e.sqid, 2);
            std::memcpy(p + 10, &e.cid, 2);
            std::uint16_t sf = e.status;
            std::memcpy(p + 12, &sf, 2);
            std::memcpy(p + 16, &e.lba, 8);
            std::memcpy(p + 24, &e.nsid, 4);
        }
    } else {
        return generic_status(nvme::sc::invalid_field);
    }
    if (offset & 3) return generic_status(nvme::sc::invalid_field);
    if (offset > page.size()) return generic_status(nvme::sc::invalid_field);
    std::vector<std::uint8_t> out(len, 0);
    std::size_t avail = page.size() - offset;
    std::memcpy(out.data(), page.data() + offset, std::min<std::size_t>(avail, len));
    if (std::uint16_t s = max_transfer_check(len); s != 0) return s;
    return to_host(cmd, out.data(), out.size());
}

std::uint16_t simulated_controller::impl::abort_command(const nvme::sqe& cmd, std::uint32_t& dw0) {
    ++st.aborts;
    std::uint16_t sqid = static_cast<std::uint16_t>(cmd.cdw10 & 0xffff);
    std::uint16_t cid = static_cast<std::uint16_t>(cmd.cdw10 >> 16);
    dw0 = 1;  // bit 0 set: command not aborted
    if (sqid > cfg.max_io_queues || !sqs[sqid].live) return 0;
    const std::uint16_t aborted = generic_status(nvme::sc::abort_requested, false);
    // Still waiting for its completion time?
    for (auto it = delayed.begin(); it != delayed.end(); ++it) {
        if (it->sqid != sqid || it->cmd.cid != cid) continue;
        if (!it->abortable) return 0;  // already executing: not aborted, completes later
        nvme::sqe victim = it->cmd;
        delayed.erase(it);
        complete(sqid, cid, aborted, 0, &victim);
        dw0 = 0;
        return 0;
    }
    // A held Async Event Request?
    if (sqid == 0) {
        auto it = std::find(held_aers.begin(), held_aers.end(), cid);
        if (it != held_aers.end()) {
            held_aers.erase(it);
            complete(0, cid, aborted, 0);
            dw0 = 0;
            return 0;
        }
    }
    // Still in the SQ, not fetched yet: abort it when it is fetched.
    const sq_state& sq = sqs[sqid];
    for (std::uint32_t i = sq.head; i != sq.tail; i = (i + 1) % sq.size) {
        if (sq.ring[i].cid == cid) {
            abort_on_fetch.emplace_back(sqid, cid);
            dw0 = 0;
            return 0;
        }
    }
    return 0;
}

std::uint16_t simulated_controller::impl::doorbell_buffer_config(const nvme::sqe& cmd) {
    if (cmd.prp1 == 0 || cmd.prp2 == 0 || (cmd.prp1 & (mps - 1)) || (cmd.prp2 & (mps - 1)))
        return generic_status(nvme::sc::invalid_field);
    std::uint64_t need =
        std::uint64_t{cq_db_index(static_cast<std::uint16_t>(cfg.max_io_queues))} * 4 + 4;
    if (need > mps) return generic_status(nvme::sc::invalid_field);
    std::string why;
    auto* db = reinterpret_cast<std::uint32_t*>(iova.resolve(cmd.prp1, mps, &why));
    auto* ei = db ? reinterpret_cast<std::uint32_t*>(iova.resolve(cmd.prp2, mps, &why)) : nullptr;
    if (!db || !ei) {
        diag("Doorbell Buffer Config: " + why);
        return generic_status(nvme::sc::data_transfer_error);
    }
    shadow_db = db;
    event_idx = ei;
    shadow_db_iova = cmd.prp1;
    event_idx_iova = cmd.prp2;
    // I/O queues only: the admin queue keeps using its MMIO doorbells (as Linux drives it).
    // Existing I/O queues switch over with their current values copied into the buffer.
    for (std::uint16_t q : live_sqs) {
        if (q == 0) continue;
        sqs[q].shadow = true;
        std::atomic_ref<std::uint32_t>(shadow_db[sq_db_index(q)])
            .store(sqs[q].tail, std::memory_order_release);
        event_idx_store(sq_db_index(q), sqs[q].tail);
    }
    for (std::uint16_t q : live_cqs) {
        if (q == 0) continue;
        cqs[q].shadow = true;
        std::atomic_ref<std::uint32_t>(shadow_db[cq_db_index(q)])
            .store(cqs[q].head, std::memory_order_release);
        event_idx_store(cq_db_index(q), cqs[q].head);
    }
    return 0;
}

}  // namespace convme::sim

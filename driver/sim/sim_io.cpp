// SPDX-License-Identifier: MIT
// NVM command set of the simulated controller: Read, Write, Flush, Write Zeroes and Dataset
// Management (deallocate), with namespace, LBA range and MDTS checks.
#include <cstring>

#include "driver/sim/sim_impl.hpp"

namespace convme::sim {

std::uint16_t simulated_controller::impl::max_transfer_check(std::size_t bytes) const {
    if (cfg.mdts == 0) return 0;
    std::uint64_t limit = (std::uint64_t{1} << cfg.mdts) * (std::uint64_t{4096} << cfg.mpsmin);
    return bytes > limit ? generic_status(nvme::sc::invalid_field) : 0;
}

std::uint16_t simulated_controller::impl::execute_io(const nvme::sqe& cmd) {
    using namespace nvme::io_opcode;
    if (cmd.flags & 0xc0) return generic_status(nvme::sc::invalid_field);  // SGLs not supported
    if (cmd.opcode == flush) return execute_flush(cmd);
    if (cmd.opcode != read && cmd.opcode != write && cmd.opcode != write_zeroes &&
        cmd.opcode != dataset_management)
        return generic_status(nvme::sc::invalid_opcode);
    if (cmd.nsid == 0 || cmd.nsid > ns.size()) return generic_status(nvme::sc::invalid_namespace);
    namespace_layout& n = ns[cmd.nsid - 1];
    if (cmd.opcode == dataset_management) return execute_deallocate(cmd, n);

    std::uint64_t slba = cmd.cdw10 | std::uint64_t{cmd.cdw11} << 32;
    std::uint64_t nlb = (cmd.cdw12 & 0xffff) + 1;
    if (slba >= n.blocks || nlb > n.blocks - slba)
        return generic_status(nvme::sc::lba_out_of_range);
    if (n.csi == nvme::csi::zoned) {
        std::uint16_t zs = 0;
        if (!zoned_write_check(n, cmd.opcode, slba, nlb, zs)) return zs;
    }
    if (cfg.bad_blocks != 0 && (cmd.opcode == read || cmd.opcode == write) &&
        slba < cfg.bad_lba + cfg.bad_blocks && cfg.bad_lba < slba + nlb)
        return nvme::make_status(nvme::sct::media, cmd.opcode == read
                                                       ? nvme::sc::unrecovered_read_error
                                                       : nvme::sc::write_fault);
    std::uint64_t offset = n.base + (slba << n.lba_shift);
    std::size_t bytes = static_cast<std::size_t>(nlb << n.lba_shift);

    if (cmd.opcode == write_zeroes) {
        if (cfg.wzsl != 0 &&
            bytes > (std::uint64_t{1} << cfg.wzsl) * (std::uint64_t{4096} << cfg.mpsmin)) {
            diag("Write Zeroes of " + std::to_string(bytes) + " bytes exceeds WZSL");
            return generic_status(nvme::sc::invalid_field);
        }
        if (store->zero(offset, bytes) != 0)
            return nvme::make_status(nvme::sct::media, nvme::sc::write_fault);
        return 0;
    }
    return execute_transfer(cmd, slba, offset, bytes);
}

std::uint16_t simulated_controller::impl::execute_flush(const nvme::sqe& cmd) {
    if (cmd.nsid != 0xffffffff && (cmd.nsid == 0 || cmd.nsid > ns.size()))
        return generic_status(nvme::sc::invalid_namespace);
    if (int rc = store->flush(); rc != 0) {
        diag("Flush: fdatasync of the backing file failed: " + std::string(std::strerror(-rc)));
        return nvme::make_status(nvme::sct::media, nvme::sc::write_fault);
    }
    return 0;
}

// Dataset Management: every range checked (LBA range, DMRL, DMRSL) before any is deallocated.
std::uint16_t simulated_controller::impl::execute_deallocate(const nvme::sqe& cmd,
                                                             namespace_layout& n) {
    std::uint32_t nr = (cmd.cdw10 & 0xff) + 1;
    if (cfg.dmrl != 0 && nr > cfg.dmrl) {
        diag("Dataset Management with " + std::to_string(nr) + " ranges, DMRL is " +
             std::to_string(cfg.dmrl));
        return generic_status(nvme::sc::invalid_field);
    }
    nvme::dsm_range ranges[256];
    if (std::uint16_t s = from_host(cmd, ranges, nr * sizeof(nvme::dsm_range)); s != 0) return s;
    if (!(cmd.cdw11 & nvme::dsm_deallocate)) return 0;  // hints only: nothing to do
    for (std::uint32_t i = 0; i < nr; ++i) {
        if (ranges[i].slba > n.blocks || ranges[i].nlb > n.blocks - ranges[i].slba)
            return generic_status(nvme::sc::lba_out_of_range);
        if (cfg.dmrsl != 0 && ranges[i].nlb > cfg.dmrsl) {
            diag("Dataset Management range of " + std::to_string(ranges[i].nlb) +
                 " blocks, DMRSL is " + std::to_string(cfg.dmrsl));
            return generic_status(nvme::sc::invalid_field);
        }
    }
    for (std::uint32_t i = 0; i < nr; ++i) {
        if (ranges[i].nlb == 0) continue;
        int rc = store->zero(n.base + (ranges[i].slba << n.lba_shift),
                             std::uint64_t{ranges[i].nlb} << n.lba_shift);
        if (rc != 0) return nvme::make_status(nvme::sct::media, nvme::sc::write_fault);
    }
    return 0;
}

// Read / Write: MDTS, the PRPs mapped to host segments, then the media, segment by segment.
std::uint16_t simulated_controller::impl::execute_transfer(const nvme::sqe& cmd, std::uint64_t slba,
                                                           std::uint64_t offset,
                                                           std::size_t bytes) {
    const bool is_read = cmd.opcode == nvme::io_opcode::read;
    if (std::uint16_t s = max_transfer_check(bytes); s != 0) return s;
    std::string why;
    if (std::uint16_t s = map_prps(iova, cmd.prp1, cmd.prp2, bytes, mps, segs, why); s != 0) {
        if (!why.empty())
            diag(std::string(is_read ? "Read" : "Write") + " cid " + std::to_string(cmd.cid) +
                 " lba " + std::to_string(slba) + ": " + why);
        return s;
    }
    for (const dma_segment& seg : segs) {
        int rc = is_read ? store->read(offset, seg.host, seg.len)
                         : store->write(offset, seg.host, seg.len);
        if (rc != 0) {
            diag(std::string("media ") + (is_read ? "read" : "write") +
                 " failed: " + std::strerror(-rc));
            return nvme::make_status(nvme::sct::media, is_read ? nvme::sc::unrecovered_read_error
                                                               : nvme::sc::write_fault);
        }
        offset += seg.len;
    }
    if (is_read) {
        ++host_read_cmds;
        st.bytes_read += bytes;
    } else {
        ++host_write_cmds;
        st.bytes_written += bytes;
    }
    return 0;
}

// Zoned namespace (simplified ZNS): writes and write zeroes must start at the zone's write
// pointer and stay inside the zone; the pointer then advances. Reads anywhere.
bool simulated_controller::impl::zoned_write_check(namespace_layout& n, std::uint8_t opcode,
                                                   std::uint64_t slba, std::uint64_t nlb,
                                                   std::uint16_t& status) {
    if (opcode != nvme::io_opcode::write && opcode != nvme::io_opcode::write_zeroes) return true;
    const std::uint64_t zone = slba / n.zone_blocks;
    const std::uint64_t zone_end = (zone + 1) * n.zone_blocks;
    if (slba != n.write_pointer[zone] || slba + nlb > zone_end) {
        status = specific_status(nvme::sc::zone_invalid_write);
        return false;
    }
    n.write_pointer[zone] += nlb;
    return true;
}

}  // namespace convme::sim

// SPDX-License-Identifier: MIT
// Builders for the admin commands the driver issues (opcode + command dwords; the caller sets the
// command id and data pointers).
#pragma once

#include <convme/nvme_spec.hpp>
#include <cstdint>

namespace convme::driver::admin {

inline nvme::sqe make(std::uint8_t opcode) noexcept {
    nvme::sqe s{};
    s.opcode = opcode;
    return s;
}

inline nvme::sqe identify(std::uint32_t cns, std::uint32_t nsid, std::uint64_t buf_iova) noexcept {
    nvme::sqe s = make(nvme::admin_op::identify);
    s.nsid = nsid;
    s.prp1 = buf_iova;
    s.cdw10 = cns;
    return s;
}

// Number of Queues: both counts 1-based here, 0's based on the wire.
inline nvme::sqe set_number_of_queues(std::uint32_t sqs, std::uint32_t cqs) noexcept {
    nvme::sqe s = make(nvme::admin_op::set_features);
    s.cdw10 = nvme::feature::number_of_queues;
    s.cdw11 = ((cqs - 1) << 16) | ((sqs - 1) & 0xffff);
    return s;
}

// Completion queue, physically contiguous. irq_vector < 0: polled (IEN=0); else IEN=1 and
// IV (CDW11 bits 31:16) = the MSI-X vector the controller signals after posting entries.
inline nvme::sqe create_io_cq(std::uint16_t qid, std::uint32_t depth, std::uint64_t iova,
                              int irq_vector = -1) noexcept {
    nvme::sqe s = make(nvme::admin_op::create_io_cq);
    s.prp1 = iova;
    s.cdw10 = ((depth - 1) << 16) | qid;
    s.cdw11 = nvme::queue_phys_contig;
    if (irq_vector >= 0)
        s.cdw11 |= nvme::cq_irq_enabled | (static_cast<std::uint32_t>(irq_vector) << 16);
    return s;
}

// Set Features, Interrupt Coalescing (FID 08h): interrupt after `threshold` entries (1..256) or
// `time_100us` x 100 us since the first unsignalled one, whichever comes first.
inline nvme::sqe set_interrupt_coalescing(std::uint32_t threshold,
                                          std::uint32_t time_100us) noexcept {
    nvme::sqe s = make(nvme::admin_op::set_features);
    s.cdw10 = nvme::feature::interrupt_coalescing;
    s.cdw11 = ((time_100us & 0xff) << 8) | ((threshold - 1) & 0xff);
    return s;
}

inline nvme::sqe create_io_sq(std::uint16_t qid, std::uint32_t depth, std::uint64_t iova,
                              std::uint16_t cqid) noexcept {
    nvme::sqe s = make(nvme::admin_op::create_io_sq);
    s.prp1 = iova;
    s.cdw10 = ((depth - 1) << 16) | qid;
    s.cdw11 = (std::uint32_t(cqid) << 16) | nvme::queue_phys_contig;
    return s;
}

inline nvme::sqe delete_io_sq(std::uint16_t qid) noexcept {
    nvme::sqe s = make(nvme::admin_op::delete_io_sq);
    s.cdw10 = qid;
    return s;
}

inline nvme::sqe delete_io_cq(std::uint16_t qid) noexcept {
    nvme::sqe s = make(nvme::admin_op::delete_io_cq);
    s.cdw10 = qid;
    return s;
}

inline nvme::sqe abort_command(std::uint16_t sqid, std::uint16_t cid) noexcept {
    nvme::sqe s = make(nvme::admin_op::abort);
    s.cdw10 = (std::uint32_t(cid) << 16) | sqid;
    return s;
}

inline nvme::sqe doorbell_buffer_config(std::uint64_t shadow_iova,
                                        std::uint64_t eventidx_iova) noexcept {
    nvme::sqe s = make(nvme::admin_op::doorbell_buffer_config);
    s.prp1 = shadow_iova;
    s.prp2 = eventidx_iova;
    return s;
}

// Get Log Page for `bytes` (dword multiple) of log `lid`, global scope (NSID all-ones).
inline nvme::sqe get_log_page(std::uint32_t lid, std::uint32_t bytes,
                              std::uint64_t buf_iova) noexcept {
    nvme::sqe s = make(nvme::admin_op::get_log_page);
    s.nsid = 0xffffffffu;
    s.prp1 = buf_iova;
    const std::uint32_t numd = bytes / 4 - 1;  // 0's based dword count
    s.cdw10 = ((numd & 0xffff) << 16) | (lid & 0xff);
    s.cdw11 = numd >> 16;
    return s;
}

}  // namespace convme::driver::admin

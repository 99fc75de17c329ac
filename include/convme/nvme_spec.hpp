// SPDX-License-Identifier: MIT
// NVMe 1.4 definitions used by the driver and the simulated controller: controller registers,
// submission/completion entries, opcodes, identify structures (the fields we use), status codes.
// Every layout is checked with static_assert against the specification's sizes and offsets.
#pragma once

#include <cstddef>
#include <cstdint>

namespace convme::nvme {

// ---------------------------------------------------------------- controller registers (BAR0)
namespace reg {
inline constexpr std::uint32_t cap = 0x00;    // Controller Capabilities (64-bit)
inline constexpr std::uint32_t vs = 0x08;     // Version
inline constexpr std::uint32_t intms = 0x0c;  // Interrupt Mask Set
inline constexpr std::uint32_t intmc = 0x10;  // Interrupt Mask Clear
inline constexpr std::uint32_t cc = 0x14;     // Controller Configuration
inline constexpr std::uint32_t csts = 0x1c;   // Controller Status
inline constexpr std::uint32_t nssr = 0x20;   // NVM Subsystem Reset
inline constexpr std::uint32_t aqa = 0x24;    // Admin Queue Attributes
inline constexpr std::uint32_t asq = 0x28;    // Admin SQ Base Address (64-bit)
inline constexpr std::uint32_t acq = 0x30;    // Admin CQ Base Address (64-bit)
inline constexpr std::uint32_t doorbell_base = 0x1000;

// Offset of SQ y tail doorbell / CQ y head doorbell, with stride 4 << CAP.DSTRD.
constexpr std::uint32_t sq_tail_doorbell(std::uint16_t qid, std::uint32_t dstrd) noexcept {
    return doorbell_base + (2u * qid) * (4u << dstrd);
}
constexpr std::uint32_t cq_head_doorbell(std::uint16_t qid, std::uint32_t dstrd) noexcept {
    return doorbell_base + (2u * qid + 1u) * (4u << dstrd);
}
}  // namespace reg

// CAP fields.
struct cap_fields {
    std::uint64_t raw;
    constexpr std::uint32_t mqes() const noexcept {
        return static_cast<std::uint32_t>(raw & 0xffff);
    }                                                                // 0's based
    constexpr bool cqr() const noexcept { return (raw >> 16) & 1; }  // contiguous queues required
    constexpr std::uint32_t to_500ms() const noexcept {
        return (raw >> 24) & 0xff;
    }  // timeout, 500 ms units
    constexpr std::uint32_t dstrd() const noexcept { return (raw >> 32) & 0xf; }
    constexpr bool nssrs() const noexcept { return (raw >> 36) & 1; }
    constexpr std::uint32_t css() const noexcept { return (raw >> 37) & 0xff; }
    constexpr std::uint32_t mpsmin() const noexcept { return (raw >> 48) & 0xf; }  // 2^(12+x)
    constexpr std::uint32_t mpsmax() const noexcept { return (raw >> 52) & 0xf; }
};

// CC fields.
namespace cc {
inline constexpr std::uint32_t en = 1u << 0;
inline constexpr std::uint32_t css_nvm = 0u << 4;
inline constexpr std::uint32_t mps_shift = 7;  // bits 10:7, page size 2^(12+MPS)
inline constexpr std::uint32_t ams_rr = 0u << 11;
inline constexpr std::uint32_t shn_shift = 14;  // bits 15:14
inline constexpr std::uint32_t shn_mask = 3u << 14;
inline constexpr std::uint32_t shn_normal = 1u << 14;
inline constexpr std::uint32_t shn_abrupt = 2u << 14;
inline constexpr std::uint32_t iosqes_shift = 16;  // bits 19:16, 2^n bytes (6 -> 64)
inline constexpr std::uint32_t iocqes_shift = 20;  // bits 23:20, 2^n bytes (4 -> 16)
}  // namespace cc

// CSTS fields.
namespace csts {
inline constexpr std::uint32_t rdy = 1u << 0;
inline constexpr std::uint32_t cfs = 1u << 1;
inline constexpr std::uint32_t shst_shift = 2;  // bits 3:2
inline constexpr std::uint32_t shst_mask = 3u << 2;
inline constexpr std::uint32_t shst_normal = 0u << 2;
inline constexpr std::uint32_t shst_occurring = 1u << 2;
inline constexpr std::uint32_t shst_complete = 2u << 2;
inline constexpr std::uint32_t nssro = 1u << 4;
inline constexpr std::uint32_t pp = 1u << 5;
}  // namespace csts

// ---------------------------------------------------------------- queue entries
struct sqe {
    std::uint8_t opcode;
    std::uint8_t flags;  // bits 7:6 PSDT (0 = PRPs), bits 1:0 FUSE
    std::uint16_t cid;
    std::uint32_t nsid;
    std::uint32_t cdw2;
    std::uint32_t cdw3;
    std::uint64_t mptr;
    std::uint64_t prp1;
    std::uint64_t prp2;
    std::uint32_t cdw10;
    std::uint32_t cdw11;
    std::uint32_t cdw12;
    std::uint32_t cdw13;
    std::uint32_t cdw14;
    std::uint32_t cdw15;
};
static_assert(sizeof(sqe) == 64, "NVMe submission queue entry is 64 bytes");
static_assert(offsetof(sqe, cid) == 2 && offsetof(sqe, nsid) == 4 && offsetof(sqe, mptr) == 16);
static_assert(offsetof(sqe, prp1) == 24 && offsetof(sqe, prp2) == 32 && offsetof(sqe, cdw10) == 40);
static_assert(offsetof(sqe, cdw15) == 60);

struct cqe {
    std::uint32_t dw0;  // command specific
    std::uint32_t dw1;
    std::uint16_t sqhd;  // SQ head pointer
    std::uint16_t sqid;
    std::uint16_t cid;
    std::uint16_t status;  // bit 0: phase tag; bits 15:1 status field
};
static_assert(sizeof(cqe) == 16, "NVMe completion queue entry is 16 bytes");
static_assert(offsetof(cqe, sqhd) == 8 && offsetof(cqe, cid) == 12 && offsetof(cqe, status) == 14);

// Status field helpers (status >> 1): SC bits 7:0, SCT bits 10:8, CRD 12:11, More 13, DNR 14.
constexpr std::uint16_t status_code(std::uint16_t status_with_phase) noexcept {
    return static_cast<std::uint16_t>((status_with_phase >> 1) & 0xff);
}
constexpr std::uint16_t status_type(std::uint16_t status_with_phase) noexcept {
    return static_cast<std::uint16_t>((status_with_phase >> 9) & 0x7);
}
// (SCT << 8) | SC: the value carried by convme::nvme_category() error codes.
constexpr std::uint16_t status_sct_sc(std::uint16_t status_with_phase) noexcept {
    return static_cast<std::uint16_t>((status_type(status_with_phase) << 8) |
                                      status_code(status_with_phase));
}
constexpr bool status_dnr(std::uint16_t status_with_phase) noexcept {
    return (status_with_phase >> 15) & 1;
}
// Build a status field (without phase) from type/code: the simulated controller posts these.
constexpr std::uint16_t make_status(std::uint16_t sct, std::uint16_t sc,
                                    bool dnr = false) noexcept {
    return static_cast<std::uint16_t>(((sc & 0xff) << 1) | ((sct & 0x7) << 9) |
                                      (dnr ? 1u << 15 : 0u));
}

// Status code types and the codes we name.
namespace sct {
inline constexpr std::uint16_t generic = 0;
inline constexpr std::uint16_t command_specific = 1;
inline constexpr std::uint16_t media = 2;
inline constexpr std::uint16_t path = 3;
inline constexpr std::uint16_t vendor = 7;
}  // namespace sct
namespace sc {  // generic command status
inline constexpr std::uint16_t success = 0x00;
inline constexpr std::uint16_t invalid_opcode = 0x01;
inline constexpr std::uint16_t invalid_field = 0x02;
inline constexpr std::uint16_t cid_conflict = 0x03;
inline constexpr std::uint16_t data_transfer_error = 0x04;
inline constexpr std::uint16_t aborted_power_loss = 0x05;
inline constexpr std::uint16_t internal_error = 0x06;
inline constexpr std::uint16_t abort_requested = 0x07;
inline constexpr std::uint16_t aborted_sq_deleted = 0x08;
inline constexpr std::uint16_t aborted_failed_fused = 0x09;
inline constexpr std::uint16_t aborted_missing_fused = 0x0a;
inline constexpr std::uint16_t invalid_namespace = 0x0b;
inline constexpr std::uint16_t command_sequence_error = 0x0c;
inline constexpr std::uint16_t invalid_sgl_descriptor = 0x0d;
inline constexpr std::uint16_t invalid_prp_offset = 0x13;
inline constexpr std::uint16_t lba_out_of_range = 0x80;
inline constexpr std::uint16_t capacity_exceeded = 0x81;
inline constexpr std::uint16_t namespace_not_ready = 0x82;
// command specific (sct 1)
inline constexpr std::uint16_t cq_invalid = 0x00;
inline constexpr std::uint16_t invalid_qid = 0x01;
inline constexpr std::uint16_t invalid_queue_size = 0x02;
inline constexpr std::uint16_t abort_limit_exceeded = 0x03;
inline constexpr std::uint16_t invalid_queue_deletion = 0x0c;
inline constexpr std::uint16_t zone_invalid_write = 0xbc;
// media (sct 2)
inline constexpr std::uint16_t write_fault = 0x80;
inline constexpr std::uint16_t unrecovered_read_error = 0x81;
}  // namespace sc

// ---------------------------------------------------------------- opcodes
namespace admin_op {
inline constexpr std::uint8_t delete_io_sq = 0x00;
inline constexpr std::uint8_t create_io_sq = 0x01;
inline constexpr std::uint8_t get_log_page = 0x02;
inline constexpr std::uint8_t delete_io_cq = 0x04;
inline constexpr std::uint8_t create_io_cq = 0x05;
inline constexpr std::uint8_t identify = 0x06;
inline constexpr std::uint8_t abort = 0x08;
inline constexpr std::uint8_t set_features = 0x09;
inline constexpr std::uint8_t get_features = 0x0a;
inline constexpr std::uint8_t async_event_request = 0x0c;
inline constexpr std::uint8_t doorbell_buffer_config = 0x7c;
}  // namespace admin_op

namespace io_opcode {
inline constexpr std::uint8_t flush = 0x00;
inline constexpr std::uint8_t write = 0x01;
inline constexpr std::uint8_t read = 0x02;
inline constexpr std::uint8_t write_zeroes = 0x08;
inline constexpr std::uint8_t dataset_management = 0x09;
}  // namespace io_opcode

// Identify CNS values.
namespace cns {
inline constexpr std::uint32_t ns = 0x00;
inline constexpr std::uint32_t controller = 0x01;
inline constexpr std::uint32_t active_ns_list = 0x02;
inline constexpr std::uint32_t ns_id_descriptors =
    0x03;  // Namespace Identification Descriptor list
inline constexpr std::uint32_t csi_controller =
    0x06;  // I/O Command Set specific Identify Controller
}  // namespace cns

// Command Set Identifiers (Namespace Identification Descriptor type 04h, CDW11 CSI of Identify).
namespace csi {
inline constexpr std::uint8_t nvm = 0x00;
inline constexpr std::uint8_t key_value = 0x01;
inline constexpr std::uint8_t zoned = 0x02;
}  // namespace csi
inline constexpr std::uint8_t nidt_csi = 0x04;  // descriptor type: Command Set Identifier (1 byte)

// NVM Command Set specific Identify Controller (CNS 06h, CSI 00h), the fields the driver uses.
struct identify_controller_nvm {
    std::uint8_t vsl;   // Verify Size Limit
    std::uint8_t wzsl;  // Write Zeroes Size Limit: 2^n units of CAP.MPSMIN pages; 0 = none
    std::uint8_t wusl;
    std::uint8_t dmrl;    // Dataset Management Ranges Limit; 0 = none (256)
    std::uint32_t dmrsl;  // Dataset Management Range Size Limit (blocks per range); 0 = none
    std::uint64_t dmsl;
    std::uint8_t reserved_16[4096 - 16];
};
static_assert(sizeof(identify_controller_nvm) == 4096);

// Feature identifiers.
namespace feature {
inline constexpr std::uint32_t number_of_queues = 0x07;
inline constexpr std::uint32_t volatile_write_cache = 0x06;
// CDW11: bits 7:0 aggregation threshold (0's based), bits 15:8 aggregation time (100 us units).
inline constexpr std::uint32_t interrupt_coalescing = 0x08;
}  // namespace feature

// Log page identifiers.
namespace log_page {
inline constexpr std::uint32_t error_info = 0x01;
inline constexpr std::uint32_t smart_health = 0x02;
}  // namespace log_page

// Create I/O queue flags (CDW11).
inline constexpr std::uint32_t queue_phys_contig = 1u << 0;
inline constexpr std::uint32_t cq_irq_enabled = 1u << 1;

// Dataset Management: CDW11 bit 2 = Attribute Deallocate; ranges are 16 bytes each, up to 256.
inline constexpr std::uint32_t dsm_deallocate = 1u << 2;
struct dsm_range {
    std::uint32_t context_attributes;
    std::uint32_t nlb;  // length in logical blocks (NOT 0's based)
    std::uint64_t slba;
};
static_assert(sizeof(dsm_range) == 16);

// ---------------------------------------------------------------- identify structures (4096 B)
struct identify_controller {
    std::uint16_t vid;
    std::uint16_t ssvid;
    char sn[20];
    char mn[40];
    char fr[8];
    std::uint8_t rab;
    std::uint8_t ieee[3];
    std::uint8_t cmic;
    std::uint8_t mdts;  // 77: max data transfer size, 2^n units of CAP.MPSMIN; 0 = no limit
    std::uint16_t cntlid;
    std::uint32_t ver;
    std::uint32_t rtd3r;  // 84: RTD3 resume latency (us)
    std::uint32_t
        rtd3e;  // 88: RTD3 entry latency (us): how long a shutdown may take; 0 = not reported
    std::uint8_t reserved_92[164];
    std::uint16_t oacs;  // 256: optional admin command support (bit 8: Doorbell Buffer Config)
    std::uint8_t acl;
    std::uint8_t aerl;
    std::uint8_t frmw;
    std::uint8_t lpa;
    std::uint8_t elpe;
    std::uint8_t npss;
    std::uint8_t reserved_264[248];
    std::uint8_t sqes;  // 512
    std::uint8_t cqes;  // 513
    std::uint16_t maxcmd;
    std::uint32_t nn;    // 516: number of namespaces
    std::uint16_t oncs;  // 520: optional NVM command support (bit 2 DSM, bit 3 Write Zeroes)
    std::uint16_t fuses;
    std::uint8_t fna;
    std::uint8_t vwc;  // 525: volatile write cache present (bit 0)
    std::uint8_t reserved_526[4096 - 526];
};
static_assert(sizeof(identify_controller) == 4096);
static_assert(offsetof(identify_controller, mdts) == 77);
static_assert(offsetof(identify_controller, oacs) == 256);
static_assert(offsetof(identify_controller, rtd3e) == 88);
static_assert(offsetof(identify_controller, sqes) == 512);
static_assert(offsetof(identify_controller, nn) == 516);
static_assert(offsetof(identify_controller, oncs) == 520);
static_assert(offsetof(identify_controller, vwc) == 525);

inline constexpr std::uint16_t oacs_doorbell_buffer_config = 1u << 8;
inline constexpr std::uint16_t oncs_dsm = 1u << 2;
inline constexpr std::uint16_t oncs_write_zeroes = 1u << 3;

struct lba_format {
    std::uint16_t ms;    // metadata size
    std::uint8_t lbads;  // LBA data size 2^n
    std::uint8_t rp;     // relative performance
};
static_assert(sizeof(lba_format) == 4);

struct identify_namespace {
    std::uint64_t nsze;  // size in logical blocks
    std::uint64_t ncap;
    std::uint64_t nuse;
    std::uint8_t nsfeat;
    std::uint8_t nlbaf;  // number of LBA formats, 0's based
    std::uint8_t flbas;  // bits 3:0 current format index
    std::uint8_t mc;
    std::uint8_t dpc;
    std::uint8_t dps;
    std::uint8_t nmic;
    std::uint8_t rescap;
    std::uint8_t reserved_32[128 - 32];
    lba_format lbaf[16];  // 128
    std::uint8_t reserved_192[4096 - 192];
};
static_assert(sizeof(identify_namespace) == 4096);
static_assert(offsetof(identify_namespace, flbas) == 26);
static_assert(offsetof(identify_namespace, lbaf) == 128);

// SMART / Health Information log page (512 bytes).
struct smart_log {
    std::uint8_t critical_warning;
    std::uint8_t temperature[2];  // Kelvin, little endian
    std::uint8_t avail_spare;
    std::uint8_t spare_thresh;
    std::uint8_t percent_used;
    std::uint8_t reserved_6[26];
    std::uint8_t data_units_read[16];
    std::uint8_t data_units_written[16];
    std::uint8_t host_reads[16];
    std::uint8_t host_writes[16];
    std::uint8_t ctrl_busy_time[16];
    std::uint8_t power_cycles[16];
    std::uint8_t power_on_hours[16];
    std::uint8_t unsafe_shutdowns[16];
    std::uint8_t media_errors[16];
    std::uint8_t num_err_log_entries[16];
    std::uint8_t reserved_192[512 - 192];
};
static_assert(sizeof(smart_log) == 512);
static_assert(offsetof(smart_log, data_units_read) == 32);
static_assert(offsetof(smart_log, media_errors) == 160);

}  // namespace convme::nvme

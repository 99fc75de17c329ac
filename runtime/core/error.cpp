// SPDX-License-Identifier: MIT
// Error categories: convme's own conditions and NVMe completion statuses, plus io_op names.
#include <convme/block_device.hpp>
#include <convme/error.hpp>
#include <cstdio>
#include <string>

namespace convme {

namespace {

class convme_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "convme"; }

    std::string message(int v) const override {
        switch (static_cast<errc>(v)) {
            case errc::ok:
                return "success";
            case errc::zero_length:
                return "zero-length I/O";
            case errc::misaligned_offset:
                return "offset is not a multiple of the device block size";
            case errc::misaligned_length:
                return "length is not a multiple of the device block size";
            case errc::misaligned_buffer:
                return "buffer address is not aligned to the device memory alignment (allocate I/O "
                       "buffers "
                       "with convme::dma_buffer)";
            case errc::out_of_range:
                return "I/O extends beyond the end of the device";
            case errc::unsupported:
                return "operation not supported by this device";
            case errc::device_gone:
                return "device is gone (registers read all-ones: surprise removal or the device "
                       "was unbound)";
            case errc::controller_fatal:
                return "NVMe controller reported a fatal status (CSTS.CFS); it needs a reset";
            case errc::timeout:
                return "command timed out (no completion even after abort and controller reset)";
            case errc::aborted:
                return "command aborted by a controller reset before it completed";
            case errc::shutting_down:
                return "device is shutting down on this loop (I/O submitted after drain)";
            case errc::bad_uri:
                return "device URI could not be parsed";
        }
        return "unknown convme error " + std::to_string(v);
    }

    std::error_condition default_error_condition(int v) const noexcept override {
        switch (static_cast<errc>(v)) {
            case errc::ok:
                return {};
            case errc::zero_length:
            case errc::misaligned_offset:
            case errc::misaligned_length:
            case errc::misaligned_buffer:
            case errc::out_of_range:
            case errc::bad_uri:
                return std::errc::invalid_argument;
            case errc::unsupported:
                return std::errc::operation_not_supported;
            case errc::device_gone:
                return std::errc::no_such_device;
            case errc::controller_fatal:
                return std::errc::io_error;
            case errc::timeout:
                return std::errc::timed_out;
            case errc::aborted:
            case errc::shutting_down:
                return std::errc::operation_canceled;
        }
        return {v, *this};
    }
};

struct status_name {
    std::uint8_t sc;
    const char* name;
};

// NVMe base specification, "Generic Command Status" (SCT 0).
constexpr status_name generic_status[] = {
    {0x00, "Successful Completion"},
    {0x01, "Invalid Command Opcode"},
    {0x02, "Invalid Field in Command"},
    {0x03, "Command ID Conflict"},
    {0x04, "Data Transfer Error"},
    {0x05, "Commands Aborted due to Power Loss Notification"},
    {0x06, "Internal Error"},
    {0x07, "Command Abort Requested"},
    {0x08, "Command Aborted due to SQ Deletion"},
    {0x09, "Command Aborted due to Failed Fused Command"},
    {0x0A, "Command Aborted due to Missing Fused Command"},
    {0x0B, "Invalid Namespace or Format"},
    {0x0C, "Command Sequence Error"},
    {0x0D, "Invalid SGL Segment Descriptor"},
    {0x0E, "Invalid Number of SGL Descriptors"},
    {0x0F, "Data SGL Length Invalid"},
    {0x10, "Metadata SGL Length Invalid"},
    {0x11, "SGL Descriptor Type Invalid"},
    {0x12, "Invalid Use of Controller Memory Buffer"},
    {0x13, "PRP Offset Invalid"},
    {0x14, "Atomic Write Unit Exceeded"},
    {0x15, "Operation Denied"},
    {0x16, "SGL Offset Invalid"},
    {0x18, "Host Identifier Inconsistent Format"},
    {0x19, "Keep Alive Timer Expired"},
    {0x1A, "Keep Alive Timeout Invalid"},
    {0x1B, "Command Aborted due to Preempt and Abort"},
    {0x1C, "Sanitize Failed"},
    {0x1D, "Sanitize In Progress"},
    {0x1E, "SGL Data Block Granularity Invalid"},
    {0x1F, "Command Not Supported for Queue in CMB"},
    {0x20, "Namespace is Write Protected"},
    {0x21, "Command Interrupted"},
    {0x22, "Transient Transport Error"},
    {0x23, "Command Prohibited by Command and Feature Lockdown"},
    {0x24, "Admin Command Media Not Ready"},
    // I/O command set specific generic status (80h-BFh): NVM, then Key Value.
    {0x80, "LBA Out of Range"},
    {0x81, "Capacity Exceeded"},
    {0x82, "Namespace Not Ready"},
    {0x83, "Reservation Conflict"},
    {0x84, "Format In Progress"},
    {0x85, "Invalid Value Size"},
    {0x86, "Invalid Key Size"},
    {0x87, "KV Key Does Not Exist"},
    {0x88, "Unrecovered Error"},
    {0x89, "Key Exists"},
};

// "Command Specific Status" (SCT 1), admin commands and the NVM command set.
constexpr status_name command_specific_status[] = {
    {0x00, "Completion Queue Invalid"},
    {0x01, "Invalid Queue Identifier"},
    {0x02, "Invalid Queue Size"},
    {0x03, "Abort Command Limit Exceeded"},
    {0x05, "Asynchronous Event Request Limit Exceeded"},
    {0x06, "Invalid Firmware Slot"},
    {0x07, "Invalid Firmware Image"},
    {0x08, "Invalid Interrupt Vector"},
    {0x09, "Invalid Log Page"},
    {0x0A, "Invalid Format"},
    {0x0B, "Firmware Activation Requires Conventional Reset"},
    {0x0C, "Invalid Queue Deletion"},
    {0x0D, "Feature Identifier Not Saveable"},
    {0x0E, "Feature Not Changeable"},
    {0x0F, "Feature Not Namespace Specific"},
    {0x10, "Firmware Activation Requires NVM Subsystem Reset"},
    {0x11, "Firmware Activation Requires Controller Level Reset"},
    {0x12, "Firmware Activation Requires Maximum Time Violation"},
    {0x13, "Firmware Activation Prohibited"},
    {0x14, "Overlapping Range"},
    {0x15, "Namespace Insufficient Capacity"},
    {0x16, "Namespace Identifier Unavailable"},
    {0x18, "Namespace Already Attached"},
    {0x19, "Namespace Is Private"},
    {0x1A, "Namespace Not Attached"},
    {0x1B, "Thin Provisioning Not Supported"},
    {0x1C, "Controller List Invalid"},
    {0x1D, "Device Self-test In Progress"},
    {0x1E, "Boot Partition Write Prohibited"},
    {0x1F, "Invalid Controller Identifier"},
    {0x20, "Invalid Secondary Controller State"},
    {0x21, "Invalid Number of Controller Resources"},
    {0x22, "Invalid Resource Identifier"},
    {0x23, "Sanitize Prohibited While Persistent Memory Region is Enabled"},
    {0x24, "ANA Group Identifier Invalid"},
    {0x25, "ANA Attach Failed"},
    {0x26, "Insufficient Capacity"},
    {0x27, "Namespace Attachment Limit Exceeded"},
    {0x28, "Prohibition of Command Execution Not Supported"},
    {0x29, "I/O Command Set Not Supported"},
    {0x2A, "I/O Command Set Not Enabled"},
    {0x2B, "I/O Command Set Combination Rejected"},
    {0x2C, "Invalid I/O Command Set"},
    {0x2D, "Identifier Unavailable"},
    // NVM command set specific (80h-83h).
    {0x80, "Conflicting Attributes"},
    {0x81, "Invalid Protection Information"},
    {0x82, "Attempted Write to Read Only Range"},
    {0x83, "Command Size Limit Exceeded"},
    // Zoned Namespace command set specific (B8h-BFh).
    {0xB8, "Zoned Boundary Error"},
    {0xB9, "Zone Is Full"},
    {0xBA, "Zone Is Read Only"},
    {0xBB, "Zone Is Offline"},
    {0xBC, "Zone Invalid Write"},
    {0xBD, "Too Many Active Zones"},
    {0xBE, "Too Many Open Zones"},
    {0xBF, "Invalid Zone State Transition"},
};

// "Media and Data Integrity Errors" (SCT 2).
constexpr status_name media_status[] = {
    {0x80, "Write Fault"},
    {0x81, "Unrecovered Read Error"},
    {0x82, "End-to-end Guard Check Error"},
    {0x83, "End-to-end Application Tag Check Error"},
    {0x84, "End-to-end Reference Tag Check Error"},
    {0x85, "Compare Failure"},
    {0x86, "Access Denied"},
    {0x87, "Deallocated or Unwritten Logical Block"},
    {0x88, "End-to-end Storage Tag Check Error"},
};

// "Path Related Status" (SCT 3).
constexpr status_name path_status[] = {
    {0x00, "Internal Path Error"},
    {0x01, "Asymmetric Access Persistent Loss"},
    {0x02, "Asymmetric Access Inaccessible"},
    {0x03, "Asymmetric Access Transition"},
    {0x60, "Controller Pathing Error"},
    {0x70, "Host Pathing Error"},
    {0x71, "Command Aborted By Host"},
};

template <std::size_t N>
const char* lookup(const status_name (&table)[N], unsigned sc) noexcept {
    for (const auto& e : table)
        if (e.sc == sc) return e.name;
    return nullptr;
}

class nvme_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "nvme"; }

    std::string message(int v) const override {
        const unsigned sct = (static_cast<unsigned>(v) >> 8) & 0x7;
        const unsigned sc = static_cast<unsigned>(v) & 0xff;
        const char* known = nullptr;
        if ((static_cast<unsigned>(v) & ~0x7ffu) == 0) {
            switch (sct) {
                case 0:
                    known = lookup(generic_status, sc);
                    break;
                case 1:
                    known = lookup(command_specific_status, sc);
                    break;
                case 2:
                    known = lookup(media_status, sc);
                    break;
                case 3:
                    known = lookup(path_status, sc);
                    break;
                default:
                    break;
            }
        }
        char codes[48];
        std::snprintf(codes, sizeof codes, "SCT 0x%x SC 0x%02x", sct, sc);
        if (known) return std::string(known) + " (" + codes + ")";
        if (sct == 7 && (static_cast<unsigned>(v) & ~0x7ffu) == 0)
            return std::string("Vendor Specific status (") + codes + ")";
        if ((static_cast<unsigned>(v) & ~0x7ffu) != 0) {
            char raw[64];
            std::snprintf(raw, sizeof raw, "invalid NVMe status value 0x%x",
                          static_cast<unsigned>(v));
            return raw;
        }
        return std::string("unknown NVMe status ") + codes;
    }

    std::error_condition default_error_condition(int v) const noexcept override {
        if (v == 0) return {};
        const unsigned sct = (static_cast<unsigned>(v) >> 8) & 0x7;
        const unsigned sc = static_cast<unsigned>(v) & 0xff;
        if (sct == 0 && (sc == 0x80 || sc == 0x81)) return std::errc::invalid_argument;
        if (sct == 0 && sc == 0x01) return std::errc::operation_not_supported;
        if (sct == 0 && sc == 0x20) return std::errc::read_only_file_system;
        if (sct == 2) return std::errc::io_error;
        return {v, *this};
    }
};

}  // namespace

const std::error_category& convme_category() noexcept {
    static const convme_category_impl cat;
    return cat;
}

const std::error_category& nvme_category() noexcept {
    static const nvme_category_impl cat;
    return cat;
}

const char* io_op_name(io_op op) noexcept {
    switch (op) {
        case io_op::read:
            return "read";
        case io_op::write:
            return "write";
        case io_op::flush:
            return "flush";
        case io_op::write_zeroes:
            return "write_zeroes";
        case io_op::trim:
            return "trim";
    }
    return "unknown-op";
}

}  // namespace convme

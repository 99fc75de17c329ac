// SPDX-License-Identifier: MIT
// Errors at the public edge are std::error_code. Inside, everything returns -errno (system
// category) or a convme::errc / an NVMe status (their own categories, below).
#pragma once

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

namespace convme {

enum class errc : int {
    ok = 0,
    zero_length,        // an I/O of 0 bytes
    misaligned_offset,  // offset not a multiple of the block size
    misaligned_length,  // length not a multiple of the block size
    misaligned_buffer,  // buffer address not aligned to the device's memory alignment
    out_of_range,       // offset + length beyond the capacity
    unsupported,        // the device cannot do this operation (e.g. trim)
    device_gone,        // registers read all-ones: surprise removal
    controller_fatal,   // NVMe CSTS.CFS
    timeout,            // command did not complete in time (after abort and reset)
    aborted,            // command failed by a controller reset before it completed
    shutting_down,      // submitted after close()
    bad_uri,            // device URI could not be parsed
};

const std::error_category& convme_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), convme_category()};
}

// NVMe completion status: (SCT << 8) | SC as carried in the CQE status field bits 9..1.
const std::error_category& nvme_category() noexcept;
inline std::error_code make_nvme_error(std::uint16_t sct_sc) noexcept {
    return {static_cast<int>(sct_sc), nvme_category()};
}

// -errno (as returned inside convme) to an error_code.
inline std::error_code errno_code(int neg_errno) noexcept {
    return {neg_errno < 0 ? -neg_errno : neg_errno, std::system_category()};
}

// The one mapping from an internal result to what users see. Internal calls return 0 or -errno,
// where a few errnos carry a meaning of their own: -ENODEV the device is gone (surprise removal),
// -ETIMEDOUT a command timed out, -ECANCELED a command was lost in a controller reset, and -EIO
// with an NVMe status (SCT << 8 | SC, non-zero) that status. Everything else stays an errno.
inline std::error_code result_code(int rc, std::uint16_t nvme_sct_sc = 0) noexcept {
    switch (rc) {
        case 0:
            return {};
        case -ENODEV:
            return make_error_code(errc::device_gone);
        case -ETIMEDOUT:
            return make_error_code(errc::timeout);
        case -ECANCELED:
            return make_error_code(errc::aborted);
        case -EIO:
            if (nvme_sct_sc != 0) return make_nvme_error(nvme_sct_sc);
            break;
        default:
            break;
    }
    return errno_code(rc);
}

// Exception thrown by the throwing variants; what() names the operation and its arguments.
class io_error : public std::system_error {
  public:
    io_error(std::error_code ec, const std::string& what) : std::system_error(ec, what) {}
};

}  // namespace convme

template <>
struct std::is_error_code_enum<convme::errc> : std::true_type {};

// Errors at the public edge are std::error_code. Inside, everything returns -errno (system
// category) or a convme::errc / an NVMe status (their own categories, below).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

namespace convme {

enum class errc : int {
    ok = 0,
    zero_length,          // an I/O of 0 bytes
    misaligned_offset,    // offset not a multiple of the block size
    misaligned_length,    // length not a multiple of the block size
    misaligned_buffer,    // buffer address not aligned to the device's memory alignment
    out_of_range,         // offset + length beyond the capacity
    unsupported,          // the device cannot do this operation (e.g. trim)
    device_gone,          // registers read all-ones: surprise removal
    controller_fatal,     // NVMe CSTS.CFS
    timeout,              // command did not complete in time (after abort and reset)
    aborted,              // command failed by a controller reset before it completed
    shutting_down,        // submitted after close()
    bad_uri,              // device URI could not be parsed
};

const std::error_category& convme_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), convme_category()}; }

// NVMe completion status: (SCT << 8) | SC as carried in the CQE status field bits 9..1.
const std::error_category& nvme_category() noexcept;
inline std::error_code make_nvme_error(std::uint16_t sct_sc) noexcept {
    return {static_cast<int>(sct_sc), nvme_category()};
}

// -errno (as returned inside convme) to an error_code.
inline std::error_code errno_code(int neg_errno) noexcept {
    return {neg_errno < 0 ? -neg_errno : neg_errno, std::system_category()};
}

// Exception thrown by the throwing variants; what() names the operation and its arguments.
class io_error : public std::system_error {
public:
    io_error(std::error_code ec, const std::string& what) : std::system_error(ec, what) {}
};

}  // namespace convme

template <>
struct std::is_error_code_enum<convme::errc> : std::true_type {};

// SPDX-License-Identifier: MIT
// block_device front end: request building, validation (once, for every backend), the awaitable,
// and human-readable failure descriptions.
#include <cinttypes>
#include <convme/block_device.hpp>
#include <cstdio>
#include <string>

namespace convme {

namespace {

bool supported(const device_info& info, io_op op) noexcept {
    switch (op) {
        case io_op::read:
        case io_op::write:
            return true;
        case io_op::flush:
            return info.supports_flush;
        case io_op::write_zeroes:
            return info.supports_write_zeroes;
        case io_op::trim:
            return info.supports_trim;
    }
    return false;
}

bool has_range(io_op op) noexcept {
    return op != io_op::flush;
}
bool has_buffer(io_op op) noexcept {
    return op == io_op::read || op == io_op::write;
}

}  // namespace

std::error_code block_device::validate(const io_request& r) const noexcept {
    if (!supported(info_, r.op)) return errc::unsupported;
    if (!has_range(r.op)) return {};
    if (r.length == 0) return errc::zero_length;
    const std::uint64_t bs = info_.block_size ? info_.block_size : 1;
    if (r.offset % bs != 0) return errc::misaligned_offset;
    if (r.length % bs != 0) return errc::misaligned_length;
    if (has_buffer(r.op)) {
        const std::uint64_t align = info_.mem_alignment ? info_.mem_alignment : 1;
        if (!r.data || reinterpret_cast<std::uintptr_t>(r.data) % align != 0)
            return errc::misaligned_buffer;
    }
    if (r.offset > info_.capacity || r.length > info_.capacity - r.offset)
        return errc::out_of_range;
    return {};
}

void io_awaitable::validate_full() noexcept {
    req_.status = dev_->validate(req_);
}

// read() and write() are inline in the header; the other verbs are rare enough to stay here.
io_awaitable block_device::flush() noexcept {
    return io_awaitable(this, io_op::flush, 0, 0, nullptr);
}

io_awaitable block_device::write_zeroes(std::uint64_t offset, std::uint64_t length) noexcept {
    return io_awaitable(this, io_op::write_zeroes, offset, length, nullptr);
}

io_awaitable block_device::trim(std::uint64_t offset, std::uint64_t length) noexcept {
    return io_awaitable(this, io_op::trim, offset, length, nullptr);
}

void io_awaitable::throwing::await_resume() const {
    if (const std::error_code ec = inner.req_.status)
        throw io_error(ec, describe_failure(*inner.dev_, inner.req_));
}

std::string describe_failure(const block_device& dev, const io_request& r) {
    const device_info& info = dev.info();
    std::string s = io_op_name(r.op);
    if (has_range(r.op)) {
        s += " of " + std::to_string(r.length) + " bytes at offset " + std::to_string(r.offset);
    }
    s += " on " + (info.name.empty() ? std::string("<unnamed device>") : info.name);
    s += ": " + r.status.message();
    if (r.status.category() == convme_category()) {
        char hint[160] = {};
        switch (static_cast<errc>(r.status.value())) {
            case errc::misaligned_offset:
                std::snprintf(hint, sizeof hint,
                              " (offsets must be multiples of the %" PRIu32 "-byte block size)",
                              info.block_size);
                break;
            case errc::misaligned_length:
                std::snprintf(hint, sizeof hint,
                              " (lengths must be multiples of the %" PRIu32 "-byte block size)",
                              info.block_size);
                break;
            case errc::misaligned_buffer:
                std::snprintf(hint, sizeof hint, " (buffer %p is not %" PRIu32 "-byte aligned)",
                              static_cast<const void*>(r.data), info.mem_alignment);
                break;
            case errc::out_of_range:
                std::snprintf(hint, sizeof hint, " (device capacity is %" PRIu64 " bytes)",
                              info.capacity);
                break;
            case errc::unsupported:
                std::snprintf(hint, sizeof hint, " (%s backend)",
                              info.backend.empty() ? "unknown" : info.backend.c_str());
                break;
            default:
                break;
        }
        s += hint;
    }
    return s;
}

}  // namespace convme

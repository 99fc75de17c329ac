// SPDX-License-Identifier: MIT
// The user's block-device interface, the same for every backend (NVMe over VFIO, simulated NVMe,
// io_uring, thread-pool fallback). Writing a backend: <convme/backend.hpp>.
//
//   std::error_code ec = co_await dev.read(offset, buf);      // error_code result
//   co_await dev.write(offset, buf).or_throw();               // or an io_error exception
//
// Validation (zero length, alignment, range, unsupported op) is done here, once, for every
// backend, before anything reaches a queue. The request lives in the awaiting coroutine's frame:
// an I/O allocates nothing.
#pragma once

#include <convme/detail/io_request.hpp>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <convme/task.hpp>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace convme {

struct device_info {
    std::string name;                    // e.g. "uring:/tmp/x (O_DIRECT)", "nvme 0000:01:00.0 ns1"
    std::string backend;                 // "uring", "threadpool", "sim", "nvme"
    std::uint32_t block_size = 512;      // logical block size: offsets and lengths are multiples
    std::uint64_t capacity = 0;          // bytes
    std::uint32_t mem_alignment = 4096;  // required buffer address alignment
    std::uint32_t max_transfer =
        0;  // largest single command in bytes (bigger I/O is split); 0 = none
    std::uint32_t queue_depth = 0;  // per-core queue depth
    bool supports_flush = true;
    // A completed write is already on stable storage (e.g. uring: sync=dsync, every write
    // RWF_DSYNC): no flush is needed after a write for it to survive a power loss. flush() still
    // works (it covers write_zeroes/trim too).
    bool writes_durable = false;
    bool supports_write_zeroes = true;
    bool supports_trim = true;
};

class block_device;

class [[nodiscard]] io_awaitable {
  public:
    // A request checked with block_device::validate (its status is the verdict).
    io_awaitable(block_device* dev, io_request req) noexcept;
    // Built in place (in the awaiting coroutine's frame, nothing copied) and validated.
    io_awaitable(block_device* dev, io_op op, std::uint64_t offset, std::uint64_t length,
                 std::byte* data) noexcept;
    bool await_ready() const noexcept { return static_cast<bool>(req_.status); }  // invalid input
    // Submits on the calling loop. Not on a loop: nobody could resume the waiter on completion,
    // so the request fails with errc::unsupported and the caller resumes at once.
    bool await_suspend(std::coroutine_handle<> h) noexcept;
    std::error_code await_resume() const noexcept { return req_.status; }

    // co_await dev.read(...).or_throw(): throws io_error naming the op, offset and length.
    struct throwing;
    throwing or_throw() && noexcept;

    const io_request& request() const noexcept { return req_; }

  private:
    friend struct throwing;
    // req_.status = dev_->validate(req_), out of line: the inline path keeps no register for it.
    // Cold: gcc then computes its argument (the awaitable's address) on the cold path only.
    [[gnu::cold]] void validate_full() noexcept;
    block_device* dev_;
    io_request req_;
};

struct [[nodiscard]] io_awaitable::throwing {
    io_awaitable inner;
    bool await_ready() const noexcept { return inner.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) noexcept { return inner.await_suspend(h); }
    void await_resume() const;
};
inline io_awaitable::throwing io_awaitable::or_throw() && noexcept {
    return throwing{*this};
}

class block_device {
  public:
    virtual ~block_device() = default;

    const device_info& info() const noexcept { return info_; }

    io_awaitable read(std::uint64_t offset, const std::span<std::byte>& buf) noexcept;
    io_awaitable write(std::uint64_t offset, const std::span<const std::byte>& buf) noexcept;
    io_awaitable flush() noexcept;
    io_awaitable write_zeroes(std::uint64_t offset, std::uint64_t length) noexcept;
    io_awaitable trim(std::uint64_t offset, std::uint64_t length) noexcept;

    // Wait until every I/O submitted from the calling loop finished, then release this loop's
    // queue (io_uring ring / NVMe queue pair). Further I/O from the loop gets shutting_down.
    virtual task<void> drain() = 0;

    // Checks an operation without submitting it; returns the error the awaitable would report.
    std::error_code validate(const io_request& r) const noexcept;
    // The same verdict for a read or write, with the common case (power-of-two block size and
    // alignment, request in range) decided inline; anything else goes to validate().
    std::error_code validate_rw(const io_request& r) const noexcept {
        return rw_fast_ok(r) ? detail::no_error : validate(r);
    }
    // True if a read or write is valid by the inline check alone (false: ask validate()).
    bool rw_fast_ok(const io_request& r) const noexcept;

  protected:
    device_info info_;

  private:
    friend class io_awaitable;
    // Implemented by backends (<convme/backend.hpp> describes the contract): takes a validated
    // request on the submitting loop's thread, with r.owner set.
    virtual void submit(io_request& r) noexcept = 0;
};

inline bool block_device::rw_fast_ok(const io_request& r) const noexcept {
    const std::uint64_t bs = info_.block_size, align = info_.mem_alignment, cap = info_.capacity;
    const auto addr = reinterpret_cast<std::uintptr_t>(r.data);
    // (x | m) & (m - 1) is 0 only if m is a power of two and x a multiple of it: one test for
    // both. A block size or alignment of 0 (meaning 1) gives an all-ones mask and fails (a
    // non-zero length or address), as does one that is not a power of two; the full check knows
    // those cases. length - 1 < cap - offset: a non-zero length that fits.
    const bool ok =
        addr != 0 &&
        (((r.offset | r.length | bs) & (bs - 1)) | ((addr | align) & (align - 1))) == 0 &&
        r.offset <= cap && r.length - 1 < cap - r.offset;
    return ok;
}

inline io_awaitable::io_awaitable(block_device* dev, io_request req) noexcept
    : dev_(dev), req_(req) {}

inline io_awaitable::io_awaitable(block_device* dev, io_op op, std::uint64_t offset,
                                  std::uint64_t length, std::byte* data) noexcept
    // The status is "no error" as a value 0 the compiler can see (no_error's category, the same
    // error_code as a copy of it): await_ready() then needs no test after the inline check.
    : dev_(dev),
      req_{.op = op,
           .offset = offset,
           .length = length,
           .data = data,
           .status = std::error_code(0, detail::no_error.category())} {
    if (op == io_op::read || op == io_op::write) {
        if (!dev->rw_fast_ok(req_)) [[unlikely]]
            validate_full();
    } else {
        validate_full();
    }
}

inline bool io_awaitable::await_suspend(std::coroutine_handle<> h) noexcept {
    // owner and waiter stored apart (owner before the test, waiter after it): stored together,
    // gcc packs the two into one vector store, which costs more instructions than two stores.
    loop* const l = loop::current();
    req_.owner = l;
    if (!l) [[unlikely]] {
        req_.status = errc::unsupported;
        return false;
    }
    req_.waiter = h;
    dev_->submit(req_);
    return true;
}

inline io_awaitable block_device::read(std::uint64_t offset,
                                       const std::span<std::byte>& buf) noexcept {
    return io_awaitable(this, io_op::read, offset, buf.size(), buf.data());
}

inline io_awaitable block_device::write(std::uint64_t offset,
                                        const std::span<const std::byte>& buf) noexcept {
    // The request type is shared with reads; a write never stores through this pointer.
    return io_awaitable(this, io_op::write, offset, buf.size(), const_cast<std::byte*>(buf.data()));
}

// Human-readable description of a failed request: "write of 4096 bytes at offset 8192 on
// uring:/tmp/f: <error message>".
std::string describe_failure(const block_device& dev, const io_request& r);

}  // namespace convme

// SPDX-License-Identifier: MIT
// One in-flight operation, as it lives in the awaiting coroutine's frame. Users only see it through
// io_awaitable::request(); backends own it between submit() and complete() (<convme/backend.hpp>).
#pragma once

#include <convme/loop.hpp>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace convme {

namespace detail {
// A default std::error_code to copy: constructing one calls the out-of-line std::system_category()
// each time, once per request on the I/O path. (Copied before this is initialized, i.e. during
// another file's static initialization, a request would hold value 0 with no category: still
// "no error".)
inline const std::error_code no_error{};
}  // namespace detail

enum class io_op : std::uint8_t { read, write, flush, write_zeroes, trim };
const char* io_op_name(io_op op) noexcept;

struct io_request {
    io_op op = io_op::read;
    // ---- Backend state, owned by the backend holding the request (packed beside `op`).
    std::uint8_t stage = 0;         // a backend's step (io_uring write_zeroes: 1 = punch a hole)
    bool issue_done = false;        // every command of the request is issued (or issuing stopped)
    std::uint8_t reserved_ = 0;     // unused: named so that the first 8 bytes are one store
    std::uint16_t outstanding = 0;  // commands of the request on the device, not completed yet
    std::uint16_t reserved2_ = 0;   // (the compiler merges member stores, not padding)
    // ---- The operation. (offset, length and data alternate with waiter and owner, which are
    // null until await_suspend(): stored side by side, gcc packs offset and length into one
    // vector store, which costs more instructions than two stores.)
    std::uint64_t offset = 0;
    std::coroutine_handle<> waiter{};
    std::uint64_t length = 0;
    loop* owner = nullptr;      // loop that submitted it; completion resumes there
    std::byte* data = nullptr;  // null for flush / write_zeroes / trim
    std::error_code status = detail::no_error;
    // ---- Backend state.
    io_request* next = nullptr;  // link in one request_fifo / request_stack at a time
    union {
        std::uint64_t progress = 0;  // blocks issued (NVMe) or bytes done (io_uring)
        void* context;               // backend's own pointer (thread-pool channel, passthrough CQE)
    };

    void fail(std::error_code ec) noexcept {
        if (!status) status = ec;
    }
    // Make the waiter runnable on its loop. Must be called on the owner loop's thread.
    void complete() noexcept { owner->schedule(waiter); }
};

}  // namespace convme

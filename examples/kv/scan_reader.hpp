// SPDX-License-Identifier: MIT
// Recovery's reader of one log half: hands out the half's bytes front to back in fixed-size
// chunks and keeps up to `ahead` further chunk reads in flight while the caller applies the one it
// was given, so the device's latency overlaps the replay instead of adding to it. The chunks and
// their order are the same for every `ahead` (0 = read each chunk only when it is asked for); a
// read's error is reported with its chunk, so a read the scan never asks for changes nothing.
#pragma once

#include <convme/block_device.hpp>
#include <convme/loop.hpp>
#include <convme/task.hpp>
#include <coroutine>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "io_buffer.hpp"

namespace kv {

class scan_reader {
  public:
    // Reads device bytes [from, to) in chunks of `chunk` bytes (the last one may be shorter);
    // `chunk` and `from` are multiples of the block size. Runs on the calling loop.
    scan_reader(convme::block_device& dev, std::uint64_t from, std::uint64_t to, std::size_t chunk,
                unsigned ahead, std::size_t alignment);
    scan_reader(const scan_reader&) = delete;
    scan_reader& operator=(const scan_reader&) = delete;

    bool at_end() const noexcept { return next_ >= chunks_; }
    // The next chunk's bytes (valid until the next call) or its read's error. Not at_end().
    convme::task<std::error_code> next(std::span<const std::byte>& out);
    // Wait for the reads still in flight. Must complete before the reader is destroyed.
    convme::task<void> drain();

  private:
    struct slot {
        io_buffer buf;
        std::size_t len = 0;
        bool reading = false;
        std::error_code ec;
        std::coroutine_handle<> waiter{};
    };
    struct slot_ready;  // awaits a slot's read

    void issue(std::uint64_t chunk_no);  // start reading chunk `chunk_no` into its slot
    convme::task<void> read_chunk(slot& s, std::uint64_t offset);
    slot& slot_of(std::uint64_t chunk_no) noexcept { return slots_[chunk_no % slots_.size()]; }

    convme::block_device& dev_;
    convme::loop* loop_;
    std::uint64_t from_, to_;
    std::size_t chunk_;
    std::uint64_t chunks_;      // chunks in [from, to)
    std::uint64_t issued_ = 0;  // chunks whose read was started
    std::uint64_t next_ = 0;    // chunk next() hands out next
    std::vector<slot> slots_;   // ahead + 1: chunk k lives in slot k % size
};

}  // namespace kv

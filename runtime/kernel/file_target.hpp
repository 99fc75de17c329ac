// SPDX-License-Identifier: MIT
// The file or block device behind a uring:/threadpool: URI: opening it (O_DIRECT with a buffered
// fallback, optional creation), finding its block size and capacity, and the synchronous
// implementation of every io_op that the thread-pool backend runs on its workers.
#pragma once

#include <chrono>
#include <convme/block_device.hpp>
#include <cstdint>
#include <string>
#include <system_error>

namespace convme::backends {

struct file_open_options {
    bool direct = true;             // try O_DIRECT first
    std::uint64_t create_size = 0;  // >0: create the regular file / extend it to at least this size
    // Take an exclusive flock() on the open file (lock=0 in the URI turns it off). It is held
    // until every reference to the open file is gone, which includes the io_uring requests of a
    // killed process: waiting for it keeps their late writes from landing on top of ours.
    bool exclusive = true;
    std::chrono::milliseconds lock_wait{10000};  // how long to wait for another holder
    // create_fill=zero: the bytes create_size adds to a regular file are written with zeros (and
    // made durable) instead of left as a hole, so later writes overwrite allocated blocks: no
    // block allocation on the write path (ext4 then completes O_DIRECT writes without an io-wq
    // worker) and a flush has no metadata to commit.
    bool fill_zero = false;
};

class file_target {
  public:
    file_target() = default;
    ~file_target();
    file_target(const file_target&) = delete;
    file_target& operator=(const file_target&) = delete;

    int fd = -1;
    std::string path;
    bool is_block_device = false;
    bool direct = false;    // opened with O_DIRECT
    std::string mode_note;  // "O_DIRECT" or "buffered: <why>"
    std::uint32_t block_size = 512;
    std::uint32_t physical_block_size = 0;  // block devices: BLKPBSZGET (0 if unknown)
    std::uint32_t mem_alignment = 512;
    std::uint64_t capacity = 0;

    // Fills block_size, capacity, mem_alignment, supports_* and a name "<scheme>:<path> (<mode>)".
    void describe(const char* scheme, device_info& info) const;
};

// Opens `path` read-write. Returns 0 or -errno with `why` naming the step, the errno and a fix.
int open_file_target(const char* scheme, const std::string& path, const file_open_options& opts,
                     file_target& out, std::string& why);

// fallocate() modes used for write_zeroes (first choice, then the fallback when the filesystem
// refuses ZERO_RANGE, e.g. tmpfs) and trim.
int write_zeroes_mode(bool fallback) noexcept;
int trim_mode() noexcept;
// EOPNOTSUPP from the filesystem becomes errc::unsupported; other -errno stay system errors.
std::error_code fallocate_error(int neg_errno) noexcept;

// Runs one request synchronously (pread/pwrite until done, fsync, fallocate / BLKZEROOUT /
// BLKDISCARD). Used by the thread-pool workers.
std::error_code execute_sync(const file_target& t, io_op op, std::uint64_t offset,
                             std::uint64_t length, std::byte* data) noexcept;

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
// block_device on a pool of worker threads doing plain pread/pwrite/fsync/fallocate: the fallback
// when io_uring is unavailable. Same file handling and semantics as the uring backend.
#pragma once

#include <convme/block_device.hpp>
#include <memory>

#include "runtime/core/channel_table.hpp"
#include "runtime/kernel/file_target.hpp"
#include "runtime/kernel/threadpool_channel.hpp"
#include "runtime/kernel/threadpool_pool.hpp"

namespace convme::backends {

// Lifetime: as uring_device (drain() on each loop that did I/O, or outlive those loops).
class threadpool_device final : public block_device {
  public:
    threadpool_device(std::unique_ptr<file_target> target, unsigned threads);
    ~threadpool_device() override;

    void submit(io_request& r) noexcept override;
    task<void> drain() override;

    unsigned threads() const noexcept { return pool_->threads(); }
    // Appends " [note]" to the device name (open_device: why it fell back to this backend).
    void add_note(const std::string& note) { info_.name += " [" + note + "]"; }

  private:
    std::unique_ptr<file_target> target_;
    channel_table<threadpool_channel> channels_;
    std::unique_ptr<threadpool_pool> pool_;  // declared last: its workers stop first
};

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
// Shards on one device share their flushes. A device flush makes durable every write that had
// completed before the flush was issued, whichever shard (and core) wrote it: an NVMe Flush covers
// the namespace, fdatasync the whole file. So a shard whose writes completed before another
// shard issued a flush waits for that one instead of issuing its own; with two shards on one
// file that halves the flushes, which otherwise queue behind each other in the file system.
//
// Generations: begin() numbers each flush as it is issued; a shard notes, when its writes have
// completed, the generation a flush needs to cover them (issued() + 1); once completed() reaches
// it they are durable. finished() tells the other shards (a message to their cores).
#pragma once

#include <atomic>
#include <convme/loop.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace kv {

class shard;

class flush_hub {
  public:
    std::uint64_t issued() const noexcept { return issued_.load(std::memory_order_acquire); }
    std::uint64_t completed() const noexcept { return completed_.load(std::memory_order_acquire); }
    // A flush failed somewhere: from now on every shard flushes for itself.
    bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }

    // The generation of a flush about to be issued (call right before issuing it).
    std::uint64_t begin() noexcept { return issued_.fetch_add(1, std::memory_order_acq_rel) + 1; }
    // Flush `gen` (issued by `by`) completed, or failed: tell the other shards.
    void finished(std::uint64_t gen, const shard* by);
    void failed(const shard* by);

    // A shard takes part from its open() to its close(), on its owner core `home`.
    void join(shard* s, convme::loop* home);
    void leave(shard* s);

  private:
    void notify_others(const shard* by);

    std::atomic<std::uint64_t> issued_{0};
    std::atomic<std::uint64_t> completed_{0};
    std::atomic<bool> broken_{false};
    // A member as notifications see it: `alive` is only touched on the member's own core, and a
    // queued notification keeps the link (not the shard) alive, so one arriving after the shard
    // left finds alive == false and does nothing.
    struct link {
        shard* s;
        convme::loop* home;
        bool alive = true;
    };
    std::mutex mu_;
    std::vector<std::shared_ptr<link>> members_;
};

}  // namespace kv

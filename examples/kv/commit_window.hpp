// SPDX-License-Identifier: MIT
// Bookkeeping for the pipelined group commit: which batch writes were issued and which of them
// completed. Writes may complete in any order, but a flush can only declare a *prefix* of the
// batches durable (ticket T counts only when every batch <= T is on the device), so the window
// tracks the highest ticket below which every write has completed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace kv {

class commit_window {
  public:
    // The write of batch `ticket` was issued. Batches are issued in ticket order (1, 2, 3...).
    void issued(std::uint64_t ticket) {
        issued_ = ticket;
        done_.push_back(false);
    }
    // The write of batch `ticket` completed (successfully), in any order.
    void written(std::uint64_t ticket) {
        if (ticket <= written_through_ || ticket > issued_) return;
        done_[static_cast<std::size_t>(ticket - written_through_ - 1)] = true;
        while (!done_.empty() && done_.front()) {
            done_.pop_front();
            ++written_through_;
        }
    }
    // Every batch <= this ticket has been written: what a flush issued now makes durable.
    std::uint64_t written_through() const noexcept { return written_through_; }
    std::uint64_t last_issued() const noexcept { return issued_; }
    // Some issued write has not completed yet.
    bool writing() const noexcept { return written_through_ < issued_; }

  private:
    std::uint64_t issued_ = 0;
    std::uint64_t written_through_ = 0;
    std::deque<bool> done_;  // batches written_through_+1 .. issued_: has the write completed?
};

}  // namespace kv

// SPDX-License-Identifier: MIT
// null: backend (see null_device.hpp).
#include "runtime/null/null_device.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cerrno>
#include <convme/backend.hpp>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <new>

#include "runtime/core/channel_table.hpp"
#include "runtime/core/uri_params.hpp"

namespace convme::null_backend {
namespace {

// One loop's side: the waiters of the requests it submitted since its last poll, oldest first,
// in an array. poll() completes all of them: one copy into the loop's ready queue. (Nothing in
// a request changes at completion: its status stays "no error".)
class null_channel final : public poller {
  public:
    // In its table slot only while open (published on the first I/O, taken out at drain): a
    // request found through the slot is queued with no open test.
    static constexpr bool publish_when_ready = true;

    explicit null_channel(loop* owner)
        : poller(/*batches_submissions=*/false),
          owner_(owner),
          owner_id_(owner->unique_id()),
          waiters_(std::make_unique<std::coroutine_handle<>[]>(initial_capacity)),
          end_(waiters_.get()),
          limit_(waiters_.get() + initial_capacity) {}

    loop* owner() const noexcept { return owner_; }
    std::uint64_t owner_id() const noexcept { return owner_id_; }
    bool open() const noexcept { return open_; }

    // Any state: the first I/O registers the poller, after drain() every I/O fails.
    void submit(io_request& r) noexcept {
        if (!open_) [[unlikely]] {
            submit_closed(r);
            return;
        }
        push(r);
    }
    // Open (found through the table slot): queue its waiter.
    void push(io_request& r) noexcept {
        // The channel table gives a loop only its own channel: poll() resumes it on its owner.
        assert(r.owner == owner_);
        if (end_ == limit_) [[unlikely]] {
            push_grow(r);
            return;
        }
        *end_++ = r.waiter;
    }

    bool poll() override {
        std::coroutine_handle<>* const first = waiters_.get();
        const std::size_t n = in_flight();
        if (n == 0) return false;
        // Emptied before the copy, which resumes nothing: no request can be queued meanwhile.
        end_ = first;
        owner_->schedule_range(first, n);  // what r.complete() does for each, in order
        return true;
    }
    std::size_t in_flight() const override {
        return static_cast<std::size_t>(end_ - waiters_.get());
    }

    // Owner thread, in_flight() == 0: unregister; later I/O gets errc::shutting_down.
    void close() noexcept {
        if (registered_) owner_->remove_poller(this);
        registered_ = false;
        drained_ = true;
        open_ = false;
    }
    // The owning loop is gone: forget it without touching it.
    void retire() noexcept {
        registered_ = false;
        drained_ = true;
        open_ = false;
    }

  private:
    // Not open: the first I/O registers the poller; after drain() every I/O fails.
    [[gnu::noinline]] void submit_closed(io_request& r) noexcept {
        if (drained_) {
            backends::fail_request(r, make_error_code(errc::shutting_down));
            return;
        }
        try {
            owner_->add_poller(this);
        } catch (...) {
            backends::fail_request(r, errno_code(ENOMEM));
            return;
        }
        registered_ = true;
        open_ = true;
        submit(r);
    }
    // The array is full: double it (a request fails with ENOMEM if that cannot be allocated).
    [[gnu::noinline]] void push_grow(io_request& r) noexcept {
        const std::size_t n = in_flight();
        const std::size_t capacity = static_cast<std::size_t>(limit_ - waiters_.get()) * 2;
        std::unique_ptr<std::coroutine_handle<>[]> bigger(new (std::nothrow)
                                                              std::coroutine_handle<>[capacity]);
        if (!bigger) {
            backends::fail_request(r, errno_code(ENOMEM));
            return;
        }
        std::copy_n(waiters_.get(), n, bigger.get());
        waiters_ = std::move(bigger);
        end_ = waiters_.get() + n;
        limit_ = waiters_.get() + capacity;
        *end_++ = r.waiter;
    }

    static constexpr std::size_t initial_capacity = 64;

    loop* owner_;
    std::uint64_t owner_id_;
    std::unique_ptr<std::coroutine_handle<>[]> waiters_;  // [waiters_, end_): in flight
    std::coroutine_handle<>* end_;
    std::coroutine_handle<>* limit_;  // the array's end
    bool open_ = false;               // registered_ && !drained_: one test on the hot path
    bool registered_ = false;
    bool drained_ = false;
};

class null_device final : public block_device {
  public:
    null_device(std::uint64_t capacity, std::uint32_t block) {
        info_.name =
            "null (" + std::to_string(capacity) + " bytes, " + std::to_string(block) + " B blocks)";
        info_.backend = "null";
        info_.block_size = block;
        info_.capacity = capacity;
        info_.mem_alignment = 4;  // like the NVMe driver: PRP1 may start at any dword
        info_.max_transfer = 0;
        info_.queue_depth = 0;  // no limit
    }
    ~null_device() override { channels_.release_all(); }

    void submit(io_request& r) noexcept override {
        if (null_channel* c = channels_.find_fast(r.owner)) [[likely]] {
            c->push(r);  // in the slot only while open
            return;
        }
        submit_slow(r);
    }
    task<void> drain() override {
        return channels_.drain_current(
            [] { return std::make_unique<null_channel>(loop::current()); });
    }

  private:
    // The loop's first I/O (makes, registers and publishes its channel), I/O after drain(), and
    // a loop whose slot another loop's channel holds.
    [[gnu::noinline]] void submit_slow(io_request& r) noexcept {
        auto make = [&r] { return std::make_unique<null_channel>(r.owner); };
        null_channel* c = channels_.find_or_create(r.owner, make);
        if (!c) {
            backends::fail_request(r, errno_code(ENOMEM));
            return;
        }
        const bool was_open = c->open();
        c->submit(r);
        if (!was_open && c->open()) channels_.publish(c);
    }

    backends::channel_table<null_channel> channels_;
};

}  // namespace

bool check_null_target(device_uri& uri, std::string& why) {
    if (uri.target.empty()) return true;
    why = "null: takes no target, only parameters (got '" + uri.target +
          "'; e.g. null:?size=1G&lba=512)";
    return false;
}

std::unique_ptr<block_device> open_null_device(const device_uri& uri, std::error_code& ec,
                                               std::string& why) {
    auto fail = [&]() -> std::unique_ptr<block_device> {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    };
    if (!backends::check_known_params(uri, {"size", "lba"}, why)) return fail();
    std::uint64_t size = 0, lba = 0;
    if (!backends::param_size(uri, "size", std::uint64_t{1} << 30, size, why) ||
        !backends::param_uint(uri, "lba", 512, 512, 65536, lba, why))
        return fail();
    if (!std::has_single_bit(lba)) {
        why = "null: parameter lba='" + std::to_string(lba) +
              "' must be a power of two from 512 to 65536";
        return fail();
    }
    if (size == 0 || size % lba != 0) {
        why = "null: parameter size=" + std::to_string(size) +
              " must be a positive multiple of lba=" + std::to_string(lba);
        return fail();
    }
    ec.clear();
    return std::make_unique<null_device>(size, static_cast<std::uint32_t>(lba));
}

}  // namespace convme::null_backend

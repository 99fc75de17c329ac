// SPDX-License-Identifier: MIT
#include "runtime/kernel/threadpool_device.hpp"

#include <cerrno>

#include "runtime/core/uri_params.hpp"
#include "runtime/kernel/kernel_devices.hpp"

namespace convme::backends {
namespace {
void return_to_loop(io_request& r) noexcept {
    static_cast<threadpool_channel*>(r.context)->push_done(r);
}
}  // namespace

threadpool_device::threadpool_device(std::unique_ptr<file_target> target, unsigned threads)
    : target_(std::move(target)),
      pool_(std::make_unique<threadpool_pool>(*target_, threads, &return_to_loop)) {
    target_->describe("threadpool", info_);
    info_.queue_depth = 64;  // no hard limit; enough to keep the workers busy
    info_.max_transfer = 0;
}

threadpool_device::~threadpool_device() {
    pool_.reset();  // workers finish whatever is queued before the channels go away
    channels_.release_all();
}

void threadpool_device::submit(io_request& r) noexcept {
    channels_.submit(r, [&] { return std::make_unique<threadpool_channel>(*pool_, r.owner); });
}

task<void> threadpool_device::drain() {
    return channels_.drain_current(
        [this] { return std::make_unique<threadpool_channel>(*pool_, loop::current()); });
}

std::unique_ptr<block_device> make_threadpool_device(const device_uri& uri, std::error_code& ec,
                                                     std::string& why) {
    auto fail = [&](std::error_code code) -> std::unique_ptr<block_device> {
        ec = code;
        return nullptr;
    };
    if (!check_known_params(uri, {"direct", "threads", "create_size", "lock"}, why))
        return fail(make_error_code(errc::bad_uri));
    bool direct = true, lock = true;
    std::uint64_t threads = 4, create_size = 0;
    if (!param_bool(uri, "direct", true, direct, why) ||
        !param_bool(uri, "lock", true, lock, why) ||
        !param_uint(uri, "threads", 4, 1, 256, threads, why) ||
        !param_size(uri, "create_size", 0, create_size, why))
        return fail(make_error_code(errc::bad_uri));
    auto target = std::make_unique<file_target>();
    if (int rc =
            open_file_target("threadpool", uri.target, {direct, create_size, lock}, *target, why);
        rc < 0)
        return fail(errno_code(rc));
    try {
        return std::make_unique<threadpool_device>(std::move(target),
                                                   static_cast<unsigned>(threads));
    } catch (const std::exception& e) {
        why = std::string("threadpool: starting ") + std::to_string(threads) +
              " worker threads: " + e.what();
        return fail(errno_code(EAGAIN));
    }
}

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
// uring: and threadpool: targets, and the automatic io_uring -> thread-pool fallback.
#include <cstdio>

#include "runtime/core/uri_params.hpp"
#include "runtime/kernel/kernel_devices.hpp"
#include "runtime/kernel/threadpool_device.hpp"
#include "runtime/kernel/uring_probe.hpp"

namespace convme::backends {
namespace {

// The uring URI turned into a threadpool URI: only parameters both backends understand survive.
device_uri threadpool_equivalent(const device_uri& uri) {
    device_uri tp;
    tp.scheme = "threadpool";
    tp.target = uri.target;
    for (const char* key : {"direct", "create_size", "lock"}) {
        auto it = uri.params.find(key);
        if (it != uri.params.end()) tp.params.emplace(it->first, it->second);
    }
    return tp;
}

}  // namespace

bool check_file_target(device_uri& uri, std::string& why) {
    if (uri.target.rfind("//", 0) == 0) uri.target.erase(0, 2);  // uring:///path
    if (!uri.target.empty()) return true;
    why = uri.scheme + ": missing path after '" + uri.scheme +
          ":' (expected a file or block device path)";
    return false;
}

std::unique_ptr<block_device> open_uring_or_fallback(const device_uri& uri, std::error_code& ec,
                                                     std::string& why) {
    std::string unavailable;
    bool fallback = true;
    std::string malformed;  // reported by make_uring_device when io_uring is there to try
    const bool fallback_off = param_bool(uri, "fallback", true, fallback, malformed) && !fallback;
    if (uring_available(unavailable) == 0 || fallback_off) return make_uring_device(uri, ec, why);
    std::fprintf(stderr,
                 "convme: %s; using the thread-pool backend for %s instead (add ?fallback=0 to "
                 "fail instead)\n",
                 unavailable.c_str(), uri.target.c_str());
    auto dev = make_threadpool_device(threadpool_equivalent(uri), ec, why);
    if (auto* tp = dynamic_cast<threadpool_device*>(dev.get()))
        tp->add_note("fallback: io_uring unavailable");
    return dev;
}

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
// The kernel backends' entry points for the device registry: files and block devices through
// io_uring (uring:) or a thread pool (threadpool:). They return nullptr on failure and fill `ec`
// (an errc or errno code) and `why` (step, errno, fix).
#pragma once

#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <memory>
#include <string>
#include <system_error>

namespace convme::backends {

// Target check shared by uring: and threadpool:: a path (the URL-ish "//path" is accepted).
bool check_file_target(device_uri& uri, std::string& why);

// uring:/path?... : io_uring, falling back to the thread pool (with a note on stderr and in the
// device name) when the kernel refuses io_uring, unless fallback=0.
std::unique_ptr<block_device> open_uring_or_fallback(const device_uri& uri, std::error_code& ec,
                                                     std::string& why);
std::unique_ptr<block_device> make_uring_device(const device_uri& uri, std::error_code& ec,
                                                std::string& why);
std::unique_ptr<block_device> make_threadpool_device(const device_uri& uri, std::error_code& ec,
                                                     std::string& why);

}  // namespace convme::backends

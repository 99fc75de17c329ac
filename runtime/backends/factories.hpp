// Factory functions open_device() dispatches to, one per URI scheme. Each lives with its backend.
// They return nullptr on failure and fill `ec` (an errc or errno code) and `why` (step, errno, fix).
#pragma once

#include <convme/block_device.hpp>
#include <convme/device.hpp>

#include <memory>
#include <string>
#include <system_error>

namespace convme::backends {

std::unique_ptr<block_device> make_uring_device(const device_uri& uri, std::error_code& ec,
                                                std::string& why);
std::unique_ptr<block_device> make_threadpool_device(const device_uri& uri, std::error_code& ec,
                                                     std::string& why);
// sim:mem?... and sim:file=/path?...  (runtime/sim/)
std::unique_ptr<block_device> make_sim_device(const device_uri& uri, std::error_code& ec,
                                              std::string& why);
// vfio:BDF?...  (driver/vfio/)
std::unique_ptr<block_device> make_vfio_device(const device_uri& uri, std::error_code& ec,
                                               std::string& why);

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
// A VFIO group (/dev/vfio/N or /dev/vfio/noiommu-N): the unit of isolation that is attached to a
// container and hands out device fds.
#pragma once

#include <string>

#include "driver/vfio/unique_fd.hpp"

namespace convme::driver::vfio {

class vfio_group {
  public:
    int open(const std::string& path, std::string& why);
    int fd() const noexcept { return fd_.get(); }
    const std::string& path() const noexcept { return path_; }

    // VFIO_GROUP_GET_STATUS: viable = every device in the group is bound to a VFIO driver (or
    // otherwise safe). A non-viable group cannot be attached.
    int viable(bool& ok, std::string& why) const;
    int set_container(int container_fd, std::string& why);
    // VFIO_GROUP_GET_DEVICE_FD for `bdf`; dev_fd owns the result on success.
    int open_device(const std::string& bdf, unique_fd& dev_fd, std::string& why) const;

  private:
    unique_fd fd_;
    std::string path_;
};

}  // namespace convme::driver::vfio

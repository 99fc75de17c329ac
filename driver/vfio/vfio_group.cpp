// SPDX-License-Identifier: MIT
#include "driver/vfio/vfio_group.hpp"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace convme::driver::vfio {

int vfio_group::open(const std::string& path, std::string& why) {
    path_ = path;
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        why = "open " + path + ": " + std::strerror(err);
        if (err == ENOENT)
            why += " (the device is not bound to vfio-pci, or vfio-pci is not loaded)";
        else if (err == EACCES)
            why +=
                " (chown the group node to your user, or add a udev rule: "
                "SUBSYSTEM==\"vfio\", OWNER=\"<user>\")";
        else if (err == EPERM)
            why += " (no-IOMMU groups need CAP_SYS_RAWIO: run as root)";
        else if (err == EBUSY)
            why += " (another process has the group open: one user per VFIO group)";
        return -err;
    }
    fd_.reset(fd);
    return 0;
}

int vfio_group::viable(bool& ok, std::string& why) const {
    vfio_group_status st{};
    st.argsz = sizeof st;
    if (::ioctl(fd_.get(), VFIO_GROUP_GET_STATUS, &st) != 0) {
        int err = errno;
        why = "VFIO_GROUP_GET_STATUS on " + path_ + ": " + std::strerror(err);
        return -err;
    }
    ok = (st.flags & VFIO_GROUP_FLAGS_VIABLE) != 0;
    return 0;
}

int vfio_group::set_container(int container_fd, std::string& why) {
    if (::ioctl(fd_.get(), VFIO_GROUP_SET_CONTAINER, &container_fd) != 0) {
        int err = errno;
        why = "VFIO_GROUP_SET_CONTAINER(" + path_ + "): " + std::strerror(err);
        return -err;
    }
    return 0;
}

int vfio_group::open_device(const std::string& bdf, unique_fd& dev_fd, std::string& why) const {
    int fd = ::ioctl(fd_.get(), VFIO_GROUP_GET_DEVICE_FD, bdf.c_str());
    if (fd < 0) {
        int err = errno;
        why = "VFIO_GROUP_GET_DEVICE_FD(" + bdf + "): " + std::strerror(err);
        if (err == EBUSY) why += " (the device is already open in another process)";
        return -err;
    }
    dev_fd.reset(fd);
    return 0;
}

}  // namespace convme::driver::vfio

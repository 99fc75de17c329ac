// SPDX-License-Identifier: MIT
#include "driver/vfio/vfio_container.hpp"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "driver/vfio/dma_memory.hpp"
#include "driver/vfio/sysfs.hpp"

namespace convme::driver::vfio {

const char* iommu_kind_name(iommu_kind k) noexcept {
    switch (k) {
        case iommu_kind::type1:
            return "type1";
        case iommu_kind::type1v2:
            return "type1v2";
        case iommu_kind::noiommu:
            return "noiommu";
        case iommu_kind::none:
            break;
    }
    return "none";
}

std::string set_iommu_eperm_advice() {
#if defined(__aarch64__) || defined(__arm__)
    return "the kernel refused to attach the group because the platform has no MSI isolation "
           "(dmesg: \"vfio_iommu_type1_attach_group: No interrupt remapping support\"). This is "
           "an SMMU next to a GICv2/GICv2m without an ITS. Fix: use a GICv3 with an ITS (QEMU: "
           "-M virt,gic-version=3), or accept the risk with `modprobe vfio_iommu_type1 "
           "allow_unsafe_interrupts=1` (or echo Y > "
           "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts)";
#else
    return "the kernel refused to attach the group because interrupt remapping is off (dmesg: "
           "\"No interrupt remapping support\"). Fix: enable it (intel_iommu=on with an IOMMU "
           "that supports IR, QEMU: -device intel-iommu,intremap=on), or accept the risk with "
           "`modprobe vfio_iommu_type1 allow_unsafe_interrupts=1`";
#endif
}

int vfio_container::open(const std::string& dev_root, std::string& why) {
    const std::string path = join_path(dev_root, "vfio/vfio");
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        why = "open " + path + ": " + std::strerror(err) +
              (err == ENOENT   ? " (load the VFIO modules: modprobe vfio-pci)"
               : err == EACCES ? " (run as root or give your user access to /dev/vfio)"
                               : "");
        return -err;
    }
    fd_.reset(fd);
    int api = ::ioctl(fd, VFIO_GET_API_VERSION);
    if (api != VFIO_API_VERSION) {
        int err = api < 0 ? errno : EPROTO;
        why = "VFIO_GET_API_VERSION on " + path + ": " +
              (api < 0 ? std::string(std::strerror(err))
                       : "kernel speaks version " + std::to_string(api) + ", we need " +
                             std::to_string(VFIO_API_VERSION)) +
              (err == ENOTTY ? " (" + path + " is not the VFIO container device)"
               // qemu-user answers ioctls it does not emulate with ENOSYS.
               : err == ENOSYS ? " (ioctl not passed through: user-mode emulation, or " + path +
                                     " is not the VFIO container device)"
                               : "");
        fd_.reset();
        return -err;
    }
    return 0;
}

bool vfio_container::has_extension(unsigned long ext) const noexcept {
    return fd_ && ::ioctl(fd_.get(), VFIO_CHECK_EXTENSION, ext) > 0;
}

int vfio_container::set_iommu(bool want_noiommu, std::string& why) {
    unsigned long type = 0;
    iommu_kind kind = iommu_kind::none;
    if (want_noiommu) {
        if (!has_extension(VFIO_NOIOMMU_IOMMU)) {
            why =
                "VFIO_CHECK_EXTENSION(NOIOMMU): not available; load vfio with "
                "enable_unsafe_noiommu_mode=1 (needs a kernel built with CONFIG_VFIO_NOIOMMU)";
            return -ENOTSUP;
        }
        type = VFIO_NOIOMMU_IOMMU;
        kind = iommu_kind::noiommu;
    } else if (has_extension(VFIO_TYPE1v2_IOMMU)) {
        type = VFIO_TYPE1v2_IOMMU;
        kind = iommu_kind::type1v2;
    } else if (has_extension(VFIO_TYPE1_IOMMU)) {
        type = VFIO_TYPE1_IOMMU;
        kind = iommu_kind::type1;
    } else {
        why =
            "VFIO_CHECK_EXTENSION: the kernel offers neither TYPE1v2 nor TYPE1 IOMMU "
            "(load vfio_iommu_type1: modprobe vfio_iommu_type1)";
        return -ENOTSUP;
    }
    if (::ioctl(fd_.get(), VFIO_SET_IOMMU, type) != 0) {
        int err = errno;
        why = std::string("VFIO_SET_IOMMU(") + iommu_kind_name(kind) + "): " + std::strerror(err);
        if (err == EPERM && kind != iommu_kind::noiommu) why += ": " + set_iommu_eperm_advice();
        return -err;
    }
    kind_ = kind;
    return 0;
}

int vfio_container::query_info(std::string& why) {
    // The kernel reports the size it needs in argsz when the capability chain does not fit.
    std::vector<std::byte> buf(sizeof(vfio_iommu_type1_info) + 1024);
    for (int attempt = 0; attempt < 3; ++attempt) {
        vfio_iommu_type1_info head{};
        head.argsz = static_cast<__u32>(buf.size());
        std::memset(buf.data(), 0, buf.size());
        std::memcpy(buf.data(), &head, sizeof head);
        if (::ioctl(fd_.get(), VFIO_IOMMU_GET_INFO, buf.data()) != 0) {
            int err = errno;
            why = std::string("VFIO_IOMMU_GET_INFO: ") + std::strerror(err);
            return -err;
        }
        std::memcpy(&head, buf.data(), sizeof head);
        if (head.argsz <= buf.size()) {
            if (!parse_iommu_info(buf.data(), buf.size(), info_, why)) return -EPROTO;
            return 0;
        }
        buf.resize(head.argsz);
    }
    why = "VFIO_IOMMU_GET_INFO: reply size kept growing";
    return -EPROTO;
}

int vfio_container::map_dma(std::uint64_t vaddr, std::uint64_t iova, std::uint64_t size,
                            std::string& why) noexcept {
    vfio_iommu_type1_dma_map m{};
    m.argsz = sizeof m;
    m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    m.vaddr = vaddr;
    m.iova = iova;
    m.size = size;
    if (::ioctl(fd_.get(), VFIO_IOMMU_MAP_DMA, &m) == 0) return 0;
    int err = errno;
    char where[96];
    std::snprintf(where, sizeof where, "VFIO_IOMMU_MAP_DMA(iova=0x%llx, size=%llu): ",
                  static_cast<unsigned long long>(iova), static_cast<unsigned long long>(size));
    why = where + std::string(std::strerror(err));
    if (err == ENOMEM || err == EPERM)
        why +=
            ": pinned pages count against RLIMIT_MEMLOCK; " + memlock_advice(memlock_limit(), size);
    else if (err == ENOSPC)
        why +=
            ": too many DMA mappings (vfio_iommu_type1 dma_entry_limit); use fewer, larger "
            "buffers or raise the module parameter dma_entry_limit";
    return -err;
}

int vfio_container::unmap_dma(std::uint64_t iova, std::uint64_t size) noexcept {
    vfio_iommu_type1_dma_unmap u{};
    u.argsz = sizeof u;
    u.iova = iova;
    u.size = size;
    return ::ioctl(fd_.get(), VFIO_IOMMU_UNMAP_DMA, &u) == 0 ? 0 : -errno;
}

}  // namespace convme::driver::vfio

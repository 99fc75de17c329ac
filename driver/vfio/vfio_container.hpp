// SPDX-License-Identifier: MIT
// A VFIO container (/dev/vfio/vfio): the IOMMU context that groups attach to and DMA mappings
// live in. Every method returns 0 or -errno and fills `why` with the step, errno and fix.
#pragma once

#include <cstdint>
#include <string>

#include "driver/vfio/iommu_info.hpp"
#include "driver/vfio/unique_fd.hpp"

namespace convme::driver::vfio {

enum class iommu_kind { none, type1, type1v2, noiommu };
const char* iommu_kind_name(iommu_kind k) noexcept;

class vfio_container {
  public:
    // Open <dev_root>/vfio/vfio and check the API version.
    int open(const std::string& dev_root, std::string& why);
    int fd() const noexcept { return fd_.get(); }

    bool has_extension(unsigned long ext) const noexcept;
    // Pick TYPE1v2 -> TYPE1, or NOIOMMU when want_noiommu; after a group was attached.
    int set_iommu(bool want_noiommu, std::string& why);
    iommu_kind kind() const noexcept { return kind_; }

    // VFIO_IOMMU_GET_INFO (type1 only): page sizes, usable IOVA ranges, DMA_AVAIL.
    int query_info(std::string& why);
    const iommu_info& info() const noexcept { return info_; }

    int map_dma(std::uint64_t vaddr, std::uint64_t iova, std::uint64_t size,
                std::string& why) noexcept;
    int unmap_dma(std::uint64_t iova, std::uint64_t size) noexcept;

  private:
    unique_fd fd_;
    iommu_kind kind_ = iommu_kind::none;
    iommu_info info_;
};

// Text explaining an EPERM from VFIO_SET_IOMMU (missing MSI isolation / interrupt remapping).
std::string set_iommu_eperm_advice();

}  // namespace convme::driver::vfio

// SPDX-License-Identifier: MIT
#include "driver/vfio/iommu_info.hpp"

#include <linux/vfio.h>

#include <cstring>

namespace convme::driver::vfio {

std::uint64_t iommu_info::granule(std::uint64_t host_page) const noexcept {
    std::uint64_t g = page_sizes ? (page_sizes & (~page_sizes + 1)) : host_page;  // lowest set bit
    return g < host_page ? host_page : g;
}

bool parse_iommu_info(const std::byte* buf, std::size_t len, iommu_info& out, std::string& why) {
    out = {};
    vfio_iommu_type1_info info;
    if (len < offsetof(vfio_iommu_type1_info, cap_offset)) {
        why = "VFIO_IOMMU_GET_INFO reply too short";
        return false;
    }
    std::memset(&info, 0, sizeof info);
    std::memcpy(&info, buf, len < sizeof info ? len : sizeof info);
    if (info.flags & VFIO_IOMMU_INFO_PGSIZES) out.page_sizes = info.iova_pgsizes;
    if (!(info.flags & VFIO_IOMMU_INFO_CAPS) || len < sizeof info || info.cap_offset == 0)
        return true;

    std::uint32_t off = info.cap_offset;
    // Each capability must start after the fixed header; bound the walk so a loop cannot hang us.
    for (int hops = 0; off != 0; ++hops) {
        if (hops > 64 || off < sizeof info || off > len ||
            len - off < sizeof(vfio_info_cap_header)) {
            why = "VFIO_IOMMU_GET_INFO capability chain is malformed (offset " +
                  std::to_string(off) + ")";
            return false;
        }
        vfio_info_cap_header hdr;
        std::memcpy(&hdr, buf + off, sizeof hdr);
        if (hdr.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
            const std::size_t fixed = sizeof(vfio_iommu_type1_info_cap_iova_range);
            if (len - off < fixed) {
                why = "IOVA range capability truncated";
                return false;
            }
            vfio_iommu_type1_info_cap_iova_range cap;
            std::memcpy(&cap, buf + off, fixed);
            if ((len - off - fixed) / sizeof(vfio_iova_range) < cap.nr_iovas) {
                why = "IOVA range capability claims " + std::to_string(cap.nr_iovas) +
                      " ranges but the reply is shorter";
                return false;
            }
            for (std::uint32_t i = 0; i < cap.nr_iovas; ++i) {
                vfio_iova_range r;
                std::memcpy(&r, buf + off + fixed + i * sizeof r, sizeof r);
                out.ranges.push_back({r.start, r.end});
            }
        } else if (hdr.id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
            if (len - off >= sizeof(vfio_iommu_type1_info_dma_avail)) {
                vfio_iommu_type1_info_dma_avail cap;
                std::memcpy(&cap, buf + off, sizeof cap);
                out.dma_avail = cap.avail;
            }
        }
        off = hdr.next;
    }
    return true;
}

}  // namespace convme::driver::vfio

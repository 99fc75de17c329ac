// SPDX-License-Identifier: MIT
#include "driver/nvme/prp.hpp"

#include <cerrno>

namespace convme::driver {

int build_prps(const void* buf, std::size_t len, std::size_t page_size, prp_translate_fn translate,
               void* ctx, const prp_list_segment* segments, unsigned nsegments,
               prp_pair& out) noexcept {
    if (len == 0 || page_size < 4096 || (page_size & (page_size - 1)) != 0) return -EINVAL;
    const std::uint64_t page_mask = page_size - 1;
    const auto addr = reinterpret_cast<std::uintptr_t>(buf);

    std::uint64_t iova = 0;
    if (int rc = translate(ctx, buf, iova); rc != 0) return rc;
    // Dword aligned, and the same offset inside the memory page on both sides (otherwise the
    // page walk below would not line up with the device's).
    if ((iova & 3u) != 0 || (iova & page_mask) != (addr & page_mask)) return -EINVAL;
    out.prp1 = iova;
    out.prp2 = 0;

    const std::size_t first = page_size - (addr & page_mask);
    if (len <= first) return 0;

    auto page_iova = [&](std::size_t index, std::uint64_t& pg) noexcept -> int {
        const void* p = reinterpret_cast<const void*>(addr + first + index * page_size);
        if (int rc = translate(ctx, p, pg); rc != 0) return rc;
        return (pg & page_mask) == 0 ? 0 : -EINVAL;
    };

    const std::size_t more = (len - first + page_size - 1) / page_size;  // pages after the first
    if (more == 1) return page_iova(0, out.prp2);

    if (nsegments == 0 || segments[0].entries == 0 || (segments[0].iova & 7u) != 0) return -E2BIG;
    unsigned seg = 0;
    std::uint32_t pos = 0;
    for (std::size_t i = 0; i < more; ++i) {
        const prp_list_segment& s = segments[seg];
        if (pos + 1 == s.entries && i + 1 < more) {
            // Last slot of this segment and more than one entry left: link to the next segment.
            if (seg + 1 >= nsegments) return -E2BIG;
            if (((s.iova + std::uint64_t(s.entries) * 8) & page_mask) != 0) return -EINVAL;
            const prp_list_segment& next = segments[seg + 1];
            if (next.entries == 0 || (next.iova & 7u) != 0) return -E2BIG;
            s.vaddr[pos] = next.iova;
            ++seg;
            pos = 0;
        }
        std::uint64_t pg = 0;
        if (int rc = page_iova(i, pg); rc != 0) return rc;
        segments[seg].vaddr[pos++] = pg;
    }
    out.prp2 = segments[0].iova;
    return 0;
}

}  // namespace convme::driver

// SPDX-License-Identifier: MIT
#include "driver/sim/sim_prp.hpp"

#include <convme/nvme_spec.hpp>
#include <cstring>

namespace convme::sim {
namespace {
constexpr std::uint16_t status(std::uint16_t sc) {
    return nvme::make_status(nvme::sct::generic, sc, true);
}

void add(std::vector<dma_segment>& out, std::byte* p, std::size_t n) {
    if (!out.empty() && out.back().host + out.back().len == p)
        out.back().len += n;
    else
        out.push_back({p, n});
}
}  // namespace

std::uint16_t map_prps(const iova_space& iova, std::uint64_t prp1, std::uint64_t prp2,
                       std::size_t len, std::size_t page, std::vector<dma_segment>& out,
                       std::string& why) {
    out.clear();
    if (len == 0) return 0;
    if (prp1 & 3) return status(nvme::sc::invalid_prp_offset);  // PRP1 must be dword aligned
    std::size_t first = page - (prp1 & (page - 1));
    if (first > len) first = len;
    std::byte* p = iova.resolve(prp1, first, &why);
    if (!p) return status(nvme::sc::data_transfer_error);
    add(out, p, first);
    std::size_t left = len - first;
    if (left == 0) return 0;

    auto data_page = [&](std::uint64_t entry) -> std::uint16_t {
        if (entry & (page - 1)) return status(nvme::sc::invalid_prp_offset);
        std::size_t n = left < page ? left : page;
        std::byte* d = iova.resolve(entry, n, &why);
        if (!d) return status(nvme::sc::data_transfer_error);
        add(out, d, n);
        left -= n;
        return 0;
    };

    if (left <= page) return data_page(prp2);  // PRP2 is the second (and last) data page

    // PRP2 points to a list; it may start at a qword offset inside its page.
    if (prp2 & 7) return status(nvme::sc::invalid_prp_offset);
    std::uint64_t entry_addr = prp2;
    std::size_t hops_left = len / page + 2;  // a malicious chain cannot loop forever
    while (left > 0) {
        const std::byte* e = iova.resolve(entry_addr, 8, &why);
        if (!e) return status(nvme::sc::data_transfer_error);
        std::uint64_t entry;
        std::memcpy(&entry, e, 8);
        bool last_slot = ((entry_addr + 8) & (page - 1)) == 0;
        if (last_slot && left > page) {
            // Last entry of a list page with more than one page to go: chains to the next list.
            if (entry & 7) return status(nvme::sc::invalid_prp_offset);
            if (hops_left-- == 0) return status(nvme::sc::invalid_field);
            entry_addr = entry;
            continue;
        }
        if (std::uint16_t st = data_page(entry); st != 0) return st;
        entry_addr += 8;
    }
    return 0;
}

}  // namespace convme::sim

// SPDX-License-Identifier: MIT
// The MSI-X capability of a PCI function, read from its config space, and where its table is.
//
// irq_mask=awake writes the Mask bit of a vector's Vector Control word in the MSI-X table
// directly, through the BAR mapping the driver already has for the doorbells. vfio-pci allows
// that mapping since Linux 4.16 (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE); its ioctl interface has no
// mask action for MSI-X (VFIO_IRQ_SET_ACTION_MASK is INTx only), and detaching the eventfd
// instead costs two system calls and an IRQ free/request per sleep. Only the Mask bit is ever
// written: the message address and data stay the kernel's (remapped with an IOMMU).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace convme::driver::vfio {

struct msix_capability {
    std::uint8_t offset = 0;         // of the capability in config space
    std::uint16_t table_size = 0;    // vectors (Message Control bits 10:0, plus one)
    std::uint8_t table_bar = 0;      // BIR: which BAR holds the table
    std::uint32_t table_offset = 0;  // within that BAR, 8-byte aligned
};

// One MSI-X table entry: Message Address (low, high), Message Data, Vector Control.
inline constexpr std::uint32_t msix_entry_bytes = 16;
inline constexpr std::uint32_t msix_vector_control = 12;  // offset within an entry
inline constexpr std::uint32_t msix_mask_bit = 1u;        // Vector Control bit 0

// Walks the capability list of `config` (the first 256 bytes of config space or more). nullopt
// with why when the function has no capability list, no MSI-X capability, or the list is
// malformed (a pointer into the header, past the end, or a loop).
std::optional<msix_capability> find_msix_capability(std::span<const std::uint8_t> config,
                                                    std::string& why);

// Byte offset of vector `vector`'s Vector Control word within the table's BAR.
constexpr std::uint64_t msix_control_offset(const msix_capability& c, std::uint16_t vector) {
    return std::uint64_t(c.table_offset) + std::uint64_t(vector) * msix_entry_bytes +
           msix_vector_control;
}

}  // namespace convme::driver::vfio

// SPDX-License-Identifier: MIT
// pci_device over Linux VFIO: one PCI function bound to vfio-pci, its group attached to a private
// container (TYPE1v2/TYPE1 IOMMU, or the unsafe no-IOMMU mode), BAR0 mmapped (or accessed with
// pread/pwrite when the kernel refuses the mmap), DMA memory pinned and mapped into the IOMMU.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "driver/nvme/pci_device.hpp"
#include "driver/vfio/dma_map_table.hpp"
#include "driver/vfio/dma_memory.hpp"
#include "driver/vfio/iova_allocator.hpp"
#include "driver/vfio/msix_capability.hpp"
#include "driver/vfio/unique_fd.hpp"
#include "driver/vfio/vfio_container.hpp"
#include "driver/vfio/vfio_group.hpp"

namespace convme::driver::vfio {

enum class vfio_mode { automatic, iommu, noiommu };
const char* vfio_mode_name(vfio_mode m) noexcept;

struct vfio_open_options {
    std::string bdf;  // canonical "0000:01:00.0"
    vfio_mode mode = vfio_mode::automatic;
    std::string sys_root = "/sys";
    std::string dev_root = "/dev";
    std::string proc_root = "/proc";
    bool irq_affinity = true;  // irq_affinity=loop: steer each vector to its loop's CPU
};

class vfio_pci_device final : public pci_device {
  public:
    // Returns nullptr with err (-errno) and why (step, errno, fix) on failure.
    static std::unique_ptr<vfio_pci_device> open(const vfio_open_options& opts, int& err,
                                                 std::string& why);
    ~vfio_pci_device() override;

    std::string name() const override;
    const char* kind() const noexcept override { return "vfio"; }
    volatile std::uint32_t* bar0() noexcept override { return bar_; }
    std::size_t bar0_size() const noexcept override { return static_cast<std::size_t>(bar_size_); }
    std::uint32_t read32(std::uint32_t offset) noexcept override;
    void write32(std::uint32_t offset, std::uint32_t value) noexcept override;

    int alloc_dma(std::size_t size, std::size_t align, dma_region& out) noexcept override;
    void free_dma(dma_region& region) noexcept override;
    int map_dma(void* vaddr, std::size_t size) noexcept override;
    int unmap_dma(void* vaddr, std::size_t size) noexcept override;
    int translate(const void* vaddr, std::uint64_t& iova) const noexcept override;
    std::size_t host_page_size() const noexcept override { return base_page_size(); }
    std::size_t max_contiguous_dma() const noexcept override;

    int enable_bus_master() noexcept override;
    int function_reset() noexcept override;

    // MSI-X through VFIO_DEVICE_GET_IRQ_INFO / VFIO_DEVICE_SET_IRQS (vfio_pci_device.cpp).
    unsigned irq_vectors() const noexcept override { return msix_count_; }
    std::string irq_unavailable() const override { return msix_why_; }
    int bind_irq_eventfd(std::uint16_t vector, int efd) noexcept override;
    // irq_affinity=loop (irq_affinity.hpp): /proc/irq/N/smp_affinity_list of the vector's IRQ.
    void steer_irq_to_caller(std::uint16_t vector) noexcept override;
    std::string irq_affinity_note() const override;
    // irq_mask=awake (msix_capability.hpp): the Mask bit in the MSI-X table, through bar_.
    std::string irq_mask_unavailable() const override { return msix_mask_why_; }
    void mask_irq(std::uint16_t vector, bool masked) noexcept override;

    bool noiommu() const noexcept { return container_.kind() == iommu_kind::noiommu; }
    // PCI config space access (offset within the 256/4096-byte config region).
    int config_read(std::uint32_t offset, void* buf, std::size_t len) noexcept;
    int config_write(std::uint32_t offset, const void* buf, std::size_t len) noexcept;

  private:
    vfio_pci_device() = default;
    int setup(const vfio_open_options& opts, std::string& why);
    struct group_location {
        int group = -1;
        bool noiommu = false;
        std::string node;  // /dev/vfio/N or /dev/vfio/noiommu-N
    };
    int locate_group(const vfio_open_options& opts, group_location& out, std::string& why);
    int attach_group(const vfio_open_options& opts, const group_location& where, std::string& why);
    int setup_regions(std::string& why);
    void locate_msix_table();  // sets msix_control_ or msix_mask_why_
    // After SET_IRQS bound `vector` (the kernel unmasked it): its Vector Control word, whose
    // other bits mask_irq() must write back unchanged.
    void remember_control(std::uint16_t vector) noexcept {
        if (msix_control_ && vector < msix_control_value_.size())
            msix_control_value_[vector] = msix_control_[vector * 4u] & ~msix_mask_bit;
    }
    int fail(int err, std::string why) noexcept;
    // IOVA for a locked block: allocate + MAP_DMA (IOMMU), or physical address (no-IOMMU).
    int map_block_iommu(std::uintptr_t start, std::size_t length, std::size_t align,
                        std::uint64_t& iova, std::string& why) noexcept;

    std::string bdf_;
    vfio_container container_;
    vfio_group group_;
    unique_fd device_;
    bool can_reset_ = false;
    std::uint64_t bar_offset_ = 0, bar_size_ = 0;
    volatile std::uint32_t* bar_ = nullptr;
    std::uint64_t config_offset_ = 0, config_size_ = 0;

    iova_allocator iova_;
    std::uint64_t granule_ = 4096;
    std::size_t hugepage_ = 0;
    bool hugepages_available_ = false;

    unsigned msix_count_ = 0;  // vectors of the MSI-X capability (GET_IRQ_INFO)
    std::string msix_why_;     // why there are none
    // Vector V's Vector Control word is msix_control_[V * 4] (null: masking unavailable, and
    // msix_mask_why_ says why); msix_control_value_[V] its value read at bind, Mask bit clear.
    volatile std::uint32_t* msix_control_ = nullptr;
    std::string msix_mask_why_ = "no MSI-X vectors";
    std::vector<std::uint32_t> msix_control_value_;
    mutable std::mutex irq_mu_;
    bool msix_enabled_ = false;  // SET_IRQS enabled the vectors (all at once: Linux < 6.5
                                 // cannot add vectors to an enabled MSI-X block)
    int set_irqs(std::uint32_t start, std::uint32_t count, const int* fds) noexcept;
    std::string sys_root_ = "/sys", proc_root_ = "/proc";
    bool irq_affinity_ = true;
    std::map<std::uint16_t, unsigned> steered_;  // vector -> CPU (under irq_mu_)
    std::string steer_failed_;                   // the first failure's why (under irq_mu_)

    mutable std::shared_mutex lock_;  // table_ (shared for translate) and everything below
    dma_map_table table_;
    std::map<std::uint64_t, page_block> blocks_;      // alloc_dma cookie -> memory
    std::unique_ptr<hugepage_pool> pool_;             // no-IOMMU: alloc_dma memory from hugepages
    std::map<std::uint64_t, hugepage_piece> pieces_;  // no-IOMMU alloc_dma cookie -> piece
    std::uint64_t next_cookie_ = 1;
};

}  // namespace convme::driver::vfio

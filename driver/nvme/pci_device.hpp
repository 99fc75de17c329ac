// SPDX-License-Identifier: MIT
// The seam between the NVMe driver and whatever provides the controller: a VFIO-bound PCI
// function (driver/vfio/) or the in-process simulated controller (driver/sim/). The driver only
// ever talks through this interface, so it runs unchanged on both.
//
// Every call returns 0 or -errno. `last_error()` holds a human-readable explanation of the most
// recent failure (step, errno, fix to try).
#pragma once

#include <convme/loop.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

namespace convme::driver {

// A region of DMA-able memory: CPU address + device (IO virtual / bus) address of its first byte.
// Regions returned by alloc_dma are contiguous in IOVA space for their whole length.
struct dma_region {
    void* vaddr = nullptr;
    std::uint64_t iova = 0;
    std::size_t size = 0;
    std::uint64_t cookie = 0;  // owner-private (mapping handle)
};

class pci_device {
  public:
    virtual ~pci_device() = default;

    // "0000:01:00.0 (vfio type1v2)" or "sim:mem".
    virtual std::string name() const = 0;
    // What provides the controller: "vfio" or "sim" (device_info::backend: "nvme" or "sim").
    virtual const char* kind() const noexcept = 0;

    // ---- BAR0 register space.
    // Base of the mmapped BAR0, or nullptr when registers are only reachable through
    // read32/write32 (VFIO region without mmap). Doorbells are written through this pointer on
    // the hot path when available.
    virtual volatile std::uint32_t* bar0() noexcept = 0;
    virtual std::size_t bar0_size() const noexcept = 0;
    virtual std::uint32_t read32(std::uint32_t offset) noexcept = 0;
    virtual void write32(std::uint32_t offset, std::uint32_t value) noexcept = 0;
    // 64-bit registers are accessed as two 32-bit halves, low first (portable across
    // controllers that do not support 64-bit MMIO).
    std::uint64_t read64(std::uint32_t offset) noexcept {
        std::uint64_t lo = read32(offset);
        std::uint64_t hi = read32(offset + 4);
        return lo | (hi << 32);
    }
    void write64(std::uint32_t offset, std::uint64_t value) noexcept {
        write32(offset, static_cast<std::uint32_t>(value));
        write32(offset + 4, static_cast<std::uint32_t>(value >> 32));
    }

    // ---- DMA memory for queues, PRP lists, identify buffers: zeroed, aligned to `align`,
    // contiguous in IOVA space.
    virtual int alloc_dma(std::size_t size, std::size_t align, dma_region& out) noexcept = 0;
    virtual void free_dma(dma_region& region) noexcept = 0;

    // ---- Caller memory (I/O buffers). map_dma makes [vaddr, vaddr+size) reachable by the
    // device; translate() then gives the device address of any byte in a mapped range. Pages
    // of one mapping need not be contiguous in IOVA space (no-IOMMU mode: physical pages), so the
    // driver translates per memory page when it builds PRPs.
    virtual int map_dma(void* vaddr, std::size_t size) noexcept = 0;
    virtual int unmap_dma(void* vaddr, std::size_t size) noexcept = 0;
    // Returns 0 and sets iova, or -EFAULT if the address is not in a mapped range.
    virtual int translate(const void* vaddr, std::uint64_t& iova) const noexcept = 0;

    // Host memory page size the device mappings use (4096 or 65536...).
    virtual std::size_t host_page_size() const noexcept = 0;

    // Largest alloc_dma size that can be satisfied as one IOVA-contiguous region. Unlimited with
    // an IOMMU; in VFIO no-IOMMU mode without hugepages only one host page is physically
    // contiguous, so the driver clamps queue sizes to fit (e.g. SQ depth 64 in 4 KiB).
    virtual std::size_t max_contiguous_dma() const noexcept { return SIZE_MAX; }

    // ---- PCI function control.
    virtual int enable_bus_master() noexcept = 0;
    // Function-level reset if supported (-ENOTSUP otherwise).
    virtual int function_reset() noexcept = 0;

    // ---- Completion notification, the model of an interrupt vector per completion queue: after
    // the device posted new entries to completion queue `cqid` it calls fn(ctx) on its own thread.
    // Returns false if the device cannot notify and must be polled (VFIO: the driver uses no
    // interrupts; the inline simulator: the host itself does the device's work). fn == nullptr
    // disarms; once that call returned, the previous fn is not called any more.
    virtual bool set_completion_notify(std::uint16_t cqid, void (*fn)(void*), void* ctx) noexcept {
        (void)cqid, (void)fn, (void)ctx;
        return false;
    }

    // ---- Interrupts (MSI-X), for the interrupt and hybrid completion modes. A completion queue
    // created with IEN=1 and IV=v makes the device signal vector v after it posted entries; with
    // bind_irq_eventfd(v, efd) each such signal adds 1 to the eventfd `efd` (the owning loop's
    // loop::notify_fd(), so the loop's own sleep is the wait). Vector 0 is the admin queue's.
    // irq_vectors(): how many vectors the function offers (0: none, the device must be polled;
    // irq_unavailable() then says why).
    virtual unsigned irq_vectors() const noexcept { return 0; }
    virtual std::string irq_unavailable() const { return "this device has no interrupt vectors"; }
    // Route vector `vector` to `efd` (-1 unbinds). 0 or -errno (last_error() says why).
    virtual int bind_irq_eventfd(std::uint16_t vector, int efd) noexcept {
        (void)vector, (void)efd;
        return -95;  // EOPNOTSUPP
    }

    // Per-vector masking (irq_mask=awake): the driver masks its queue's vector while the owning
    // loop is awake and unmasks it just before that loop sleeps, so a loop that spins (hybrid) or
    // is busy takes no interrupt it does not need. Lossless by PCI MSI-X rules: a message the
    // function has to send while its vector is masked sets the vector's Pending bit and is sent
    // as soon as the vector is unmasked. irq_mask_unavailable(): "" when mask_irq works on this
    // function's vectors, else why not (the vector then stays unmasked all the time).
    virtual std::string irq_mask_unavailable() const {
        return "this device cannot mask its vectors";
    }
    // Sets or clears the mask bit of vector `vector` (bound with bind_irq_eventfd). Cheap: one
    // register write, no system call.
    virtual void mask_irq(std::uint16_t vector, bool masked) noexcept {
        (void)vector, (void)masked;
    }

    // Interrupt affinity (vfio: irq_affinity=loop): called on the owning loop's thread after
    // bind_irq_eventfd, asks the host to deliver vector `vector` to the CPU that thread is pinned
    // to. Best effort, never fails the queue: the outcome is in irq_affinity_note().
    virtual void steer_irq_to_caller(std::uint16_t vector) noexcept { (void)vector; }
    // "" (nothing to say), the policy before any queue asked ("irq affinity=loop"), then the
    // outcome ("irq affinity: steered to loop CPUs (vector 1 -> cpu 0)" or
    // "irq affinity not set: <why>"; the first failure wins).
    virtual std::string irq_affinity_note() const { return {}; }

    // ---- Loops. `l` starts / stops polling one of this device's I/O queues (attached before the
    // queue's poller is registered, detached after it was removed, on l's thread). A device whose
    // work the host must do (the inline simulator) registers its own poller on `l` here; real
    // devices do nothing, so the driver's hot path carries no simulator hook.
    virtual void loop_attached(loop& l) { (void)l; }
    virtual void loop_detached(loop& l) noexcept { (void)l; }
    // Synchronous waits outside any loop (admin commands at bring-up, register polls) call this
    // while they spin: the inline simulator does its work here; real devices do nothing.
    virtual void step() noexcept {}

    virtual const std::string& last_error() const noexcept { return last_error_; }

  protected:
    std::string last_error_;
};

}  // namespace convme::driver

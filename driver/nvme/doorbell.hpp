// SPDX-License-Identifier: MIT
// One NVMe doorbell (an SQ tail or a CQ head), optionally behind a shadow doorbell
// (Doorbell Buffer Config, NVMe 1.3): the new value goes to a host-memory shadow slot the
// controller reads, and the MMIO register is only written when the controller's EventIdx says it
// asked to be told ("need event"), which saves most MMIO writes on emulated/virtual controllers.
#pragma once

#include <cstdint>

#include "driver/nvme/barriers.hpp"
#include "driver/nvme/pci_device.hpp"

namespace convme::driver {

// Virtio-style event check with 16-bit wraparound: the controller asked (via EventIdx) to be
// notified once the value moves past `event_idx`; moving from `old_value` to `new_value` crosses it
// iff (new - event_idx - 1) < (new - old), all modulo 2^16.
constexpr bool doorbell_need_event(std::uint16_t event_idx, std::uint16_t new_value,
                                   std::uint16_t old_value) noexcept {
    return static_cast<std::uint16_t>(new_value - event_idx - 1) <
           static_cast<std::uint16_t>(new_value - old_value);
}

struct doorbell_counters {
    std::uint64_t mmio_writes = 0;
    std::uint64_t shadow_skips = 0;  // updates that went to the shadow slot only
};

class doorbell {
  public:
    doorbell() = default;
    // `mmio`: the register inside a mapped BAR0, or nullptr to go through dev->write32(offset).
    doorbell(volatile std::uint32_t* mmio, pci_device* dev, std::uint32_t offset) noexcept
        : mmio_(mmio), dev_(dev), offset_(offset) {}

    // Route updates through a shadow slot / EventIdx pair (both in DMA memory). `always_mmio`
    // additionally writes the register every time (used for the admin queue, which some
    // controllers do not track through the shadow buffer).
    void set_shadow(volatile std::uint32_t* shadow, const volatile std::uint32_t* event_idx,
                    bool always_mmio) noexcept {
        shadow_ = shadow;
        event_idx_ = event_idx;
        always_mmio_ = always_mmio;
        last_ = 0;
    }
    void clear_shadow() noexcept {
        shadow_ = nullptr;
        event_idx_ = nullptr;
        last_ = 0;
    }
    bool shadowed() const noexcept { return shadow_ != nullptr; }
    // For diagnostics: the last value published, and what the shadow slot / EventIdx hold now.
    std::uint16_t last_value() const noexcept { return last_; }
    std::uint32_t shadow_now() const noexcept {
        return shadow_ ? device_load_seq<std::uint32_t>(shadow_) : 0;
    }
    std::uint32_t event_idx_now() const noexcept {
        return event_idx_ ? device_load_seq<std::uint32_t>(event_idx_) : 0;
    }
    void reset_value() noexcept { last_ = 0; }

    // Publish `value`. The caller already issued the barrier that orders queue-entry accesses
    // before it (barrier_before_doorbell / barrier_before_cq_doorbell).
    void write(std::uint16_t value, doorbell_counters& c) noexcept {
        if (shadow_ && !publish_shadow(value, c)) return;
        // Counted first: the register write is the last step, a tail call when it goes through
        // pci_device, so the caller keeps nothing in a saved register across it.
        ++c.mmio_writes;
        write_mmio(value);
    }
    // The register is mapped (no call through pci_device::write32 to write it).
    bool direct() const noexcept { return mmio_ != nullptr; }
    // write() for a direct() doorbell: the same stores and barriers, and no call (a poll's fast
    // path uses it so that it saves no registers).
    [[gnu::always_inline]] void write_direct(std::uint16_t value, doorbell_counters& c) noexcept {
        if (shadow_ && !publish_shadow(value, c)) return;
        device_store<std::uint32_t>(mmio_, value);
        ++c.mmio_writes;
    }

    // Write the last published value to the register again, shadowed or not. Harmless (the
    // same tail adds no command, the same head frees no entry) and it wakes a controller that
    // lost an update behind its EventIdx, the race a shadow doorbell protocol invites when one
    // side misses a barrier between publishing EventIdx and re-reading the shadow slot.
    // Only shadowed doorbells can lose an update (and only they track the last value).
    void kick(doorbell_counters& c) noexcept {
        if (!shadow_) return;
        write_mmio(last_);
        ++c.mmio_writes;
    }

  private:
    // The shadow slot's update; true if the controller asked for the register write as well.
    [[gnu::always_inline]] bool publish_shadow(std::uint16_t value, doorbell_counters& c) noexcept {
        const std::uint16_t old = last_;
        last_ = value;
        // A release store, then the full barrier that orders it before the EventIdx load: a
        // seq_cst store as well would only add a second full barrier (x86: an xchg, which also
        // needs the value in a scratch register it clobbers).
        device_store<std::uint32_t>(shadow_, value);
        barrier_full();  // shadow store visible before we look at EventIdx
        const auto event = static_cast<std::uint16_t>(device_load_seq<std::uint32_t>(event_idx_));
        if (!always_mmio_ && !doorbell_need_event(event, value, old)) {
            ++c.shadow_skips;
            return false;
        }
        return true;
    }
    void write_mmio(std::uint32_t value) noexcept {
        if (mmio_)
            device_store<std::uint32_t>(mmio_, value);
        else
            dev_->write32(offset_, value);
    }

    volatile std::uint32_t* mmio_ = nullptr;
    pci_device* dev_ = nullptr;
    std::uint32_t offset_ = 0;
    volatile std::uint32_t* shadow_ = nullptr;
    const volatile std::uint32_t* event_idx_ = nullptr;
    std::uint16_t last_ = 0;
    bool always_mmio_ = false;
};

}  // namespace convme::driver

// SPDX-License-Identifier: MIT
// The driver-facing face of a simulated controller: what VFIO would give the driver (BAR0 mapped
// in memory, DMA memory with IOVAs, bus mastering, function reset), backed by the model.
#include <sched.h>

#include <cerrno>
#include <convme/backend.hpp>
#include <memory>
#include <mutex>
#include <vector>

#include "driver/sim/sim_impl.hpp"

namespace convme::sim {
namespace {

class sim_pci_device final : public driver::pci_device {
  public:
    sim_pci_device(std::shared_ptr<simulated_controller> ctrl, simulated_controller::impl* m)
        : ctrl_(std::move(ctrl)), m_(m) {}

    std::string name() const override { return m_->display_name; }
    const char* kind() const noexcept override { return "sim"; }

    // With a device thread the BAR is not handed out: every register write then goes through
    // write32(), which wakes the dozing device thread on doorbell writes (a VMM traps MMIO to an
    // emulated device the same way). Inline mode keeps the direct mapping: step() does the work.
    volatile std::uint32_t* bar0() noexcept override {
        return m_->cfg.inline_mode ? m_->bar : nullptr;
    }
    std::size_t bar0_size() const noexcept override { return m_->bar_bytes; }

    std::uint32_t read32(std::uint32_t offset) noexcept override {
        if (m_->removed.load(std::memory_order_relaxed) || offset % 4 || offset + 4 > m_->bar_bytes)
            return 0xffffffffu;
        // Inline mode: let a driver that waits on a register (CSTS.RDY...) make progress.
        if (m_->cfg.inline_mode) ctrl_->step();
        return m_->reg_load(offset);
    }

    void write32(std::uint32_t offset, std::uint32_t value) noexcept override {
        if (m_->removed.load(std::memory_order_relaxed) || offset % 4 || offset + 4 > m_->bar_bytes)
            return;
        // Read-only registers (CAP, VS, CSTS) ignore writes.
        if (offset == nvme::reg::cap || offset == nvme::reg::cap + 4 || offset == nvme::reg::vs ||
            offset == nvme::reg::csts)
            return;
        if (offset == nvme::reg::cc) {
            // CC is handled at once, so back-to-back writes (disable then enable) are never merged.
            {
                std::lock_guard lock(m_->mu);
                m_->reg_store(offset, value);
                m_->check_cc();
            }
            // A delayed transition (enable, disable, shutdown) is due later: the dozing device
            // thread must learn its new wake-up time.
            m_->doze.wake_if_asleep();
            return;
        }
        m_->reg_store(offset, value);
        if (offset >= nvme::reg::doorbell_base) {
            // A hint only (relaxed): where the host runs, read by the device's idle policy.
            m_->host_cpu.store(::sched_getcpu(), std::memory_order_relaxed);
            m_->doze.wake_if_asleep();
        }
    }

    bool set_completion_notify(std::uint16_t cqid, void (*fn)(void*), void* ctx) noexcept override {
        // Inline mode has no thread to notify from: the host does the device's work when it polls.
        if (m_->cfg.inline_mode || cqid >= m_->notifiers.size()) return false;
        std::lock_guard lock(m_->mu);  // the device thread calls notifiers under mu
        cq_notifier& n = m_->notifiers[cqid];
        n.fn = fn;
        n.ctx = fn ? ctx : nullptr;
        n.seen = m_->cqs[cqid].posted;
        return true;
    }

    // MSI-X model: a vector per queue plus the admin queue's, as QEMU's nvme offers (max_queues+1).
    // Inline mode has no device thread to signal from.
    unsigned irq_vectors() const noexcept override {
        return m_->cfg.inline_mode ? 0 : static_cast<unsigned>(m_->irq_efd.size());
    }
    std::string irq_unavailable() const override {
        return "sim inline mode: no device thread to signal completions from (drop inline=1)";
    }
    int bind_irq_eventfd(std::uint16_t vector, int efd) noexcept override {
        if (m_->cfg.inline_mode) return -EOPNOTSUPP;
        if (vector >= m_->irq_efd.size()) {
            last_error_ = "sim: interrupt vector " + std::to_string(vector) + " out of range";
            return -EINVAL;
        }
        std::lock_guard lock(m_->mu);  // the device thread signals under mu
        m_->irq_efd[vector] = efd;
        m_->irq_masked[vector] = 0;  // as vfio-pci's request_irq leaves a bound vector
        m_->irq_pending[vector] = 0;
        return 0;
    }
    std::string irq_mask_unavailable() const override {
        return m_->cfg.inline_mode ? irq_unavailable() : std::string();
    }
    void mask_irq(std::uint16_t vector, bool masked) noexcept override {
        if (m_->cfg.inline_mode || vector >= m_->irq_efd.size()) return;
        std::lock_guard lock(m_->mu);
        if (masked)
            m_->irq_masked[vector] = 1;
        else
            m_->unmask_vector(vector);
    }

    int alloc_dma(std::size_t size, std::size_t align, driver::dma_region& out) noexcept override {
        int rc = m_->iova.alloc(size, align, out);
        if (rc != 0)
            last_error_ = "sim: alloc_dma of " + std::to_string(size) + " bytes failed (errno " +
                          std::to_string(-rc) + ")";
        return rc;
    }
    void free_dma(driver::dma_region& region) noexcept override {
        if (region.vaddr) {
            std::lock_guard lock(m_->mu);
            m_->check_free(region.iova, region.size, "DMA memory freed");
        }
        m_->iova.free(region);
    }

    int map_dma(void* vaddr, std::size_t size) noexcept override {
        int rc = m_->iova.map(vaddr, size);
        if (rc == -EEXIST)
            last_error_ = "sim: map_dma: range overlaps an existing mapping (unmap it first)";
        else if (rc != 0)
            last_error_ = "sim: map_dma: invalid range (null address or zero size)";
        return rc;
    }
    int unmap_dma(void* vaddr, std::size_t size) noexcept override {
        {
            std::lock_guard lock(m_->mu);
            const std::size_t page = m_->cfg.host_page_size;
            const auto start = reinterpret_cast<std::uintptr_t>(vaddr);
            for (std::uintptr_t pg = start / page * page; pg < start + size; pg += page) {
                std::uint64_t iova = 0;
                if (m_->iova.translate(reinterpret_cast<const void*>(pg), iova) == 0)
                    m_->check_free(iova, page, "I/O buffer unmapped");
            }
        }
        int rc = m_->iova.unmap(vaddr, size);
        if (rc != 0)
            last_error_ = "sim: unmap_dma: no mapping starts at this address with this size";
        return rc;
    }
    int translate(const void* vaddr, std::uint64_t& iova) const noexcept override {
        return m_->iova.translate(vaddr, iova);
    }

    std::size_t host_page_size() const noexcept override { return m_->cfg.host_page_size; }

    int enable_bus_master() noexcept override {
        m_->iova.set_bus_master(true);
        return 0;
    }

    int function_reset() noexcept override {
        std::lock_guard lock(m_->mu);
        if (m_->removed.load()) return -ENODEV;
        // Registers back to their power-on values; queues and state dropped.
        m_->reg_store(nvme::reg::cc, 0);
        m_->reg_store(nvme::reg::aqa, 0);
        for (std::uint32_t r :
             {nvme::reg::asq, nvme::reg::asq + 4, nvme::reg::acq, nvme::reg::acq + 4})
            m_->reg_store(r, 0);
        m_->cc_seen = 0;
        m_->reset_controller();
        return 0;
    }

    void step() noexcept override {
        if (m_->cfg.inline_mode) ctrl_->step();
    }

    // Inline mode: each loop polling one of our queues also runs the model, through a poller
    // registered before the queue's own, so a doorbell rung in one iteration is served before the
    // queue reaps in the next.
    void loop_attached(loop& l) override {
        if (!m_->cfg.inline_mode) return;
        std::lock_guard lock(steppers_mu_);
        for (auto& s : steppers_)
            if (s->home == &l) {
                ++s->users;
                return;
            }
        auto s = std::make_unique<stepper>(*ctrl_, l);
        l.add_poller(s.get());
        steppers_.push_back(std::move(s));
    }
    void loop_detached(loop& l) noexcept override {
        std::lock_guard lock(steppers_mu_);
        for (auto it = steppers_.begin(); it != steppers_.end(); ++it) {
            if ((*it)->home != &l || --(*it)->users != 0) continue;
            l.remove_poller(it->get());
            steppers_.erase(it);
            return;
        }
    }

  private:
    struct stepper final : poller {
        stepper(simulated_controller& c, loop& l)
            : poller(/*batches_submissions=*/false), ctrl(c), home(&l) {}
        bool poll() override {
            ctrl.step();
            return false;  // the queue's own poller reports the progress it reaps
        }
        simulated_controller& ctrl;
        loop* home;
        unsigned users = 1;
    };
    std::mutex steppers_mu_;                          // loops on several threads attach and detach
    std::vector<std::unique_ptr<stepper>> steppers_;  // one per loop polling us

    std::shared_ptr<simulated_controller> ctrl_;
    simulated_controller::impl* m_;
};

}  // namespace

std::unique_ptr<driver::pci_device> make_pci_device(std::shared_ptr<simulated_controller> ctrl) {
    simulated_controller::impl* m = ctrl->impl_.get();
    return std::make_unique<sim_pci_device>(std::move(ctrl), m);
}

}  // namespace convme::sim

// SPDX-License-Identifier: MIT
#include "driver/nvme/controller.hpp"

#include <algorithm>
#include <cerrno>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <cstdio>
#include <cstring>
#include <thread>

#include "driver/nvme/admin_commands.hpp"
#include "driver/nvme/hex_string.hpp"

namespace convme::driver {

namespace {

using clock = std::chrono::steady_clock;
constexpr std::uint32_t all_ones = 0xffffffffu;

// Spin politely while waiting for the controller: the simulated one may need our CPU.
void backoff(unsigned iteration) noexcept {
    if (iteration > 256) std::this_thread::yield();
}

}  // namespace

std::string describe_nvme_status(std::uint16_t status) {
    const auto sct = nvme::status_type(status);
    const auto sc = nvme::status_code(status);
    char buf[48];
    std::snprintf(buf, sizeof buf, "sct=0x%x sc=0x%02x", static_cast<unsigned>(sct),
                  static_cast<unsigned>(sc));
    return std::string(buf) + " (" + make_nvme_error(nvme::status_sct_sc(status)).message() + ")";
}

std::string describe_admin_failure(int rc, const nvme::cqe& c) {
    if (rc != -EIO) return std::strerror(-rc);
    // -EIO without an error status: given up because CSTS.CFS went up before the completion.
    if ((c.status >> 1) == 0)
        return "no completion: the controller reported fatal status (CSTS.CFS=1)";
    return describe_nvme_status(c.status);
}

controller::controller(std::unique_ptr<pci_device> dev, const nvme_options& options)
    : dev_(std::move(dev)),
      opts_(options),
      id_ctrl_(std::make_unique<nvme::identify_controller>()),
      id_ctrl_nvm_(std::make_unique<nvme::identify_controller_nvm>()) {
    std::memset(static_cast<void*>(id_ctrl_.get()), 0, sizeof *id_ctrl_);
    std::memset(static_cast<void*>(id_ctrl_nvm_.get()), 0, sizeof *id_ctrl_nvm_);
}

controller::~controller() {
    std::string why;
    if (enabled_ && !gone()) {
        (void)shutdown(why);
        // Quiesce DMA completely before the queue memory below (admin rings, orphaned and
        // retired buffers) is freed.
        (void)disable(why);
    }
}

std::uint32_t controller::read_reg(std::uint32_t off) noexcept {
    const std::uint32_t v = dev_->read32(off);
    if (v == all_ones) mark_gone();
    return v;
}

void controller::mark_gone() noexcept {
    gone_.store(true, std::memory_order_relaxed);
}

std::uint64_t controller::mdts_bytes() const noexcept {
    const unsigned mdts = id_ctrl_->mdts;
    if (mdts == 0) return 0;
    if (mdts > 20) return 0;  // beyond anything we would ever send in one command
    return (std::uint64_t(1) << mdts) * (std::uint64_t(4096) << cap_.mpsmin());
}

int controller::wait_ready(bool ready, std::string& why) {
    const auto deadline = clock::now() + ready_timeout_;
    for (unsigned i = 0;; ++i) {
        dev_->step();
        const std::uint32_t csts = dev_->read32(nvme::reg::csts);
        if (csts == all_ones) {
            mark_gone();
            why =
                "waiting for CSTS.RDY: registers read all-ones (device removed or unbound); check "
                "`lspci` "
                "and the vfio-pci binding";
            return -ENODEV;
        }
        if (ready && (csts & nvme::csts::cfs)) {
            why =
                "enabling the controller: CSTS.CFS (controller fatal status) is set; try a "
                "function "
                "reset or power cycle the device";
            return -EIO;
        }
        if (((csts & nvme::csts::rdy) != 0) == ready) return 0;
        if ((i & 15) == 15 && clock::now() > deadline) {
            why = std::string("timed out after ") + std::to_string(ready_timeout_.count()) +
                  " ms (CAP.TO) waiting for CSTS.RDY=" + (ready ? "1" : "0") +
                  " (CSTS=" + hex(csts) +
                  "); the controller is not responding: try a function reset or check the device";
            return -ETIMEDOUT;
        }
        backoff(i);
    }
}

// Bring-up, in the spec's order (NVMe base 3.5.1): registers, admin queue memory, disable,
// enable, identify, doorbell buffer and queue count. Each step says what failed.
int controller::bring_up(std::string& why) {
    if (int rc = read_capabilities(why); rc != 0) return rc;
    if (int rc = choose_page_size(why); rc != 0) return rc;
    if (int rc = dev_->enable_bus_master(); rc != 0 && rc != -ENOTSUP) {
        why = "enabling PCI bus mastering: " + std::string(std::strerror(-rc)) + ": " +
              dev_->last_error();
        return rc;
    }
    if (int rc = allocate_admin_queue(why); rc != 0) return rc;

    std::lock_guard lk(admin_mu_);
    if (read_reg(nvme::reg::csts) == all_ones) {
        why = "controller registers read all-ones: device gone";
        return -ENODEV;
    }
    if (int rc = disable_locked(why); rc != 0) return rc;
    if (int rc = enable_locked(why); rc != 0) return rc;
    if (int rc = identify_locked(why); rc != 0) return rc;
    plan_doorbell_buffer_locked();
    if (int rc = configure_locked(why); rc != 0) return rc;
    qid_used_.assign(io_queues_ + 1, false);
    qid_live_.assign(io_queues_ + 1, false);
    qid_used_[0] = true;
    return 0;
}

int controller::read_capabilities(std::string& why) {
    const std::uint32_t csts = dev_->read32(nvme::reg::csts);
    cap_.raw = dev_->read64(nvme::reg::cap);
    if (csts == all_ones || cap_.raw == ~std::uint64_t(0)) {
        mark_gone();
        why =
            "reading controller registers: all-ones (device gone or BAR not accessible); check "
            "that the device is present and bound to vfio-pci";
        return -ENODEV;
    }
    vs_ = dev_->read32(nvme::reg::vs);
    dstrd_ = cap_.dstrd();
    ready_timeout_ = std::chrono::milliseconds(500) * std::max<std::uint32_t>(1, cap_.to_500ms());
    if (!(cap_.css() & 1u)) {
        why = "CAP.CSS: controller does not support the NVM command set";
        return -ENOTSUP;
    }
    return 0;
}

// Memory page size: the host page size when the controller supports it, else the largest
// supported size below it (PRP entries are then finer than host pages, which is fine).
int controller::choose_page_size(std::string& why) {
    const std::size_t host = dev_->host_page_size();
    unsigned host_shift = 0;
    while ((std::size_t(1) << host_shift) < host) ++host_shift;
    if (host_shift < 12 || (std::size_t(1) << host_shift) != host) {
        why = "host page size " + std::to_string(host) + " is not a power of two >= 4096";
        return -EINVAL;
    }
    const unsigned h = host_shift - 12;
    if (h < cap_.mpsmin()) {
        why = "controller minimum memory page size " + std::to_string(4096u << cap_.mpsmin()) +
              " exceeds the host page size " + std::to_string(host) + "; not supported";
        return -ENOTSUP;
    }
    mps_ = std::min<unsigned>(h, cap_.mpsmax());
    page_size_ = std::size_t(4096) << mps_;
    return 0;
}

int controller::allocate_admin_queue(std::string& why) {
    admin_depth_ = std::min<std::uint32_t>(32, cap_.mqes() + 1);
    const std::size_t contig = dev_->max_contiguous_dma();
    admin_depth_ =
        static_cast<std::uint32_t>(std::min<std::size_t>(admin_depth_, contig / sizeof(nvme::sqe)));
    if (admin_depth_ < 2) {
        why = "admin queue: not enough contiguous DMA memory for 2 entries";
        return -ENOMEM;
    }
    const std::size_t align = std::max<std::size_t>(page_size_, 4096);
    if (int rc = admin_sq_mem_.allocate(*dev_, admin_depth_ * sizeof(nvme::sqe), align); rc != 0) {
        why = "allocating the admin submission queue: " + dev_->last_error();
        return rc;
    }
    if (int rc = admin_cq_mem_.allocate(*dev_, admin_depth_ * sizeof(nvme::cqe), align); rc != 0) {
        why = "allocating the admin completion queue: " + dev_->last_error();
        return rc;
    }
    admin_waiters_.assign(admin_depth_, nullptr);
    admin_busy_.assign(admin_depth_, false);
    admin_orphans_.clear();
    admin_orphans_.resize(admin_depth_);
    return 0;
}

// Identify Controller, the NVM command set's controller limits and the active namespaces.
int controller::identify_locked(std::string& why) {
    dma_block buf;
    if (int rc = buf.allocate(*dev_, 4096, std::max<std::size_t>(page_size_, 4096)); rc != 0) {
        why = "allocating the identify buffer: " + dev_->last_error();
        return rc;
    }
    nvme::cqe c{};
    if (int rc = admin_sync_locked(admin::identify(nvme::cns::controller, 0, buf.iova()), c,
                                   opts_.admin_timeout, {&buf, 1});
        rc != 0) {
        why = "Identify Controller failed: " + describe_admin_failure(rc, c);
        return rc;
    }
    std::memcpy(static_cast<void*>(id_ctrl_.get()), buf.data(), sizeof *id_ctrl_);

    // NVM Command Set specific limits (Write Zeroes / Dataset Management sizes). Optional: an
    // error status means the controller predates CNS 06h and states no limits.
    if (vs_ >= 0x00010300) {
        std::memset(buf.data(), 0, 4096);
        nvme::sqe idc = admin::identify(nvme::cns::csi_controller, 0, buf.iova());
        idc.cdw11 = std::uint32_t{nvme::csi::nvm} << 24;
        const int rc = admin_sync_locked(idc, c, opts_.admin_timeout, {&buf, 1});
        if (rc == 0)
            std::memcpy(static_cast<void*>(id_ctrl_nvm_.get()), buf.data(), sizeof *id_ctrl_nvm_);
        else if (rc != -EIO) {
            why = std::string("Identify (I/O Command Set specific controller, NVM) failed: ") +
                  std::strerror(-rc);
            return rc;
        }
    }

    // Active namespace list (nsids > 0 ascending, zero-terminated).
    std::memset(buf.data(), 0, 4096);
    if (int rc = admin_sync_locked(admin::identify(nvme::cns::active_ns_list, 0, buf.iova()), c,
                                   opts_.admin_timeout, {&buf, 1});
        rc == 0) {
        const auto* ids = buf.as<const std::uint32_t>();
        for (std::size_t i = 0; i < 1024 && ids[i] != 0; ++i) namespaces_.push_back(ids[i]);
    } else {
        // NVMe 1.0 controllers lack CNS 2: assume namespaces 1..NN are active.
        for (std::uint32_t n = 1; n <= std::min<std::uint32_t>(id_ctrl_->nn, 1024); ++n)
            namespaces_.push_back(n);
    }
    return 0;
}

// Shadow doorbells: requested, advertised, and the buffer holds every queue's pair. Bounds the
// number of I/O queues to ask for.
void controller::plan_doorbell_buffer_locked() {
    dbbc_wanted_ = opts_.shadow_doorbells && (id_ctrl_->oacs & nvme::oacs_doorbell_buffer_config);
    io_queues_ = std::clamp<std::uint32_t>(opts_.max_io_queues, 1, 65535);
    if (!dbbc_wanted_) return;
    const std::size_t align = std::max<std::size_t>(page_size_, 4096);
    const std::size_t per_queue = 2u * (4u << dstrd_);
    io_queues_ =
        std::min<std::uint32_t>(io_queues_, static_cast<std::uint32_t>(page_size_ / per_queue - 1));
    if (shadow_mem_.allocate(*dev_, page_size_, align) != 0) dbbc_wanted_ = false;
    if (dbbc_wanted_ && eventidx_mem_.allocate(*dev_, page_size_, align) != 0) dbbc_wanted_ = false;
}

// Disable (also clears a fatal status) and wait until the controller reports not ready: from
// then on it neither fetches commands nor posts completions nor moves data.
int controller::disable_locked(std::string& why) {
    const std::uint32_t cc = read_reg(nvme::reg::cc);
    const std::uint32_t csts = read_reg(nvme::reg::csts);
    if (cc == all_ones || csts == all_ones) {
        why = "controller registers read all-ones: device gone";
        return -ENODEV;
    }
    // Clearing CC.EN while the controller is still enabling (CC.EN=1, CSTS.RDY=0) is undefined
    // (NVMe 3.5.1; Linux waits too): let the enable finish, or fail (CFS, CAP.TO), first.
    if ((cc & nvme::cc::en) && !(csts & nvme::csts::rdy) && !(csts & nvme::csts::cfs)) {
        std::string ignored;
        if (wait_ready(true, ignored) == -ENODEV) {
            why = "waiting for a pending enable to finish before disabling: device gone";
            return -ENODEV;
        }
    }
    dev_->write32(nvme::reg::cc, 0);
    enabled_ = false;
    if (int rc = wait_ready(false, why); rc != 0) {
        why = "disabling the controller (CC.EN=0): " + why;
        return rc;
    }
    return 0;
}

int controller::disable(std::string& why) {
    std::lock_guard lk(admin_mu_);
    if (gone()) return -ENODEV;
    const int rc = disable_locked(why);
    if (rc == 0) {
        cancel_admin_waiters_locked(-ECANCELED);
        release_orphans_locked();
    }
    return rc;
}

int controller::enable_locked(std::string& why) {
    if (read_reg(nvme::reg::csts) == all_ones) {
        why = "controller registers read all-ones: device gone";
        return -ENODEV;
    }
    doorbell sq_db = sq_doorbell(0), cq_db = cq_doorbell(0);
    sq_db.clear_shadow();
    cq_db.clear_shadow();
    admin_qp_.init(0, admin_depth_, admin_sq_mem_.as<nvme::sqe>(), admin_cq_mem_.as<nvme::cqe>(),
                   sq_db, cq_db);
    admin_cids_.reset(admin_depth_ - 1);
    std::fill(admin_waiters_.begin(), admin_waiters_.end(), nullptr);
    std::fill(admin_busy_.begin(), admin_busy_.end(), false);
    dbbc_active_.store(false, std::memory_order_release);

    dev_->write32(nvme::reg::aqa, ((admin_depth_ - 1) << 16) | (admin_depth_ - 1));
    dev_->write64(nvme::reg::asq, admin_sq_mem_.iova());
    dev_->write64(nvme::reg::acq, admin_cq_mem_.iova());
    const std::uint32_t cc = nvme::cc::en | nvme::cc::css_nvm | (mps_ << nvme::cc::mps_shift) |
                             nvme::cc::ams_rr | (6u << nvme::cc::iosqes_shift) |
                             (4u << nvme::cc::iocqes_shift);
    dev_->write32(nvme::reg::cc, cc);
    if (int rc = wait_ready(true, why); rc != 0) {
        why = "enabling the controller (CC.EN=1): " + why;
        return rc;
    }
    enabled_ = true;
    shut_down_ = false;
    return 0;
}

int controller::configure_locked(std::string& why) {
    nvme::cqe c{};
    const std::uint32_t want = io_queues_;
    if (int rc = admin_sync_locked(admin::set_number_of_queues(want, want), c, opts_.admin_timeout);
        rc != 0) {
        why = "Set Features (Number of Queues) failed: " + describe_admin_failure(rc, c);
        return rc;
    }
    const std::uint32_t nsqa = (c.dw0 & 0xffff) + 1, ncqa = (c.dw0 >> 16) + 1;
    io_queues_ = std::min({want, nsqa, ncqa});

    if (dbbc_wanted_) {
        std::memset(shadow_mem_.data(), 0, shadow_mem_.size());
        std::memset(eventidx_mem_.data(), 0, eventidx_mem_.size());
        const int rc = admin_sync_locked(
            admin::doorbell_buffer_config(shadow_mem_.iova(), eventidx_mem_.iova()), c,
            opts_.admin_timeout);
        if (rc == 0) {
            dbbc_active_.store(true, std::memory_order_release);
            setup_shadow_admin_locked();
        } else if (rc != -EIO) {
            why = std::string("Doorbell Buffer Config failed: ") + std::strerror(-rc);
            return rc;
        }
        // An error status just means no shadow doorbells: plain MMIO doorbells keep working.
    }
    if (opts_.coalesce_threshold != 0) {
        // Features do not survive a reset: this runs at bring-up and after every reset. A refusal
        // only costs the aggregation, so it is reported (device_info), not fatal.
        const std::uint32_t t100 = (opts_.coalesce_time_us + 99) / 100;
        const int rc =
            admin_sync_locked(admin::set_interrupt_coalescing(opts_.coalesce_threshold, t100), c,
                              opts_.admin_timeout);
        coalescing_ = rc == 0 ? "coalescing thr=" + std::to_string(opts_.coalesce_threshold) +
                                    " time=" + std::to_string(t100 * 100) + "us"
                              : "coalescing refused: " + describe_admin_failure(rc, c);
    }
    return 0;
}

void controller::setup_shadow_admin_locked() noexcept {
    admin_qp_.sq_doorbell() = sq_doorbell(0);
    admin_qp_.cq_doorbell() = cq_doorbell(0);
    // The shadow slots start from the admin queue's current positions.
    auto* shadow = shadow_mem_.as<std::uint32_t>();
    const std::uint32_t stride = 1u << dstrd_;
    device_store<std::uint32_t>(shadow, admin_qp_.sq_tail());
    device_store<std::uint32_t>(shadow + stride, admin_qp_.cq_head());
}

doorbell controller::sq_doorbell(std::uint16_t qid) noexcept {
    return doorbell_at(nvme::reg::sq_tail_doorbell(qid, dstrd_), qid);
}

doorbell controller::cq_doorbell(std::uint16_t qid) noexcept {
    return doorbell_at(nvme::reg::cq_head_doorbell(qid, dstrd_), qid);
}

// The doorbell register at `off`, routed through its shadow slot when Doorbell Buffer Config is
// active (the admin queue, qid 0, also always rings the register).
doorbell controller::doorbell_at(std::uint32_t off, std::uint16_t qid) noexcept {
    volatile std::uint32_t* bar = dev_->bar0();
    doorbell d(bar && off + 4 <= dev_->bar0_size() ? bar + off / 4 : nullptr, dev_.get(), off);
    if (dbbc_active_.load(std::memory_order_relaxed)) {
        const std::uint32_t index = (off - nvme::reg::doorbell_base) / 4;
        d.set_shadow(shadow_mem_.as<std::uint32_t>() + index,
                     eventidx_mem_.as<std::uint32_t>() + index, qid == 0);
    }
    return d;
}

// ------------------------------------------------------------------------------- admin queue

int controller::admin_submit_locked(const nvme::sqe& cmd, admin_waiter* w) noexcept {
    std::uint16_t cid = 0;
    return admin_submit_locked(cmd, w, cid);
}

int controller::admin_submit_locked(const nvme::sqe& cmd, admin_waiter* w,
                                    std::uint16_t& out_cid) noexcept {
    if (gone()) return -ENODEV;
    if (!enabled_) return -EIO;
    if (admin_cids_.empty()) return -EAGAIN;  // ids (depth - 1) bound the SQ: SQHD is not needed
    const std::uint16_t cid = admin_cids_.pop();
    admin_waiters_[cid] = w;
    admin_busy_[cid] = true;
    nvme::sqe* e = admin_qp_.next_sqe();
    *e = cmd;
    e->cid = cid;
    admin_qp_.commit();
    admin_qp_.ring_sq();
    counters_.admin_commands.fetch_add(1, std::memory_order_relaxed);
    out_cid = cid;
    return 0;
}

void controller::admin_reap_locked() noexcept {
    admin_qp_.reap([&](const nvme::cqe& c) {
        if (c.cid >= admin_busy_.size() || !admin_busy_[c.cid]) return;  // stale / bogus id
        admin_waiter* w = admin_waiters_[c.cid];
        admin_busy_[c.cid] = false;
        admin_waiters_[c.cid] = nullptr;
        admin_orphans_[c.cid].clear();  // a late completion: its memory may be reused now
        admin_cids_.push(c.cid);
        if (w) {
            w->cqe = c;
            w->result = 0;
            w->done.store(true, std::memory_order_release);
        }
    });
}

void controller::cancel_admin_waiters_locked(int result) noexcept {
    for (std::size_t cid = 0; cid < admin_busy_.size(); ++cid) {
        if (!admin_busy_[cid]) continue;
        if (admin_waiter* w = admin_waiters_[cid]) {
            w->result = result;
            w->done.store(true, std::memory_order_release);
        }
        admin_waiters_[cid] = nullptr;
        admin_busy_[cid] = false;
    }
    admin_cids_.reset(admin_depth_ - 1);
}

int controller::admin_submit(const nvme::sqe& cmd, admin_waiter& w) noexcept {
    std::lock_guard lk(admin_mu_);
    return admin_submit_locked(cmd, &w);
}

bool controller::admin_poll() noexcept {
    std::unique_lock lk(admin_mu_, std::try_to_lock);
    if (!lk.owns_lock()) return false;
    if (gone()) {
        cancel_admin_waiters_locked(-ENODEV);
        return false;
    }
    const auto before = admin_qp_.counters().completed;
    admin_reap_locked();
    return admin_qp_.counters().completed != before;
}

void controller::admin_forget(admin_waiter& w) noexcept {
    admin_forget(w, {});
}

void controller::admin_forget(admin_waiter& w, std::span<dma_block> dma) noexcept {
    std::lock_guard lk(admin_mu_);
    for (std::size_t cid = 0; cid < admin_waiters_.size(); ++cid) {
        if (admin_waiters_[cid] != &w) continue;
        admin_waiters_[cid] = nullptr;
        for (dma_block& b : dma)
            if (b.valid()) admin_orphans_[cid].push_back(std::move(b));
    }
}

void controller::release_orphans_locked() noexcept {
    for (auto& v : admin_orphans_) v.clear();
    retired_.clear();
}

void controller::retire(std::vector<dma_block> blocks) noexcept {
    std::lock_guard lk(admin_mu_);
    retired_.push_back(std::move(blocks));
}

int controller::admin_sync_locked(const nvme::sqe& cmd, nvme::cqe& out,
                                  std::chrono::milliseconds timeout, std::span<dma_block> dma) {
    admin_waiter w;
    std::uint16_t cid = 0;
    if (int rc = admin_submit_locked(cmd, &w, cid); rc != 0) return rc;
    const auto deadline = clock::now() + timeout;
    for (unsigned i = 0; !w.done.load(std::memory_order_acquire); ++i) {
        dev_->step();
        admin_reap_locked();
        if (w.done.load(std::memory_order_acquire)) break;
        if ((i & 63) == 63) {
            const std::uint32_t csts = dev_->read32(nvme::reg::csts);
            const bool dead = csts == all_ones;
            if (dead) mark_gone();
            if (dead || (csts & nvme::csts::cfs) || clock::now() > deadline) {
                // Given up, but the controller may still execute it: the id stays busy and the
                // memory it points at stays allocated until its completion or a reset.
                admin_waiters_[cid] = nullptr;
                out = nvme::cqe{};
                for (dma_block& b : dma)
                    if (b.valid()) admin_orphans_[cid].push_back(std::move(b));
                if (!dead && !(csts & nvme::csts::cfs))
                    counters_.admin_timeouts.fetch_add(1, std::memory_order_relaxed);
                return dead ? -ENODEV : (csts & nvme::csts::cfs) ? -EIO : -ETIMEDOUT;
            }
        }
        backoff(i);
    }
    out = w.cqe;
    last_status_ = out.status;
    if (w.result != 0) return w.result;
    return (out.status >> 1) != 0 ? -EIO : 0;
}

int controller::admin_sync(const nvme::sqe& cmd, nvme::cqe& out, std::chrono::milliseconds timeout,
                           std::span<dma_block> dma) {
    std::lock_guard lk(admin_mu_);
    return admin_sync_locked(cmd, out, timeout, dma);
}

task<int> controller::admin_async(nvme::sqe cmd, nvme::cqe& out, std::span<dma_block> dma) {
    admin_waiter w;
    int rc = admin_submit(cmd, w);
    for (unsigned spins = 0; rc == -EAGAIN; ++spins) {  // admin queue full: wait for a slot
        dev_->step();
        admin_poll();
        if (spins > 100000) co_return -EAGAIN;
        co_await yield();
        rc = admin_submit(cmd, w);
    }
    if (rc != 0) co_return rc;
    const auto deadline = clock::now() + opts_.admin_timeout;
    for (unsigned i = 0; !w.done.load(std::memory_order_acquire); ++i) {
        dev_->step();
        admin_poll();
        if (w.done.load(std::memory_order_acquire)) break;
        if ((i & 63) == 63) {
            if (gone() || clock::now() > deadline) {
                admin_forget(w, dma);
                if (w.done.load(std::memory_order_acquire)) break;  // answered just in time
                counters_.admin_timeouts.fetch_add(1, std::memory_order_relaxed);
                co_return gone() ? -ENODEV : -ETIMEDOUT;
            }
        }
        co_await yield();
    }
    out = w.cqe;
    if (w.result != 0) co_return w.result;
    co_return (out.status >> 1) != 0 ? -EIO : 0;
}

// ------------------------------------------------------------------------------- namespaces, logs

int controller::identify_namespace(std::uint32_t nsid, nvme::identify_namespace& out,
                                   std::string& why) {
    dma_block buf;
    if (int rc = buf.allocate(*dev_, 4096, std::max<std::size_t>(page_size_, 4096)); rc != 0) {
        why = "allocating the identify buffer: " + dev_->last_error();
        return rc;
    }
    nvme::cqe c{};
    if (int rc = admin_sync(admin::identify(nvme::cns::ns, nsid, buf.iova()), c,
                            opts_.admin_timeout, {&buf, 1});
        rc != 0) {
        why = "Identify Namespace " + std::to_string(nsid) +
              " failed: " + describe_admin_failure(rc, c);
        return rc;
    }
    std::memcpy(static_cast<void*>(&out), buf.data(), sizeof out);
    return 0;
}

int controller::get_log_page(std::uint32_t lid, void* out, std::uint32_t bytes) {
    if (bytes == 0 || bytes % 4 != 0 || bytes > page_size_) return -EINVAL;
    dma_block buf;
    if (int rc = buf.allocate(*dev_, std::max<std::size_t>(bytes, 4096),
                              std::max<std::size_t>(page_size_, 4096));
        rc != 0)
        return rc;
    nvme::cqe c{};
    if (int rc = admin_sync(admin::get_log_page(lid, bytes, buf.iova()), c, opts_.admin_timeout,
                            {&buf, 1});
        rc != 0)
        return rc;
    std::memcpy(out, buf.data(), bytes);
    return 0;
}

int controller::get_smart_log(nvme::smart_log& out) {
    return get_log_page(nvme::log_page::smart_health, &out, sizeof out);
}

// ------------------------------------------------------------------------------- I/O queues

int controller::acquire_qid(std::uint16_t& qid) noexcept {
    std::lock_guard lk(qid_mu_);
    for (std::size_t i = 1; i < qid_used_.size(); ++i) {
        if (!qid_used_[i]) {
            qid_used_[i] = true;
            qid = static_cast<std::uint16_t>(i);
            return 0;
        }
    }
    return -EBUSY;
}

void controller::release_qid(std::uint16_t qid) noexcept {
    std::lock_guard lk(qid_mu_);
    if (qid < qid_used_.size() && qid != 0) qid_used_[qid] = false;
}

int controller::create_io_queue_pair(std::uint16_t qid, std::uint32_t depth, std::uint64_t sq_iova,
                                     std::uint64_t cq_iova, queue_link& link, created_queue& out,
                                     std::string& why, int irq_vector) {
    // One hold of the admin lock for both commands, the generation and the doorbells: a reset
    // cannot slip in between (it would leave a queue created in the new generation labelled with
    // the old one, or doorbells routed for the wrong Doorbell Buffer Config state).
    std::lock_guard lk(admin_mu_);
    if (!enabled_ || broken()) {
        why = "creating I/O queue " + std::to_string(qid) +
              ": the controller is not enabled (a reset failed: " + "reopen the device)";
        return -EIO;
    }
    if (dbbc_active_.load(std::memory_order_relaxed)) {
        // A queue id can be reused (drain, then another loop): its shadow slots and EventIdx must
        // start from 0 again like the new queue's tail/head, or updates would look already seen.
        const std::uint32_t sq_index =
            (nvme::reg::sq_tail_doorbell(qid, dstrd_) - nvme::reg::doorbell_base) / 4;
        const std::uint32_t cq_index =
            (nvme::reg::cq_head_doorbell(qid, dstrd_) - nvme::reg::doorbell_base) / 4;
        for (std::uint32_t i : {sq_index, cq_index}) {
            device_store<std::uint32_t>(shadow_mem_.as<std::uint32_t>() + i, 0);
            device_store<std::uint32_t>(eventidx_mem_.as<std::uint32_t>() + i, 0);
        }
    }
    nvme::cqe c{};
    if (int rc = admin_sync_locked(admin::create_io_cq(qid, depth, cq_iova, irq_vector), c,
                                   opts_.admin_timeout);
        rc != 0) {
        why =
            "Create I/O Completion Queue " + std::to_string(qid) + " (depth " +
            std::to_string(depth) +
            (irq_vector >= 0 ? ", interrupt vector " + std::to_string(irq_vector) : std::string()) +
            ") failed: " + describe_admin_failure(rc, c);
        return rc;
    }
    if (int rc = admin_sync_locked(admin::create_io_sq(qid, depth, sq_iova, qid), c,
                                   opts_.admin_timeout);
        rc != 0) {
        why = "Create I/O Submission Queue " + std::to_string(qid) + " (depth " +
              std::to_string(depth) + ") failed: " + describe_admin_failure(rc, c);
        nvme::cqe ignored{};
        (void)admin_sync_locked(admin::delete_io_cq(qid), ignored, opts_.admin_timeout);
        return rc;
    }
    set_queue_live(qid, true);
    out.generation = generation_.load(std::memory_order_relaxed);
    out.sq_db = sq_doorbell(qid);
    out.cq_db = cq_doorbell(qid);
    link.acked.store(out.generation, std::memory_order_release);
    std::lock_guard ll(links_mu_);
    if (std::find(links_.begin(), links_.end(), &link) == links_.end()) links_.push_back(&link);
    return 0;
}

void controller::detach(queue_link& link) noexcept {
    std::lock_guard ll(links_mu_);
    std::erase(links_, &link);
}

// After CSTS.RDY=0 and the generation bump: wake every attached queue's loop and wait until each
// one has absorbed the reset (wiped its rings, rings no doorbell) or is parked. Bounded: a loop
// that stopped running without draining must not hold resets up for ever.
bool controller::quiesce_queues_locked(std::uint32_t gen) noexcept {
    // The generation was moved before this: pairs with io_queue::unpark_unless_reset(), so that a
    // queue read here as parked sees the new generation when it unparks.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::lock_guard ll(links_mu_);
    for (queue_link* l : links_)
        if (l->owner && !l->parked.load(std::memory_order_acquire)) l->owner->wake();
    const auto deadline = clock::now() + std::chrono::seconds(2);
    for (unsigned i = 0;; ++i) {
        bool all = true;
        for (queue_link* l : links_) {
            if (l->parked.load(std::memory_order_acquire)) continue;
            if (static_cast<std::int32_t>(l->acked.load(std::memory_order_acquire) - gen) < 0) {
                all = false;
                break;
            }
        }
        if (all) return true;
        if (clock::now() > deadline) {
            counters_.quiesce_timeouts.fetch_add(1, std::memory_order_relaxed);
            std::fprintf(
                stderr,
                "convme: nvme %s: reset: an I/O queue's loop did not acknowledge within 2 s (is it "
                "still running? drain() every loop before it stops); re-enabling anyway\n",
                dev_->name().c_str());
            return false;
        }
        dev_->step();
        if (i > 64)
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        else
            std::this_thread::yield();
    }
}

void controller::set_queue_live(std::uint16_t qid, bool live) noexcept {
    std::lock_guard lk(qid_mu_);
    if (qid < qid_live_.size() && qid != 0) qid_live_[qid] = live;
}

int controller::delete_io_queue_pair(std::uint16_t qid) {
    nvme::cqe c{};
    const int rc_sq = admin_sync(admin::delete_io_sq(qid), c);
    const int rc_cq = admin_sync(admin::delete_io_cq(qid), c);
    if (rc_sq == 0 && rc_cq == 0) set_queue_live(qid, false);
    return rc_sq != 0 ? rc_sq : rc_cq;
}

task<int> controller::delete_io_queue_pair_async(std::uint16_t qid) {
    nvme::cqe c{};
    const int rc_sq = co_await admin_async(admin::delete_io_sq(qid), c);
    const int rc_cq = co_await admin_async(admin::delete_io_cq(qid), c);
    if (rc_sq == 0 && rc_cq == 0) set_queue_live(qid, false);
    co_return rc_sq != 0 ? rc_sq : rc_cq;
}

bool controller::live_locked() noexcept {
    if (!enabled_ || gone()) return false;
    const std::uint32_t csts = read_reg(nvme::reg::csts);
    return csts != all_ones && (csts & nvme::csts::rdy) && !(csts & nvme::csts::cfs);
}

// The queues' loops have acknowledged the new generation: none rings a doorbell now. All SQs
// first (a CQ with an SQ on it cannot be deleted). The controller completes or aborts what it
// still held of each SQ, into the CQ, before it answers the Delete; the loops reap that after
// the disable (recover()). A Delete that fails or times out ends the deletions: the controller
// is not answering properly and is disabled with the queues it still has.
void controller::delete_io_queues_locked() noexcept {
    std::vector<std::uint16_t> qids;
    {
        std::lock_guard lk(qid_mu_);
        for (std::size_t q = 1; q < qid_live_.size(); ++q)
            if (qid_live_[q]) qids.push_back(static_cast<std::uint16_t>(q));
    }
    if (qids.empty()) return;
    counters_.resets_deleting_queues.fetch_add(1, std::memory_order_relaxed);
    const auto limit = std::min(opts_.admin_timeout, std::chrono::milliseconds(2000));
    nvme::cqe c{};
    for (std::uint16_t q : qids)
        if (admin_sync_locked(admin::delete_io_sq(q), c, limit) != 0) return;
    for (std::uint16_t q : qids) {
        if (admin_sync_locked(admin::delete_io_cq(q), c, limit) != 0) return;
        set_queue_live(q, false);
        counters_.queues_deleted_by_reset.fetch_add(1, std::memory_order_relaxed);
    }
}

void controller::wait_disabled(std::uint32_t gen) noexcept {
    for (unsigned i = 0; !disabled_since(gen); ++i) {
        if (i > 64)
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        else
            std::this_thread::yield();
    }
}

// ------------------------------------------------------------------------------- health, reset

int controller::check_health() noexcept {
    if (gone()) return -ENODEV;
    const std::uint32_t csts = dev_->read32(nvme::reg::csts);
    if (csts == all_ones) {
        mark_gone();
        return -ENODEV;
    }
    return (csts & nvme::csts::cfs) ? -EIO : 0;
}

int controller::reset(std::uint32_t seen_generation, std::string& why) {
    std::lock_guard lk(admin_mu_);
    if (generation_.load(std::memory_order_relaxed) != seen_generation)
        return 0;  // done by someone else
    if (gone()) {
        why = "controller reset: device gone";
        return -ENODEV;
    }
    counters_.resets.fetch_add(1, std::memory_order_relaxed);
    // 1. A controller that still answers loses its I/O queues first, as Linux does it
    //    (nvme_dev_disable): the loops stop (the generation moves; each acknowledges and waits in
    //    recover() until the disable below), then Delete SQ / Delete CQ for every queue, so that
    //    CC.EN=0 finds no I/O in flight. QEMU 7.2's emulated NVMe segfaults when it does: its
    //    CC.EN=0 (nvme_ctrl_reset) drains the namespaces and frees every SQ with its requests,
    //    and a read or write still finishing afterwards runs nvme_rw_complete_cb on a freed
    //    request (req->sq->ctrl->cq[...]); see tests/lab/README.md.
    const bool live = live_locked();
    std::uint32_t gen = generation_.load(std::memory_order_relaxed);
    bool acknowledged = true;
    if (live) {
        gen = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
        // A loop that did not acknowledge within the limit is not polling (blocked in user code):
        // it rings nothing either, so the queues are deleted all the same, and it is not waited
        // for a second time below.
        acknowledged = quiesce_queues_locked(gen);
        delete_io_queues_locked();
        deleted_gen_.store(gen, std::memory_order_release);
    }
    // 2. Disable and wait for CSTS.RDY=0 (CAP.TO). Until then the controller may fetch from
    //    every SQ it still has, post into every CQ and move data: nothing may be wiped or freed
    //    before.
    int rc = disable_locked(why);
    if (rc != 0) {
        // Not quiesced: keep all memory (orphans, retired blocks, rings); queues fail their
        // requests without touching their rings and the controller stays unusable.
        if (rc != -ENODEV)
            broken_.store(true, std::memory_order_relaxed);
        else
            mark_gone();
        cancel_admin_waiters_locked(rc == -ENODEV ? -ENODEV : -ECANCELED);
        if (!live) gen = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
        disabled_gen_.store(gen, std::memory_order_release);
        return rc;
    }
    // 3. Quiesced: admin commands in flight are lost; their memory and ids may be reused now.
    cancel_admin_waiters_locked(-ECANCELED);
    release_orphans_locked();
    {
        std::lock_guard ql(qid_mu_);
        std::fill(qid_live_.begin(), qid_live_.end(), false);
    }
    // 4. Tell the I/O queues (if step 1 did not), and wait until none of them touches its old
    //    rings or doorbells. After step 1 they are waiting for exactly this store.
    if (!live) {
        disabled_gen_.store(gen + 1, std::memory_order_release);
        gen = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
    } else {
        disabled_gen_.store(gen, std::memory_order_release);
    }
    if (acknowledged) (void)quiesce_queues_locked(gen);
    // 5. Re-enable and redo the admin setup; queues re-create themselves once we release the lock.
    //    A controller that goes fatal again meanwhile (CSTS.CFS: -EIO) gets the spec's remedy,
    //    another disable and enable, a bounded number of times before it is declared broken.
    for (unsigned attempt = 1;; ++attempt) {
        rc = enable_locked(why);
        if (rc == 0) rc = configure_locked(why);
        if (rc != -EIO || attempt == max_enable_attempts) break;
        why.clear();
        if (disable_locked(why) != 0) break;  // not quiesced: broken below
        cancel_admin_waiters_locked(-ECANCELED);
        release_orphans_locked();
    }
    if (rc != 0 && rc != -ENODEV) broken_.store(true, std::memory_order_relaxed);
    return rc;
}

// Linux's rule: RTD3E (microseconds) when the controller reports it, clamped to 5..60 s; else 5 s.
std::chrono::milliseconds controller::shutdown_timeout() const noexcept {
    const std::uint64_t rtd3e_ms = (std::uint64_t{id_ctrl_->rtd3e} + 999) / 1000;
    if (rtd3e_ms == 0) return std::chrono::milliseconds(5000);
    return std::chrono::milliseconds(std::clamp<std::uint64_t>(rtd3e_ms, 5000, 60000));
}

int controller::shutdown(std::string& why) {
    std::lock_guard lk(admin_mu_);
    if (shut_down_ || !enabled_ || gone()) return 0;
    const std::uint32_t cc = read_reg(nvme::reg::cc);
    if (cc == all_ones) return -ENODEV;
    dev_->write32(nvme::reg::cc, (cc & ~nvme::cc::shn_mask) | nvme::cc::shn_normal);
    const auto limit = shutdown_timeout();
    const auto deadline = clock::now() + limit;
    for (unsigned i = 0;; ++i) {
        dev_->step();
        const std::uint32_t csts = dev_->read32(nvme::reg::csts);
        if (csts == all_ones) {
            mark_gone();
            return -ENODEV;
        }
        if ((csts & nvme::csts::shst_mask) == nvme::csts::shst_complete) break;
        if ((i & 15) == 15 && clock::now() > deadline) {
            why = "shutdown: CSTS.SHST did not report completion within " +
                  std::to_string(limit.count()) + " ms (RTD3E " + std::to_string(id_ctrl_->rtd3e) +
                  " us, clamped to 5..60 s; CSTS=" + hex(csts) +
                  "); data in the volatile write cache may be lost";
            return -ETIMEDOUT;
        }
        backoff(i);
        if (i > 4096) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    shut_down_ = true;
    return 0;
}

int controller::namespace_csi(std::uint32_t nsid, std::uint8_t& csi, std::string& why) {
    csi = nvme::csi::nvm;
    if (vs_ < 0x00010300) return 0;  // Namespace Identification Descriptors are NVMe 1.3
    dma_block buf;
    if (int rc = buf.allocate(*dev_, 4096, std::max<std::size_t>(page_size_, 4096)); rc != 0) {
        why = "allocating the identify buffer: " + dev_->last_error();
        return rc;
    }
    nvme::cqe c{};
    const int rc = admin_sync(admin::identify(nvme::cns::ns_id_descriptors, nsid, buf.iova()), c,
                              opts_.admin_timeout, {&buf, 1});
    if (rc == -EIO) return 0;  // not supported: an NVM namespace
    if (rc != 0) {
        why = "Identify Namespace " + std::to_string(nsid) +
              " descriptors failed: " + std::strerror(-rc);
        return rc;
    }
    const auto* p = buf.as<const std::uint8_t>();
    for (std::size_t off = 0; off + 4 <= 4096;) {
        const std::uint8_t type = p[off], len = p[off + 1];
        if (type == 0) break;
        if (off + 4 + len > 4096) break;
        if (type == nvme::nidt_csi && len >= 1) {
            csi = p[off + 4];
            return 0;
        }
        off += 4 + len;
    }
    return 0;
}

}  // namespace convme::driver

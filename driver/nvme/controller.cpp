#include "driver/nvme/controller.hpp"

#include "driver/nvme/admin_commands.hpp"

#include <convme/error.hpp>
#include <convme/loop.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace convme::driver {

namespace {

using clock = std::chrono::steady_clock;
constexpr std::uint32_t all_ones = 0xffffffffu;

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

// Spin politely while waiting for the controller: the simulated one may need our CPU.
void backoff(unsigned iteration) noexcept {
    if (iteration > 256) std::this_thread::yield();
}

}  // namespace

std::string describe_nvme_status(std::uint16_t status) {
    const auto sct = nvme::status_type(status);
    const auto sc = nvme::status_code(status);
    char buf[48];
    std::snprintf(buf, sizeof buf, "sct=0x%x sc=0x%02x", static_cast<unsigned>(sct), static_cast<unsigned>(sc));
    return std::string(buf) + " (" + make_nvme_error(nvme::status_sct_sc(status)).message() + ")";
}

controller::controller(std::unique_ptr<pci_device> dev, const nvme_options& options)
    : dev_(std::move(dev)), opts_(options), id_ctrl_(std::make_unique<nvme::identify_controller>()) {
    std::memset(static_cast<void*>(id_ctrl_.get()), 0, sizeof *id_ctrl_);
}

controller::~controller() {
    std::string why;
    if (enabled_ && !gone()) {
        (void)shutdown(why);
        // Quiesce DMA completely before the queue memory below is freed.
        dev_->write32(nvme::reg::cc, 0);
        (void)wait_ready(false, why);
    }
}

std::uint32_t controller::read_reg(std::uint32_t off) noexcept {
    const std::uint32_t v = dev_->read32(off);
    if (v == all_ones) mark_gone();
    return v;
}

void controller::mark_gone() noexcept { gone_.store(true, std::memory_order_relaxed); }

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
            why = "waiting for CSTS.RDY: registers read all-ones (device removed or unbound); check `lspci` "
                  "and the vfio-pci binding";
            return -ENODEV;
        }
        if (ready && (csts & nvme::csts::cfs)) {
            why = "enabling the controller: CSTS.CFS (controller fatal status) is set; try a function "
                  "reset or power cycle the device";
            return -EIO;
        }
        if (((csts & nvme::csts::rdy) != 0) == ready) return 0;
        if ((i & 15) == 15 && clock::now() > deadline) {
            why = std::string("timed out after ") + std::to_string(ready_timeout_.count()) +
                  " ms (CAP.TO) waiting for CSTS.RDY=" + (ready ? "1" : "0") + " (CSTS=" + hex(csts) +
                  "); the controller is not responding: try a function reset or check the device";
            return -ETIMEDOUT;
        }
        backoff(i);
    }
}

int controller::bring_up(std::string& why) {
    const std::uint32_t csts = dev_->read32(nvme::reg::csts);
    cap_.raw = dev_->read64(nvme::reg::cap);
    if (csts == all_ones || cap_.raw == ~std::uint64_t(0)) {
        mark_gone();
        why = "reading controller registers: all-ones (device gone or BAR not accessible); check that the "
              "device is present and bound to vfio-pci";
        return -ENODEV;
    }
    vs_ = dev_->read32(nvme::reg::vs);
    dstrd_ = cap_.dstrd();
    ready_timeout_ = std::chrono::milliseconds(500) * std::max<std::uint32_t>(1, cap_.to_500ms());
    if (!(cap_.css() & 1u)) {
        why = "CAP.CSS: controller does not support the NVM command set";
        return -ENOTSUP;
    }

    // Memory page size: the host page size when the controller supports it, else the largest
    // supported size below it (PRP entries are then finer than host pages, which is fine).
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

    if (int rc = dev_->enable_bus_master(); rc != 0 && rc != -ENOTSUP) {
        why = "enabling PCI bus mastering: " + std::string(std::strerror(-rc)) + ": " + dev_->last_error();
        return rc;
    }

    admin_depth_ = std::min<std::uint32_t>(32, cap_.mqes() + 1);
    const std::size_t contig = dev_->max_contiguous_dma();
    admin_depth_ = static_cast<std::uint32_t>(std::min<std::size_t>(admin_depth_, contig / sizeof(nvme::sqe)));
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

    std::lock_guard lk(admin_mu_);
    if (int rc = enable_locked(why); rc != 0) return rc;

    // Identify Controller.
    dma_block buf;
    if (int rc = buf.allocate(*dev_, 4096, align); rc != 0) {
        why = "allocating the identify buffer: " + dev_->last_error();
        return rc;
    }
    nvme::cqe c{};
    if (int rc = admin_sync_locked(admin::identify(nvme::cns::controller, 0, buf.iova()), c, opts_.admin_timeout);
        rc != 0) {
        why = "Identify Controller failed: " + (rc == -EIO ? describe_nvme_status(c.status) : std::strerror(-rc));
        return rc;
    }
    std::memcpy(static_cast<void*>(id_ctrl_.get()), buf.data(), sizeof *id_ctrl_);

    // Active namespace list (nsids > 0 ascending, zero-terminated).
    std::memset(buf.data(), 0, 4096);
    if (int rc = admin_sync_locked(admin::identify(nvme::cns::active_ns_list, 0, buf.iova()), c, opts_.admin_timeout);
        rc == 0) {
        const auto* ids = buf.as<const std::uint32_t>();
        for (std::size_t i = 0; i < 1024 && ids[i] != 0; ++i) namespaces_.push_back(ids[i]);
    } else {
        // NVMe 1.0 controllers lack CNS 2: assume namespaces 1..NN are active.
        for (std::uint32_t n = 1; n <= std::min<std::uint32_t>(id_ctrl_->nn, 1024); ++n) namespaces_.push_back(n);
    }

    // Shadow doorbells: requested, advertised, and the buffer holds every queue's pair.
    dbbc_wanted_ = opts_.shadow_doorbells && (id_ctrl_->oacs & nvme::oacs_doorbell_buffer_config);
    io_queues_ = std::clamp<std::uint32_t>(opts_.max_io_queues, 1, 65535);
    if (dbbc_wanted_) {
        const std::size_t per_queue = 2u * (4u << dstrd_);
        io_queues_ = std::min<std::uint32_t>(io_queues_, static_cast<std::uint32_t>(page_size_ / per_queue - 1));
        if (int rc = shadow_mem_.allocate(*dev_, page_size_, align); rc != 0) dbbc_wanted_ = false;
        if (dbbc_wanted_ && eventidx_mem_.allocate(*dev_, page_size_, align) != 0) dbbc_wanted_ = false;
    }
    if (int rc = configure_locked(why); rc != 0) return rc;
    qid_used_.assign(io_queues_ + 1, false);
    qid_used_[0] = true;
    return 0;
}

int controller::enable_locked(std::string& why) {
    if (read_reg(nvme::reg::csts) == all_ones) {
        why = "controller registers read all-ones: device gone";
        return -ENODEV;
    }
    // Disable (also clears a fatal status) and wait until the controller reports not ready.
    dev_->write32(nvme::reg::cc, 0);
    enabled_ = false;
    if (int rc = wait_ready(false, why); rc != 0) {
        why = "disabling the controller (CC.EN=0): " + why;
        return rc;
    }

    doorbell sq_db = sq_doorbell(0), cq_db = cq_doorbell(0);
    sq_db.clear_shadow();
    cq_db.clear_shadow();
    admin_qp_.init(0, admin_depth_, admin_sq_mem_.as<nvme::sqe>(), admin_cq_mem_.as<nvme::cqe>(), sq_db, cq_db);
    admin_cids_.reset(admin_depth_ - 1);
    std::fill(admin_waiters_.begin(), admin_waiters_.end(), nullptr);
    std::fill(admin_busy_.begin(), admin_busy_.end(), false);
    dbbc_active_ = false;

    dev_->write32(nvme::reg::aqa, ((admin_depth_ - 1) << 16) | (admin_depth_ - 1));
    dev_->write64(nvme::reg::asq, admin_sq_mem_.iova());
    dev_->write64(nvme::reg::acq, admin_cq_mem_.iova());
    const std::uint32_t cc = nvme::cc::en | nvme::cc::css_nvm | (mps_ << nvme::cc::mps_shift) | nvme::cc::ams_rr |
                             (6u << nvme::cc::iosqes_shift) | (4u << nvme::cc::iocqes_shift);
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
    if (int rc = admin_sync_locked(admin::set_number_of_queues(want, want), c, opts_.admin_timeout); rc != 0) {
        why = "Set Features (Number of Queues) failed: " +
              (rc == -EIO ? describe_nvme_status(c.status) : std::string(std::strerror(-rc)));
        return rc;
    }
    const std::uint32_t nsqa = (c.dw0 & 0xffff) + 1, ncqa = (c.dw0 >> 16) + 1;
    io_queues_ = std::min({want, nsqa, ncqa});

    if (dbbc_wanted_) {
        std::memset(shadow_mem_.data(), 0, shadow_mem_.size());
        std::memset(eventidx_mem_.data(), 0, eventidx_mem_.size());
        const int rc = admin_sync_locked(admin::doorbell_buffer_config(shadow_mem_.iova(), eventidx_mem_.iova()), c,
                                         opts_.admin_timeout);
        if (rc == 0) {
            dbbc_active_ = true;
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
        const int rc = admin_sync_locked(admin::set_interrupt_coalescing(opts_.coalesce_threshold, t100), c,
                                         opts_.admin_timeout);
        coalescing_ = rc == 0 ? "coalescing thr=" + std::to_string(opts_.coalesce_threshold) +
                                    " time=" + std::to_string(t100 * 100) + "us"
                              : "coalescing refused: " +
                                    (rc == -EIO ? describe_nvme_status(c.status) : std::string(std::strerror(-rc)));
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
    if (dbbc_active_) {
        const std::uint32_t index = (off - nvme::reg::doorbell_base) / 4;
        d.set_shadow(shadow_mem_.as<std::uint32_t>() + index, eventidx_mem_.as<std::uint32_t>() + index, qid == 0);
    }
    return d;
}

// ------------------------------------------------------------------------------- admin queue

int controller::admin_submit_locked(const nvme::sqe& cmd, admin_waiter* w) noexcept {
    if (gone()) return -ENODEV;
    if (!enabled_) return -EIO;
    if (admin_cids_.empty() || admin_qp_.sq_free() == 0) return -EAGAIN;
    const std::uint16_t cid = admin_cids_.pop();
    admin_waiters_[cid] = w;
    admin_busy_[cid] = true;
    nvme::sqe* e = admin_qp_.next_sqe();
    *e = cmd;
    e->cid = cid;
    admin_qp_.commit();
    admin_qp_.ring_sq();
    counters_.admin_commands.fetch_add(1, std::memory_order_relaxed);
    return 0;
}

void controller::admin_reap_locked() noexcept {
    admin_qp_.reap([&](const nvme::cqe& c) {
        if (c.cid >= admin_busy_.size() || !admin_busy_[c.cid]) return;  // stale / bogus id
        admin_waiter* w = admin_waiters_[c.cid];
        admin_busy_[c.cid] = false;
        admin_waiters_[c.cid] = nullptr;
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
    std::lock_guard lk(admin_mu_);
    for (auto& p : admin_waiters_)
        if (p == &w) p = nullptr;
}

int controller::admin_sync_locked(const nvme::sqe& cmd, nvme::cqe& out, std::chrono::milliseconds timeout) {
    admin_waiter w;
    if (int rc = admin_submit_locked(cmd, &w); rc != 0) return rc;
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
                for (auto& p : admin_waiters_)
                    if (p == &w) p = nullptr;
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

int controller::admin_sync(const nvme::sqe& cmd, nvme::cqe& out, std::chrono::milliseconds timeout) {
    std::lock_guard lk(admin_mu_);
    return admin_sync_locked(cmd, out, timeout);
}

task<int> controller::admin_async(nvme::sqe cmd, nvme::cqe& out) {
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
                admin_forget(w);
                if (w.done.load(std::memory_order_acquire)) break;  // answered just in time
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

int controller::identify_namespace(std::uint32_t nsid, nvme::identify_namespace& out, std::string& why) {
    dma_block buf;
    if (int rc = buf.allocate(*dev_, 4096, std::max<std::size_t>(page_size_, 4096)); rc != 0) {
        why = "allocating the identify buffer: " + dev_->last_error();
        return rc;
    }
    nvme::cqe c{};
    if (int rc = admin_sync(admin::identify(nvme::cns::ns, nsid, buf.iova()), c); rc != 0) {
        why = "Identify Namespace " + std::to_string(nsid) +
              " failed: " + (rc == -EIO ? describe_nvme_status(c.status) : std::string(std::strerror(-rc)));
        return rc;
    }
    std::memcpy(static_cast<void*>(&out), buf.data(), sizeof out);
    return 0;
}

int controller::get_log_page(std::uint32_t lid, void* out, std::uint32_t bytes) {
    if (bytes == 0 || bytes % 4 != 0 || bytes > page_size_) return -EINVAL;
    dma_block buf;
    if (int rc = buf.allocate(*dev_, std::max<std::size_t>(bytes, 4096), std::max<std::size_t>(page_size_, 4096));
        rc != 0)
        return rc;
    nvme::cqe c{};
    if (int rc = admin_sync(admin::get_log_page(lid, bytes, buf.iova()), c); rc != 0) return rc;
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
                                     std::uint64_t cq_iova, std::string& why, int irq_vector) {
    if (dbbc_active_) {
        // A queue id can be reused (drain, then another loop): its shadow slots and EventIdx must
        // start from 0 again like the new queue's tail/head, or updates would look already seen.
        const std::uint32_t sq_index = (nvme::reg::sq_tail_doorbell(qid, dstrd_) - nvme::reg::doorbell_base) / 4;
        const std::uint32_t cq_index = (nvme::reg::cq_head_doorbell(qid, dstrd_) - nvme::reg::doorbell_base) / 4;
        for (std::uint32_t i : {sq_index, cq_index}) {
            device_store<std::uint32_t>(shadow_mem_.as<std::uint32_t>() + i, 0);
            device_store<std::uint32_t>(eventidx_mem_.as<std::uint32_t>() + i, 0);
        }
    }
    nvme::cqe c{};
    if (int rc = admin_sync(admin::create_io_cq(qid, depth, cq_iova, irq_vector), c); rc != 0) {
        why = "Create I/O Completion Queue " + std::to_string(qid) + " (depth " + std::to_string(depth) +
              (irq_vector >= 0 ? ", interrupt vector " + std::to_string(irq_vector) : std::string()) + ") failed: " + (rc == -EIO ? describe_nvme_status(c.status) : std::string(std::strerror(-rc)));
        return rc;
    }
    if (int rc = admin_sync(admin::create_io_sq(qid, depth, sq_iova, qid), c); rc != 0) {
        why = "Create I/O Submission Queue " + std::to_string(qid) + " (depth " + std::to_string(depth) +
              ") failed: " + (rc == -EIO ? describe_nvme_status(c.status) : std::string(std::strerror(-rc)));
        nvme::cqe ignored{};
        (void)admin_sync(admin::delete_io_cq(qid), ignored);
        return rc;
    }
    return 0;
}

int controller::delete_io_queue_pair(std::uint16_t qid) {
    nvme::cqe c{};
    const int rc_sq = admin_sync(admin::delete_io_sq(qid), c);
    const int rc_cq = admin_sync(admin::delete_io_cq(qid), c);
    return rc_sq != 0 ? rc_sq : rc_cq;
}

task<int> controller::delete_io_queue_pair_async(std::uint16_t qid) {
    nvme::cqe c{};
    const int rc_sq = co_await admin_async(admin::delete_io_sq(qid), c);
    const int rc_cq = co_await admin_async(admin::delete_io_cq(qid), c);
    co_return rc_sq != 0 ? rc_sq : rc_cq;
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
    if (generation_.load(std::memory_order_relaxed) != seen_generation) return 0;  // done by someone else
    if (gone()) {
        why = "controller reset: device gone";
        return -ENODEV;
    }
    generation_.fetch_add(1, std::memory_order_acq_rel);
    counters_.resets.fetch_add(1, std::memory_order_relaxed);
    cancel_admin_waiters_locked(-ECANCELED);
    int rc = enable_locked(why);
    if (rc == 0) rc = configure_locked(why);
    if (rc != 0 && rc != -ENODEV) broken_.store(true, std::memory_order_relaxed);
    return rc;
}

int controller::shutdown(std::string& why) {
    std::lock_guard lk(admin_mu_);
    if (shut_down_ || !enabled_ || gone()) return 0;
    const std::uint32_t cc = read_reg(nvme::reg::cc);
    if (cc == all_ones) return -ENODEV;
    dev_->write32(nvme::reg::cc, (cc & ~nvme::cc::shn_mask) | nvme::cc::shn_normal);
    const auto deadline = clock::now() + std::max(ready_timeout_, std::chrono::milliseconds(1000));
    for (unsigned i = 0;; ++i) {
        dev_->step();
        const std::uint32_t csts = dev_->read32(nvme::reg::csts);
        if (csts == all_ones) {
            mark_gone();
            return -ENODEV;
        }
        if ((csts & nvme::csts::shst_mask) == nvme::csts::shst_complete) break;
        if ((i & 15) == 15 && clock::now() > deadline) {
            why = "shutdown: CSTS.SHST did not report completion in time (CSTS=" + hex(csts) + ")";
            return -ETIMEDOUT;
        }
        backoff(i);
    }
    shut_down_ = true;
    return 0;
}

}  // namespace convme::driver

// SPDX-License-Identifier: MIT
#include "driver/nvme/nvme_device.hpp"

#include <algorithm>
#include <cerrno>
#include <convme/error.hpp>
#include <convme/loop.hpp>
#include <cstdio>
#include <cstring>

namespace convme::driver {

namespace {
// Largest read/write per command when the controller states no MDTS limit: keeps every slot's
// PRP list inside one small area (and one memory page).
constexpr std::uint64_t default_max_transfer = 1u << 20;
}  // namespace

nvme_device::nvme_device(std::unique_ptr<controller> ctrl)
    : ctrl_(std::move(ctrl)), mapper_(ctrl_->dev()) {}

nvme_device::~nvme_device() {
    // Queues still alive (their loop never drained) are deleted on the controller. Only the
    // calling thread's own loop is unregistered from; any other loop is assumed to be gone
    // (destroy a device only after drain() on every loop, or after the loops that used it ended).
    channels_.release_all();
    std::string why;
    if (int rc = ctrl_->shutdown(why); rc != 0 && rc != -ENODEV)
        std::fprintf(stderr, "convme: nvme %s: graceful shutdown failed: %s\n",
                     ctrl_->dev().name().c_str(), why.c_str());
    // Disable before anything the controller was given goes away: queue rings and PRP lists
    // (freed below; kept by the controller when a Delete failed) and the I/O buffers mapper_
    // unmaps when it is destroyed after this body.
    if (!ctrl_->gone()) {
        if (int rc = ctrl_->disable(why); rc != 0 && rc != -ENODEV)
            std::fprintf(stderr, "convme: nvme %s: disabling the controller at close failed: %s\n",
                         ctrl_->dev().name().c_str(), why.c_str());
    }
    channels_.clear();
}

namespace {
std::string lba_format_text(const nvme::lba_format& f) {
    std::string t = std::to_string(1u << f.lbads) + " B data";
    if (f.ms) t += " + " + std::to_string(f.ms) + " B metadata";
    return t;
}
}  // namespace

int nvme_device::init(std::string& why) {
    controller& c = *ctrl_;
    nsid_ = c.options().nsid;
    auto id = std::make_unique<nvme::identify_namespace>();
    if (int rc = check_namespace(*id, why); rc != 0) return rc;
    const std::uint32_t lba_shift = id->lbaf[id->flbas & 0xf].lbads;
    std::uint64_t max_transfer = 0;
    if (int rc = plan_queues(lba_shift, max_transfer, why); rc != 0) return rc;
    return describe(*id, lba_shift, max_transfer, why);
}

// The namespace is active, plain NVM, with a supported LBA size and no metadata.
int nvme_device::check_namespace(nvme::identify_namespace& out, std::string& why) {
    controller& c = *ctrl_;
    nvme::identify_namespace* id = &out;
    const auto& active = c.active_namespaces();
    if (nsid_ == 0 || std::find(active.begin(), active.end(), nsid_) == active.end()) {
        std::string list;
        for (auto n : active) {
            if (!list.empty()) list.push_back(',');
            list.append(std::to_string(
                n));  // (not `"," + to_string`: gcc 12 -O3 -Wrestrict false positive)
        }
        why = "namespace " + std::to_string(nsid_) +
              " is not an active namespace of this controller (active: " +
              (list.empty() ? "none" : list) + "); pick one with ns=N";
        return -ENOENT;
    }
    if (int rc = c.identify_namespace(nsid_, out, why); rc != 0) return rc;
    // The I/O command set: only plain NVM namespaces are driven (CC.CSS selects NVM only).
    std::uint8_t csi = nvme::csi::nvm;
    if (int rc = c.namespace_csi(nsid_, csi, why); rc != 0) return rc;
    if (csi != nvme::csi::nvm) {
        const char* set = csi == nvme::csi::zoned ? "the Zoned Namespace command set (CSI 02h)"
                          : csi == nvme::csi::key_value ? "the Key Value command set (CSI 01h)"
                                                        : "an unknown I/O command set";
        why = "namespace " + std::to_string(nsid_) + " uses " + set + " (CSI " +
              std::to_string(csi) + "); convme drives only NVM command set namespaces" +
              (csi == nvme::csi::zoned
                   ? ": a zoned namespace accepts writes only at each zone's write pointer, "
                     "so ordinary random writes would fail with Zone Invalid Write"
                   : std::string()) +
              ". Open a conventional (NVM) namespace instead (ns=N), or create one with `nvme "
              "create-ns --csi=0`";
        return -ENOTSUP;
    }
    const unsigned fmt_index = id->flbas & 0xf;
    const auto& fmt = id->lbaf[fmt_index];
    if (fmt.lbads < 9 || fmt.lbads > 16) {
        why = "namespace " + std::to_string(nsid_) + " reports an unsupported LBA size 2^" +
              std::to_string(fmt.lbads);
        return -ENOTSUP;
    }
    if (fmt.ms != 0) {
        // Neither interleaved (extended LBA) nor separate metadata is transferred by this driver:
        // with an extended LBA the controller moves data+metadata per block, so data would land
        // in the wrong places and PRP lists would be short.
        const bool extended = id->flbas & 0x10;
        int pick = -1;
        for (unsigned i = 0; i <= std::min<unsigned>(id->nlbaf, 15); ++i) {
            const auto& f = id->lbaf[i];
            if (f.ms != 0 || f.lbads < 9 || f.lbads > 16) continue;
            if (pick < 0 || f.lbads == fmt.lbads) pick = static_cast<int>(i);
            if (f.lbads == fmt.lbads) break;
        }
        why =
            "namespace " + std::to_string(nsid_) + " is formatted with metadata (LBA format " +
            std::to_string(fmt_index) + ": " + lba_format_text(fmt) + ", " +
            (extended ? "interleaved with the data as extended LBAs" : "in a separate buffer") +
            "); convme transfers no metadata" +
            (extended
                 ? ", so the controller would move " + std::to_string((1u << fmt.lbads) + fmt.ms) +
                       " B per block and data would land in the wrong places"
                 : std::string(
                       ", and the controller needs a metadata pointer with every command")) +
            ". " +
            (pick >= 0
                 ? "Reformat it with LBA format " + std::to_string(pick) + " (" +
                       lba_format_text(id->lbaf[pick]) + "), e.g. `nvme format /dev/nvmeXn" +
                       std::to_string(nsid_) + " --lbaf=" + std::to_string(pick) +
                       "` under the kernel driver (this erases the namespace)"
                 : std::string(
                       "The namespace lists no metadata-free LBA format; use another namespace")) +
            ", or open a namespace without metadata (ns=N)";
        return -ENOTSUP;
    }
    return 0;
}

// Transfer, PRP-list and queue-depth limits and the Write Zeroes / DSM limits into params_.
int nvme_device::plan_queues(std::uint32_t lba_shift, std::uint64_t& max_transfer_out,
                             std::string& why) {
    controller& c = *ctrl_;
    const nvme_options& o = c.options();
    const std::uint32_t block = 1u << lba_shift;
    // Transfer limit: MDTS, our default cap, and the 16-bit block count of a read/write.
    std::uint64_t max_transfer = c.mdts_bytes();
    if (max_transfer == 0 || max_transfer > default_max_transfer)
        max_transfer = default_max_transfer;
    max_transfer = std::min<std::uint64_t>(max_transfer, std::uint64_t(65536) << lba_shift);
    max_transfer = std::max<std::uint64_t>(max_transfer, block);
    const std::size_t page = c.page_size();
    // PRP list entries for the largest command at any dword offset, rounded to a power-of-two
    // area of at least 256 bytes (16 DSM ranges) and at most one memory page.
    const std::size_t entries = max_transfer / page + 1;
    std::size_t area = 256;
    while (area < entries * 8) area <<= 1;
    area = std::min(area, page);

    // Queue depth: requested, CAP.MQES, one contiguous allocation, and the 15-bit part counter.
    std::uint64_t depth = std::max<std::uint32_t>(o.queue_depth, 2);
    depth = std::min<std::uint64_t>(depth, c.max_queue_entries());
    depth = std::min<std::uint64_t>(depth, c.dev().max_contiguous_dma() / sizeof(nvme::sqe));
    depth = std::min<std::uint64_t>(depth, 32768);
    if (depth < 2) {
        why = "I/O queue depth below 2 (contiguous DMA memory too small)";
        return -ENOMEM;
    }

    params_.nsid = nsid_;
    params_.lba_shift = lba_shift;
    params_.depth = static_cast<std::uint32_t>(depth);
    params_.max_rw_blocks = static_cast<std::uint32_t>(max_transfer >> lba_shift);
    params_.prp_area_bytes = static_cast<std::uint32_t>(area);
    params_.volatile_write_cache = c.identity().vwc & 1u;
    // Write Zeroes / Dataset Management limits (NVM Command Set specific Identify Controller):
    // WZSL in units of the minimum memory page, DMRSL blocks per range, DMRL ranges per command.
    // Without them: the 16-bit NLB, a range of at most 2^32-1 blocks, 256 ranges.
    {
        const auto& nvm = c.identity_nvm();
        std::uint64_t wz = 65536;
        if (nvm.wzsl != 0 && nvm.wzsl < 40) {
            const std::uint64_t bytes =
                (std::uint64_t(1) << nvm.wzsl) * (std::uint64_t(4096) << c.cap().mpsmin());
            wz = std::clamp<std::uint64_t>(bytes >> lba_shift, 1, wz);
        }
        params_.max_write_zeroes_blocks = static_cast<std::uint32_t>(wz);
        params_.max_dsm_range_blocks = nvm.dmrsl != 0 ? nvm.dmrsl : 0xffffffffu;
        params_.max_dsm_ranges = nvm.dmrl != 0 ? nvm.dmrl : 256;
    }
    params_.timeout = o.io_timeout;
    params_.mode = o.completion;
    params_.hybrid_spin_auto = o.hybrid_spin_auto;
    params_.hybrid_spin = o.hybrid_spin;
    params_.hybrid_spin_max = o.hybrid_spin_max;
    params_.irq_mask_awake = o.irq_mask_awake && c.dev().irq_mask_unavailable().empty();

    max_transfer_out = max_transfer;
    return 0;
}

namespace {
// hybrid's window for device_info.name: "spin auto 50..1000us" or "spin 100us".
std::string spin_note(const nvme_options& o) {
    if (!o.hybrid_spin_auto) return "spin " + std::to_string(o.hybrid_spin.count()) + "us";
    const std::chrono::microseconds floor = spin_window::default_floor;
    return "spin auto " + std::to_string(floor.count()) + ".." +
           std::to_string(std::max(o.hybrid_spin_max, floor).count()) + "us";
}
}  // namespace

// Completion mode, how queues map to loops, and device_info.
int nvme_device::describe(const nvme::identify_namespace& id, std::uint32_t lba_shift,
                          std::uint64_t max_transfer, std::string& why) {
    controller& c = *ctrl_;
    const nvme_options& o = c.options();
    // Completion mode and how queues map to loops, for device_info.name.
    const unsigned vectors = c.dev().irq_vectors();
    std::uint32_t queues = c.io_queues_granted();
    std::string irq_note;
    if (!o.completion_fallback.empty()) irq_note = " (" + o.completion_fallback + ")";
    if (o.completion != completion_mode::poll) {
        if (vectors < 2) {
            why = std::string("completion=") + completion_mode_name(o.completion) +
                  " needs MSI-X interrupt vectors: " + c.dev().irq_unavailable() +
                  " (use completion=poll)";
            return -ENOTSUP;
        }
        irq_note = ", msix " + std::to_string(vectors) + " vectors";
        if (vectors - 1 < queues) {
            irq_note += " for " + std::to_string(queues) + " queues";
            queues = vectors - 1;
        }
        if (o.completion == completion_mode::hybrid) irq_note += ", " + spin_note(o);
        if (!o.irq_mask_awake)
            irq_note += ", irq mask off";
        else if (std::string no = c.dev().irq_mask_unavailable(); no.empty())
            irq_note += ", irq masked while awake";
        else
            irq_note += ", irq mask unavailable: " + no;
    }
    if (!c.coalescing().empty()) irq_note += ", " + c.coalescing();
    if (o.completion != completion_mode::poll)
        if (std::string a = c.dev().irq_affinity_note(); !a.empty()) irq_note += ", " + a;

    const std::string dev_name = c.dev().name();
    info_.name = "nvme " + dev_name + " ns" + std::to_string(nsid_) +
                 (c.shadow_doorbells() ? " [dbbc]" : "") +
                 " [completion=" + completion_mode_name(o.completion) + irq_note + "] [io queues " +
                 std::to_string(queues) + ": one per loop for the first " + std::to_string(queues) +
                 " loops doing I/O, later loops forward to them]";
    info_.backend = std::string_view(c.dev().kind()) == "sim" ? "sim" : "nvme";
    info_.block_size = 1u << lba_shift;
    info_.capacity = id.nsze << lba_shift;
    info_.mem_alignment = 4;  // PRP1 may start at any dword; PRPs are built per memory page
    info_.max_transfer = static_cast<std::uint32_t>(max_transfer);
    info_.queue_depth = params_.depth - 1;
    info_.supports_flush = true;  // without a volatile write cache a flush completes at once
    info_.supports_write_zeroes = c.identity().oncs & nvme::oncs_write_zeroes;
    info_.supports_trim = c.identity().oncs & nvme::oncs_dsm;
    return 0;
}

// ------------------------------------------------------------------------------- per loop

std::error_code nvme_channel::why_not() const noexcept {
    switch (current_state()) {
        case state::open:
            return {};
        case state::forwarding:
            return make_error_code(std::errc::resource_unavailable_try_again);
        case state::failed:
            return error_;
        case state::drained:
            return make_error_code(errc::shutting_down);
        case state::fresh:
            break;  // left fresh only by an attempt that saw the controller vanish
    }
    return make_error_code(errc::device_gone);
}

task<void> nvme_channel::close_async() {
    state_.store(state::drained, std::memory_order_relaxed);
    if (!queue_) co_return;
    io_queue& q = *queue_;
    const int rc = co_await q.destroy_async();
    if (rc != 0 && rc != -ENODEV)
        std::fprintf(stderr, "convme: nvme %s: deleting I/O queue %u failed: %s\n",
                     dev_.ctrl_->dev().name().c_str(), static_cast<unsigned>(q.qid()),
                     std::strerror(-rc));
    owner_->remove_poller(&q);
    dev_.ctrl_->dev().loop_detached(*owner_);
    dev_.drained_irq_sleeps_.fetch_add(q.irq_sleeps(), std::memory_order_relaxed);
    // stats() reads the queue only under the table lock: once live_ is cleared there, nothing
    // else reads it. Freed outside the lock (its destructor takes controller locks).
    dev_.channels_.locked([this] { live_.store(nullptr, std::memory_order_relaxed); });
    queue_.reset();
}

// Under the table lock (release_all, or create() finding a destroyed loop's channel). The queue
// object, with its rings, stays until the device frees its channels after disabling the
// controller.
void nvme_channel::delete_queue_sync(bool unregister) noexcept {
    state_.store(state::drained, std::memory_order_relaxed);
    if (!queue_ || !live_.load(std::memory_order_relaxed)) return;
    if (unregister) {
        owner_->remove_poller(&*queue_);
        dev_.ctrl_->dev().loop_detached(*owner_);
    }
    (void)queue_->destroy_sync();
    dev_.drained_irq_sleeps_.fetch_add(queue_->irq_sleeps(), std::memory_order_relaxed);
    live_.store(nullptr, std::memory_order_relaxed);
}

void nvme_channel::close() noexcept {
    delete_queue_sync(true);
}

void nvme_channel::retire() noexcept {
    delete_queue_sync(false);
}

void nvme_device::submit(io_request& r) noexcept {
    if (nvme_channel* c = channels_.find_fast(r.owner)) [[likely]] {
        c->queue().submit(r);  // in the slot only while its queue takes I/O
        return;
    }
    submit_slow(r);
}

void nvme_device::submit_slow(io_request& r) noexcept {
    std::error_code ec;
    nvme_channel* c = channel_for(*r.owner, ec);
    const auto st = c ? c->current_state() : nvme_channel::state::failed;
    if (st == nvme_channel::state::open)
        c->queue().submit(r);
    else if (st == nvme_channel::state::forwarding)
        forward(*c, r);
    else
        backends::fail_request(r, ec);
}

nvme_channel* nvme_device::channel_for(loop& l, std::error_code& ec) noexcept {
    auto make = channel_maker(l);
    nvme_channel* c = channels_.find_or_create(&l, make);
    if (!c) {
        ec = errno_code(ENOMEM);
        return nullptr;
    }
    switch (c->current_state()) {
        case nvme_channel::state::fresh:
            if ((ec = open_queue(*c))) return c;
            break;
        case nvme_channel::state::failed:
            if (ctrl_->gone()) {
                ec = errc::device_gone;
                return c;
            }
            break;
        default:
            break;
    }
    ec = c->why_not();
    return c;
}

std::error_code nvme_device::open_queue(nvme_channel& c) noexcept {
    loop& l = *c.owner();
    if (ctrl_->gone()) return make_error_code(errc::device_gone);
    std::string why;
    int rc;
    try {
        c.queue_ = std::make_unique<io_queue>(*ctrl_, mapper_, params_, l);
        std::lock_guard lk(create_mu_);
        rc = c.queue_->create(why);
        // Published before the lock is released: a loop that then finds no free queue (-EBUSY)
        // forwards at once and must find this one. Published after the unlock, the winner could
        // be preempted in between (the lab saw it under TCG) and every forwarded request of the
        // other loops failed with "shutting down" for lack of a home.
        if (rc == 0) {
            c.live_.store(&*c.queue_, std::memory_order_release);
            c.state_.store(nvme_channel::state::open, std::memory_order_release);
            channels_.publish(&c);
        }
    } catch (const std::bad_alloc&) {
        rc = -ENOMEM;
        why = "out of memory";
    }
    if (rc != 0 && c.queue_) {
        (void)c.queue_->destroy_sync();
        c.queue_.reset();
    }
    if (rc == -EBUSY) {
        // No queue (or no interrupt vector) left for this loop: its I/O runs on a loop that has
        // one.
        c.state_.store(nvme_channel::state::forwarding, std::memory_order_relaxed);
        return {};
    }
    if (rc != 0) {
        std::fprintf(stderr, "convme: nvme %s: creating the I/O queue for core %u failed: %s\n",
                     ctrl_->dev().name().c_str(), l.core_id(), why.c_str());
        const std::error_code ec = result_code(rc);
        if (rc == -ENODEV) return ec;  // not remembered: later I/O finds the controller gone
        c.error_ = ec;
        c.state_.store(nvme_channel::state::failed, std::memory_order_relaxed);
        return {};
    }
    ctrl_->dev().loop_attached(l);  // before the queue's poller: an inline device steps first
    l.add_poller(&c.queue());
    return {};
}

// ------------------------------------------------------------------------------- forwarding
//
// A loop without a queue hands each request to a "home" loop that has one (round robin over the
// live queues): a message posts a relay coroutine there, which submits a copy of the request on
// the home loop's queue like any local I/O, then posts the status back, and the request completes
// on its own loop. This costs two messages, a coroutine frame and the channel table's lock per
// I/O, only on those loops; loops with a queue keep the lock-free per-core path untouched. The home
// loop must keep running its loop (a runtime's loops do until shutdown).

namespace {
struct relay_awaiter {
    nvme_device* dev;
    const io_request* orig;
    io_request copy{};
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
        copy.op = orig->op;
        copy.offset = orig->offset;
        copy.length = orig->length;
        copy.data = orig->data;
        copy.waiter = h;
        copy.owner = loop::current();
        dev->submit(copy);
    }
    std::error_code await_resume() const noexcept { return copy.status; }
};
}  // namespace

task<void> nvme_device::relay(io_request* r, nvme_channel* from) {
    relay_awaiter a{this, r};
    const std::error_code ec = co_await a;
    r->status = ec;
    from->owner()->post([from, r] {
        --from->forwarded_in_flight_;
        r->complete();
    });
}

void nvme_device::forward(nvme_channel& from, io_request& r) noexcept {
    const nvme_channel* h = channels_.pick(
        next_home_.fetch_add(1, std::memory_order_relaxed),
        [](const nvme_channel& c) { return c.current_state() == nvme_channel::state::open; });
    if (!h) {
        backends::fail_request(r, make_error_code(errc::shutting_down));
        return;
    }
    loop* home = h->owner();
    forwarded_.fetch_add(1, std::memory_order_relaxed);
    ++from.forwarded_in_flight_;
    io_request* req = &r;
    nvme_channel* f = &from;
    try {
        home->post([this, req, home, f] { home->spawn(relay(req, f)); });
    } catch (...) {
        --from.forwarded_in_flight_;
        backends::fail_request(r, make_error_code(std::errc::not_enough_memory));
    }
}

namespace {
// Suspends the caller until a raw command completes; resumes at once if it could not be queued.
struct raw_awaiter {
    io_queue* q;
    io_request req;
    const nvme::sqe* cmd;
    std::span<std::byte> data;
    nvme::cqe* out;
    int rc = 0;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        req.waiter = h;
        req.owner = loop::current();
        rc = q->submit_raw(req, *cmd, data.data(), data.size(), out);
        return rc == 0;
    }
    int await_resume() const noexcept { return rc; }
};
}  // namespace

task<std::error_code> nvme_device::io_passthrough(nvme::sqe cmd, std::span<std::byte> data,
                                                  nvme::cqe& out) {
    loop* l = loop::current();
    if (!l) co_return make_error_code(errc::unsupported);
    if (!data.empty() && reinterpret_cast<std::uintptr_t>(data.data()) % 4 != 0)
        co_return make_error_code(errc::misaligned_buffer);
    std::error_code ec;
    nvme_channel* c = channel_for(*l, ec);
    if (!c || c->current_state() != nvme_channel::state::open) co_return ec;
    io_queue* q = &c->queue();
    out = nvme::cqe{};
    for (;;) {
        raw_awaiter a{q, io_request{}, &cmd, data, &out};
        const int rc = co_await a;
        if (rc == -EAGAIN) {  // queue full: let completions free a slot
            co_await yield();
            continue;
        }
        if (rc != 0) co_return result_code(rc);
        co_return a.req.status;
    }
}

task<void> nvme_device::drain() {
    loop* l = loop::current();
    if (!l) co_return;
    // Waits for this loop's I/O (its queue's and what it forwarded), then close_async().
    co_await channels_.drain_current(channel_maker(*l));
}

nvme_driver_stats nvme_device::stats() const noexcept {
    nvme_driver_stats s;
    const bool hybrid = ctrl_->options().completion == completion_mode::hybrid;
    channels_.for_each([&s, hybrid](const nvme_channel& ch) {
        const io_queue* q = ch.live_.load(std::memory_order_acquire);
        if (!q) return;
        const auto& c = q->counters();
        s.submitted += c.submitted;
        s.completed += c.completed;
        s.doorbell_mmio_writes += c.sq_db.mmio_writes + c.cq_db.mmio_writes;
        s.shadow_skips += c.sq_db.shadow_skips + c.cq_db.shadow_skips;
        s.split_requests += q->io_counters().split_requests;
        s.timeouts += q->io_counters().timeouts;
        s.doorbell_kicks += q->io_counters().doorbell_kicks;
        s.irq_sleeps += q->irq_sleeps();
        if (hybrid) {
            const auto w =
                std::chrono::duration_cast<std::chrono::microseconds>(q->hybrid_window().window());
            s.hybrid_window_us =
                std::max(s.hybrid_window_us, static_cast<std::uint32_t>(w.count()));
        }
        if (q->irq()) ++s.irq_queues;
        ++s.io_queues;
    });
    auto& cc = ctrl_->counters();
    s.forwarded = forwarded_.load(std::memory_order_relaxed);
    s.irq_sleeps += drained_irq_sleeps_.load(std::memory_order_relaxed);
    s.aborts_sent = cc.aborts_sent.load(std::memory_order_relaxed);
    s.resets = cc.resets.load(std::memory_order_relaxed);
    s.admin_commands = cc.admin_commands.load(std::memory_order_relaxed);
    s.shadow_doorbells = ctrl_->shadow_doorbells();
    s.page_size = static_cast<std::uint32_t>(ctrl_->page_size());
    return s;
}

// ------------------------------------------------------------------------------- <convme/nvme.hpp>

bool get_nvme_stats(const block_device& dev, nvme_driver_stats& out) noexcept {
    const auto* d = dynamic_cast<const nvme_device*>(&dev);
    if (!d) return false;
    out = d->stats();
    return true;
}

controller* nvme_controller_of(block_device& dev) noexcept {
    auto* d = dynamic_cast<nvme_device*>(&dev);
    return d ? &d->ctrl() : nullptr;
}

task<std::error_code> nvme_io_passthrough(block_device& dev, nvme::sqe cmd,
                                          std::span<std::byte> data, nvme::cqe& out) {
    auto* d = dynamic_cast<nvme_device*>(&dev);
    if (!d) co_return make_error_code(errc::unsupported);
    co_return co_await d->io_passthrough(cmd, data, out);
}

task<std::error_code> nvme_admin_passthrough(block_device& dev, nvme::sqe cmd,
                                             std::span<std::byte> data, nvme::cqe& out) {
    controller* c = nvme_controller_of(dev);
    if (!c) co_return make_error_code(errc::unsupported);
    const std::size_t page = c->page_size();
    if (data.size() > 2 * page) co_return make_error_code(std::errc::message_size);
    // Admin data goes through DMA bounce pages: one page each, so PRP1 + PRP2 suffice and no
    // more than one page has to be contiguous (VFIO no-IOMMU mode).
    dma_block bounce[2];  // kept by the controller if the command times out (late DMA)
    const std::size_t part[2] = {std::min(data.size(), page),
                                 data.size() > page ? data.size() - page : 0};
    cmd.prp1 = cmd.prp2 = 0;
    for (int i = 0; i < 2; ++i) {
        if (part[i] == 0) continue;
        if (int rc = bounce[i].allocate(c->dev(), page, page); rc != 0) co_return errno_code(rc);
        std::memcpy(bounce[i].data(), data.data() + i * page, part[i]);
        (i == 0 ? cmd.prp1 : cmd.prp2) = bounce[i].iova();
    }
    cmd.flags &= 0x3f;
    const int rc = co_await c->admin_async(cmd, out, bounce);
    if (rc != -ETIMEDOUT &&
        rc != -ENODEV)  // after a timeout the controller may still write: keep the data out
        for (int i = 0; i < 2; ++i)
            if (part[i] && bounce[i].valid())
                std::memcpy(data.data() + i * page, bounce[i].data(), part[i]);
    co_return result_code(rc, nvme::status_sct_sc(out.status));
}

std::error_code nvme_reset(block_device& dev, std::string* why_out) noexcept {
    controller* c = nvme_controller_of(dev);
    if (!c) return errc::unsupported;
    std::string why;
    int rc;
    try {
        rc = c->reset(c->generation(), why);
    } catch (const std::bad_alloc&) {
        rc = -ENOMEM;
        why = "out of memory";
    }
    if (why_out) *why_out = why;
    if (rc == 0) return {};
    if (rc == -ENODEV) return errc::device_gone;
    return errc::controller_fatal;
}

std::error_code nvme_smart_log(block_device& dev, nvme::smart_log& out) noexcept {
    controller* c = nvme_controller_of(dev);
    if (!c) return errc::unsupported;
    const int rc = c->get_smart_log(out);
    return result_code(rc, nvme::status_sct_sc(c->last_status()));
}

}  // namespace convme::driver

// SPDX-License-Identifier: MIT
#include "runtime/kernel/uring_channel.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace convme::backends {
namespace {

// One SQE moves at most this much; longer transfers continue like short ones.
constexpr std::uint64_t max_sqe_bytes = 1u << 30;
constexpr unsigned reap_batch = 32;

void warn_once(std::atomic<bool>& flag, const std::string& msg) {
    if (!flag.exchange(true)) std::fprintf(stderr, "convme uring: %s\n", msg.c_str());
}
std::atomic<bool> warned_eof{false}, warned_iopoll{false}, warned_register{false},
    warned_open{false}, warned_submit{false};

}  // namespace

uring_channel::uring_channel(const file_target& target, const uring_config& cfg,
                             loop* owner) noexcept
    : target_(target), cfg_(cfg), owner_(owner), owner_id_(owner->unique_id()) {}

uring_channel::~uring_channel() {
    release_rings();
}

int uring_channel::open_ring(ring& g, unsigned entries, unsigned flags, std::string& why) noexcept {
    io_uring_params p;
    std::memset(&p, 0, sizeof p);
    p.flags = flags;
    int rc = io_uring_queue_init_params(entries, &g.r, &p);
    if (rc < 0) {
        why = "io_uring_queue_init(" + std::to_string(entries) + " entries): " + std::strerror(-rc);
        if (rc == -ENOMEM) why += "; raise RLIMIT_MEMLOCK (ulimit -l) or use fewer entries=";
        return rc;
    }
    g.live = true;
    g.polled = (flags & IORING_SETUP_IOPOLL) && !(flags & IORING_SETUP_SQPOLL);
    g.cq_budget = p.cq_entries;
    g.kernel_inflight = 0;
    if (cfg_.fixed_files) g.fixed_file = io_uring_register_files(&g.r, &target_.fd, 1) == 0;
    register_notify(g);
    bump(rings_opened_);
    return 0;
}

int uring_channel::open(std::string& why) noexcept {
    unsigned flags =
        (cfg_.sqpoll ? IORING_SETUP_SQPOLL : 0u) | (cfg_.iopoll ? IORING_SETUP_IOPOLL : 0u);
    int rc = open_ring(main_, cfg_.entries, flags, why);
    if (rc < 0) return rc;
    if (cfg_.iopoll && (rc = open_ring(aux_, 16, 0, why)) < 0) {
        release_rings();
        return rc;
    }
    if (cfg_.fixed_buffers) {
        std::lock_guard lock(fixed_mu_);
        fixed_table_ = io_uring_register_buffers_sparse(&main_.r, fixed_slots) == 0;
    }
    try {
        owner_->add_poller(this);
    } catch (...) {
        release_rings();
        why = "registering the io_uring poller with the loop: out of memory";
        return -ENOMEM;
    }
    return 0;
}

void uring_channel::release_rings() noexcept {
    std::lock_guard lock(fixed_mu_);
    for (ring* g : {&main_, &aux_}) {
        if (!g->live) continue;
        io_uring_queue_exit(&g->r);
        g->live = false;
        g->notifies = g->toggles = false;
    }
    fixed_table_ = false;
    fixed_.clear();
    slot_used_ = 0;
}

void uring_channel::close() noexcept {
    if (state_ == state::open) {
        owner_->remove_poller(this);
        release_rings();
    }
    state_ = state::drained;
}

uring_channel::ring& uring_channel::ring_for(io_op op) noexcept {
    // IOPOLL rings only run reads and writes; after the device refused polling, everything goes
    // through the ordinary ring.
    if (aux_.live && (poll_refused_ || (op != io_op::read && op != io_op::write))) return aux_;
    return main_;
}

void uring_channel::submit(io_request& r) noexcept {
    if (state_ == state::fresh) {
        std::string why;
        int rc = open(why);
        if (rc < 0) {
            state_ = state::failed;
            open_error_ = errno_code(rc);
            warn_once(warned_open, "cannot set up the ring for " + target_.path + ": " + why);
        } else {
            state_ = state::open;
        }
    }
    if (state_ != state::open) {
        fail_request(r,
                     state_ == state::drained ? make_error_code(errc::shutting_down) : open_error_);
        return;
    }
    r.progress = 0;  // bytes done (read/write)
    r.stage = 0;     // write_zeroes: 0 = ZERO_RANGE, 1 = punch a hole
    ++in_flight_;
    enqueue(r);
}

void uring_channel::enqueue(io_request& r) noexcept {
    if (overflow_.empty() && try_prepare(ring_for(r.op), r)) return;
    overflow_.push_back(r);
    bump(overflowed_);
}

bool uring_channel::try_prepare(ring& g, io_request& r) noexcept {
    if (g.kernel_inflight >= g.cq_budget) return false;
    io_uring_sqe* sqe = io_uring_get_sqe(&g.r);
    if (!sqe) {
        submit_ring(g);
        sqe = io_uring_get_sqe(&g.r);
        if (!sqe) return false;
    }
    prepare_sqe(sqe, g, r);
    ++g.kernel_inflight;
    bump(sqes_);
    return true;
}

void uring_channel::prepare_sqe(io_uring_sqe* sqe, ring& g, io_request& r) noexcept {
    const int fd = g.fixed_file ? 0 : target_.fd;
    switch (r.op) {
        case io_op::read:
        case io_op::write: {
            std::uint64_t done = r.progress;
            std::byte* p = r.data + done;
            auto len = static_cast<unsigned>(std::min(r.length - done, max_sqe_bytes));
            std::uint64_t off = r.offset + done;
            int idx = fixed_index(p, len);
            if (idx >= 0) {
                if (r.op == io_op::read)
                    io_uring_prep_read_fixed(sqe, fd, p, len, off, idx);
                else
                    io_uring_prep_write_fixed(sqe, fd, p, len, off, idx);
                bump(fixed_ios_);
            } else {
                if (r.op == io_op::read)
                    io_uring_prep_read(sqe, fd, p, len, off);
                else
                    io_uring_prep_write(sqe, fd, p, len, off);
                bump(plain_ios_);
            }
            // sync=dsync: the write completes only when durable, as write + fdatasync would (the
            // kernel syncs after the data, or uses FUA where that is enough).
            if (r.op == io_op::write && cfg_.dsync_writes) sqe->rw_flags = RWF_DSYNC;
            break;
        }
        case io_op::flush:
            // sync=fsync: data and all metadata; sync=datasync: data and what reading it needs
            io_uring_prep_fsync(sqe, fd, cfg_.datasync ? IORING_FSYNC_DATASYNC : 0);
            break;
        case io_op::write_zeroes:
            io_uring_prep_fallocate(sqe, fd, write_zeroes_mode(r.stage != 0), r.offset, r.length);
            break;
        case io_op::trim:
            io_uring_prep_fallocate(sqe, fd, trim_mode(), r.offset, r.length);
            break;
    }
    if (g.fixed_file) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data(sqe, &r);
}

int uring_channel::fixed_index(const std::byte* p, std::size_t len) noexcept {
    if (!fixed_table_) return -1;
    dma_region_ref ref;
    if (!find_dma_region(p, len, ref)) return -1;
    std::lock_guard lock(fixed_mu_);
    if (!fixed_table_) return -1;
    for (const fixed_entry& e : fixed_)
        if (e.id == ref.id && e.base == ref.base && e.size == ref.size) return e.slot;
    int slot = -1;
    for (unsigned i = 0; i < fixed_slots; ++i)
        if (!(slot_used_ & (std::uint64_t{1} << i))) {
            slot = static_cast<int>(i);
            break;
        }
    if (slot < 0) return -1;  // table full: plain I/O for buffers beyond the first 64
    if (ref.size > max_sqe_bytes) return -1;  // the kernel registers at most 1 GiB per buffer
    try {
        iovec iov{ref.base, ref.size};
        __u64 tag = 0;
        int rc = io_uring_register_buffers_update_tag(&main_.r, static_cast<unsigned>(slot), &iov,
                                                      &tag, 1);
        if (rc < 0) {
            warn_once(warned_register,
                      std::string("registering a dma_buffer as an io_uring fixed buffer failed (") +
                          std::strerror(-rc) +
                          "); using plain reads/writes for it. Raise RLIMIT_MEMLOCK if ENOMEM.");
            fixed_.push_back({ref.id, ref.base, ref.size, -1});
            return -1;
        }
        fixed_.push_back({ref.id, ref.base, ref.size, slot});
    } catch (...) {
        return -1;
    }
    slot_used_ |= std::uint64_t{1} << slot;
    bump(registrations_);
    return slot;
}

void uring_channel::forget_buffer(const dma_region_ref& region) noexcept {
    std::lock_guard lock(fixed_mu_);
    for (auto it = fixed_.begin(); it != fixed_.end(); ++it) {
        if (it->id != region.id || it->base != region.base) continue;
        if (it->slot >= 0 && main_.live) {
            iovec iov{nullptr, 0};
            __u64 tag = 0;
            io_uring_register_buffers_update_tag(&main_.r, static_cast<unsigned>(it->slot), &iov,
                                                 &tag, 1);
            slot_used_ &= ~(std::uint64_t{1} << it->slot);
            bump(unregistrations_);
        }
        fixed_.erase(it);
        return;
    }
}

void uring_channel::submit_ring(ring& g) noexcept {
    if (!g.live || io_uring_sq_ready(&g.r) == 0) return;
    int rc = io_uring_submit(&g.r);
    bump(submit_calls_);
    // EAGAIN/EBUSY/EINTR: the SQEs stay in the ring and go with the next submit.
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
        warn_once(warned_submit, std::string("io_uring_submit failed: ") + std::strerror(-rc));
}

void uring_channel::drain_overflow() noexcept {
    while (io_request* r = overflow_.front()) {
        if (!try_prepare(ring_for(r->op), *r)) return;
        overflow_.pop_front();
    }
}

void uring_channel::flush_submissions() {
    if (state_ != state::open) return;
    drain_overflow();
    submit_ring(main_);
    submit_ring(aux_);
}

bool uring_channel::reap(ring& g) noexcept {
    if (!g.live || g.kernel_inflight == 0) return false;
    if (g.polled) io_uring_get_events(&g.r);  // IOPOLL: completions appear only when polled
    bool work = false;
    io_uring_cqe* cqes[reap_batch];
    while (true) {
        unsigned n = io_uring_peek_batch_cqe(&g.r, cqes, reap_batch);
        if (n == 0) break;
        work = true;
        // Copy out before advancing: handle() may prepare new SQEs, never touches the CQ.
        struct done {
            io_request* r;
            int res;
        } batch[reap_batch];
        for (unsigned i = 0; i < n; ++i)
            batch[i] = {static_cast<io_request*>(io_uring_cqe_get_data(cqes[i])), cqes[i]->res};
        io_uring_cq_advance(&g.r, n);
        g.kernel_inflight -= n;
        for (unsigned i = 0; i < n; ++i) handle(*batch[i].r, batch[i].res, g.polled);
        if (n < reap_batch) break;
    }
    return work;
}

bool uring_channel::poll() {
    if (state_ != state::open) return false;
    if (notify_armed_) disarm_notify();  // the loop is awake: no eventfd signals until it sleeps
    bool work = reap(main_);
    work = reap(aux_) || work;
    if (!overflow_.empty()) drain_overflow();
    return work;
}

void uring_channel::handle(io_request& r, int res, bool from_polled_ring) noexcept {
    if (res == -EAGAIN || res == -EINTR) {
        enqueue(r);  // transient: try again
        return;
    }
    switch (r.op) {
        case io_op::read:
        case io_op::write: {
            if (res == -EOPNOTSUPP && from_polled_ring) {
                // The block driver has no poll queues: switch this loop to interrupt completions
                // and retry there (also the requests that were in flight on the polled ring).
                if (!poll_refused_) bump(iopoll_fallbacks_);
                warn_once(
                    warned_iopoll,
                    "iopoll: " + target_.path +
                        " refused a polled I/O (EOPNOTSUPP): its driver has no poll queues; "
                        "for NVMe load the driver with nvme.poll_queues=N (e.g. modprobe nvme "
                        "poll_queues=2). Continuing with interrupt completions.");
                poll_refused_ = true;
                fixed_table_ = false;  // fixed buffers are registered on the polled ring only
                enqueue(r);
                return;
            }
            if (res < 0) {
                finish(r, errno_code(res));
                return;
            }
            if (res == 0) {
                warn_once(warned_eof, std::string(io_op_name(r.op)) + " at offset " +
                                          std::to_string(r.offset) + " on " + target_.path +
                                          " transferred 0 bytes (file shrank?); reporting EIO");
                finish(r, errno_code(EIO));
                return;
            }
            r.progress += static_cast<std::uint64_t>(res);
            if (r.progress < r.length) {
                bump(short_retries_);
                enqueue(r);  // short transfer: continue with the remainder
                return;
            }
            finish(r, {});
            return;
        }
        case io_op::flush:
            finish(r, res < 0 ? errno_code(res) : std::error_code{});
            return;
        case io_op::write_zeroes:
            if ((res == -EOPNOTSUPP || res == -EINVAL) && r.stage == 0 &&
                !target_.is_block_device) {
                r.stage = 1;  // filesystem without ZERO_RANGE: punch a hole instead
                enqueue(r);
                return;
            }
            finish(r, res < 0 ? fallocate_error(res) : std::error_code{});
            return;
        case io_op::trim:
            finish(r, res < 0 ? fallocate_error(res) : std::error_code{});
            return;
    }
}

void uring_channel::finish(io_request& r, std::error_code ec) noexcept {
    if (ec) r.fail(ec);
    --in_flight_;
    r.complete();
}

void uring_channel::add_stats(uring_stats& s) const noexcept {
    auto get = [](const std::atomic<std::uint64_t>& a) {
        return a.load(std::memory_order_relaxed);
    };
    s.rings_opened += get(rings_opened_);
    s.submit_calls += get(submit_calls_);
    s.sqes += get(sqes_);
    s.fixed_buffer_ios += get(fixed_ios_);
    s.plain_ios += get(plain_ios_);
    s.buffer_registrations += get(registrations_);
    s.buffer_unregistrations += get(unregistrations_);
    s.overflowed += get(overflowed_);
    s.short_retries += get(short_retries_);
    s.iopoll_fallbacks += get(iopoll_fallbacks_);
    s.notify_rings += get(notify_rings_);
    s.notify_refused += get(notify_refused_);
    s.notify_arms += get(notify_arms_);
}

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
#include "runtime/kernel/uring_device.hpp"

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "runtime/core/uri_params.hpp"
#include "runtime/kernel/kernel_devices.hpp"
#include "runtime/kernel/uring_channel.hpp"
#include "runtime/kernel/uring_probe.hpp"

namespace convme::backends {

uring_device::uring_device(std::unique_ptr<file_target> target, const uring_config& cfg,
                           const std::string& notes)
    : target_(std::move(target)), cfg_(cfg) {
    target_->describe("uring", info_);
    if (cfg_.sqpoll) info_.name.insert(info_.name.size() - 1, ", sqpoll");
    if (cfg_.iopoll) info_.name.insert(info_.name.size() - 1, ", iopoll");
    if (cfg_.dsync_writes) info_.name.insert(info_.name.size() - 1, ", sync=dsync");
    info_.writes_durable = cfg_.dsync_writes;
    if (!notes.empty()) info_.name += " [" + notes + "]";
    info_.queue_depth = cfg_.entries;
    info_.max_transfer = 0;  // the kernel splits large transfers itself
    if (cfg_.fixed_buffers) {
        add_dma_buffer_observer(this);
        observing_ = true;
    }
}

uring_device::~uring_device() {
    if (observing_) remove_dma_buffer_observer(this);
    channels_.release_all();  // drain() normally closed this loop's channel already
}

void uring_device::submit(io_request& r) noexcept {
    channels_.submit(r, [&] { return std::make_unique<uring_channel>(*target_, cfg_, r.owner); });
}

task<void> uring_device::drain() {
    return channels_.drain_current(
        [this] { return std::make_unique<uring_channel>(*target_, cfg_, loop::current()); });
}

uring_stats uring_device::stats() {
    uring_stats s;
    channels_.for_each([&](uring_channel& c) { c.add_stats(s); });
    return s;
}

void uring_device::on_dma_buffer_free(const dma_region_ref& region) noexcept {
    channels_.for_each([&](uring_channel& c) { c.forget_buffer(region); });
}

namespace {

// IOPOLL needs the driver to support polled completions. Try one polled read of the first block
// so an unsupported setup is explained at open time instead of failing every I/O.
int probe_iopoll(const file_target& t, unsigned flags) {
    io_uring ring;
    io_uring_params p;
    std::memset(&p, 0, sizeof p);
    p.flags = flags;
    int rc = io_uring_queue_init_params(4, &ring, &p);
    if (rc < 0) return rc;
    if (t.capacity >= t.block_size) {
        std::size_t align = std::max<std::size_t>(4096, t.mem_alignment);
        std::size_t size = (t.block_size + align - 1) / align * align;
        void* buf = std::aligned_alloc(align, size);
        if (buf) {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            io_uring_prep_read(sqe, t.fd, buf, t.block_size, 0);
            rc = io_uring_submit(&ring);
            if (rc >= 0) {
                io_uring_cqe* cqe = nullptr;
                rc = io_uring_wait_cqe(&ring, &cqe);
                if (rc == 0) {
                    rc = cqe->res < 0 ? cqe->res : 0;
                    io_uring_cqe_seen(&ring, cqe);
                }
            }
            std::free(buf);
        }
    }
    io_uring_queue_exit(&ring);
    return rc;
}

std::string errno_name(int neg) {
    return std::string(std::strerror(-neg));
}

}  // namespace

namespace {
// The uring: URI's own parameters (the file's are open_file_target's).
struct uring_params {
    bool direct = true, sqpoll = false, iopoll = false, fallback = true, lock = true;
    std::uint64_t create_size = 0;
    std::string create_fill;  // "sparse" (a hole, the default) or "zero" (written zeros)
    std::string wait;
    std::string sync;  // "fsync" (the default), "datasync" or "dsync"
    uring_config cfg;
};

bool parse_uring_params(const device_uri& uri, uring_params& p, std::string& why) {
    if (!check_known_params(uri,
                            {"direct", "sqpoll", "iopoll", "entries", "create_size", "fallback",
                             "fixed_buffers", "fixed_files", "wait", "lock", "create_fill", "sync"},
                            why))
        return false;
    std::uint64_t entries = 256;
    if (!param_bool(uri, "direct", true, p.direct, why) ||
        !param_bool(uri, "lock", true, p.lock, why) ||
        !param_bool(uri, "sqpoll", false, p.sqpoll, why) ||
        !param_bool(uri, "iopoll", false, p.iopoll, why) ||
        !param_bool(uri, "fallback", true, p.fallback, why) ||
        !param_bool(uri, "fixed_buffers", true, p.cfg.fixed_buffers, why) ||
        !param_bool(uri, "fixed_files", true, p.cfg.fixed_files, why) ||
        !param_uint(uri, "entries", 256, 1, 32768, entries, why) ||
        !param_size(uri, "create_size", 0, p.create_size, why) ||
        !param_choice(uri, "wait", {"block", "poll"}, "poll", p.wait, why) ||
        !param_choice(uri, "create_fill", {"sparse", "zero"}, "sparse", p.create_fill, why) ||
        !param_choice(uri, "sync", {"fsync", "datasync", "dsync"}, "fsync", p.sync, why))
        return false;
    p.cfg.entries = static_cast<unsigned>(entries);
    p.cfg.dsync_writes = p.sync == "dsync";
    p.cfg.datasync = p.sync == "datasync" || p.cfg.dsync_writes;
    return true;
}

// SQPOLL, IOPOLL and wait=block as far as this kernel and this file allow; what was refused,
// and why, goes to `note`.
template <typename Note>
void choose_ring_modes(const uring_params& p, const file_target& target, uring_config& cfg,
                       Note&& note) {
    if (p.sqpoll) {
        int rc = uring_try_setup(cfg.entries, IORING_SETUP_SQPOLL);
        if (rc == 0) {
            cfg.sqpoll = true;
        } else {
            note("sqpoll refused (" + errno_name(rc) + ")" +
                 (rc == -EPERM ? ": SQPOLL needs CAP_SYS_NICE (root) before Linux 5.11"
                               : std::string()) +
                 "; submitting from the loop instead");
        }
    }
    if (p.iopoll) {
        if (!target.direct) {
            note(
                "iopoll ignored: polled completions need O_DIRECT (direct=1 on a filesystem/device "
                "that supports it)");
        } else {
            int rc =
                probe_iopoll(target, IORING_SETUP_IOPOLL | (cfg.sqpoll ? IORING_SETUP_SQPOLL : 0u));
            if (rc == 0) {
                cfg.iopoll = true;
            } else {
                note("iopoll refused (" + errno_name(rc) +
                     "): the device driver has no poll queues; for NVMe set nvme.poll_queues=N "
                     "(e.g. "
                     "modprobe nvme poll_queues=2); using interrupt completions");
            }
        }
    }
    // SQPOLL and IOPOLL rings are there to poll: IOPOLL completions only appear when reaped, and
    // an SQPOLL user wants the latency of spinning on both sides.
    cfg.block_in_flight = p.wait == "block" && !cfg.sqpoll && !cfg.iopoll;
    if (p.wait == "block" && !cfg.block_in_flight)  // only ever asked for explicitly
        note("wait=block ignored: sqpoll/iopoll rings are polled");
}
}  // namespace

std::unique_ptr<block_device> make_uring_device(const device_uri& uri, std::error_code& ec,
                                                std::string& why) {
    auto fail = [&](std::error_code code) -> std::unique_ptr<block_device> {
        ec = code;
        return nullptr;
    };
    uring_params p;
    if (!parse_uring_params(uri, p, why)) return fail(make_error_code(errc::bad_uri));
    std::string unavailable;
    if (int rc = uring_available(unavailable); rc < 0) {
        why = "uring: " + unavailable;
        return fail(errno_code(rc));
    }
    auto target = std::make_unique<file_target>();
    if (int rc = open_file_target("uring", uri.target,
                                  {.direct = p.direct,
                                   .create_size = p.create_size,
                                   .exclusive = p.lock,
                                   .fill_zero = p.create_fill == "zero"},
                                  *target, why);
        rc < 0)
        return fail(errno_code(rc));
    std::string notes;
    uring_config cfg = p.cfg;
    choose_ring_modes(p, *target, cfg,
                      [&](const std::string& s) { notes += (notes.empty() ? "" : "; ") + s; });
    try {
        return std::make_unique<uring_device>(std::move(target), cfg, notes);
    } catch (const std::exception& e) {
        why = std::string("uring: creating the device: ") + e.what();
        return fail(errno_code(ENOMEM));
    }
}

}  // namespace convme::backends

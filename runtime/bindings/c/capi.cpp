// SPDX-License-Identifier: MIT
// The C API (include/convme/convme.h) over the public C++ API: a convme_queue is a convme::loop
// with its own core id; every request is a detached coroutine on that loop awaiting the
// block_device operation, whose completion either queues the request for its callback or marks
// the handle done. Nothing allocates per I/O after warm-up: requests come from a per-queue free
// list, coroutine frames from the runtime's per-thread frame pool.
#include <cerrno>
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/error.hpp>
#include <convme/nvme.hpp>
#include <convme/nvme_spec.hpp>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <thread>

#include "runtime/bindings/c/capi_internal.hpp"

namespace convme::capi {
namespace {

struct last_error {
    int code = 0;
    std::string msg;
};
thread_local last_error tl_error;
thread_local char tl_strerror[256];

std::mutex dma_mu;
std::map<void*, dma_buffer>& dma_map() {
    static std::map<void*, dma_buffer> m;
    return m;
}

// Queues get core ids 0..255 in turn: the backends' fast-path slots
// (runtime/core/channel_table.hpp; a queue whose id another open queue holds still works, through
// the table's locked search).
constexpr unsigned core_slots = 256;
constexpr unsigned slab_size = 64;

convme_req* get_req(convme_queue* q) {
    if (!q->free_list) {
        auto slab = std::make_unique<convme_req[]>(slab_size);
        for (unsigned i = 0; i < slab_size; ++i) {
            slab[i].next = q->free_list;
            q->free_list = &slab[i];
        }
        q->slabs.push_back(std::move(slab));
    }
    convme_req* r = q->free_list;
    q->free_list = r->next;
    *r = convme_req{};
    r->q = q;
    r->in_use = true;
    return r;
}

void put_req(convme_req* r) noexcept {
    convme_queue* q = r->q;
    r->in_use = false;
    r->next = q->free_list;
    q->free_list = r;
}

// Marks r done and queues it for its callback (result and error text already set).
void complete(convme_req* r) {
    convme_queue* q = r->q;
    r->done = true;
    --q->in_flight;
    ++q->completed;
    if (r->cb) {
        r->next = nullptr;
        if (q->cb_tail)
            q->cb_tail->next = r;
        else
            q->cb_head = r;
        q->cb_tail = r;
    }
}

void finish(convme_req* r, std::error_code ec, const io_request* what) {
    r->result = to_errno(ec);
    if (ec && ec.category() == nvme_category())
        r->nvme_status = static_cast<std::uint16_t>(ec.value());
    if (ec) {
        std::string msg = what ? describe_failure(*r->q->d->dev, *what) : ec.message();
        set_error(r->result, std::move(msg));
    }
    complete(r);
}

task<void> run_io(convme_req* r, io_op op, std::byte* buf, std::uint64_t off, std::uint64_t len) {
    block_device& dev = *r->q->d->dev;
    std::error_code ec;
    switch (op) {
        case io_op::read:
            ec = co_await dev.read(off, {buf, len});
            break;
        case io_op::write:
            ec = co_await dev.write(off, {buf, len});
            break;
        case io_op::flush:
            ec = co_await dev.flush();
            break;
        case io_op::write_zeroes:
            ec = co_await dev.write_zeroes(off, len);
            break;
        case io_op::trim:
            ec = co_await dev.trim(off, len);
            break;
    }
    if (ec) {
        io_request what{};
        what.op = op;
        what.offset = off;
        what.length = op == io_op::flush ? 0 : len;
        what.status = ec;  // describe_failure names this status (it said "Success" without it)
        finish(r, ec, &what);
    } else {
        finish(r, ec, nullptr);
    }
}

task<void> run_nvme(convme_req* r, bool admin, nvme::sqe cmd, std::byte* buf, std::size_t len) {
    block_device& dev = *r->q->d->dev;
    nvme::cqe out{};
    std::error_code ec;
    try {
        // (if/else, not ?: around co_await: gcc 12 miscompiles that)
        if (admin)
            ec = co_await driver::nvme_admin_passthrough(dev, cmd, {buf, len}, out);
        else
            ec = co_await driver::nvme_io_passthrough(dev, cmd, {buf, len}, out);
    } catch (const std::bad_alloc&) {
        ec = make_error_code(std::errc::not_enough_memory);
    }
    if (r->cpl) {
        r->cpl->cdw0 = out.dw0;
        r->cpl->status = ec.category() == nvme_category() ? static_cast<std::uint16_t>(ec.value())
                                                          : nvme::status_sct_sc(out.status);
        r->cpl->dnr = nvme::status_dnr(out.status);
    }
    if (ec) {
        std::string msg = std::string(admin ? "NVMe admin" : "NVMe I/O") + " passthrough opcode 0x";
        char hex[8];
        std::snprintf(hex, sizeof hex, "%02x", cmd.opcode);
        msg += hex;
        msg += " on " + r->q->d->name + ": " + ec.message();
        r->result = to_errno(ec);
        if (ec.category() == nvme_category())
            r->nvme_status = static_cast<std::uint16_t>(ec.value());
        set_error(r->result, msg);
        complete(r);  // not finish(): it would replace the message with a plain one
    } else {
        finish(r, ec, nullptr);
    }
}

unsigned run_callbacks(convme_queue* q) {
    unsigned n = 0;
    while (convme_req* r = q->cb_head) {
        q->cb_head = r->next;
        if (!q->cb_head) q->cb_tail = nullptr;
        r->cb(r, r->result, r->arg);
        put_req(r);
        ++n;
    }
    return n;
}

int finish_submit(convme_queue* q, convme_req* r, convme_cb cb, void* arg, convme_req** out) {
    r->cb = cb;
    r->arg = arg;
    ++q->in_flight;
    if (out) *out = cb ? nullptr : r;
    return 0;
}

}  // namespace

int to_errno(std::error_code ec) noexcept {
    if (!ec) return 0;
    if (ec.category() == std::system_category() || ec.category() == std::generic_category())
        return ec.value() > 0 ? -ec.value() : -EIO;
    if (ec.category() == nvme_category()) return -EIO;
    if (ec.category() == convme_category()) {
        switch (static_cast<errc>(ec.value())) {
            case errc::ok:
                return 0;
            case errc::zero_length:
            case errc::misaligned_offset:
            case errc::misaligned_length:
            case errc::misaligned_buffer:
            case errc::bad_uri:
                return -EINVAL;
            case errc::out_of_range:
                return -ERANGE;
            case errc::unsupported:
                return -EOPNOTSUPP;
            case errc::device_gone:
                return -ENODEV;
            case errc::controller_fatal:
                return -EIO;
            case errc::timeout:
                return -ETIMEDOUT;
            case errc::aborted:
                return -ECANCELED;
            case errc::shutting_down:
                return -ESHUTDOWN;
        }
    }
    return -EIO;
}

int set_error(int code, std::string msg) noexcept {
    try {
        tl_error.code = code;
        tl_error.msg = std::move(msg);
    } catch (...) {
        tl_error.msg.clear();
    }
    return code;
}

unsigned pump(convme_queue* q) {
    const std::uint64_t before = q->completed;
    q->loop->run_once();
    run_callbacks(q);
    return static_cast<unsigned>(q->completed - before);
}

}  // namespace convme::capi

using namespace convme;
using capi::set_error;

namespace {
using clock_type = std::chrono::steady_clock;

clock_type::time_point deadline_of(int timeout_ms) {
    return timeout_ms < 0 ? clock_type::time_point::max()
                          : clock_type::now() + std::chrono::milliseconds(timeout_ms);
}

convme_req* new_req(convme_queue* q) {
    try {
        return capi::get_req(q);
    } catch (...) {
        set_error(-ENOMEM, "out of memory for a request");
        return nullptr;
    }
}

task<void> drain_queue(block_device& dev) {
    co_await dev.drain();
}

bool nvme_like(const convme_dev* d) {
    return d->nvme;
}

io_op to_op(int op, bool& ok) {
    ok = true;
    switch (op) {
        case CONVME_OP_READ:
            return io_op::read;
        case CONVME_OP_WRITE:
            return io_op::write;
        case CONVME_OP_FLUSH:
            return io_op::flush;
        case CONVME_OP_WRITE_ZEROES:
            return io_op::write_zeroes;
        case CONVME_OP_TRIM:
            return io_op::trim;
    }
    ok = false;
    return io_op::read;
}
}  // namespace

extern "C" {

const char* convme_strerror(int err) {
    if (err == 0) return "success";
    if (err == capi::tl_error.code && !capi::tl_error.msg.empty())
        return capi::tl_error.msg.c_str();
    const int e = err < 0 ? -err : err;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, capi::tl_strerror, sizeof capi::tl_strerror);
#else
    if (strerror_r(e, capi::tl_strerror, sizeof capi::tl_strerror) != 0)
        std::snprintf(capi::tl_strerror, sizeof capi::tl_strerror, "error %d", e);
    return capi::tl_strerror;
#endif
}

const char* convme_last_error(void) {
    return capi::tl_error.msg.c_str();
}

int convme_open(const char* uri, convme_dev** out) {
    if (!out) return set_error(-EINVAL, "convme_open: out is NULL");
    *out = nullptr;
    if (!uri) return set_error(-EINVAL, "convme_open: uri is NULL");
    std::error_code ec;
    std::string why;
    try {
        auto d = std::make_unique<convme_dev>();
        d->dev = open_device(uri, ec, why);
        if (!d->dev) {
            int rc = capi::to_errno(ec);
            if (rc == 0) rc = -EIO;
            return set_error(rc,
                             why.empty() ? "open " + std::string(uri) + ": " + ec.message() : why);
        }
        const device_info& i = d->dev->info();
        d->uri = uri;
        d->name = i.name;
        d->backend = i.backend;
        driver::nvme_driver_stats st;
        d->nvme = driver::get_nvme_stats(*d->dev, st);
        d->info.name = d->name.c_str();
        d->info.backend = d->backend.c_str();
        d->info.block_size = i.block_size;
        d->info.capacity = i.capacity;
        d->info.max_transfer = i.max_transfer;
        d->info.queue_depth = i.queue_depth;
        d->info.mem_alignment = i.mem_alignment;
        d->info.supports_flush = i.supports_flush;
        d->info.supports_write_zeroes = i.supports_write_zeroes;
        d->info.supports_trim = i.supports_trim;
        d->info.nvme = d->nvme;
        *out = d.release();
        return 0;
    } catch (const std::bad_alloc&) {
        return set_error(-ENOMEM, "open " + std::string(uri) + ": out of memory");
    }
}

int convme_close(convme_dev* d) {
    if (!d) return 0;
    if (d->open_queues.load() != 0)
        return set_error(-EBUSY, "convme_close: " + std::to_string(d->open_queues.load()) +
                                     " queue(s) of " + d->name +
                                     " are still open; close them first");
    delete d;
    return 0;
}

const convme_info* convme_get_info(const convme_dev* d) {
    return d ? &d->info : nullptr;
}

void* convme_dma_alloc(size_t size) {
    std::error_code ec;
    dma_buffer b = dma_buffer::allocate(size ? size : 1, ec);
    if (ec || b.empty()) {
        set_error(
            capi::to_errno(ec ? ec : std::make_error_code(std::errc::not_enough_memory)),
            "convme_dma_alloc(" + std::to_string(size) + "): " + (ec ? ec.message() : "failed"));
        return nullptr;
    }
    void* p = b.data();
    try {
        std::lock_guard lk(capi::dma_mu);
        capi::dma_map().emplace(p, std::move(b));
    } catch (...) {
        set_error(-ENOMEM, "convme_dma_alloc: out of memory");
        return nullptr;
    }
    return p;
}

void convme_dma_free(void* buf) {
    if (!buf) return;
    dma_buffer victim;
    {
        std::lock_guard lk(capi::dma_mu);
        auto it = capi::dma_map().find(buf);
        if (it == capi::dma_map().end()) return;
        victim = std::move(it->second);
        capi::dma_map().erase(it);
    }
}

int convme_queue_open(convme_dev* d, convme_queue** out) {
    if (!d || !out) return set_error(-EINVAL, "convme_queue_open: NULL argument");
    *out = nullptr;
    const unsigned core = d->next_core.fetch_add(1);
    try {
        auto q = std::make_unique<convme_queue>();
        q->d = d;
        loop_options lo;
        lo.core_id = core % capi::core_slots;
        q->loop = std::make_unique<loop>(lo);
        d->open_queues.fetch_add(1);
        *out = q.release();
        return 0;
    } catch (const std::exception& e) {
        return set_error(-ENOMEM, std::string("convme_queue_open: ") + e.what());
    }
}

int convme_queue_close(convme_queue* q) {
    if (!q) return 0;
    int rc = 0;
    try {
        q->loop->run_until_complete(drain_queue(*q->d->dev));
        capi::run_callbacks(q);
    } catch (const std::exception& e) {
        rc = set_error(-EIO, std::string("convme_queue_close: ") + e.what());
    }
    q->d->open_queues.fetch_sub(1);
    delete q;
    return rc;
}

unsigned convme_queue_in_flight(const convme_queue* q) {
    return q ? q->in_flight : 0;
}

int convme_submit(convme_queue* q, int op, void* buf, uint64_t offset, uint64_t length,
                  convme_cb cb, void* arg, convme_req** out) {
    if (!q) return set_error(-EINVAL, "convme_submit: queue is NULL");
    bool ok;
    io_op o = to_op(op, ok);
    if (!ok) return set_error(-EINVAL, "convme_submit: unknown op " + std::to_string(op));
    if (!cb && !out)
        return set_error(-EINVAL, "convme_submit: give a callback or a request handle pointer");
    convme_req* r = new_req(q);
    if (!r) return -ENOMEM;
    try {
        q->loop->spawn(capi::run_io(r, o, static_cast<std::byte*>(buf), offset, length));
    } catch (const std::bad_alloc&) {
        capi::put_req(r);
        return set_error(-ENOMEM, "convme_submit: out of memory");
    }
    return capi::finish_submit(q, r, cb, arg, out);
}

int convme_submit_read(convme_queue* q, void* buf, uint64_t offset, uint64_t length, convme_cb cb,
                       void* arg, convme_req** out) {
    return convme_submit(q, CONVME_OP_READ, buf, offset, length, cb, arg, out);
}
int convme_submit_write(convme_queue* q, const void* buf, uint64_t offset, uint64_t length,
                        convme_cb cb, void* arg, convme_req** out) {
    return convme_submit(q, CONVME_OP_WRITE, const_cast<void*>(buf), offset, length, cb, arg, out);
}

int convme_poll(convme_queue* q, unsigned min_complete, int timeout_ms) {
    if (!q) return set_error(-EINVAL, "convme_poll: queue is NULL");
    unsigned n = capi::pump(q);
    const auto enough = [&] { return n >= min_complete && (n > 0 || min_complete == 0); };
    if (timeout_ms == 0 || enough()) return static_cast<int>(n);
    // Waiting: the clock is read once per 16 passes, not on every pass of the spin.
    const auto deadline = deadline_of(timeout_ms);
    for (unsigned pass = 1;; ++pass) {
        n += capi::pump(q);
        if (enough()) break;
        if ((pass & 15) == 0 && clock_type::now() >= deadline) break;
    }
    return static_cast<int>(n);
}

int convme_wait(convme_queue* q, convme_req* r, int timeout_ms) {
    if (!q || !r || !r->in_use || r->q != q || r->cb)
        return set_error(-EINVAL, "convme_wait: not a pending request handle of this queue");
    const auto deadline = deadline_of(timeout_ms);
    while (!r->done) {
        capi::pump(q);
        if (r->done) break;
        if (timeout_ms == 0 || clock_type::now() >= deadline)
            return set_error(-ETIMEDOUT, "convme_wait: the request did not complete within " +
                                             std::to_string(timeout_ms) +
                                             " ms (it stays in flight)");
    }
    const int rc = r->result;
    capi::put_req(r);
    return rc;
}

int convme_req_test(const convme_req* r) {
    return r && r->done ? 1 : 0;
}
int convme_req_result(const convme_req* r) {
    return r ? r->result : -EINVAL;
}
void* convme_req_arg(const convme_req* r) {
    return r ? r->arg : nullptr;
}
void convme_req_free(convme_req* r) {
    if (r && r->in_use && r->done && !r->cb) capi::put_req(r);
}

static int sync_op(convme_queue* q, int op, void* buf, uint64_t off, uint64_t len) {
    convme_req* r = nullptr;
    if (int rc = convme_submit(q, op, buf, off, len, nullptr, nullptr, &r); rc < 0) return rc;
    return convme_wait(q, r, -1);
}

int convme_read(convme_queue* q, void* buf, uint64_t offset, uint64_t length) {
    return sync_op(q, CONVME_OP_READ, buf, offset, length);
}
int convme_write(convme_queue* q, const void* buf, uint64_t offset, uint64_t length) {
    return sync_op(q, CONVME_OP_WRITE, const_cast<void*>(buf), offset, length);
}
int convme_flush(convme_queue* q) {
    return sync_op(q, CONVME_OP_FLUSH, nullptr, 0, 0);
}
int convme_write_zeroes(convme_queue* q, uint64_t offset, uint64_t length) {
    return sync_op(q, CONVME_OP_WRITE_ZEROES, nullptr, offset, length);
}
int convme_trim(convme_queue* q, uint64_t offset, uint64_t length) {
    return sync_op(q, CONVME_OP_TRIM, nullptr, offset, length);
}

int convme_submit_nvme(convme_queue* q, int admin, const convme_nvme_cmd* cmd, void* buf,
                       size_t len, convme_nvme_cpl* cpl, convme_cb cb, void* arg,
                       convme_req** out) {
    if (!q || !cmd) return set_error(-EINVAL, "convme_submit_nvme: NULL argument");
    if (!cb && !out)
        return set_error(-EINVAL,
                         "convme_submit_nvme: give a callback or a request handle pointer");
    if (!nvme_like(q->d))
        return set_error(-EOPNOTSUPP, "NVMe passthrough: " + q->d->name +
                                          " is not an NVMe device (backend " + q->d->backend +
                                          "); use sim: or vfio:");
    nvme::sqe s{};
    s.opcode = cmd->opcode;
    s.flags = cmd->flags;
    s.nsid = cmd->nsid;
    s.cdw2 = cmd->cdw2;
    s.cdw3 = cmd->cdw3;
    s.cdw10 = cmd->cdw10;
    s.cdw11 = cmd->cdw11;
    s.cdw12 = cmd->cdw12;
    s.cdw13 = cmd->cdw13;
    s.cdw14 = cmd->cdw14;
    s.cdw15 = cmd->cdw15;
    convme_req* r = new_req(q);
    if (!r) return -ENOMEM;
    r->cpl = cpl;
    if (cpl) *cpl = convme_nvme_cpl{};
    try {
        q->loop->spawn(
            capi::run_nvme(r, admin != 0, s, static_cast<std::byte*>(buf), buf ? len : 0));
    } catch (const std::bad_alloc&) {
        capi::put_req(r);
        return set_error(-ENOMEM, "convme_submit_nvme: out of memory");
    }
    return capi::finish_submit(q, r, cb, arg, out);
}

static int sync_nvme(convme_queue* q, int admin, const convme_nvme_cmd* cmd, void* buf, size_t len,
                     convme_nvme_cpl* cpl) {
    convme_nvme_cpl local{};
    convme_req* r = nullptr;
    if (int rc =
            convme_submit_nvme(q, admin, cmd, buf, len, cpl ? cpl : &local, nullptr, nullptr, &r);
        rc < 0)
        return rc;
    return convme_wait(q, r, -1);
}

int convme_nvme_io(convme_queue* q, const convme_nvme_cmd* cmd, void* buf, size_t len,
                   convme_nvme_cpl* cpl) {
    return sync_nvme(q, 0, cmd, buf, len, cpl);
}
int convme_nvme_admin(convme_queue* q, const convme_nvme_cmd* cmd, void* buf, size_t len,
                      convme_nvme_cpl* cpl) {
    return sync_nvme(q, 1, cmd, buf, len, cpl);
}

int convme_get_nvme_stats(const convme_dev* d, convme_nvme_stats* out) {
    if (!d || !out) return set_error(-EINVAL, "convme_get_nvme_stats: NULL argument");
    driver::nvme_driver_stats st;
    if (!driver::get_nvme_stats(*d->dev, st))
        return set_error(-EOPNOTSUPP, d->name + " is not an NVMe device: no driver statistics");
    out->submitted = st.submitted;
    out->completed = st.completed;
    out->split_requests = st.split_requests;
    out->timeouts = st.timeouts;
    out->resets = st.resets;
    out->admin_commands = st.admin_commands;
    out->io_queues = st.io_queues;
    out->page_size = st.page_size;
    out->aborts_sent = st.aborts_sent;
    out->doorbell_kicks = st.doorbell_kicks;
    return 0;
}

}  // extern "C"

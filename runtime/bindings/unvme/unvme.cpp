// SPDX-License-Identifier: MIT
// libunvme: UNVMe's client API (include/unvme.h) on convme's C API. A session is one convme_dev;
// each UNVMe I/O queue is a convme_queue (a loop and, from its first I/O, a queue pair), the
// admin queue a further convme_queue driven under a mutex. A descriptor (iod) wraps one convme
// request; polling pumps the iod's queue, so every completion on it is reaped.
#include <convme/convme.h>
#include <unvme.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "runtime/bindings/c/capi_internal.hpp"

namespace {

constexpr std::uint32_t iod_magic = 0x756e766d;  // "unvm"

struct uqueue;

struct udesc {
    _unvme_iod pub;  // first: unvme_iod_t points here
    std::uint32_t magic = 0;
    convme_req* req = nullptr;
    uqueue* q = nullptr;
    convme_nvme_cpl cpl{};
    unsigned cost = 0;  // commands this descriptor occupies while in flight
    int result = 0;     // convme result once done
    std::uint16_t nvme_status = 0;
    bool done = false;
    udesc* next_free = nullptr;
};

struct session;

struct uqueue {
    session* s = nullptr;
    int qid = 0;
    convme_queue* cq = nullptr;
    unsigned outstanding = 0;  // commands in flight (not yet completed by the device)
    udesc* free_list = nullptr;
    std::vector<std::unique_ptr<udesc[]>> slabs;
    std::uint32_t next_id = 1;
};

struct session {
    unvme_ns_t ns{};
    convme_dev* dev = nullptr;
    std::vector<std::unique_ptr<uqueue>> ioqs;
    uqueue adminq;
    std::mutex admin_mu;
    std::mutex buf_mu;
    std::set<void*> bufs;
};

session* session_of(const unvme_ns_t* ns) {
    return ns ? static_cast<session*>(ns->ses) : nullptr;
}

uqueue* queue_of(session* s, int qid) {
    if (!s) return nullptr;
    if (qid == -1) return &s->adminq;
    if (qid < 0 || static_cast<std::size_t>(qid) >= s->ioqs.size()) {
        errno = EINVAL;
        return nullptr;
    }
    return s->ioqs[qid].get();
}

udesc* get_desc(uqueue* q) {
    if (!q->free_list) {
        constexpr unsigned n = 64;
        auto slab = std::make_unique<udesc[]>(n);
        for (unsigned i = 0; i < n; ++i) {
            slab[i].next_free = q->free_list;
            q->free_list = &slab[i];
        }
        q->slabs.push_back(std::move(slab));
    }
    udesc* d = q->free_list;
    q->free_list = d->next_free;
    d->next_free = nullptr;
    d->magic = iod_magic;
    d->q = q;
    d->req = nullptr;
    d->cpl = {};
    d->done = false;
    d->result = 0;
    d->nvme_status = 0;
    d->pub = {};
    d->pub.qid = static_cast<u32>(q->qid);
    d->pub.id = q->next_id++;
    if (q->next_id == 0) q->next_id = 1;
    return d;
}

void put_desc(udesc* d) {
    uqueue* q = d->q;
    d->magic = 0;
    d->cost = 0;
    d->next_free = q->free_list;
    q->free_list = d;
}

// NVMe-like status for a result that did not come from an NVMe completion.
int status_for(int rc, std::uint16_t nvme_status) {
    if (nvme_status) return nvme_status;
    switch (rc) {
        case 0:
            return 0;
        case -EINVAL:
            return 0x0002;  // invalid field in command
        case -ERANGE:
            return 0x0080;  // LBA out of range
        case -EOPNOTSUPP:
            return 0x0001;  // invalid command opcode
        case -ECANCELED:
        case -ETIMEDOUT:
            return 0x0007;  // command abort requested (driver timeout, reset)
        default:
            return 0x0006;  // internal error
    }
}

// Completion callback (runs inside convme_poll on the queue's thread): the command left the queue.
void on_done(convme_req* r, int result, void* arg) {
    udesc* d = static_cast<udesc*>(arg);
    d->result = result;
    d->nvme_status = r->nvme_status;
    d->done = true;
    d->q->outstanding -= d->cost;
}

// Undo a submission that convme refused.
void unsubmit(udesc* d) {
    d->q->outstanding -= d->cost;
    put_desc(d);
}

// One check (sec == 0) or wait up to `sec` seconds for `d`. The admin queue is polled under the
// session's admin mutex (several threads may use it).
int poll_desc(udesc* d, int sec, u32* cqe_cs) {
    if (!d || d->magic != iod_magic) {
        errno = EINVAL;
        return -1;
    }
    uqueue* q = d->q;
    std::unique_lock<std::mutex> lk;
    if (q->qid == -1) lk = std::unique_lock<std::mutex>(q->s->admin_mu);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(sec < 0 ? 0 : sec);
    for (;;) {
        if (d->done) break;
        convme_poll(q->cq, 0, 0);
        if (d->done) break;
        if (sec <= 0 || std::chrono::steady_clock::now() >= deadline) return -1;
    }
    const int status = status_for(d->result, d->nvme_status ? d->nvme_status : d->cpl.status);
    if (cqe_cs) *cqe_cs = d->cpl.cdw0;
    put_desc(d);
    return status;
}

// Make room for `cost` commands on an I/O queue: poll it while it is full.
void wait_for_room(uqueue* q, unsigned cost) {
    const unsigned limit = q->s->ns.maxiopq ? q->s->ns.maxiopq : 1;
    while (q->outstanding > 0 && q->outstanding + cost > limit) convme_poll(q->cq, 1, 10);
}

udesc* submit_rw(const unvme_ns_t* ns, int qid, int opc, void* buf, u64 slba, u32 nlb) {
    session* s = session_of(ns);
    if (!s || qid < 0) {
        errno = EINVAL;
        return nullptr;
    }
    uqueue* q = queue_of(s, qid);
    if (!q) return nullptr;
    const unsigned per = ns->maxbpio ? ns->maxbpio : 1;
    const unsigned cost = nlb == 0 ? 1 : (nlb + per - 1) / per;
    wait_for_room(q, cost);
    udesc* d;
    try {
        d = get_desc(q);
    } catch (...) {
        errno = ENOMEM;
        return nullptr;
    }
    d->pub.buf = buf;
    d->pub.slba = slba;
    d->pub.nlb = nlb;
    d->pub.opc = static_cast<u32>(opc);
    d->cost = cost;
    q->outstanding += cost;
    const int rc = convme_submit(q->cq, opc == 0x01 ? CONVME_OP_WRITE : CONVME_OP_READ, buf,
                                 slba << ns->blockshift, static_cast<u64>(nlb) << ns->blockshift,
                                 on_done, d, nullptr);
    if (rc < 0) {
        unsubmit(d);
        errno = -rc;
        return nullptr;
    }
    return d;
}

udesc* submit_cmd(const unvme_ns_t* ns, int qid, int opc, int nsid, void* buf, u64 bufsz,
                  const u32* cdw) {
    session* s = session_of(ns);
    uqueue* q = queue_of(s, qid);
    if (!q) {
        errno = EINVAL;
        return nullptr;
    }
    convme_nvme_cmd c{};
    c.opcode = static_cast<std::uint8_t>(opc);
    c.nsid = static_cast<std::uint32_t>(nsid);
    if (cdw) {
        c.cdw10 = cdw[0];
        c.cdw11 = cdw[1];
        c.cdw12 = cdw[2];
        c.cdw13 = cdw[3];
        c.cdw14 = cdw[4];
        c.cdw15 = cdw[5];
    }
    std::unique_lock<std::mutex> lk;
    if (qid == -1)
        lk = std::unique_lock<std::mutex>(s->admin_mu);
    else
        wait_for_room(q, 1);
    udesc* d;
    try {
        d = get_desc(q);
    } catch (...) {
        errno = ENOMEM;
        return nullptr;
    }
    d->pub.buf = buf;
    d->pub.opc = static_cast<u32>(opc);
    d->cost = qid == -1 ? 0 : 1;
    q->outstanding += d->cost;
    const int rc =
        convme_submit_nvme(q->cq, qid == -1, &c, buf, buf ? static_cast<size_t>(bufsz) : 0, &d->cpl,
                           on_done, d, nullptr);
    if (rc < 0) {
        std::fprintf(stderr, "unvme: %s\n", convme_strerror(rc));
        unsubmit(d);
        errno = -rc;
        return nullptr;
    }
    return d;
}

int ilog2(std::uint64_t v) {
    int n = 0;
    while (v > 1) {
        v >>= 1;
        ++n;
    }
    return n;
}

bool all_hex(const std::string& s) {
    if (s.empty()) return false;
    for (char ch : s)
        if (!std::isxdigit(static_cast<unsigned char>(ch))) return false;
    return true;
}

// "BB:DD.F[/NSID]" or "DDDD:BB:DD.F[/NSID]" (hex). Fills dom, bus, dev, fn, nsid.
bool parse_bdf(const std::string& name, unsigned& dom, unsigned& bus, unsigned& dv, unsigned& fn,
               unsigned& nsid) {
    std::string s = name, ns_part;
    nsid = 1;
    if (auto slash = s.find('/'); slash != std::string::npos) {
        ns_part = s.substr(slash + 1);
        s = s.substr(0, slash);
        if (!all_hex(ns_part)) return false;
    }
    std::vector<std::string> colon;
    std::size_t start = 0;
    for (;;) {
        auto c = s.find(':', start);
        colon.push_back(s.substr(start, c == std::string::npos ? std::string::npos : c - start));
        if (c == std::string::npos) break;
        start = c + 1;
    }
    if (colon.size() != 2 && colon.size() != 3) return false;
    const std::string last = colon.back();
    auto dot = last.find('.');
    if (dot == std::string::npos) return false;
    const std::string d = last.substr(0, dot), f = last.substr(dot + 1);
    const std::string b = colon[colon.size() - 2];
    const std::string dm = colon.size() == 3 ? colon[0] : "0";
    if (!all_hex(d) || !all_hex(f) || !all_hex(b) || !all_hex(dm)) return false;
    dom = static_cast<unsigned>(std::stoul(dm, nullptr, 16));
    bus = static_cast<unsigned>(std::stoul(b, nullptr, 16));
    dv = static_cast<unsigned>(std::stoul(d, nullptr, 16));
    fn = static_cast<unsigned>(std::stoul(f, nullptr, 16));
    if (!ns_part.empty()) nsid = static_cast<unsigned>(std::stoul(ns_part, nullptr, 16));
    return dom <= 0xffff && bus <= 0xff && dv <= 0x1f && fn <= 7 && nsid > 0;
}

void add_param(std::string& uri, const std::string& key, const std::string& value) {
    if (uri.find("?" + key + "=") != std::string::npos ||
        uri.find("&" + key + "=") != std::string::npos)
        return;
    uri += uri.find('?') == std::string::npos ? '?' : '&';
    uri += key + "=" + value;
}

void copy_field(char* dst, std::size_t n, const char* src) {
    std::memset(dst, ' ', n);
    std::memcpy(dst, src, std::min(n, std::strlen(src)));
}

// Identify, Get Features (number of queues) and the namespace geometry into s->ns.
int fill_ns(session* s, unsigned pci, unsigned nsid, int qcount, int qsize,
            const std::string& shown) {
    const convme_info* info = convme_get_info(s->dev);
    unvme_ns_t& ns = s->ns;
    ns.pci = pci;
    ns.id = static_cast<u16>(nsid);
    std::snprintf(ns.device, sizeof ns.device, "%s", shown.c_str());
    std::uint32_t page = 4096;
    unsigned maxq = 64, nscount = 1;
    if (info->nvme) {
        convme_nvme_stats st;
        if (convme_get_nvme_stats(s->dev, &st) == 0 && st.page_size) page = st.page_size;
        void* idbuf = convme_dma_alloc(4096);
        if (!idbuf) return -ENOMEM;
        convme_nvme_cmd c{};
        convme_nvme_cpl cpl{};
        c.opcode = 0x06;  // Identify controller
        c.cdw10 = 1;
        int rc = convme_nvme_admin(s->adminq.cq, &c, idbuf, 4096, &cpl);
        if (rc == 0) {
            const auto* b = static_cast<const unsigned char*>(idbuf);
            ns.vid = static_cast<u16>(b[0] | (b[1] << 8));
            std::memcpy(ns.sn, b + 4, 20);
            std::memcpy(ns.mn, b + 24, 40);
            std::memcpy(ns.fr, b + 64, 8);
            nscount =
                b[516] | (b[517] << 8) | (b[518] << 16) | (static_cast<unsigned>(b[519]) << 24);
        }
        convme_dma_free(idbuf);
        if (rc != 0) return rc;
        c = {};
        c.opcode = 0x0a;  // Get Features: number of queues
        c.cdw10 = 0x07;
        rc = convme_nvme_admin(s->adminq.cq, &c, nullptr, 0, &cpl);
        if (rc == 0) {
            const unsigned nsq = cpl.cdw0 & 0xffff, ncq = cpl.cdw0 >> 16;
            maxq = std::min(nsq, ncq) + 1;
        }
    } else {
        copy_field(ns.mn, sizeof ns.mn, ("convme " + std::string(info->backend)).c_str());
        copy_field(ns.sn, sizeof ns.sn, "0");
        copy_field(ns.fr, sizeof ns.fr, "convme");
    }
    ns.blocksize = static_cast<u16>(info->block_size);
    ns.blockshift = static_cast<u16>(ilog2(info->block_size));
    ns.pagesize = static_cast<u16>(page);
    ns.pageshift = static_cast<u16>(ilog2(page));
    ns.bpshift = static_cast<u16>(ns.pageshift > ns.blockshift ? ns.pageshift - ns.blockshift : 0);
    ns.nbpp = static_cast<u16>(1u << ns.bpshift);
    ns.blockcount = info->capacity >> ns.blockshift;
    ns.pagecount = ns.blockcount >> ns.bpshift;
    std::uint64_t maxppio = info->max_transfer ? info->max_transfer / page : page / 8;
    if (maxppio == 0) maxppio = 1;
    if (maxppio > (0xffffu >> ns.bpshift)) maxppio = 0xffffu >> ns.bpshift;
    ns.maxppio = static_cast<u16>(maxppio);
    ns.maxbpio = static_cast<u16>(maxppio << ns.bpshift);
    ns.nscount = static_cast<u16>(nscount);
    ns.maxqcount = maxq;
    ns.qcount = static_cast<u32>(qcount <= 0 ? static_cast<int>(maxq) : qcount);
    ns.maxqsize = info->nvme ? info->queue_depth + 1 : 65536;
    ns.qsize = static_cast<u32>(qsize <= 1 ? UNVME_QSIZE : qsize);
    if (ns.qsize > ns.maxqsize) ns.qsize = ns.maxqsize;
    ns.maxiopq = static_cast<u16>(ns.qsize - 1);
    ns.ses = s;
    return 0;
}

void close_session(session* s) {
    for (auto& q : s->ioqs)
        if (q->cq) convme_queue_close(q->cq);
    if (s->adminq.cq) convme_queue_close(s->adminq.cq);
    {
        std::lock_guard lk(s->buf_mu);
        for (void* b : s->bufs) convme_dma_free(b);
        s->bufs.clear();
    }
    if (s->dev) convme_close(s->dev);
    delete s;
}

}  // namespace

extern "C" {

const unvme_ns_t* unvme_openq(const char* pciname, int qcount, int qsize) {
    if (!pciname || qcount < 0 || qsize < 0 || qsize == 1) {
        std::fprintf(stderr, "unvme: invalid arguments (pciname %s, qcount %d, qsize %d)\n",
                     pciname ? pciname : "NULL", qcount, qsize);
        errno = EINVAL;
        return nullptr;
    }
    const std::string name = pciname;
    std::string uri, shown;
    unsigned dom = 0, bus = 0, dv = 0, fn = 0, nsid = 1, pci = 0;
    const int want_qd = qsize > 1 ? qsize : UNVME_QSIZE;
    if (parse_bdf(name, dom, bus, dv, fn, nsid)) {
        char bdf[32];
        std::snprintf(bdf, sizeof bdf, "%04x:%02x:%02x.%x", dom, bus, dv, fn);
        uri = std::string("vfio:") + bdf;
        add_param(uri, "ns", std::to_string(nsid));
        const char* noiommu = std::getenv("UNVME_NOIOMMU");
        if (noiommu && *noiommu && std::strcmp(noiommu, "0") != 0)
            add_param(uri, "mode", "noiommu");
        pci = (bus << 16) | (dv << 8) | fn;
        char dev[32];
        std::snprintf(dev, sizeof dev, "%02x:%02x.%x/%x", bus, dv, fn, nsid);
        shown = dev;
    } else if (name.find(':') != std::string::npos && !all_hex(name.substr(0, name.find(':')))) {
        uri = name;  // a convme URI
        const std::string scheme = name.substr(0, name.find(':'));
        if (scheme == "vfio" && std::getenv("UNVME_NOIOMMU")) {
            const char* noiommu = std::getenv("UNVME_NOIOMMU");
            if (*noiommu && std::strcmp(noiommu, "0") != 0) add_param(uri, "mode", "noiommu");
        }
        shown = name.substr(0, std::min<std::size_t>(name.find('?'), 15));
    } else {
        std::fprintf(stderr,
                     "unvme: invalid PCI name '%s' (expected BB:DD.F[/NSID], DDDD:BB:DD.F[/NSID] "
                     "or a convme "
                     "URI such as sim:mem?size=1G)\n",
                     pciname);
        errno = EINVAL;
        return nullptr;
    }
    const std::string scheme = uri.substr(0, uri.find(':'));
    if (scheme == "sim" || scheme == "vfio") add_param(uri, "qd", std::to_string(want_qd));
    auto* s = new (std::nothrow) session;
    if (!s) return nullptr;
    int rc = convme_open(uri.c_str(), &s->dev);
    if (rc == 0) rc = convme_queue_open(s->dev, &s->adminq.cq);
    s->adminq.s = s;
    s->adminq.qid = -1;
    if (rc == 0) {
        if (const char* p = std::strstr(uri.c_str(), "ns="); p && scheme != "vfio")
            nsid = std::atoi(p + 3);
        rc = fill_ns(s, pci, nsid, qcount, qsize, shown);
    }
    for (u32 i = 0; rc == 0 && i < s->ns.qcount; ++i) {
        auto q = std::make_unique<uqueue>();
        q->s = s;
        q->qid = static_cast<int>(i);
        rc = convme_queue_open(s->dev, &q->cq);
        s->ioqs.push_back(std::move(q));
    }
    if (rc != 0) {
        std::fprintf(stderr, "unvme: %s: %s\n", uri.c_str(), convme_strerror(rc));
        close_session(s);
        errno = -rc;
        return nullptr;
    }
    return &s->ns;
}

const unvme_ns_t* unvme_open(const char* pciname) {
    return unvme_openq(pciname, 0, 0);
}

int unvme_close(const unvme_ns_t* ns) {
    session* s = session_of(ns);
    if (!s) return -1;
    close_session(s);
    return 0;
}

void* unvme_alloc(const unvme_ns_t* ns, u64 size) {
    session* s = session_of(ns);
    if (!s || size == 0) return nullptr;
    void* p = convme_dma_alloc(static_cast<size_t>(size));
    if (!p) {
        std::fprintf(stderr, "unvme: %s\n", convme_last_error());
        return nullptr;
    }
    std::lock_guard lk(s->buf_mu);
    s->bufs.insert(p);
    return p;
}

int unvme_free(const unvme_ns_t* ns, void* buf) {
    session* s = session_of(ns);
    if (!s || !buf) return -1;
    {
        std::lock_guard lk(s->buf_mu);
        if (s->bufs.erase(buf) == 0) return -1;
    }
    convme_dma_free(buf);
    return 0;
}

unvme_iod_t unvme_aread(const unvme_ns_t* ns, int qid, void* buf, u64 slba, u32 nlb) {
    udesc* d = submit_rw(ns, qid, 0x02, buf, slba, nlb);
    return d ? &d->pub : nullptr;
}

unvme_iod_t unvme_awrite(const unvme_ns_t* ns, int qid, const void* buf, u64 slba, u32 nlb) {
    udesc* d = submit_rw(ns, qid, 0x01, const_cast<void*>(buf), slba, nlb);
    return d ? &d->pub : nullptr;
}

unvme_iod_t unvme_acmd(const unvme_ns_t* ns, int qid, int opc, int nsid, void* buf, u64 bufsz,
                       u32 cdw10_15[6]) {
    udesc* d = submit_cmd(ns, qid, opc, nsid, buf, bufsz, cdw10_15);
    return d ? &d->pub : nullptr;
}

int unvme_apoll(unvme_iod_t iod, int timeout) {
    return poll_desc(reinterpret_cast<udesc*>(iod), timeout, nullptr);
}

int unvme_apoll_cs(unvme_iod_t iod, int timeout, u32* cqe_cs) {
    return poll_desc(reinterpret_cast<udesc*>(iod), timeout, cqe_cs);
}

int unvme_read(const unvme_ns_t* ns, int qid, void* buf, u64 slba, u32 nlb) {
    udesc* d = submit_rw(ns, qid, 0x02, buf, slba, nlb);
    return d ? poll_desc(d, UNVME_TIMEOUT, nullptr) : -1;
}

int unvme_write(const unvme_ns_t* ns, int qid, const void* buf, u64 slba, u32 nlb) {
    udesc* d = submit_rw(ns, qid, 0x01, const_cast<void*>(buf), slba, nlb);
    return d ? poll_desc(d, UNVME_TIMEOUT, nullptr) : -1;
}

int unvme_cmd(const unvme_ns_t* ns, int qid, int opc, int nsid, void* buf, u64 bufsz,
              u32 cdw10_15[6], u32* cqe_cs) {
    udesc* d = submit_cmd(ns, qid, opc, nsid, buf, bufsz, cdw10_15);
    return d ? poll_desc(d, UNVME_TIMEOUT, cqe_cs) : -1;
}

}  // extern "C"

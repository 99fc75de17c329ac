// SPDX-License-Identifier: MIT
// dma_buffer: mmap'ed, page-aligned, zero-filled, mlock'ed memory plus a process-wide registry.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <convme/dma_buffer.hpp>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace convme {

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

struct registry {
    std::shared_mutex mu;
    std::map<std::uintptr_t, dma_region_ref> by_base;
    std::uint32_t next_id = 1;
    std::vector<std::uint32_t> free_ids;  // min-heap: reuse the smallest freed id first

    std::shared_mutex observers_mu;
    std::vector<dma_buffer_observer*> observers;

    std::mutex warning_mu;
    std::string warning;
};

// Never destroyed: buffers held by static objects may be freed after ordinary statics are gone.
registry& reg() {
    static registry* r = new registry;
    return *r;
}

std::uint32_t take_id(registry& r) {
    if (!r.free_ids.empty()) {
        std::pop_heap(r.free_ids.begin(), r.free_ids.end(), std::greater<>{});
        const std::uint32_t id = r.free_ids.back();
        r.free_ids.pop_back();
        return id;
    }
    return r.next_id++;
}

void remember_lock_failure(std::size_t bytes, int err) {
    registry& r = reg();
    std::lock_guard lk(r.warning_mu);
    if (!r.warning.empty()) return;
    rlimit lim{};
    std::string limit = "unknown";
    if (::getrlimit(RLIMIT_MEMLOCK, &lim) == 0)
        limit =
            lim.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(lim.rlim_cur) + " bytes";
    r.warning =
        "convme: mlock of a " + std::to_string(bytes) + "-byte DMA buffer failed (" +
        std::strerror(err) + "); RLIMIT_MEMLOCK is " + limit +
        ". Buffers stay usable but unlocked (their pages may move, which VFIO cannot allow). Raise "
        "the "
        "limit with `ulimit -l unlimited` in the shell, a `<user> - memlock unlimited` line in "
        "/etc/security/limits.conf, or LimitMEMLOCK=infinity in the systemd unit.";
    std::fprintf(stderr, "%s\n", r.warning.c_str());
}

struct mapping {
    std::byte* data = nullptr;
    std::size_t size = 0;
    std::size_t mapped = 0;
    bool huge = false;
    bool locked = false;
};

// Map and lock. Returns 0 or -errno with `why` naming the step and the fix.
int map_buffer(std::size_t size, mapping& m, std::string& why) {
    if (size == 0) {
        why = "dma_buffer: size must be greater than 0";
        return -EINVAL;
    }
    const long page_l = ::sysconf(_SC_PAGESIZE);
    const std::size_t page = page_l > 0 ? static_cast<std::size_t>(page_l) : 4096;
    if (size > SIZE_MAX - kHugePage) {
        why = "dma_buffer: size " + std::to_string(size) + " is too large";
        return -EOVERFLOW;
    }
    void* p = MAP_FAILED;
    if (size >= kHugePage) {
        const std::size_t len = (size + kHugePage - 1) & ~(kHugePage - 1);
        // Fails fast with ENOMEM when no 2 MiB pages are reserved; then ordinary pages are used.
        p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
                   -1, 0);
        if (p != MAP_FAILED) {
            m.mapped = len;
            m.huge = true;
        }
    }
    if (p == MAP_FAILED) {
        const std::size_t len = (size + page - 1) & ~(page - 1);
        p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            why = "dma_buffer: mmap of " + std::to_string(len) + " bytes failed (" +
                  std::strerror(e) + "); check free memory and `ulimit -v`";
            return -e;
        }
        m.mapped = len;
        m.huge = false;
    }
    m.data = static_cast<std::byte*>(p);
    m.size = m.mapped;
    if (::mlock(p, m.mapped) == 0) {
        m.locked = true;
    } else {
        m.locked = false;
        remember_lock_failure(m.mapped, errno);
    }
    return 0;
}

}  // namespace

dma_buffer::dma_buffer(std::size_t size) {
    mapping m;
    std::string why;
    if (const int rc = map_buffer(size, m, why); rc < 0)
        throw std::system_error(-rc, std::system_category(), why);
    registry& r = reg();
    try {
        std::unique_lock lk(r.mu);
        const std::uint32_t id = take_id(r);
        r.by_base[reinterpret_cast<std::uintptr_t>(m.data)] = {m.data, m.size, id};
        id_ = id;
    } catch (...) {
        ::munmap(m.data, m.mapped);
        throw;
    }
    data_ = m.data;
    size_ = m.size;
    mapped_ = m.mapped;
    huge_ = m.huge;
    locked_ = m.locked;
}

dma_buffer dma_buffer::allocate(std::size_t size, std::error_code& ec) noexcept {
    ec.clear();
    try {
        return dma_buffer(size);
    } catch (const std::system_error& e) {
        ec = e.code();
    } catch (...) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    return dma_buffer();
}

dma_buffer::dma_buffer(dma_buffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      mapped_(std::exchange(o.mapped_, 0)),
      id_(std::exchange(o.id_, 0)),
      huge_(std::exchange(o.huge_, false)),
      locked_(std::exchange(o.locked_, false)) {}

dma_buffer& dma_buffer::operator=(dma_buffer&& o) noexcept {
    if (this != &o) {
        release();
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
        mapped_ = std::exchange(o.mapped_, 0);
        id_ = std::exchange(o.id_, 0);
        huge_ = std::exchange(o.huge_, false);
        locked_ = std::exchange(o.locked_, false);
    }
    return *this;
}

dma_buffer::~dma_buffer() {
    release();
}

void dma_buffer::release() noexcept {
    if (!data_) return;
    registry& r = reg();
    const dma_region_ref region{data_, size_, id_};
    {
        std::unique_lock lk(r.mu);
        r.by_base.erase(reinterpret_cast<std::uintptr_t>(data_));
    }
    {
        // Observers drop their mappings while the memory is still mapped.
        std::shared_lock lk(r.observers_mu);
        for (dma_buffer_observer* o : r.observers) o->on_dma_buffer_free(region);
    }
    ::munmap(data_, mapped_);
    {
        // The id becomes reusable only now, after every observer forgot it.
        std::unique_lock lk(r.mu);
        try {
            r.free_ids.push_back(id_);
            std::push_heap(r.free_ids.begin(), r.free_ids.end(), std::greater<>{});
        } catch (...) {
            // Out of memory: the id is simply never reused.
        }
    }
    data_ = nullptr;
    size_ = mapped_ = 0;
    id_ = 0;
    huge_ = locked_ = false;
}

bool find_dma_region(const void* p, std::size_t len, dma_region_ref& out) noexcept {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    if (!p) return false;
    registry& r = reg();
    std::shared_lock lk(r.mu);
    auto it = r.by_base.upper_bound(addr);
    if (it == r.by_base.begin()) return false;
    --it;
    const dma_region_ref& reg_ref = it->second;
    const std::size_t off = addr - it->first;
    if (off >= reg_ref.size || len > reg_ref.size - off) return false;
    out = reg_ref;
    return true;
}

void add_dma_buffer_observer(dma_buffer_observer* o) {
    if (!o) return;
    registry& r = reg();
    std::unique_lock lk(r.observers_mu);
    if (std::find(r.observers.begin(), r.observers.end(), o) == r.observers.end())
        r.observers.push_back(o);
}

void remove_dma_buffer_observer(dma_buffer_observer* o) noexcept {
    registry& r = reg();
    std::unique_lock lk(r.observers_mu);
    std::erase(r.observers, o);
}

std::string dma_lock_warning() {
    registry& r = reg();
    std::lock_guard lk(r.warning_mu);
    return r.warning;
}

}  // namespace convme

// SPDX-License-Identifier: MIT
#include "driver/vfio/dma_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

namespace convme::driver::vfio {

std::size_t base_page_size() noexcept {
    static const std::size_t page = [] {
        long p = ::sysconf(_SC_PAGESIZE);
        return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
    }();
    return page;
}

std::size_t default_hugepage_size() noexcept {
    try {
        std::ifstream in("/proc/meminfo");
        std::string key;
        std::uint64_t kb = 0;
        std::string unit;
        while (in >> key >> kb) {
            std::getline(in, unit);
            if (key == "Hugepagesize:") return static_cast<std::size_t>(kb) * 1024;
        }
    } catch (...) {
    }
    return 0;
}

std::uint64_t free_hugepages(std::size_t hugepage_size) noexcept {
    if (hugepage_size == 0) return 0;
    try {
        std::ifstream in("/sys/kernel/mm/hugepages/hugepages-" +
                         std::to_string(hugepage_size / 1024) + "kB/free_hugepages");
        std::uint64_t n = 0;
        if (in >> n) return n;
    } catch (...) {
    }
    return 0;
}

std::uint64_t memlock_limit() noexcept {
    rlimit rl{};
    if (::getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return std::numeric_limits<std::uint64_t>::max();
    return rl.rlim_cur;
}

std::string memlock_advice(std::uint64_t limit, std::size_t wanted) {
    std::string cur = limit == std::numeric_limits<std::uint64_t>::max()
                          ? std::string("unlimited")
                          : std::to_string(limit / 1024) + " KiB";
    return "locking " + std::to_string(wanted / 1024) +
           " KiB of DMA memory failed; RLIMIT_MEMLOCK is " + cur +
           " (memory pinned for VFIO DMA counts against it). Raise it: `ulimit -l unlimited` in "
           "the shell that starts the program, a `<user> - memlock unlimited` line in "
           "/etc/security/limits.conf, LimitMEMLOCK=infinity in the systemd unit, or run as root "
           "(CAP_IPC_LOCK)";
}

namespace {

// Bytes this process has locked already (VmLck in /proc/self/status), 0 if unknown.
std::uint64_t locked_now() noexcept {
    try {
        std::ifstream in("/proc/self/status");
        std::string key;
        while (in >> key) {
            if (key == "VmLck:") {
                std::uint64_t kb = 0;
                in >> kb;
                return kb * 1024;
            }
            in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
        }
    } catch (...) {
    }
    return 0;
}

// Does locking `size` more bytes fit under RLIMIT_MEMLOCK? Root (CAP_IPC_LOCK) is not limited.
// (VFIO's own pinning is accounted separately by the kernel; this catches the common case early
// with a clear message instead of a bare ENOMEM.)
bool memlock_would_exceed(std::size_t size) noexcept {
    if (::geteuid() == 0) return false;
    const std::uint64_t limit = memlock_limit();
    if (limit == std::numeric_limits<std::uint64_t>::max()) return false;
    const std::uint64_t used = locked_now();
    return used > limit || size > limit - used;
}

int lock_failed(int err, std::size_t size, std::string& why) {
    if (err == ENOMEM || err == EPERM || err == EAGAIN) {
        why = "mlock: " + std::string(std::strerror(err)) + ": " +
              memlock_advice(memlock_limit(), size);
        return -ENOMEM;
    }
    why = "mlock: " + std::string(std::strerror(err));
    return -err;
}

}  // namespace

int allocate_locked(std::size_t size, bool prefer_huge, bool require_huge, page_block& out,
                    std::string& why) noexcept {
    out = {};
    if (size == 0) {
        why = "DMA allocation of 0 bytes";
        return -EINVAL;
    }
    const std::size_t page = base_page_size();
    const std::size_t huge = default_hugepage_size();
    void* p = MAP_FAILED;
    std::size_t len = 0, used_page = page;
    bool is_huge = false;
    if ((prefer_huge || require_huge) && huge > page) {
        len = (size + huge - 1) / huge * huge;
        p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
                   -1, 0);
        if (p != MAP_FAILED) {
            is_huge = true;
            used_page = huge;
        }
    }
    if (p == MAP_FAILED && require_huge) {
        why = "mmap(MAP_HUGETLB, " + std::to_string(size) + " bytes): no free hugepage of " +
              std::to_string(huge / 1024) +
              " KiB; reserve some with `echo 64 > /proc/sys/vm/nr_hugepages` "
              "(or hugepages=64 on the kernel command line)";
        return -ENOMEM;
    }
    if (p == MAP_FAILED) {
        len = (size + page - 1) / page * page;
        p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            int err = errno;
            why = "mmap of " + std::to_string(len) + " bytes for DMA: " + std::strerror(err);
            return -err;
        }
    }
    if (memlock_would_exceed(len)) {
        ::munmap(p, len);
        why = "RLIMIT_MEMLOCK check: " + memlock_advice(memlock_limit(), len);
        return -ENOMEM;
    }
    // Never copy-on-write under the device after a fork() (see the header).
    if (::madvise(p, len, MADV_DONTFORK) != 0) {
        int err = errno;
        ::munmap(p, len);
        why = "madvise(MADV_DONTFORK) of DMA memory: " + std::string(std::strerror(err));
        return -err;
    }
    if (::mlock(p, len) != 0) {
        int err = errno;
        ::munmap(p, len);
        return lock_failed(err, len, why);
    }
    // Touch every page so it is present (pagemap needs that) and zeroed.
    std::memset(p, 0, len);
    out.addr = p;
    out.length = len;
    out.page = used_page;
    out.huge = is_huge;
    return 0;
}

void release_locked(page_block& block) noexcept {
    if (!block.addr) return;
    ::munlock(block.addr, block.length);
    ::munmap(block.addr, block.length);
    block = {};
}

int lock_range(void* addr, std::size_t size, std::string& why) noexcept {
    const std::size_t page = base_page_size();
    auto start = reinterpret_cast<std::uintptr_t>(addr) & ~(page - 1);
    auto end = (reinterpret_cast<std::uintptr_t>(addr) + size + page - 1) & ~(page - 1);
    if (memlock_would_exceed(end - start)) {
        why = "RLIMIT_MEMLOCK check: " + memlock_advice(memlock_limit(), end - start);
        return -ENOMEM;
    }
    if (::mlock(reinterpret_cast<void*>(start), end - start) != 0)
        return lock_failed(errno, end - start, why);
    return 0;
}

int dontfork_range(void* addr, std::size_t size, std::string& why) noexcept {
    const std::size_t page = base_page_size();
    auto start = reinterpret_cast<std::uintptr_t>(addr) & ~(page - 1);
    auto end = (reinterpret_cast<std::uintptr_t>(addr) + size + page - 1) & ~(page - 1);
    if (::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTFORK) != 0) {
        int err = errno;
        why = "madvise(MADV_DONTFORK) of an I/O buffer: " + std::string(std::strerror(err)) +
              (err == EINVAL ? " (the range is not ordinary anonymous or file memory)" : "");
        return -err;
    }
    return 0;
}

void unlock_range(void* addr, std::size_t size) noexcept {
    const std::size_t page = base_page_size();
    auto start = reinterpret_cast<std::uintptr_t>(addr) & ~(page - 1);
    auto end = (reinterpret_cast<std::uintptr_t>(addr) + size + page - 1) & ~(page - 1);
    ::munlock(reinterpret_cast<void*>(start), end - start);
}

int virt_to_phys(const void* addr, std::uint64_t& phys, std::string& why) noexcept {
    const std::size_t page = base_page_size();
    int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        why = "open /proc/self/pagemap: " + std::string(std::strerror(err)) +
              " (no-IOMMU mode needs it to find physical addresses)";
        return -err;
    }
    const auto va = reinterpret_cast<std::uintptr_t>(addr);
    std::uint64_t entry = 0;
    ssize_t n = ::pread(fd, &entry, sizeof entry, static_cast<off_t>(va / page * sizeof entry));
    int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(sizeof entry)) {
        why = "read /proc/self/pagemap: " + std::string(n < 0 ? std::strerror(err) : "short read");
        return n < 0 ? -err : -EIO;
    }
    if (!(entry & (1ULL << 63))) {
        why = "/proc/self/pagemap: page at " + std::to_string(va) +
              " is not present (not locked/touched)";
        return -EFAULT;
    }
    const std::uint64_t pfn = entry & ((1ULL << 55) - 1);
    if (pfn == 0) {
        why =
            "/proc/self/pagemap reports PFN 0: the kernel hides physical addresses from processes "
            "without CAP_SYS_ADMIN; no-IOMMU mode must run as root";
        return -EPERM;
    }
    phys = pfn * page + (va & (page - 1));
    return 0;
}

// ------------------------------------------------------------------------------ hugepage_pool

namespace {
int default_chunk(std::size_t size, page_block& out, std::uint64_t& phys, std::string& why) {
    if (int rc = allocate_locked(size, true, true, out, why); rc != 0) return rc;
    if (int rc = virt_to_phys(out.addr, phys, why); rc != 0) {
        release_locked(out);
        return rc;
    }
    return 0;
}
}  // namespace

hugepage_pool::hugepage_pool(std::size_t hugepage, chunk_fn get, void (*put)(page_block&))
    : huge_(hugepage),
      unit_(base_page_size()),
      get_(get ? get : &default_chunk),
      put_(put ? put : &release_locked) {}

hugepage_pool::~hugepage_pool() {
    for (auto& c : chunks_)
        if (c.block.addr) put_(c.block);
}

std::size_t hugepage_pool::chunks() const noexcept {
    std::size_t n = 0;
    for (const auto& c : chunks_) n += c.block.addr != nullptr;
    return n;
}

int hugepage_pool::allocate(std::size_t size, std::size_t align, hugepage_piece& out,
                            std::string& why) {
    out = {};
    if (align < unit_) align = unit_;
    const std::size_t len = (size + unit_ - 1) / unit_ * unit_;
    if (size == 0 || len > huge_ || align > huge_ || (align & (align - 1))) {
        why = "no-IOMMU DMA allocation of " + std::to_string(size) + " bytes (align " +
              std::to_string(align) + "): at most one hugepage (" + std::to_string(huge_ / 1024) +
              " KiB) is physically contiguous";
        return -ENOMEM;
    }
    auto carve = [&](std::size_t index) {
        chunk& c = chunks_[index];
        for (auto it = c.free.begin(); it != c.free.end(); ++it) {
            const std::size_t start = it->first, end = it->first + it->second;
            const std::size_t base =
                (start + align - 1) / align * align;  // physical alignment too:
            if (base + len > end) continue;           // the chunk is hugepage aligned
            c.free.erase(it);
            if (base > start) c.free.emplace(start, base - start);
            if (base + len < end) c.free.emplace(base + len, end - base - len);
            c.used += len;
            out.addr = static_cast<std::byte*>(c.block.addr) + base;
            out.phys = c.phys + base;
            out.size = len;
            out.chunk = index;
            std::memset(out.addr, 0, len);
            return true;
        }
        return false;
    };
    std::size_t empty_slot = chunks_.size();
    for (std::size_t i = 0; i < chunks_.size(); ++i) {
        if (!chunks_[i].block.addr) {
            empty_slot = std::min(empty_slot, i);
            continue;
        }
        if (carve(i)) return 0;
    }
    chunk fresh;
    if (int rc = get_(huge_, fresh.block, fresh.phys, why); rc != 0) {
        why =
            "no-IOMMU DMA memory comes from hugetlbfs pages (never migrated, swapped or copied on "
            "fork): " +
            why;
        return rc;
    }
    fresh.free.emplace(0, huge_);
    if (empty_slot == chunks_.size())
        chunks_.push_back(std::move(fresh));
    else
        chunks_[empty_slot] = std::move(fresh);
    carve(empty_slot);
    return 0;
}

void hugepage_pool::release(const hugepage_piece& piece) noexcept {
    if (!piece.addr || piece.chunk >= chunks_.size()) return;
    chunk& c = chunks_[piece.chunk];
    if (!c.block.addr) return;
    std::size_t start = static_cast<std::size_t>(static_cast<std::byte*>(piece.addr) -
                                                 static_cast<std::byte*>(c.block.addr));
    std::size_t len = piece.size;
    auto next = c.free.lower_bound(start);
    if (next != c.free.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == start) {
            start = prev->first;
            len += prev->second;
            c.free.erase(prev);
        }
    }
    if (next != c.free.end() && next->first == start + len) {
        len += next->second;
        c.free.erase(next);
    }
    c.free.emplace(start, len);
    c.used -= piece.size;
    if (c.used == 0) {  // give the hugepage back
        put_(c.block);
        c = chunk{};
    }
}

}  // namespace convme::driver::vfio

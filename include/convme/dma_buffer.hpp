// SPDX-License-Identifier: MIT
// dma_buffer: page-aligned memory that devices can DMA into. Allocated from hugepages when the
// system has them, else from ordinary pages; the pages are locked (mlock) so their physical
// address cannot change under a running DMA. Backends register buffers lazily: the uring backend
// as a fixed buffer, the NVMe backend as an IOVA mapping. A buffer must outlive the I/O using it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>

namespace convme {

class dma_buffer {
  public:
    dma_buffer() noexcept = default;
    // Allocate `size` bytes (rounded up to the page size), zero-filled. Throws std::system_error
    // with a message naming the cause (e.g. RLIMIT_MEMLOCK and how to raise it).
    explicit dma_buffer(std::size_t size);
    // Non-throwing variant.
    static dma_buffer allocate(std::size_t size, std::error_code& ec) noexcept;

    dma_buffer(dma_buffer&& o) noexcept;
    dma_buffer& operator=(dma_buffer&& o) noexcept;
    dma_buffer(const dma_buffer&) = delete;
    dma_buffer& operator=(const dma_buffer&) = delete;
    ~dma_buffer();

    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::span<std::byte> span() const noexcept { return {data_, size_}; }
    std::span<std::byte> subspan(std::size_t off, std::size_t len) const noexcept {
        return span().subspan(off, len);
    }
    bool hugepage_backed() const noexcept { return huge_; }
    bool locked() const noexcept { return locked_; }

    // Process-wide registry: a stable small id per live buffer, so backends can cache their
    // registration (fixed-buffer index, IOVA) by id instead of searching.
    std::uint32_t id() const noexcept { return id_; }

  private:
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t mapped_ = 0;
    std::uint32_t id_ = 0;
    bool huge_ = false;
    bool locked_ = false;
    void release() noexcept;
};

// Process-wide registry of live dma_buffers, so a backend given a plain span can tell whether it
// lies inside a registered buffer (fast path: fixed buffer / cached IOVA) or not (slow path).
struct dma_region_ref {
    std::byte* base = nullptr;
    std::size_t size = 0;
    std::uint32_t id = 0;
};
// Find the live dma_buffer that contains [p, p + len). Lock-free for readers on the hot path is
// not required: lookups take a shared lock; buffers are created and freed rarely.
bool find_dma_region(const void* p, std::size_t len, dma_region_ref& out) noexcept;

// Backends that cache per-buffer registrations subscribe to learn when a buffer goes away
// (before its memory is unmapped), to drop IOVA mappings or fixed-buffer slots.
class dma_buffer_observer {
  public:
    virtual ~dma_buffer_observer() = default;
    virtual void on_dma_buffer_free(const dma_region_ref& region) noexcept = 0;
};
void add_dma_buffer_observer(dma_buffer_observer* o);
void remove_dma_buffer_observer(dma_buffer_observer* o) noexcept;

// Empty, or (after a buffer could not be mlock'ed) a one-time explanation naming RLIMIT_MEMLOCK
// and how to raise it. Also printed once on stderr. For diagnostics such as `convme doctor`.
std::string dma_lock_warning();

}  // namespace convme

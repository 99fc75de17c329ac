// SPDX-License-Identifier: MIT
#include "io_buffer.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace kv {

void io_buffer::resize(std::size_t n) {
    if (n > capacity_) reserve(std::max(n, capacity_ * 2));
    size_ = n;
}

void io_buffer::reserve(std::size_t capacity, std::size_t alignment) {
    if (alignment != 0) alignment_ = std::max<std::size_t>(alignment, 64);
    if (capacity <= capacity_) return;
    capacity = (capacity + 4095) / 4096 * 4096;

    convme::dma_buffer dma;
    std::unique_ptr<std::byte, free_deleter> plain;
    std::byte* fresh = nullptr;
    std::error_code ec;
    // Small buffers are worth locking and registering; huge ones (a 512 MiB value) would only
    // exhaust RLIMIT_MEMLOCK, so they go to plain memory.
    if (capacity <= (std::size_t{64} << 20)) {
        dma = convme::dma_buffer::allocate(capacity, ec);
        if (!ec && !dma.empty() && reinterpret_cast<std::uintptr_t>(dma.data()) % alignment_ == 0)
            fresh = dma.data();
        else
            dma = convme::dma_buffer{};
    }
    if (fresh == nullptr) {
        void* p = std::aligned_alloc(alignment_, capacity);
        if (p == nullptr) throw std::bad_alloc();
        plain.reset(static_cast<std::byte*>(p));
        fresh = plain.get();
    }
    if (size_ > 0) std::memcpy(fresh, data_, size_);
    dma_ = std::move(dma);
    plain_ = std::move(plain);
    data_ = fresh;
    capacity_ = dma_.empty() ? capacity : dma_.size();
}

}  // namespace kv

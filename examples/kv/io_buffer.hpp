// SPDX-License-Identifier: MIT
// A growable, aligned byte buffer for device I/O. It prefers a convme::dma_buffer (locked,
// registered with the backend: fast path) and falls back to plain aligned memory when locking
// fails (e.g. a low RLIMIT_MEMLOCK), which every backend accepts through its slow path.
#pragma once

#include <convme/dma_buffer.hpp>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <span>

namespace kv {

class io_buffer {
  public:
    io_buffer() = default;
    io_buffer(std::size_t capacity, std::size_t alignment) { reserve(capacity, alignment); }

    std::byte* data() const noexcept { return data_; }
    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t size() const noexcept { return size_; }
    void clear() noexcept { size_ = 0; }
    void resize(std::size_t n);  // grows the capacity if needed (keeps contents)
    std::span<std::byte> span() const noexcept { return {data_, size_}; }

    // Make room for `capacity` bytes, keeping the current contents. Throws std::bad_alloc.
    void reserve(std::size_t capacity, std::size_t alignment = 0);

  private:
    struct free_deleter {
        void operator()(std::byte* p) const noexcept { std::free(p); }
    };
    convme::dma_buffer dma_;
    std::unique_ptr<std::byte, free_deleter> plain_;
    std::byte* data_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;
    std::size_t alignment_ = 4096;
};

}  // namespace kv

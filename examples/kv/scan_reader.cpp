// SPDX-License-Identifier: MIT
#include "scan_reader.hpp"

#include <algorithm>

namespace kv {

struct scan_reader::slot_ready {
    slot& s;
    bool await_ready() const noexcept { return !s.reading; }
    void await_suspend(std::coroutine_handle<> h) noexcept { s.waiter = h; }
    void await_resume() const noexcept {}
};

scan_reader::scan_reader(convme::block_device& dev, std::uint64_t from, std::uint64_t to,
                         std::size_t chunk, unsigned ahead, std::size_t alignment)
    : dev_(dev),
      loop_(convme::loop::current()),
      from_(from),
      to_(std::max(from, to)),
      chunk_(chunk),
      chunks_((to_ - from_ + chunk - 1) / chunk),
      slots_(std::min<std::uint64_t>(ahead + 1u, std::max<std::uint64_t>(chunks_, 1))) {
    const std::size_t buf_bytes =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk_, to_ - from_));
    for (auto& s : slots_) s.buf.reserve(std::max<std::size_t>(buf_bytes, 1), alignment);
}

void scan_reader::issue(std::uint64_t chunk_no) {
    slot& s = slot_of(chunk_no);
    const std::uint64_t offset = from_ + chunk_no * chunk_;
    s.len = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_, to_ - offset));
    s.reading = true;
    loop_->spawn(read_chunk(s, offset));
    ++issued_;
}

convme::task<void> scan_reader::read_chunk(slot& s, std::uint64_t offset) {
    s.ec = co_await dev_.read(offset, std::span<std::byte>(s.buf.data(), s.len));
    s.reading = false;
    if (auto h = std::exchange(s.waiter, {})) loop_->schedule(h);
}

convme::task<std::error_code> scan_reader::next(std::span<const std::byte>& out) {
    // The chunk handed out last is done with: its slot reads ahead now, as do any not started.
    while (issued_ < chunks_ && issued_ < next_ + slots_.size()) issue(issued_);
    slot& s = slot_of(next_);
    co_await slot_ready{s};
    ++next_;
    out = std::span<const std::byte>(s.buf.data(), s.len);
    co_return s.ec;
}

convme::task<void> scan_reader::drain() {
    for (auto& s : slots_) co_await slot_ready{s};
}

}  // namespace kv

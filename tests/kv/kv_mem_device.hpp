// SPDX-License-Identifier: MIT
// Test helper: a RAM block device whose contents tests can inspect, corrupt and copy (a "crash":
// a new device built from a copy of the bytes). Completions are posted to the submitting loop,
// never run inside submit(). Optionally fails every write after the first `fail_after` ones.
//
// With `hold` set, writes and flushes wait until the test releases them, in any order, so a test
// can put several batches in flight, complete them out of order, fail one, or copy the bytes for a
// crash image while a write has not landed yet (a held write's data reaches `mem` on release).
#pragma once

#include <convme/block_device.hpp>
#include <convme/loop.hpp>
#include <cstring>
#include <string>
#include <vector>

namespace kvtest {

class mem_device final : public convme::block_device {
  public:
    explicit mem_device(std::uint64_t capacity, std::uint32_t block = 512) : mem(capacity) {
        info_.name = "mem(test)";
        info_.backend = "mem";
        info_.block_size = block;
        info_.capacity = capacity;
        info_.mem_alignment = 64;
    }
    mem_device(const std::vector<std::byte>& image, std::uint32_t block = 512)
        : mem_device(image.size(), block) {
        mem = image;
    }

    void submit(convme::io_request& r) noexcept override {
        if (r.op == convme::io_op::write) {
            log += 'W';
            if (++writes_in_flight > max_writes_in_flight) max_writes_in_flight = writes_in_flight;
        } else if (r.op == convme::io_op::flush) {
            log += 'F';
        }
        if (hold && (r.op == convme::io_op::write || r.op == convme::io_op::flush)) {
            held.push_back(&r);
            return;
        }
        finish(r, {});
    }
    convme::task<void> drain() override { co_return; }

    void set_flush_support(bool on) { info_.supports_flush = on; }
    void set_writes_durable(bool on) { info_.writes_durable = on; }

    // Held requests of one kind, in submission order.
    std::vector<convme::io_request*> held_of(convme::io_op op) const {
        std::vector<convme::io_request*> out;
        for (auto* r : held)
            if (r->op == op) out.push_back(r);
        return out;
    }
    std::size_t held_writes() const { return held_of(convme::io_op::write).size(); }
    std::size_t held_flushes() const { return held_of(convme::io_op::flush).size(); }
    // Complete the i-th held write (its data lands now), or fail it with `ec`.
    void release_write(std::size_t i, std::error_code ec = {}) {
        release(held_of(convme::io_op::write).at(i), ec);
    }
    // Complete the oldest held flush, or fail it with `ec`.
    void release_flush(std::error_code ec = {}) {
        release(held_of(convme::io_op::flush).at(0), ec);
    }
    // Complete the i-th held flush (in submission order), or fail it with `ec`.
    void release_flush_at(std::size_t i, std::error_code ec = {}) {
        release(held_of(convme::io_op::flush).at(i), ec);
    }

    std::vector<std::byte> mem;
    long writes = 0;
    long flushes = 0;
    long fail_after = -1;
    bool hold = false;
    std::vector<convme::io_request*> held;
    std::string log;  // 'W' per write and 'F' per flush, in submission order
    long writes_in_flight = 0;
    long max_writes_in_flight = 0;

  private:
    void release(convme::io_request* r, std::error_code ec) {
        std::erase(held, r);
        finish(*r, ec);
    }
    void finish(convme::io_request& r, std::error_code ec) {
        switch (r.op) {
            case convme::io_op::read:
                std::memcpy(r.data, mem.data() + r.offset, r.length);
                break;
            case convme::io_op::write:
                if (ec || (fail_after >= 0 && writes >= fail_after)) {
                    r.fail(ec ? ec : std::make_error_code(std::errc::io_error));
                } else {
                    std::memcpy(mem.data() + r.offset, r.data, r.length);
                    ++writes;
                }
                break;
            default:
                if (ec) r.fail(ec);
                ++flushes;
                break;
        }
        convme::io_request* req = &r;
        r.owner->post([this, req] {
            if (req->op == convme::io_op::write) --writes_in_flight;
            req->complete();
        });
    }
};

}  // namespace kvtest

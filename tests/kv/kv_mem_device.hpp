// Test helper: a RAM block device whose contents tests can inspect, corrupt and copy (a "crash":
// a new device built from a copy of the bytes). Completions are posted to the submitting loop,
// never run inside submit(). Optionally fails every write after the first `fail_after` ones.
#pragma once

#include <convme/block_device.hpp>
#include <convme/loop.hpp>

#include <cstring>
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
    mem_device(const std::vector<std::byte>& image, std::uint32_t block = 512) : mem_device(image.size(), block) {
        mem = image;
    }

    void submit(convme::io_request& r) noexcept override {
        switch (r.op) {
            case convme::io_op::read:
                std::memcpy(r.data, mem.data() + r.offset, r.length);
                break;
            case convme::io_op::write:
                if (fail_after >= 0 && writes >= fail_after) {
                    r.fail(std::make_error_code(std::errc::io_error));
                } else {
                    std::memcpy(mem.data() + r.offset, r.data, r.length);
                    ++writes;
                }
                break;
            default:
                ++flushes;
                break;
        }
        convme::io_request* req = &r;
        r.owner->post([req] { req->complete(); });
    }
    convme::task<void> drain() override { co_return; }

    std::vector<std::byte> mem;
    long writes = 0;
    long flushes = 0;
    long fail_after = -1;
};

}  // namespace kvtest

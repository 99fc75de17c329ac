// SPDX-License-Identifier: MIT
// The C API's objects, for the bindings built on it (libunvme, the fio engine). Not installed.
#pragma once

#include <convme/convme.h>

#include <atomic>
#include <chrono>
#include <convme/block_device.hpp>
#include <convme/loop.hpp>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

struct convme_dev {
    std::unique_ptr<convme::block_device> dev;
    std::string uri, name, backend;
    convme_info info{};
    bool nvme = false;
    std::atomic<unsigned> open_queues{0};
    std::atomic<unsigned> next_core{0};  // the next queue's core id (modulo 256)
};

struct convme_req {
    convme_queue* q = nullptr;
    convme_req* next = nullptr;  // free list / completion list
    convme_cb cb = nullptr;
    void* arg = nullptr;
    convme_nvme_cpl* cpl = nullptr;  // passthrough only
    int result = 0;                  // 0 or -errno once done
    std::uint16_t nvme_status = 0;   // (SCT << 8) | SC when the device answered with an error
    bool done = false;
    bool in_use = false;
};

struct convme_queue {
    convme_dev* d = nullptr;
    std::unique_ptr<convme::loop> loop;
    unsigned in_flight = 0;
    convme_req* free_list = nullptr;
    convme_req* cb_head = nullptr;  // completed requests whose callbacks have not run yet
    convme_req* cb_tail = nullptr;
    std::uint64_t completed = 0;  // every completion, with or without callback
    std::vector<std::unique_ptr<convme_req[]>> slabs;
};

namespace convme::capi {
// -errno for an error_code from the C++ API (0 for success).
int to_errno(std::error_code ec) noexcept;
// Remember `msg` as this thread's last error (for convme_strerror / convme_last_error).
int set_error(int code, std::string msg) noexcept;
// One pass of the queue's loop and its callbacks; returns the completions it saw.
unsigned pump(convme_queue* q);
}  // namespace convme::capi

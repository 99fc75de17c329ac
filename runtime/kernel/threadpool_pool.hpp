// SPDX-License-Identifier: MIT
// Worker threads for the thread-pool backend: they run requests synchronously (pread/pwrite/
// fsync/fallocate) and hand each finished request to a callback that returns it to its loop.
#pragma once

#include <condition_variable>
#include <convme/backend.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/kernel/file_target.hpp"

namespace convme::backends {

class threadpool_pool {
  public:
    // Called on a worker thread after r.status was set.
    using done_fn = void (*)(io_request& r) noexcept;

    threadpool_pool(const file_target& target, unsigned threads, done_fn done);
    ~threadpool_pool();  // finishes queued requests, then joins the workers
    threadpool_pool(const threadpool_pool&) = delete;
    threadpool_pool& operator=(const threadpool_pool&) = delete;

    // Any thread.
    void enqueue(io_request& r) noexcept;
    unsigned threads() const noexcept { return static_cast<unsigned>(workers_.size()); }

  private:
    void work();

    const file_target& target_;
    done_fn done_;
    std::mutex mu_;
    std::condition_variable cv_;
    request_fifo queue_;  // guarded by mu_
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
#include "runtime/kernel/threadpool_pool.hpp"

namespace convme::backends {
threadpool_pool::threadpool_pool(const file_target& target, unsigned threads, done_fn done)
    : target_(target), done_(done) {
    workers_.reserve(threads);
    try {
        for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    } catch (...) {
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (auto& t : workers_) t.join();
        throw;
    }
}

threadpool_pool::~threadpool_pool() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
}

void threadpool_pool::enqueue(io_request& r) noexcept {
    {
        std::lock_guard lock(mu_);
        queue_.push_back(r);
    }
    cv_.notify_one();
}

void threadpool_pool::work() {
    while (true) {
        io_request* r = nullptr;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
            r = queue_.pop_front();
            if (!r) return;  // stopping and nothing left
        }
        std::error_code ec = execute_sync(target_, r->op, r->offset, r->length, r->data);
        if (ec) r->fail(ec);
        done_(*r);
    }
}

}  // namespace convme::backends

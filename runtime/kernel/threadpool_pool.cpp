#include "runtime/kernel/threadpool_pool.hpp"

namespace convme::backends {
namespace {
io_request* next_of(io_request& r) noexcept { return reinterpret_cast<io_request*>(r.backend_word[0]); }
void set_next(io_request& r, io_request* n) noexcept { r.backend_word[0] = reinterpret_cast<std::uintptr_t>(n); }
}  // namespace

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
    set_next(r, nullptr);
    {
        std::lock_guard lock(mu_);
        if (tail_) set_next(*tail_, &r);
        else head_ = &r;
        tail_ = &r;
    }
    cv_.notify_one();
}

void threadpool_pool::work() {
    while (true) {
        io_request* r = nullptr;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return head_ != nullptr || stopping_; });
            if (!head_) return;  // stopping and nothing left
            r = head_;
            head_ = next_of(*r);
            if (!head_) tail_ = nullptr;
        }
        std::error_code ec = execute_sync(target_, r->op, r->offset, r->length, r->data);
        if (ec) r->fail(ec);
        done_(*r);
    }
}

}  // namespace convme::backends

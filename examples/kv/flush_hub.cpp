// SPDX-License-Identifier: MIT
// flush_hub: see flush_hub.hpp.
#include "flush_hub.hpp"

#include <algorithm>

#include "shard.hpp"

namespace kv {

void flush_hub::finished(std::uint64_t gen, const shard* by) {
    // Flushes may complete out of order; a later generation covers everything an earlier one does.
    std::uint64_t cur = completed_.load(std::memory_order_acquire);
    while (cur < gen && !completed_.compare_exchange_weak(cur, gen, std::memory_order_acq_rel)) {
    }
    notify_others(by);
}

void flush_hub::failed(const shard* by) {
    broken_.store(true, std::memory_order_release);
    notify_others(by);
}

void flush_hub::notify_others(const shard* by) {
    std::vector<std::shared_ptr<link>> others;
    {
        std::lock_guard lock(mu_);
        for (const auto& m : members_)
            if (m->s != by) others.push_back(m);
    }
    convme::loop* here = convme::loop::current();
    for (auto& m : others) {
        if (m->home == here) {
            if (m->alive) m->s->on_shared_flush();
        } else {
            m->home->post([m] {
                if (m->alive) m->s->on_shared_flush();
            });
        }
    }
}

void flush_hub::join(shard* s, convme::loop* home) {
    std::lock_guard lock(mu_);
    members_.push_back(std::make_shared<link>(link{s, home, true}));
}

void flush_hub::leave(shard* s) {
    std::lock_guard lock(mu_);
    for (auto& m : members_)
        if (m->s == s) m->alive = false;  // we run on s's core: no notification runs right now
    std::erase_if(members_, [s](const std::shared_ptr<link>& m) { return m->s == s; });
}

}  // namespace kv

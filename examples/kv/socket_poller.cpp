// SPDX-License-Identifier: MIT
// socket_poller: see socket_poller.hpp.
#include "socket_poller.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace kv {

socket_poller::socket_poller(asio::io_context& io) : io_(io), guard_(asio::make_work_guard(io)) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0)
        std::fprintf(
            stderr,
            "kv: epoll_create1 failed (%s); idle cores will wake every --idle-tick-us instead\n",
            std::strerror(errno));
}

socket_poller::~socket_poller() {
    if (epfd_ >= 0) ::close(epfd_);
}

void socket_poller::watch(int fd) noexcept {
    if (epfd_ < 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

void socket_poller::drain() noexcept {
    if (epfd_ < 0) return;
    epoll_event evs[64];
    while (::epoll_wait(epfd_, evs, 64, 0) == 64) {
    }
}

bool socket_poller::poll() {
    if (io_.poll() > 0) {
        empty_polls_ = 0;
        return true;
    }
    // Events left in our set only cost the loop one extra iteration (its sleep returns at once),
    // so clear them only once the loop has been idle for a while, about to sleep, not on every
    // empty poll of a busy loop. Clear first, then look once more: an event that came after
    // Asio's look is either handled now or still in the set (and ends the sleep at once).
    if (++empty_polls_ < kIdlePollsBeforeDrain) return false;
    empty_polls_ = 0;
    drain();
    return io_.poll() > 0;
}

}  // namespace kv

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
    const std::uint64_t sleeps = convme::loop::current()->statistics().sleeps;
    const bool slept = sleeps != last_sleeps_;
    if (!op_started_ && !slept && ++skipped_ < kPollEvery) return false;
    skipped_ = 0;
    op_started_ = false;
    last_sleeps_ = sleeps;
    // After a sleep our set may hold the events that ended it: clear them first, so the next
    // sleep does not return at once for them, then let Asio look (an event that comes after
    // Asio's look stays in our set and ends the next sleep at once).
    if (slept) drain();
    return io_.poll() > 0;
}

}  // namespace kv

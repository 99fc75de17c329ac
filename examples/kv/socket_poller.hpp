// SPDX-License-Identifier: MIT
// Drives one core's asio::io_context from its convme loop, and lets that loop sleep while the
// sockets are idle. Asio's own epoll set is invisible to the loop, so this poller keeps a second
// epoll set of the same sockets (edge-triggered: registering costs one epoll_ctl per socket, and
// a socket event costs nothing while the loop is awake) and hands it to the loop as its
// wait_fd(): a sleeping loop wakes as soon as a client sends, connects or can take more output.
#pragma once

#include <convme/asio.hpp>

namespace kv {

class socket_poller final : public convme::poller {
  public:
    explicit socket_poller(asio::io_context& io);
    ~socket_poller() override;
    socket_poller(const socket_poller&) = delete;
    socket_poller& operator=(const socket_poller&) = delete;

    // Watch a socket (the listener, each connection). A closed socket leaves the set by itself.
    void watch(int fd) noexcept;
    // Let io_context::poll() return 0 once nothing is pending (before destroying it).
    void release() noexcept { guard_.reset(); }

    bool poll() override;
    int wait_fd() const override { return epfd_; }

  private:
    void drain() noexcept;  // forget the socket events seen so far (Asio handles the sockets)

    asio::io_context& io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    int epfd_ = -1;
    static constexpr unsigned kIdlePollsBeforeDrain = 32;
    unsigned empty_polls_ = 0;  // polls in a row that found nothing
};

}  // namespace kv

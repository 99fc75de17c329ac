// SPDX-License-Identifier: MIT
// Drives one core's asio::io_context from its convme loop, and lets that loop sleep while the
// sockets are idle. Asio's own epoll set is invisible to the loop, so this poller keeps a second
// epoll set of the same sockets (edge-triggered: registering costs one epoll_ctl per socket, and
// a socket event costs nothing while the loop is awake) and hands it to the loop as its
// wait_fd(): a sleeping loop wakes as soon as a client sends, connects or can take more output.
//
// Asio's io_context::poll() costs an epoll_wait of its own every time. A busy loop need not pay
// it on every iteration: work for Asio comes either from its sockets — whose events also land in
// our set, which a loop that goes to sleep waits on, so nothing is lost by looking later — or
// from an operation our code started (its completion may be queued at once, e.g. a send that
// went out or a read of data already there), which note_op() announces. So poll() runs Asio
// after note_op(), after the loop slept (its sleep may have ended for a socket), and otherwise
// on every kPollEvery-th call: a socket event waits at most that many iterations of a loop that
// has other work, and is then handled together with the others that came meanwhile.
#pragma once

#include <convme/asio.hpp>
#include <cstdint>

namespace kv {

class socket_poller final : public convme::poller {
  public:
    explicit socket_poller(asio::io_context& io);
    ~socket_poller() override;
    socket_poller(const socket_poller&) = delete;
    socket_poller& operator=(const socket_poller&) = delete;

    // Watch a socket (the listener, each connection). A closed socket leaves the set by itself.
    void watch(int fd) noexcept;
    // An Asio operation was started, or sockets closed (aborting theirs): run Asio at the next
    // poll, whose handlers may already be queued.
    void note_op() noexcept { op_started_ = true; }
    // Let io_context::poll() return 0 once nothing is pending (before destroying it).
    void release() noexcept { guard_.reset(); }

    bool poll() override;
    int wait_fd() const override { return epfd_; }

  private:
    void drain() noexcept;  // forget the socket events seen so far (Asio handles the sockets)

    asio::io_context& io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    int epfd_ = -1;
    static constexpr unsigned kPollEvery = 4;
    unsigned skipped_ = 0;           // polls in a row that did not run Asio
    bool op_started_ = true;         // note_op() since Asio last ran
    std::uint64_t last_sleeps_ = 0;  // the loop's sleep count when Asio last ran
};

}  // namespace kv

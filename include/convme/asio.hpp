// SPDX-License-Identifier: MIT
// Asio integration (standalone Asio, <asio.hpp>), header-only:
//
//  1. convme::asio_poller: drives an asio::io_context from a convme loop. Register it with
//     loop::add_poller(); every loop iteration runs the io_context's ready handlers (poll(),
//     never blocking). Sockets, timers and coroutines of that io_context then run on the loop's
//     thread, next to convme tasks, without locks.
//  2. Completion-token adapters for Asio code: convme::async_read / async_write / async_flush /
//     async_run(task) accept any completion token (callbacks, asio::use_awaitable,
//     asio::deferred...). The I/O runs as a convme task on the calling thread's loop. When it
//     finished, the handler is dispatched through its associated executor: an io_context's
//     executor queues it on that io_context (it runs in the next poll); a handler without an
//     associated executor runs directly on the loop thread. Never inside the initiating call.
//
//       asio::awaitable<void> f(convme::block_device& dev, std::span<std::byte> buf) {
//           co_await convme::async_read(dev, 0, buf, asio::use_awaitable);  // throws on error
//       }
//
//     They must be started on a thread that runs a convme loop (which is the case for any code
//     run by an io_context driven by asio_poller). Elsewhere they complete with
//     std::errc::operation_not_permitted.
//  3. convme::use_loop: a completion token for convme coroutines that await Asio operations:
//       auto [ec, n] = co_await sock.async_read_some(asio::buffer(b), convme::use_loop);
//     The coroutine is resumed on its convme loop (scheduled, not called from inside the Asio
//     handler). A signature with one argument gives that value; several give a std::tuple.
#pragma once

#include <convme/backend.hpp>
#include <convme/block_device.hpp>
#include <convme/loop.hpp>
#include <convme/task.hpp>

// Asio 1.22 only enables co_await support for clang through <experimental/coroutine>; clang 14+
// in C++20 mode has standard coroutines, so tell Asio (include this header before <asio.hpp>).
#if defined(__clang__) && !defined(ASIO_HAS_CO_AWAIT) && defined(__cpp_impl_coroutine) && \
    __cpp_impl_coroutine >= 201902L && __has_include(<coroutine>)
#define ASIO_HAS_CO_AWAIT 1
#endif
#include <asio.hpp>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace convme {

// ---- 1. Driving an io_context from a convme loop --------------------------------------------

class asio_poller final : public poller {
  public:
    explicit asio_poller(asio::io_context& io)
        : poller(/*batches_submissions=*/false), io_(io), guard_(asio::make_work_guard(io)) {}
    asio::io_context& context() noexcept { return io_; }

    bool poll() override { return io_.poll() > 0; }
    // Asio's reactor is not visible to the loop's eventfd, so this poller never claims in-flight
    // work (that would make the loop spin forever and block its shutdown). While sockets are idle
    // the loop may sleep; pair it with a periodic timer (see examples/kv) to bound the latency.
    std::size_t in_flight() const override { return 0; }
    // Let io_context::poll() return 0 once nothing is pending (e.g. before destroying it).
    void release() noexcept { guard_.reset(); }

  private:
    asio::io_context& io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
};

// ---- 2. Completion-token adapters ------------------------------------------------------------

namespace detail {

template <typename T, typename Handler, typename Work>
task<void> run_and_complete(task<T> t, Handler handler, Work work) {
    std::exception_ptr ep;
    if constexpr (std::is_void_v<T>) {
        try {
            co_await std::move(t);
        } catch (...) {
            ep = std::current_exception();
        }
        auto ex = asio::get_associated_executor(handler, work.get_executor());
        asio::dispatch(ex, [h = std::move(handler), ep]() mutable { std::move(h)(ep); });
    } else {
        std::optional<T> value;
        try {
            value.emplace(co_await std::move(t));
        } catch (...) {
            ep = std::current_exception();
        }
        auto ex = asio::get_associated_executor(handler, work.get_executor());
        asio::dispatch(ex,
                       [h = std::move(handler), ep, v = value ? std::move(*value) : T{}]() mutable {
                           std::move(h)(ep, std::move(v));
                       });
    }
    work.reset();
}

template <typename Handler, typename Work>
task<void> io_and_complete(io_awaitable op, Handler handler, Work work) {
    std::error_code ec = co_await op;
    auto ex = asio::get_associated_executor(handler, work.get_executor());
    asio::dispatch(ex, [h = std::move(handler), ec]() mutable { std::move(h)(ec); });
    work.reset();
}

struct io_initiation {
    template <typename Handler>
    void operator()(Handler&& handler, io_awaitable op) const {
        auto ex = asio::get_associated_executor(handler);
        auto work = asio::make_work_guard(ex);
        loop* l = loop::current();
        if (l == nullptr) {
            asio::post(ex, [h = std::forward<Handler>(handler)]() mutable {
                std::move(h)(std::make_error_code(std::errc::operation_not_permitted));
            });
            return;
        }
        l->spawn(io_and_complete(op, std::decay_t<Handler>(std::forward<Handler>(handler)),
                                 std::move(work)));
    }
};

}  // namespace detail

template <typename CompletionToken>
auto async_read(block_device& dev, std::uint64_t offset, std::span<std::byte> buf,
                CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        detail::io_initiation{}, token, dev.read(offset, buf));
}

template <typename CompletionToken>
auto async_write(block_device& dev, std::uint64_t offset, std::span<const std::byte> buf,
                 CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        detail::io_initiation{}, token, dev.write(offset, buf));
}

template <typename CompletionToken>
auto async_flush(block_device& dev, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(detail::io_initiation{},
                                                                        token, dev.flush());
}

// Run any convme task from Asio code: completes with (std::exception_ptr) for task<void> and
// (std::exception_ptr, T) otherwise (T must be default constructible), like asio::co_spawn.
template <typename T, typename CompletionToken>
auto async_run(task<T> t, CompletionToken&& token) {
    using sig = std::conditional_t<std::is_void_v<T>, void(std::exception_ptr),
                                   void(std::exception_ptr, T)>;
    return asio::async_initiate<CompletionToken, sig>(
        [](auto handler, task<T> work_task) {
            auto ex = asio::get_associated_executor(handler);
            auto work = asio::make_work_guard(ex);
            loop* l = loop::current();
            if (l == nullptr) {
                auto ep = std::make_exception_ptr(
                    std::system_error(std::make_error_code(std::errc::operation_not_permitted),
                                      "convme::async_run: not on a convme loop thread"));
                if constexpr (std::is_void_v<T>)
                    asio::post(ex, [h = std::move(handler), ep]() mutable { std::move(h)(ep); });
                else
                    asio::post(ex,
                               [h = std::move(handler), ep]() mutable { std::move(h)(ep, T{}); });
                return;
            }
            l->spawn(detail::run_and_complete(std::move(work_task), std::move(handler),
                                              std::move(work)));
        },
        token, std::move(t));
}

// ---- 3. Awaiting Asio operations from convme coroutines --------------------------------------

struct use_loop_t {};
inline constexpr use_loop_t use_loop{};

namespace detail {

template <typename... R>
struct loop_op_state {
    std::optional<std::tuple<R...>> result;
    std::coroutine_handle<> waiter;
    loop* home = nullptr;
};

template <typename... R>
struct loop_op_handler {
    loop_op_state<R...>* st;
    template <typename... A>
    void operator()(A&&... a) {
        st->result.emplace(std::forward<A>(a)...);
        st->home->schedule(st->waiter);  // resume on the loop, not inside the Asio handler
    }
};

template <typename Init, typename Args, typename... R>
class [[nodiscard]] loop_op {
  public:
    loop_op(Init init, Args args) : init_(std::move(init)), args_(std::move(args)) {}
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        st_.waiter = h;
        st_.home = loop::current();
        std::apply(
            [this](auto&&... a) { std::move(init_)(loop_op_handler<R...>{&st_}, std::move(a)...); },
            std::move(args_));
    }
    using result_type =
        std::conditional_t<sizeof...(R) == 1, std::tuple_element_t<0, std::tuple<R..., void>>,
                           std::tuple<R...>>;
    result_type await_resume() {
        if constexpr (sizeof...(R) == 1)
            return std::get<0>(std::move(*st_.result));
        else
            return std::move(*st_.result);
    }

  private:
    Init init_;
    Args args_;
    loop_op_state<R...> st_;
};

}  // namespace detail
}  // namespace convme

template <typename Ret, typename... Args>
class asio::async_result<convme::use_loop_t, Ret(Args...)> {
  public:
    template <typename Initiation, typename... InitArgs>
    static auto initiate(Initiation&& init, convme::use_loop_t, InitArgs&&... args) {
        return convme::detail::loop_op<
            std::decay_t<Initiation>, std::tuple<std::decay_t<InitArgs>...>, std::decay_t<Args>...>(
            std::forward<Initiation>(init),
            std::tuple<std::decay_t<InitArgs>...>(std::forward<InitArgs>(args)...));
    }
};

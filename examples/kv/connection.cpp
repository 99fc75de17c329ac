// SPDX-License-Identifier: MIT
// One client connection: a convme task on the core that accepted it. Requests are parsed as they
// arrive; every complete command in a read is executed (pipelining), then the replies wait for the
// batches they depend on to be durable and go out in one write.
#include <cstdio>
#include <memory>

#include "pipeline_exec.hpp"
#include "resp_parser.hpp"
#include "resp_writer.hpp"
#include "server_core.hpp"

namespace kv {

namespace {
constexpr std::size_t kReadSize = 64 * 1024;
constexpr std::size_t kFlushAt = 1 << 20;  // send replies early when a pipeline produces this much

// Wait for durability, then send `out`. False if the client is gone or storage failed.
convme::task<bool> send_replies(core_server& cs, asio::ip::tcp::socket& sock, command_context& ctx,
                                std::string& out) {
    if (ctx.has_pending()) {
        std::error_code ec = co_await ctx.wait_durable();
        if (ec) {
            // The writes may not be on the device: close without acknowledging anything.
            std::fprintf(stderr,
                         "kv: closing a client whose writes could not be made durable: %s\n",
                         ec.message().c_str());
            co_return false;
        }
    }
    if (out.empty()) co_return true;
    cs.poller.note_op();
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(out), convme::use_loop);
    (void)n;
    out.clear();
    co_return !ec;
}
}  // namespace

namespace {
// Commands executed together (one pipeline_exec run) at most: bounds the replies held at once.
constexpr std::size_t kMaxBatch = 64;

convme::task<void> serve(core_server& cs, asio::ip::tcp::socket& sock) {
    auto rbuf = std::make_unique_for_overwrite<char[]>(kReadSize);  // not zeroed: 64 KiB a client
    std::string carry;  // bytes of an incomplete header line kept for the next read
    std::string out;
    resp::parser parser;
    command_context ctx(cs.st, &cs.facts);
    std::vector<request> batch;
    std::vector<std::vector<std::string>> spare;  // emptied argument vectors, at most kMaxBatch
    bool open = true;

    while (open && !cs.stopping) {
        cs.poller.note_op();
        auto [ec, n] =
            co_await sock.async_read_some(asio::buffer(rbuf.get(), kReadSize), convme::use_loop);
        if (ec || n == 0) break;
        std::string_view input(rbuf.get(), n);
        if (!carry.empty()) {
            carry.append(input);
            input = carry;
        }
        std::size_t pos = 0;
        bool close_after = false;
        bool more = true;
        while (more && open) {
            // Parse what this read holds (up to kMaxBatch commands), then run them together.
            batch.clear();
            std::string protocol_error;
            while (batch.size() < kMaxBatch) {
                auto r = parser.feed(input.substr(pos));
                pos += r.consumed;
                if (r.status == resp::parse_status::need_more) {
                    more = false;
                    break;
                }
                if (r.status == resp::parse_status::error) {
                    protocol_error = "ERR " + parser.error();
                    more = false;
                    break;
                }
                if (!parser.args().empty()) {
                    batch.push_back({std::move(parser.args()), {}});
                    // Give the parser an argument vector of an earlier batch (no allocation).
                    if (!spare.empty()) {
                        parser.args() = std::move(spare.back());
                        spare.pop_back();
                    }
                }
                parser.next();
            }
            co_await execute_pipeline(ctx, batch);
            for (auto& r : batch) {
                out += r.reply;
                r.args.clear();
                spare.push_back(std::move(r.args));
            }
            if (ctx.quit) {
                close_after = true;
                more = false;
            } else if (!protocol_error.empty()) {
                resp::error(out,
                            protocol_error);  // like Redis: the stream cannot be re-synchronised
                close_after = true;
            }
            if (more && out.size() >= kFlushAt && !(co_await send_replies(cs, sock, ctx, out)))
                open = false;
        }
        if (!open) break;
        std::string rest(input.substr(pos));
        carry = std::move(rest);
        if (!(co_await send_replies(cs, sock, ctx, out)) || close_after) break;
    }
}
}  // namespace

convme::task<void> serve_connection(core_server& cs, asio::ip::tcp::socket sock) {
    auto self = cs.connections.insert(cs.connections.end(), &sock);
    std::error_code ignored;
    sock.set_option(asio::ip::tcp::no_delay(true), ignored);
    try {
        co_await serve(cs, sock);
    } catch (const std::exception& e) {
        // E.g. memory exhausted by a huge request: drop this client, keep serving the others.
        std::fprintf(stderr, "kv: dropping a client after an internal error: %s\n", e.what());
    }
    sock.close(ignored);
    cs.connections.erase(self);
}

}  // namespace kv

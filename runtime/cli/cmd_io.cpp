// SPDX-License-Identifier: MIT
// convme io: write a deterministic pattern to a range of blocks and/or read it back and verify.
// The pattern depends only on (seed, absolute byte offset), so a later run (e.g. after a reboot
// of the lab guest) can verify what an earlier run wrote.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/loop.hpp>
#include <convme/task.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "runtime/cli/commands.hpp"

namespace convme::cli {
namespace {

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finaliser
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void fill_pattern(std::byte* p, std::size_t len, std::uint64_t at, std::uint64_t seed) {
    for (std::size_t i = 0; i < len; i += 8) {
        const std::uint64_t v = mix(seed ^ ((at + i) / 8));
        std::memcpy(p + i, &v, std::min<std::size_t>(8, len - i));
    }
}

struct pass_state {
    block_device* dev;
    const io_args* args;
    std::uint64_t chunk_bytes;
    std::uint64_t total_bytes;
    std::uint64_t next = 0;  // next byte (relative to args->offset) to hand out
    unsigned running = 0;
    std::error_code error;
    std::string error_text;
    std::uint64_t mismatches = 0;
    std::string first_mismatch;
    std::uint64_t ios = 0;
};

enum class pass_kind { write, read, verify };

// Buffers are allocated by the caller: an exception escaping a detached task would terminate.
task<void> worker(pass_state& s, pass_kind kind, dma_buffer& buf, std::vector<std::byte>& expect) {
    while (!s.error && s.next < s.total_bytes) {
        const std::uint64_t rel = s.next;
        const std::uint64_t len = std::min(s.chunk_bytes, s.total_bytes - rel);
        s.next += len;
        const std::uint64_t at = s.args->offset + rel;
        std::error_code ec;
        if (kind == pass_kind::write) {
            fill_pattern(buf.data(), len, at, s.args->seed);
            ec = co_await s.dev->write(at, std::span<const std::byte>(buf.data(), len));
        } else {
            ec = co_await s.dev->read(at, buf.subspan(0, len));
        }
        ++s.ios;
        if (ec) {
            if (!s.error) {
                s.error = ec;
                io_request r;
                r.op = kind == pass_kind::write ? io_op::write : io_op::read;
                r.offset = at;
                r.length = len;
                r.status = ec;
                s.error_text = describe_failure(*s.dev, r);
            }
            break;
        }
        if (kind == pass_kind::verify) {
            fill_pattern(expect.data(), len, at, s.args->seed);
            if (std::memcmp(expect.data(), buf.data(), len) != 0) {
                for (std::uint64_t i = 0; i < len; ++i) {
                    if (expect[i] == buf.data()[i]) continue;
                    if (s.mismatches++ == 0) {
                        char text[160];
                        std::snprintf(text, sizeof text,
                                      "first mismatch at byte %" PRIu64
                                      ": expected 0x%02x, read 0x%02x",
                                      at + i, static_cast<unsigned>(expect[i]),
                                      static_cast<unsigned>(buf.data()[i]));
                        s.first_mismatch = text;
                    }
                }
            }
        }
    }
    --s.running;
}

task<int> run_pass(block_device& dev, const io_args& a, pass_kind kind, std::uint64_t chunk) {
    pass_state s{&dev, &a, chunk, a.blocks * dev.info().block_size};
    const auto t0 = std::chrono::steady_clock::now();
    const unsigned workers = static_cast<unsigned>(
        std::min<std::uint64_t>(a.queue_depth, (s.total_bytes + chunk - 1) / chunk));
    std::vector<dma_buffer> bufs;
    std::vector<std::vector<std::byte>> expects(workers);
    for (unsigned i = 0; i < workers; ++i) {
        bufs.emplace_back(chunk);  // throws with the cause (e.g. RLIMIT_MEMLOCK)
        if (kind == pass_kind::verify) expects[i].resize(chunk);
    }
    s.running = workers;
    for (unsigned i = 0; i < workers; ++i)
        loop::current()->spawn(worker(s, kind, bufs[i], expects[i]));
    while (s.running > 0) co_await yield();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const char* name = kind == pass_kind::write  ? "write"
                       : kind == pass_kind::read ? "read"
                                                 : "verify";
    if (s.error) {
        std::fprintf(stderr, "convme io: %s failed: %s\n", name, s.error_text.c_str());
        co_return 2;
    }
    std::printf("%-6s %" PRIu64 " bytes at offset %" PRIu64 " in %" PRIu64
                " I/Os: %.3f ms, %.1f MiB/s\n",
                name, s.total_bytes, a.offset, s.ios, secs * 1e3,
                secs > 0 ? static_cast<double>(s.total_bytes) / (1024.0 * 1024.0) / secs : 0.0);
    if (kind == pass_kind::verify) {
        if (s.mismatches) {
            std::fprintf(stderr,
                         "convme io: VERIFY FAILED: %" PRIu64 " bytes differ; %s (seed %" PRIu64
                         ")\n",
                         s.mismatches, s.first_mismatch.c_str(), a.seed);
            co_return 3;
        }
        std::printf("VERIFY OK: %" PRIu64 " bytes match the pattern (seed %" PRIu64 ")\n",
                    s.total_bytes, a.seed);
    }
    co_return 0;
}

task<int> run_all(block_device& dev, io_args a, std::uint64_t chunk) {
    int rc = 0;
    if (a.write) rc = co_await run_pass(dev, a, pass_kind::write, chunk);
    if (rc == 0 && a.write && dev.info().supports_flush) {
        if (auto ec = co_await dev.flush()) {
            std::fprintf(stderr, "convme io: flush failed: %s\n", ec.message().c_str());
            rc = 2;
        }
    }
    if (rc == 0 && a.read) rc = co_await run_pass(dev, a, pass_kind::read, chunk);
    if (rc == 0 && a.verify) rc = co_await run_pass(dev, a, pass_kind::verify, chunk);
    co_await dev.drain();
    co_return rc;
}

}  // namespace

int run_io_command(const io_args& in) {
    io_args a = in;
    if (!a.write && !a.read && !a.verify) a.write = a.verify = true;
    std::error_code ec;
    std::string why;
    auto dev = open_device(a.uri, ec, why);
    if (!dev) {
        std::fprintf(stderr, "convme io: cannot open %s: %s\n%s\n", a.uri.c_str(),
                     ec.message().c_str(), why.c_str());
        return 1;
    }
    const device_info& info = dev->info();
    const std::uint64_t bs = info.block_size;
    if (bs == 0 || a.offset % bs != 0) {
        std::fprintf(stderr,
                     "convme io: --offset %" PRIu64 " is not a multiple of the %" PRIu64
                     "-byte block size\n",
                     a.offset, bs);
        return 1;
    }
    if (a.blocks > (info.capacity - std::min(a.offset, info.capacity)) / bs) {
        std::fprintf(stderr,
                     "convme io: %" PRIu64 " blocks at offset %" PRIu64
                     " run past the capacity (%" PRIu64 " bytes)\n",
                     a.blocks, a.offset, info.capacity);
        return 1;
    }
    std::uint64_t chunk_blocks = a.chunk_blocks;
    if (chunk_blocks == 0) {
        std::uint64_t cap =
            info.max_transfer ? std::min<std::uint64_t>(info.max_transfer, 256 * 1024) : 256 * 1024;
        chunk_blocks = std::max<std::uint64_t>(1, cap / bs);
    }
    chunk_blocks = std::min(chunk_blocks, a.blocks);
    std::printf("device %s (%s), block size %" PRIu64 ", %" PRIu64 " blocks per I/O, qd %u\n",
                info.name.c_str(), info.backend.c_str(), bs, chunk_blocks, a.queue_depth);
    try {
        loop l;
        return l.run_until_complete(run_all(*dev, a, chunk_blocks * bs));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convme io: %s\n", e.what());
        return 2;
    }
}

}  // namespace convme::cli

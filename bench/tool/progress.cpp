// SPDX-License-Identifier: MIT
#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace convme::bench {

progress_line::progress_line(bool enabled)
    : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1), bytes_per_io_(0) {
    enabled_ = enabled || tty_;
}

void progress_line::begin(std::string phase, std::uint64_t total_ios, std::uint64_t bytes_per_io) {
    phase_ = std::move(phase);
    bytes_per_io_ = bytes_per_io;
    total_ = total_ios;
    phase_start_ = last_print_ = clock::now();
    last_ios_ = 0;
}

void progress_line::tick(std::uint64_t ios) {
    if (!enabled_) return;
    const auto now = clock::now();
    const double dt = std::chrono::duration<double>(now - last_print_).count();
    if (dt < 1.0) return;
    const double rate = static_cast<double>(ios - last_ios_) / dt;
    const double t = std::chrono::duration<double>(now - phase_start_).count();
    std::string pct = total_ ? fmt::format(" {:5.1f}%", 100.0 * static_cast<double>(ios) /
                                                            static_cast<double>(total_))
                             : "";
    std::string line = fmt::format("[{} {:6.1f}s{}] {:10.0f} IOPS {:9.1f} MB/s", phase_, t, pct,
                                   rate, rate * static_cast<double>(bytes_per_io_) / 1e6);
    if (tty_)
        std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    else
        std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    printed_ = true;
    last_print_ = now;
    last_ios_ = ios;
}

void progress_line::end() {
    if (enabled_ && tty_ && printed_) std::fputc('\n', stderr);
    printed_ = false;
}

}  // namespace convme::bench

// SPDX-License-Identifier: MIT
// The once-a-second progress line on stderr: "\r" rewrites on a tty, one line per tick otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace convme::bench {

class progress_line {
  public:
    explicit progress_line(bool enabled);

    // Start a phase ("prefill", "warmup", "run", "verify"); `total_ios` > 0 shows a percentage.
    void begin(std::string phase, std::uint64_t total_ios, std::uint64_t bytes_per_io);
    // Called often; prints at most once a second. `ios` = I/Os completed so far in the phase.
    void tick(std::uint64_t ios);
    void set_phase_name(std::string phase) { phase_ = std::move(phase); }
    // Terminates the line on a tty.
    void end();

  private:
    using clock = std::chrono::steady_clock;
    bool enabled_;
    bool tty_;
    std::uint64_t bytes_per_io_;
    std::string phase_;
    std::uint64_t total_ = 0;
    clock::time_point phase_start_{}, last_print_{};
    std::uint64_t last_ios_ = 0;
    bool printed_ = false;
};

}  // namespace convme::bench

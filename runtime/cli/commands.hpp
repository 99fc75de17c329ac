// SPDX-License-Identifier: MIT
// Subcommands of the `convme` tool. Each returns the process exit code.
#pragma once

#include <cstdint>
#include <string>

namespace convme::cli {

struct doctor_args {
    std::string bdf;
    std::string root;  // fake or chroot tree holding sys/, dev/, proc/
    std::string mode = "auto";
    bool problems_only = false;
};
int run_doctor_command(const doctor_args& a);

int run_info_command(const std::string& uri);

struct io_args {
    std::string uri;
    bool write = false;
    bool read = false;
    bool verify = false;
    std::uint64_t offset = 0;        // bytes (multiple of the block size)
    std::uint64_t blocks = 8;        // logical blocks to touch
    std::uint64_t chunk_blocks = 0;  // blocks per I/O (0: device max transfer or 256 KiB)
    std::uint64_t seed = 0xc0ffee;
    unsigned queue_depth = 4;  // concurrent I/Os
};
int run_io_command(const io_args& a);

}  // namespace convme::cli

// SPDX-License-Identifier: MIT
// Where the simulated namespaces keep their blocks: sparse RAM (1 MiB chunks allocated on first
// write, so a 1 TiB namespace costs nothing until written) or a backing file (persists across
// controller instances; flush = fdatasync). Offsets are bytes in one flat space; the controller
// places namespace i at the sum of the sizes before it. All calls return 0 or -errno.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace convme::sim {

class media {
  public:
    virtual ~media() = default;
    virtual int read(std::uint64_t offset, void* dst, std::size_t len) = 0;
    virtual int write(std::uint64_t offset, const void* src, std::size_t len) = 0;
    // Deallocate: the range reads back as zeroes afterwards.
    virtual int zero(std::uint64_t offset, std::uint64_t len) = 0;
    virtual int flush() = 0;
    // Bytes of host memory committed to data (RAM media; 0 for files). Tests check sparseness.
    virtual std::uint64_t resident_bytes() const { return 0; }
};

std::unique_ptr<media> make_ram_media(std::uint64_t size);
// Creates the file if missing and extends it to `size` (never shrinks). nullptr + why on failure.
std::unique_ptr<media> open_file_media(const std::string& path, std::uint64_t size, int& err,
                                       std::string& why);

}  // namespace convme::sim

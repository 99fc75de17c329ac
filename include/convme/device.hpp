// SPDX-License-Identifier: MIT
// Opening a block device by URI:
//   uring:/path/to/file-or-blockdev[?direct=1&sqpoll=0&iopoll=0&entries=256&create_size=64M]
//         [&fallback=1&fixed_buffers=1&fixed_files=1]   fallback=0: fail instead of using the
//                                             thread pool when io_uring is unavailable
//         [&wait=poll|block]                  poll (default): while I/O is in flight the loop
//                                             spins (lowest latency, a busy core); block: it spins
//                                             briefly, then sleeps until the ring signals a
//                                             completion on its eventfd (far less CPU per I/O).
//                                             sqpoll/iopoll rings always poll.
//         [&create_fill=sparse|zero]          zero: the space create_size adds is written with
//                                             zeros at open (not a hole), so writes overwrite
//                                             allocated blocks (no allocation on write/flush)
//         [&sync=fsync|datasync|dsync]        what flush() runs: fsync (default) or fdatasync
//                                             (data plus the metadata reading it needs, not
//                                             timestamps; on allocated blocks just a cache flush)
//                                             or dsync: every write RWF_DSYNC (durable when it
//                                             completes; info().writes_durable), flush fdatasync
//         [&lock=1]                           lock=1 (default): an exclusive flock() on the file
//         while
//                                             open, waiting up to 10 s for another holder (a killed
//                                             process keeps it until its in-flight I/O finished);
//                                             lock=0 shares the file unsafely
//   threadpool:/path[?threads=4&direct=1&create_size=64M&lock=1]  plain pread/pwrite on a thread
//   pool sim:mem?size=1G&lba=512[&namespaces=1&mdts=5&latency_us=0&dbbc=1&queues=4&qd=128]
//   sim:file=/path?size=1G&lba=512            simulated controller persisted to a file
//   vfio:0000:01:00.0[?ns=1&qd=128]           real NVMe through VFIO
//   null:?size=1G&lba=512                     no medium: every valid request completes on the
//                                             loop's next poll, no data moves (the runtime's cost)
// An unknown scheme, a malformed parameter or a missing file gives an error naming the part of the
// URI at fault.
#pragma once

#include <convme/block_device.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace convme {

struct device_uri {
    std::string scheme;                         // "uring", "threadpool", "sim", "vfio", "null"
    std::string target;                         // path, "mem", "file=/x", or a PCI BDF
    std::map<std::string, std::string> params;  // query parameters
};

// Parse without opening. On failure ec = errc::bad_uri and `why` explains the problem.
bool parse_device_uri(std::string_view uri, device_uri& out, std::string& why) noexcept;

// Size suffixes: 4096, 4K, 64M, 1G, 2T (powers of 1024). Returns false if malformed.
bool parse_size(std::string_view text, std::uint64_t& out) noexcept;

// Open a device; throws std::system_error whose what() names the step, errno and fix.
std::unique_ptr<block_device> open_device(std::string_view uri);
// Non-throwing variant: returns nullptr and fills ec and why.
std::unique_ptr<block_device> open_device(std::string_view uri, std::error_code& ec,
                                          std::string& why) noexcept;

}  // namespace convme

// SPDX-License-Identifier: MIT
// The null: backend: a block device with no medium. Every request that passes block_device's
// validation completes successfully on its loop's next poll, and no data moves (reads leave the
// buffer as it was). It measures what the runtime itself costs per I/O (request, validation,
// submit, poller, ready queue, coroutine resumption), like fio's null engine and xNVMe's nil
// backend:
//
//   null:?size=1G&lba=512      capacity (default 1G, a multiple of lba) and logical block size
//                              (512..65536, a power of two; default 512)
//
// One channel per loop (a poller holding the waiters of that loop's submitted requests in FIFO
// order), made on the loop's first I/O. drain() waits for the loop's requests, then unregisters the
// channel; later I/O from that loop fails with errc::shutting_down.
#pragma once

#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <memory>
#include <string>
#include <system_error>

namespace convme::null_backend {

// The registry's entry points: the target must be empty ("null:" or "null:?size=...").
bool check_null_target(device_uri& uri, std::string& why);
std::unique_ptr<block_device> open_null_device(const device_uri& uri, std::error_code& ec,
                                               std::string& why);

}  // namespace convme::null_backend

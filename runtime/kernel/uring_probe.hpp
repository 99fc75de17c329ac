// SPDX-License-Identifier: MIT
// Can this process use io_uring? (kernel support, seccomp, kernel.io_uring_disabled), with a test
// hook and the CONVME_FORCE_NO_URING=1 environment variable to pretend it cannot.
#pragma once

#include <string>

namespace convme::backends {

// 0 if io_uring works here, else -errno and `why`: one sentence naming the cause and the fix.
int uring_available(std::string& why);

// Test hook: make uring_available() (and so make_uring_device / open_device) fail with this errno
// (-ENOSYS, -EPERM...). 0 restores real probing.
void testing_force_uring_failure(int neg_errno) noexcept;

// Sets up and tears down a ring with `flags`. 0 or -errno.
int uring_try_setup(unsigned entries, unsigned flags) noexcept;

}  // namespace convme::backends

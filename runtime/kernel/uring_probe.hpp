// SPDX-License-Identifier: MIT
// Can this process use io_uring? (kernel support, seccomp, kernel.io_uring_disabled)
#pragma once

#include <string>

namespace convme::backends {

// 0 if io_uring works here, else -errno and `why`: one sentence naming the cause and the fix.
int uring_available(std::string& why);

// Sets up and tears down a ring with `flags`. 0 or -errno.
int uring_try_setup(unsigned entries, unsigned flags) noexcept;

}  // namespace convme::backends

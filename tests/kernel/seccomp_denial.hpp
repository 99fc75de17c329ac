// SPDX-License-Identifier: MIT
// Runs a check in a forked child under a seccomp filter that makes chosen system calls fail, as a
// container's seccomp profile does (Docker's default one refuses io_uring), so that the fallback
// paths are tested against the real kernel behaviour instead of a hook in production code.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace convme::testing {

struct syscall_denial {
    long nr;                 // e.g. __NR_io_uring_setup, __NR_openat
    int err;                 // errno the call fails with
    unsigned flag_mask = 0;  // nonzero: deny only when the flags argument has one of these bits
    unsigned flag_arg = 0;   // index of the flags argument (openat: 2)
};

struct child_outcome {
    bool skipped = false;  // the filter could not be installed or did not apply (qemu-user)
    std::string why_skipped;
    std::string failures;  // what the body reported, "" when every check passed
};

// `body` runs in the child with the filter installed and returns its failed checks as text.
child_outcome run_with_denials(const std::vector<syscall_denial>& denials,
                               const std::function<std::string()>& body);

}  // namespace convme::testing

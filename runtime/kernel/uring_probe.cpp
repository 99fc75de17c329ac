// SPDX-License-Identifier: MIT
#include "runtime/kernel/uring_probe.hpp"

#include <liburing.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>

namespace convme::backends {
namespace {

int real_probe() noexcept {
    static std::once_flag once;
    static int result = 0;
    std::call_once(once, [] { result = uring_try_setup(4, 0); });
    return result;
}

// Contents of /proc/sys/kernel/io_uring_disabled (Linux 6.6+), or -1 if absent.
int disabled_sysctl() {
    std::ifstream f("/proc/sys/kernel/io_uring_disabled");
    int v = -1;
    if (!(f >> v)) return -1;
    return v;
}

std::string explain(int err) {
    std::string s =
        "io_uring is unavailable (io_uring_setup: " + std::string(std::strerror(err)) + ")";
    int sysctl = disabled_sysctl();
    if (sysctl > 0) {
        s += ": kernel.io_uring_disabled=" + std::to_string(sysctl) +
             "; enable it with `sysctl kernel.io_uring_disabled=0`";
        if (sysctl == 1) s += " or add the user to the group in kernel.io_uring_group";
    } else if (err == ENOSYS) {
        s += ": the kernel lacks CONFIG_IO_URING or a seccomp filter blocks it; use a kernel with "
             "io_uring (5.10+) or allow io_uring_setup/io_uring_enter/io_uring_register in the "
             "container's seccomp profile";
    } else if (err == EPERM) {
        s += ": blocked by a seccomp filter or a security policy; allow io_uring_setup/"
             "io_uring_enter/io_uring_register in the container's seccomp profile (e.g. docker "
             "--security-opt seccomp=unconfined)";
    } else if (err == ENOMEM) {
        s += ": not enough locked memory for the ring; raise RLIMIT_MEMLOCK (ulimit -l)";
    }
    return s;
}

}  // namespace

int uring_try_setup(unsigned entries, unsigned flags) noexcept {
    io_uring ring;
    io_uring_params p;
    std::memset(&p, 0, sizeof p);
    p.flags = flags;
    int rc = io_uring_queue_init_params(entries, &ring, &p);
    if (rc < 0) return rc;
    io_uring_queue_exit(&ring);
    return 0;
}

int uring_available(std::string& why) {
    int rc = real_probe();
    if (rc < 0) why = explain(-rc);
    return rc;
}

}  // namespace convme::backends

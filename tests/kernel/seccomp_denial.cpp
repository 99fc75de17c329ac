// SPDX-License-Identifier: MIT
#include "seccomp_denial.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace convme::testing {
namespace {

#if defined(__x86_64__)
constexpr unsigned this_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned this_arch = AUDIT_ARCH_AARCH64;
#else
constexpr unsigned this_arch = 0;
#endif

constexpr int exit_code_skip = 77;

// A call nothing here makes (io_destroy of no context, normally EINVAL), denied with an errno it
// never returns: if it does not fail that way, the filter does not apply (e.g. under qemu-user,
// where the filter sees the host's calls).
constexpr long sentinel_nr = __NR_io_destroy;
constexpr int sentinel_err = ENOTRECOVERABLE;

sock_filter stmt(unsigned short code, unsigned k) {
    return BPF_STMT(code, k);
}
sock_filter jump(unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
    return BPF_JUMP(code, k, jt, jf);
}

// Little-endian: the low 32 bits of argument i.
unsigned arg_low_offset(unsigned i) {
    return static_cast<unsigned>(offsetof(seccomp_data, args) + i * sizeof(std::uint64_t));
}

std::vector<sock_filter> build_filter(const std::vector<syscall_denial>& denials) {
    std::vector<sock_filter> f;
    // Another architecture's calls (qemu-user translating for us): allow, the probe notices.
    f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, this_arch, 1, 0));
    f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    std::vector<syscall_denial> all = denials;
    all.push_back({sentinel_nr, sentinel_err});
    for (const syscall_denial& d : all) {
        f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
        const unsigned deny = SECCOMP_RET_ERRNO | (static_cast<unsigned>(d.err) & SECCOMP_RET_DATA);
        if (d.flag_mask == 0) {
            f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(d.nr), 0, 1));
            f.push_back(stmt(BPF_RET | BPF_K, deny));
        } else {
            f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(d.nr), 0, 3));
            f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, arg_low_offset(d.flag_arg)));
            f.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, d.flag_mask, 0, 1));
            f.push_back(stmt(BPF_RET | BPF_K, deny));
        }
    }
    f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    return f;
}

// Does the filter really apply?
std::string probe() {
    const long rc = ::syscall(sentinel_nr, 0L);
    if (rc == -1 && errno == sentinel_err) return {};
    return "the seccomp filter does not apply here (e.g. under qemu-user, which runs the host's "
           "system calls)";
}

void write_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
    }
}

}  // namespace

child_outcome run_with_denials(const std::vector<syscall_denial>& denials,
                               const std::function<std::string()>& body) {
    child_outcome out;
    if (this_arch == 0) {
        out.skipped = true;
        out.why_skipped = "no seccomp architecture constant for this target";
        return out;
    }
    int fds[2];
    if (::pipe(fds) != 0) {
        out.failures = std::string("pipe: ") + std::strerror(errno);
        return out;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        out.failures = std::string("fork: ") + std::strerror(errno);
        return out;
    }
    if (pid == 0) {
        ::close(fds[0]);
        std::vector<sock_filter> f = build_filter(denials);
        sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
            write_all(fds[1], std::string("installing a seccomp filter: ") + std::strerror(errno));
            ::_exit(exit_code_skip);
        }
        if (std::string why = probe(); !why.empty()) {
            write_all(fds[1], why);
            ::_exit(exit_code_skip);
        }
        write_all(fds[1], body());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string text;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == exit_code_skip) {
        out.skipped = true;
        out.why_skipped = text;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        out.failures =
            text + "\nthe child ended abnormally (status " + std::to_string(status) + ")";
    } else {
        out.failures = text;
    }
    return out;
}

}  // namespace convme::testing

// SPDX-License-Identifier: MIT
#include "runtime/kernel/file_target.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace convme::backends {
namespace {

std::string errno_text(int err) {
    return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

std::string open_fix(int err, bool creating) {
    switch (err) {
        case ENOENT:
            return creating ? "check that the directory exists"
                            : "check the path, or add ?create_size=64M to create a file";
        case EACCES:
        case EPERM:
            return "check the permissions (block devices usually need root or the disk group)";
        case EROFS:
            return "the filesystem is read-only";
        case EISDIR:
            return "give a file or block device, not a directory";
        case EBUSY:
            return "the device is in use (mounted or opened exclusively)";
        default:
            return "check the path";
    }
}

// Direct-I/O alignment from statx(STATX_DIOALIGN) (Linux 6.1+). Returns false if unknown;
// dio_offset_align == 0 means the file does not support direct I/O.
bool dio_alignment(int fd, std::uint32_t& mem_align, std::uint32_t& offset_align) {
#if defined(STATX_DIOALIGN)
    struct statx stx {};
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN)) {
        mem_align = stx.stx_dio_mem_align;
        offset_align = stx.stx_dio_offset_align;
        return true;
    }
#else
    (void)fd;
    (void)mem_align;
    (void)offset_align;
#endif
    return false;
}

int probe_block_device(file_target& t, std::string& why) {
    int logical = 0;
    std::uint64_t bytes = 0;
    if (ioctl(t.fd, BLKSSZGET, &logical) != 0 || logical <= 0) {
        int err = errno;
        why = "ioctl(BLKSSZGET) on " + t.path + ": " + errno_text(err);
        return -err;
    }
    if (ioctl(t.fd, BLKGETSIZE64, &bytes) != 0) {
        int err = errno;
        why = "ioctl(BLKGETSIZE64) on " + t.path + ": " + errno_text(err);
        return -err;
    }
    t.block_size = static_cast<std::uint32_t>(logical);
    unsigned int physical = 0;
    if (ioctl(t.fd, BLKPBSZGET, &physical) == 0) t.physical_block_size = physical;
    t.capacity = bytes;
    t.mem_alignment = t.block_size;
    return 0;
}

std::error_code transfer(const file_target& t, bool is_write, std::uint64_t offset,
                         std::uint64_t length, std::byte* data) noexcept {
    std::uint64_t done = 0;
    while (done < length) {
        std::size_t chunk =
            static_cast<std::size_t>(std::min<std::uint64_t>(length - done, 1u << 30));
        ssize_t n = is_write ? ::pwrite(t.fd, data + done, chunk, static_cast<off_t>(offset + done))
                             : ::pread(t.fd, data + done, chunk, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return errno_code(errno);
        }
        if (n == 0) return errno_code(EIO);  // unexpected end of file: the file shrank under us
        done += static_cast<std::uint64_t>(n);
    }
    return {};
}

// create_fill=zero: writes zeros over [from, to) and fdatasync()s them. The 4 KiB-aligned middle
// goes with O_DIRECT 1 MiB writes when the file is open that way (a buffered fill of 256 MiB
// took ~2 s here, direct ~0.15 s); an unaligned head or tail is written with O_DIRECT switched
// off. A crash in between leaves a shorter file, which the next open extends again from its end.
int fill_zeroes(file_target& t, std::uint64_t from, std::uint64_t to, std::string& why) {
    const int fl = fcntl(t.fd, F_GETFL);
    auto fail = [&](int err, const char* step) {
        if (fl >= 0) fcntl(t.fd, F_SETFL, fl);
        why = std::string(step) + " " + t.path + " (create_fill=zero, " + std::to_string(to) +
              " bytes): " + errno_text(err) + "; check free space and file size limits";
        return -err;
    };
    if (fl < 0) return fail(errno, "fcntl");
    constexpr std::uint64_t align = 4096, chunk = 1u << 20;
    // [from, end) in writes of at most `max` bytes from `zeros`; 0 or the errno.
    auto write_zeros = [&](std::uint64_t end, std::byte* zeros, std::uint64_t max) {
        while (from < end) {
            const std::uint64_t n = std::min(max, end - from);
            if (std::error_code ec = transfer(t, true, from, n, zeros)) return ec.value();
            from += n;
        }
        return 0;
    };
    static std::byte small[align] = {};  // only ever read (pwrite's source)
    const std::uint64_t mid_begin = (from + align - 1) / align * align,
                        mid_end = to / align * align;
    if ((fl & O_DIRECT) && mid_begin < mid_end) {
        void* big = std::aligned_alloc(align, chunk);
        if (!big) return fail(ENOMEM, "zero-filling");
        std::memset(big, 0, chunk);
        int err = 0;
        if (from < mid_begin) {  // unaligned head, buffered
            if (fcntl(t.fd, F_SETFL, fl & ~O_DIRECT) != 0) err = errno;
            if (!err) err = write_zeros(mid_begin, small, align);
            if (!err && fcntl(t.fd, F_SETFL, fl) != 0) err = errno;
        }
        if (!err) err = write_zeros(mid_end, static_cast<std::byte*>(big), chunk);
        std::free(big);
        if (err) return fail(err, "zero-filling");
    }
    if (from < to) {  // what is left (all of it without O_DIRECT), buffered
        if ((fl & O_DIRECT) && fcntl(t.fd, F_SETFL, fl & ~O_DIRECT) != 0)
            return fail(errno, "fcntl");
        if (int err = write_zeros(to, small, align)) return fail(err, "zero-filling");
    }
    if (::fdatasync(t.fd) != 0) return fail(errno, "fdatasync");
    if (fcntl(t.fd, F_SETFL, fl) != 0) return fail(errno, "fcntl");
    return 0;
}

int ensure_size(file_target& t, std::uint64_t create_size, bool fill_zero, std::string& why) {
    struct stat st {};
    if (fstat(t.fd, &st) != 0) {
        int err = errno;
        why = "fstat " + t.path + ": " + errno_text(err);
        return -err;
    }
    if (fill_zero && create_size > static_cast<std::uint64_t>(st.st_size))
        return fill_zeroes(t, static_cast<std::uint64_t>(st.st_size), create_size, why);
    if (create_size > static_cast<std::uint64_t>(st.st_size) &&
        ftruncate(t.fd, static_cast<off_t>(create_size)) != 0) {
        int err = errno;
        why = "extending " + t.path + " to " + std::to_string(create_size) +
              " bytes (create_size): " + errno_text(err) +
              "; check free space and file size limits";
        return -err;
    }
    return 0;
}

}  // namespace

file_target::~file_target() {
    if (fd >= 0) ::close(fd);
}

void file_target::describe(const char* scheme, device_info& info) const {
    info.name = std::string(scheme) + ":" + path + " (" + mode_note;
    if (is_block_device) {
        info.name += ", " + std::to_string(block_size) + "-byte blocks";
        if (physical_block_size > block_size)
            info.name += " (physical " + std::to_string(physical_block_size) + ")";
    }
    info.name += ")";
    info.backend = scheme;
    info.block_size = block_size;
    info.capacity = capacity;
    info.mem_alignment = mem_alignment;
    info.supports_flush = true;
    info.supports_write_zeroes = true;
    info.supports_trim = true;
}

namespace {
// Exclusive flock on the target, waiting up to `wait` for the current holder to let go. A
// process killed with I/O in flight holds it until the kernel finished that I/O (its io_uring
// requests keep the open file alive), so a restarted store never races a dead one's writes.
int lock_exclusive(const char* scheme, const file_target& t, std::chrono::milliseconds wait,
                   std::string& why) {
    const auto give_up = std::chrono::steady_clock::now() + wait;
    for (;;) {
        if (::flock(t.fd, LOCK_EX | LOCK_NB) == 0) return 0;
        const int err = errno;
        if (err == EINTR) continue;
        if (err != EWOULDBLOCK) {
            why =
                std::string(scheme) + ": flock " + t.path + ": " + errno_text(err) +
                "; the filesystem may not support locks: pass lock=0 if nothing else uses the file";
            return -err;
        }
        if (std::chrono::steady_clock::now() >= give_up) {
            why = std::string(scheme) + ": " + t.path +
                  " is locked by another opener (flock, waited " + std::to_string(wait.count()) +
                  " ms): another process (or another device object in "
                  "this one) has it open, or a killed process still has I/O in flight on it; close "
                  "that first (`fuser -v " +
                  t.path + "` shows who), or pass lock=0 to share it unsafely";
            return -EBUSY;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
}
}  // namespace

namespace {
std::string open_error(const char* scheme, const std::string& path, int err, bool creating) {
    return std::string(scheme) + ": open " + path + ": " + errno_text(err) + "; " +
           open_fix(err, creating);
}

// Opens `path`, with O_DIRECT if asked and the filesystem takes it; else buffered, with the
// reason in `buffered_reason`.
int open_fd(const char* scheme, const std::string& path, const file_open_options& opts,
            file_target& out, std::string& buffered_reason, std::string& why) {
    const bool creating = opts.create_size > 0;
    const int flags = O_RDWR | O_CLOEXEC | (creating ? O_CREAT : 0);
    if (opts.direct) {
        out.fd = ::open(path.c_str(), flags | O_DIRECT, 0644);
        if (out.fd >= 0) {
            out.direct = true;
            return 0;
        }
        if (errno != EINVAL) {
            const int err = errno;
            why = open_error(scheme, path, err, creating);
            return -err;
        }
        buffered_reason =
            "buffered: the filesystem refused O_DIRECT (EINVAL, e.g. tmpfs on older "
            "kernels); put the file on ext4/xfs or a block device for direct I/O";
    } else {
        buffered_reason = "buffered: direct=0";
    }
    out.fd = ::open(path.c_str(), flags, 0644);
    if (out.fd < 0) {
        const int err = errno;
        why = open_error(scheme, path, err, creating);
        return -err;
    }
    return 0;
}

// Block size and alignment of a block device (probed) or a regular file (512, grown to
// `create_size` if asked); anything else is refused.
int describe_target(const char* scheme, const std::string& path, const file_open_options& opts,
                    file_target& out, std::string& why) {
    struct stat st {};
    if (fstat(out.fd, &st) != 0) {
        const int err = errno;
        why = std::string(scheme) + ": fstat " + path + ": " + errno_text(err);
        return -err;
    }
    if (S_ISBLK(st.st_mode)) {
        out.is_block_device = true;
        if (int rc = probe_block_device(out, why); rc < 0) {
            why = std::string(scheme) + ": " + why;
            return rc;
        }
        return 0;
    }
    if (S_ISREG(st.st_mode)) {
        if (int rc = ensure_size(out, opts.create_size, opts.fill_zero, why); rc < 0) {
            why = std::string(scheme) + ": " + why;
            return rc;
        }
        out.block_size = 512;
        out.mem_alignment = out.direct ? 512 : 1;
        return 0;
    }
    why = std::string(scheme) + ": " + path +
          " is neither a regular file nor a block device; give a file or e.g. /dev/nvme0n1";
    return -EINVAL;
}

// Direct I/O alignment from statx; a file that statx says cannot do direct I/O after all is
// reopened buffered.
int apply_dio_alignment(const char* scheme, const std::string& path, file_target& out,
                        std::string& buffered_reason, std::string& why) {
    std::uint32_t mem_align = 0, offset_align = 0;
    if (!out.direct || !dio_alignment(out.fd, mem_align, offset_align)) return 0;
    if (offset_align != 0) {
        if (offset_align > out.block_size) out.block_size = offset_align;
        out.mem_alignment = mem_align ? mem_align : out.block_size;
        return 0;
    }
    ::close(out.fd);
    out.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (out.fd < 0) {
        const int err = errno;
        why = std::string(scheme) + ": reopening " + path + " without O_DIRECT: " + errno_text(err);
        return -err;
    }
    out.direct = false;
    buffered_reason = "buffered: statx reports no direct I/O support on this filesystem";
    return 0;
}
}  // namespace

int open_file_target(const char* scheme, const std::string& path, const file_open_options& opts,
                     file_target& out, std::string& why) {
    out.path = path;
    std::string buffered_reason;
    if (int rc = open_fd(scheme, path, opts, out, buffered_reason, why); rc < 0) return rc;
    if (int rc = describe_target(scheme, path, opts, out, why); rc < 0) return rc;
    if (int rc = apply_dio_alignment(scheme, path, out, buffered_reason, why); rc < 0) return rc;
    if (!out.direct) out.mem_alignment = 1;  // buffered I/O copies through the page cache
    if (opts.exclusive) {
        if (int rc = lock_exclusive(scheme, out, opts.lock_wait, why); rc < 0) return rc;
    }
    out.mode_note = out.direct ? "O_DIRECT" : buffered_reason;
    if (opts.fill_zero && !out.is_block_device) out.mode_note += ", create_fill=zero";
    if (!out.is_block_device) {
        struct stat st {};
        std::uint64_t size = 0;
        if (fstat(out.fd, &st) == 0) size = static_cast<std::uint64_t>(st.st_size);
        out.capacity = size - size % out.block_size;  // a partial last block is not addressable
    }
    return 0;
}

int write_zeroes_mode(bool fallback) noexcept {
    // ZERO_RANGE keeps the blocks allocated; tmpfs (and some others) only know PUNCH_HOLE, which
    // reads back as zeroes too.
    return fallback ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
                    : (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
}

int trim_mode() noexcept {
    return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
}

std::error_code fallocate_error(int neg_errno) noexcept {
    int err = neg_errno < 0 ? -neg_errno : neg_errno;
    if (err == EOPNOTSUPP || err == ENOTSUP || err == ENOTTY)
        return make_error_code(errc::unsupported);
    return errno_code(err);
}

namespace {

std::error_code block_ioctl(const file_target& t, unsigned long request, std::uint64_t offset,
                            std::uint64_t length) noexcept {
    std::uint64_t range[2] = {offset, length};
    if (ioctl(t.fd, request, range) != 0) return fallocate_error(errno);
    return {};
}

std::error_code do_fallocate(const file_target& t, int mode, std::uint64_t offset,
                             std::uint64_t length) noexcept {
    if (::fallocate(t.fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0)
        return errno_code(errno);
    return {};
}

}  // namespace

std::error_code execute_sync(const file_target& t, io_op op, std::uint64_t offset,
                             std::uint64_t length, std::byte* data) noexcept {
    switch (op) {
        case io_op::read:
            return transfer(t, false, offset, length, data);
        case io_op::write:
            return transfer(t, true, offset, length, data);
        case io_op::flush:
            if (::fsync(t.fd) != 0) return errno_code(errno);
            return {};
        case io_op::write_zeroes: {
            if (t.is_block_device) return block_ioctl(t, BLKZEROOUT, offset, length);
            std::error_code ec = do_fallocate(t, write_zeroes_mode(false), offset, length);
            if (ec == std::errc::operation_not_supported)
                ec = do_fallocate(t, write_zeroes_mode(true), offset, length);
            return ec ? fallocate_error(ec.value()) : ec;
        }
        case io_op::trim: {
            if (t.is_block_device) return block_ioctl(t, BLKDISCARD, offset, length);
            std::error_code ec = do_fallocate(t, trim_mode(), offset, length);
            return ec ? fallocate_error(ec.value()) : ec;
        }
    }
    return make_error_code(errc::unsupported);
}

}  // namespace convme::backends

// SPDX-License-Identifier: MIT
#include "driver/sim/sim_media.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace convme::sim {
namespace {

class ram_media final : public media {
  public:
    static constexpr std::size_t chunk = 1u << 20;

    explicit ram_media(std::uint64_t size) : chunks_((size + chunk - 1) / chunk) {}

    int read(std::uint64_t off, void* dst, std::size_t len) override {
        auto* out = static_cast<std::byte*>(dst);
        for_each_piece(off, len, [&](std::size_t idx, std::size_t in, std::size_t n) {
            if (chunks_[idx])
                std::memcpy(out, chunks_[idx].get() + in, n);
            else
                std::memset(out, 0, n);
            out += n;
            return 0;
        });
        return 0;
    }

    int write(std::uint64_t off, const void* src, std::size_t len) override {
        const auto* in_p = static_cast<const std::byte*>(src);
        return for_each_piece(off, len, [&](std::size_t idx, std::size_t in, std::size_t n) {
            if (!chunks_[idx]) {
                // calloc: fresh mmap'd pages are already zero, so untouched bytes stay uncommitted.
                chunks_[idx].reset(static_cast<std::byte*>(std::calloc(1, chunk)));
                if (!chunks_[idx]) return -ENOMEM;
                resident_ += chunk;
            }
            std::memcpy(chunks_[idx].get() + in, in_p, n);
            in_p += n;
            return 0;
        });
    }

    int zero(std::uint64_t off, std::uint64_t len) override {
        return for_each_piece(off, len, [&](std::size_t idx, std::size_t in, std::size_t n) {
            if (!chunks_[idx]) return 0;
            if (n == chunk) {
                chunks_[idx].reset();
                resident_ -= chunk;
            } else {
                std::memset(chunks_[idx].get() + in, 0, n);
            }
            return 0;
        });
    }

    int flush() override { return 0; }
    std::uint64_t resident_bytes() const override { return resident_; }

  private:
    struct free_deleter {
        void operator()(std::byte* p) const noexcept { std::free(p); }
    };

    template <typename Fn>
    int for_each_piece(std::uint64_t off, std::uint64_t len, Fn&& fn) {
        while (len > 0) {
            std::size_t idx = static_cast<std::size_t>(off / chunk);
            std::size_t in = static_cast<std::size_t>(off % chunk);
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, chunk - in));
            if (idx >= chunks_.size()) return -EINVAL;
            if (int rc = fn(idx, in, n); rc != 0) return rc;
            off += n;
            len -= n;
        }
        return 0;
    }

    std::vector<std::unique_ptr<std::byte, free_deleter>> chunks_;
    std::uint64_t resident_ = 0;
};

class file_media final : public media {
  public:
    explicit file_media(int fd) : fd_(fd) {}
    ~file_media() override { ::close(fd_); }

    int read(std::uint64_t off, void* dst, std::size_t len) override {
        auto* p = static_cast<char*>(dst);
        while (len > 0) {
            ssize_t n = ::pread(fd_, p, len, static_cast<off_t>(off));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return -errno;
            if (n == 0) {  // past EOF of a file shrunk behind our back: zeroes
                std::memset(p, 0, len);
                return 0;
            }
            p += n;
            off += static_cast<std::uint64_t>(n);
            len -= static_cast<std::size_t>(n);
        }
        return 0;
    }

    int write(std::uint64_t off, const void* src, std::size_t len) override {
        const auto* p = static_cast<const char*>(src);
        while (len > 0) {
            ssize_t n = ::pwrite(fd_, p, len, static_cast<off_t>(off));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return -errno;
            p += n;
            off += static_cast<std::uint64_t>(n);
            len -= static_cast<std::size_t>(n);
        }
        return 0;
    }

    int zero(std::uint64_t off, std::uint64_t len) override {
        if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                        static_cast<off_t>(len)) == 0)
            return 0;
        // File systems without hole punching: write zeroes.
        static const std::vector<char> zeros(1u << 16);
        while (len > 0) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, zeros.size()));
            if (int rc = write(off, zeros.data(), n); rc != 0) return rc;
            off += n;
            len -= n;
        }
        return 0;
    }

    int flush() override { return ::fdatasync(fd_) == 0 ? 0 : -errno; }

  private:
    int fd_;
};

}  // namespace

std::unique_ptr<media> make_ram_media(std::uint64_t size) {
    return std::make_unique<ram_media>(size);
}

std::unique_ptr<media> open_file_media(const std::string& path, std::uint64_t size, int& err,
                                       std::string& why) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = errno;
        why = "sim: opening backing file " + path + " failed: " + std::strerror(err) +
              " (check the directory exists and is writable)";
        return nullptr;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || (!S_ISREG(st.st_mode))) {
        err = S_ISREG(st.st_mode) ? errno : EINVAL;
        why = "sim: backing file " + path + " is not a regular file";
        ::close(fd);
        return nullptr;
    }
    if (static_cast<std::uint64_t>(st.st_size) < size &&
        ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        err = errno;
        why = "sim: extending backing file " + path + " to " + std::to_string(size) +
              " bytes failed: " + std::strerror(err) + " (free disk space or use a smaller size=)";
        ::close(fd);
        return nullptr;
    }
    return std::make_unique<file_media>(fd);
}

}  // namespace convme::sim

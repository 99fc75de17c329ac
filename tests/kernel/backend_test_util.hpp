// SPDX-License-Identifier: MIT
// Helpers for the backend tests: a private temporary directory, data patterns, running a task on a
// fresh loop.
#pragma once

#include <convme/block_device.hpp>
#include <convme/device.hpp>
#include <convme/loop.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace convme::testing {

// mkdtemp under $TMPDIR (or /tmp, or `base`), removed with its contents on destruction.
class temp_dir {
  public:
    explicit temp_dir(const char* base = nullptr) {
        std::string root = base ? base : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
        std::string tmpl = root + "/convme-backends-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (::mkdtemp(buf.data())) path_ = buf.data();
    }
    ~temp_dir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    bool ok() const { return !path_.empty(); }
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

// Deterministic bytes that differ per (seed, position).
inline void fill_pattern(std::span<std::byte> out, std::uint64_t seed) {
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t i = 0; i < out.size(); ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = static_cast<std::byte>(x);
    }
}

template <typename T>
T run_on_fresh_loop(task<T> t) {
    loop l;
    return l.run_until_complete(std::move(t));
}

}  // namespace convme::testing

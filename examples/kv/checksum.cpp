// SPDX-License-Identifier: MIT
#include "checksum.hpp"

#include <array>
#include <bit>
#include <cstring>

namespace kv {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

// table[k][b]: CRC of byte b followed by k zero bytes, for slicing-by-8.
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_tables() {
    std::array<std::array<std::uint32_t, 256>, 8> t{};
    for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t c = b;
        for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1u) ? kPoly : 0u);
        t[0][b] = c;
    }
    for (std::size_t k = 1; k < 8; ++k)
        for (std::uint32_t b = 0; b < 256; ++b)
            t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
    return t;
}
constexpr auto kTables = make_tables();

// Little-endian loads: the same value on every host (the hash picks shards on the device), one
// load instruction on a little-endian one (the byte-by-byte form was compiled as a byte loop).
std::uint64_t load_le64(const unsigned char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    return v;
}

// The first n < 8 bytes at p as the low bytes of a little-endian word.
std::uint64_t load_le_tail(const unsigned char* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    if (n >= 4) {
        std::uint32_t lo, hi;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + n - 4, 4);  // overlaps lo when n < 8
        if constexpr (std::endian::native == std::endian::big) {
            lo = __builtin_bswap32(lo);
            hi = __builtin_bswap32(hi);
        }
        v = lo | (std::uint64_t{hi} << (8 * (n - 4)));
    } else {
        for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8 * i);
    }
    return v;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KV_CRC32C_HW 1
// SSE4.2's crc32 instruction computes CRC-32C (the Castagnoli polynomial), 8 bytes at a time.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_hw(const unsigned char* p, std::size_t len,
                                                          std::uint32_t c) noexcept {
    std::uint64_t c64 = c;
    while (len >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
        p += 8;
        len -= 8;
    }
    c = static_cast<std::uint32_t>(c64);
    while (len--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
const bool kHaveCrc32Hw = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t crc) noexcept {
#ifdef KV_CRC32C_HW
    if (kHaveCrc32Hw) return ~crc32c_hw(static_cast<const unsigned char*>(data), len, ~crc);
#endif
    return crc32c_software(data, len, crc);
}

std::uint32_t crc32c_software(const void* data, std::size_t len, std::uint32_t crc) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint32_t c = ~crc;
    while (len >= 8) {
        std::uint64_t w = load_le64(p) ^ c;
        c = kTables[7][w & 0xFF] ^ kTables[6][(w >> 8) & 0xFF] ^ kTables[5][(w >> 16) & 0xFF] ^
            kTables[4][(w >> 24) & 0xFF] ^ kTables[3][(w >> 32) & 0xFF] ^
            kTables[2][(w >> 40) & 0xFF] ^ kTables[1][(w >> 48) & 0xFF] ^
            kTables[0][(w >> 56) & 0xFF];
        p += 8;
        len -= 8;
    }
    while (len--) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xFF];
    return ~c;
}

std::uint64_t key_hash(std::string_view key) noexcept {
    constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
    const auto* p = reinterpret_cast<const unsigned char*>(key.data());
    std::size_t n = key.size();
    std::uint64_t h = 0x243F6A8885A308D3ull ^ (n * kMul);
    auto mix = [](std::uint64_t x) {
        x ^= x >> 32;
        x *= 0xD6E8FEB86659FD93ull;
        x ^= x >> 32;
        x *= 0xD6E8FEB86659FD93ull;
        x ^= x >> 32;
        return x;
    };
    while (n >= 8) {
        h = mix(h ^ load_le64(p)) * kMul;
        p += 8;
        n -= 8;
    }
    const std::uint64_t tail = load_le_tail(p, n);
    return mix(h ^ tail ^ (std::uint64_t{n} << 59));
}

}  // namespace kv

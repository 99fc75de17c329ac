// SPDX-License-Identifier: MIT
// Data pattern for --verify: every 8-byte word of the device range holds a value derived from its
// byte offset and the run's seed, so the expected content of any block is known without keeping
// a copy, independent of the block size and of the order in which concurrent writes landed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace convme::bench {

// splitmix64 finalizer: a cheap, well-mixed 64-bit hash.
inline std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Fill `buf` with the pattern that belongs at device byte offset `offset` (a multiple of 8).
void fill_pattern(std::span<std::byte> buf, std::uint64_t offset, std::uint64_t seed) noexcept;

// Check `buf` against the pattern for `offset`. Returns the byte offset (relative to buf) of the
// first mismatching word, or -1 when everything matches.
std::int64_t check_pattern(std::span<const std::byte> buf, std::uint64_t offset,
                           std::uint64_t seed) noexcept;

}  // namespace convme::bench

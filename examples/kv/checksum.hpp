// SPDX-License-Identifier: MIT
// Checksums and hashing for the KV example, written here (no external dependency):
//  - crc32c(): CRC-32C (Castagnoli), the checksum of every log record: SSE4.2's crc32 instruction
//    where the CPU has it, else software slicing-by-8.
//  - key_hash(): 64-bit hash of a key; picks the shard and feeds the in-memory index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kv {

// CRC-32C of `len` bytes, continuing from `crc` (0 to start). crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t crc = 0) noexcept;
// The same by software slicing-by-8 whatever the CPU (what crc32c() falls back to), so that
// tests can hold the two paths against each other.
std::uint32_t crc32c_software(const void* data, std::size_t len, std::uint32_t crc = 0) noexcept;

// 64-bit hash of `key` (a multiply-xorshift mix over 8-byte words); stable across runs and
// platforms because shard placement on the device depends on it.
std::uint64_t key_hash(std::string_view key) noexcept;

}  // namespace kv

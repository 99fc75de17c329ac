// SPDX-License-Identifier: MIT
// On-device format of the KV log.
//
// Device:  [superblock: 1 block][shard 0 region][shard 1 region]...
// Region:  [half 0][half 1]; each half = [half header: 1 block][records...]
// Records are appended in batches (one group commit = one write); every batch starts on a block
// boundary and its last block is zero-padded. A record:
//
//   off  size  field
//     0     4  magic "CVKR" (0x524B5643)
//     4     4  crc32c of bytes 8..end of the record
//     8     8  epoch: bumped at every open and every compaction switch; never decreases in a half
//    16     8  seq: per-shard sequence number
//    24     8  expire_at: unix milliseconds, 0 = no expiry
//    32     4  key length
//    36     4  value length
//    40     1  type (put, del, expire, flush, epoch)
//    41     7  zero
//    48        key bytes, then value bytes
//
// All integers little-endian. Recovery accepts a record only if its magic and checksum match and
// its epoch is >= the half's base epoch and >= the previous record's epoch, which rejects a torn
// tail and anything left over from an earlier use of the same half.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace kv {

constexpr std::uint32_t kRecordMagic = 0x524B5643u;  // "CVKR"
constexpr std::uint32_t kHalfMagic = 0x484B5643u;    // "CVKH"
constexpr std::uint32_t kSuperMagic = 0x534B5643u;   // "CVKS"
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kRecordHeaderSize = 48;
constexpr std::uint32_t kMaxKeyOrValue = 512u * 1024 * 1024;

enum class record_type : std::uint8_t { put = 1, del = 2, expire = 3, flush = 4, epoch = 5 };

struct record_view {
    record_type type = record_type::put;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    std::int64_t expire_at = 0;
    std::string_view key;
    std::string_view value;
};

inline std::size_t record_size(std::size_t key_len, std::size_t value_len) noexcept {
    return kRecordHeaderSize + key_len + value_len;
}

// Encode `r` at `out` (which must hold record_size(...) bytes). Returns the bytes written.
std::size_t encode_record(const record_view& r, std::byte* out) noexcept;

enum class decode_status {
    ok,         // out filled, size = bytes of the record
    padding,    // a zero byte: the rest of this block is batch padding
    need_more,  // the buffer holds only part of the record; `size` = bytes needed in total
    corrupt,    // bad magic, impossible lengths or a checksum mismatch
};
// Decode the record at the start of `in`. Views in `out` point into `in`.
decode_status decode_record(std::span<const std::byte> in, record_view& out,
                            std::size_t& size) noexcept;

// Half header (one block at the start of each half).
struct half_header {
    std::uint64_t base_epoch = 0;  // records of this use of the half have epoch >= base_epoch
    std::uint32_t shard = 0;
    std::uint32_t half = 0;
};
constexpr std::size_t kHalfHeaderBytes = 32;
void encode_half_header(const half_header& h, std::byte* out) noexcept;  // kHalfHeaderBytes
bool decode_half_header(std::span<const std::byte> in, half_header& out) noexcept;

// Superblock (one block at offset 0).
struct superblock {
    std::uint32_t version = kFormatVersion;
    std::uint32_t shards = 1;
    std::uint32_t block_size = 512;
    std::uint64_t region_offset = 0;  // byte offset of shard 0's region
    std::uint64_t region_size = 0;    // bytes per shard region (two halves)
};
constexpr std::size_t kSuperblockBytes = 48;
void encode_superblock(const superblock& s, std::byte* out) noexcept;  // kSuperblockBytes
bool decode_superblock(std::span<const std::byte> in, superblock& out) noexcept;

// Little-endian helpers shared by the encoders.
void store_le32(std::byte* p, std::uint32_t v) noexcept;
void store_le64(std::byte* p, std::uint64_t v) noexcept;
std::uint32_t load_le32(const std::byte* p) noexcept;
std::uint64_t load_le64(const std::byte* p) noexcept;

}  // namespace kv

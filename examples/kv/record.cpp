// SPDX-License-Identifier: MIT
#include "record.hpp"

#include <bit>
#include <cstring>

#include "checksum.hpp"

namespace kv {

// One store or load each (the byte loops were not merged by the compiler); little-endian on the
// device whatever the host.
void store_le32(std::byte* p, std::uint32_t v) noexcept {
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}
void store_le64(std::byte* p, std::uint64_t v) noexcept {
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
}
std::uint32_t load_le32(const std::byte* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
    return v;
}
std::uint64_t load_le64(const std::byte* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    return v;
}

std::size_t encode_record(const record_view& r, std::byte* out) noexcept {
    const std::size_t size = record_size(r.key.size(), r.value.size());
    store_le32(out, kRecordMagic);
    store_le64(out + 8, r.epoch);
    store_le64(out + 16, r.seq);
    store_le64(out + 24, static_cast<std::uint64_t>(r.expire_at));
    store_le32(out + 32, static_cast<std::uint32_t>(r.key.size()));
    store_le32(out + 36, static_cast<std::uint32_t>(r.value.size()));
    store_le64(out + 40, static_cast<std::uint8_t>(r.type));  // type, then 7 zero bytes
    if (!r.key.empty()) std::memcpy(out + kRecordHeaderSize, r.key.data(), r.key.size());
    if (!r.value.empty())
        std::memcpy(out + kRecordHeaderSize + r.key.size(), r.value.data(), r.value.size());
    store_le32(out + 4, crc32c(out + 8, size - 8));
    return size;
}

decode_status decode_record(std::span<const std::byte> in, record_view& out,
                            std::size_t& size) noexcept {
    if (in.empty()) {
        size = 1;
        return decode_status::need_more;
    }
    // A record starts with its magic, whose first byte is 'C', so a zero byte can only be batch
    // padding. Padding may be as short as one byte before a block boundary: reading a whole word
    // there would take the next batch's magic for a corrupt record and end recovery early.
    if (in[0] == std::byte{0}) return decode_status::padding;
    if (in.size() < 4) {
        size = 4;
        return decode_status::need_more;
    }
    const std::uint32_t magic = load_le32(in.data());
    if (magic != kRecordMagic) return decode_status::corrupt;
    if (in.size() < kRecordHeaderSize) {
        size = kRecordHeaderSize;
        return decode_status::need_more;
    }
    const std::uint32_t klen = load_le32(in.data() + 32);
    const std::uint32_t vlen = load_le32(in.data() + 36);
    const auto type = std::to_integer<std::uint8_t>(in[40]);
    if (klen > kMaxKeyOrValue || vlen > kMaxKeyOrValue || type < 1 || type > 5)
        return decode_status::corrupt;
    size = record_size(klen, vlen);
    if (in.size() < size) return decode_status::need_more;
    if (crc32c(in.data() + 8, size - 8) != load_le32(in.data() + 4)) return decode_status::corrupt;
    out.type = static_cast<record_type>(type);
    out.epoch = load_le64(in.data() + 8);
    out.seq = load_le64(in.data() + 16);
    out.expire_at = static_cast<std::int64_t>(load_le64(in.data() + 24));
    const char* base = reinterpret_cast<const char*>(in.data()) + kRecordHeaderSize;
    out.key = std::string_view(base, klen);
    out.value = std::string_view(base + klen, vlen);
    return decode_status::ok;
}

// Half header: magic, crc(of bytes 8..31), base_epoch, shard, half, 8 zero bytes.
void encode_half_header(const half_header& h, std::byte* out) noexcept {
    std::memset(out, 0, kHalfHeaderBytes);
    store_le32(out, kHalfMagic);
    store_le64(out + 8, h.base_epoch);
    store_le32(out + 16, h.shard);
    store_le32(out + 20, h.half);
    store_le32(out + 4, crc32c(out + 8, kHalfHeaderBytes - 8));
}

bool decode_half_header(std::span<const std::byte> in, half_header& out) noexcept {
    if (in.size() < kHalfHeaderBytes || load_le32(in.data()) != kHalfMagic) return false;
    if (crc32c(in.data() + 8, kHalfHeaderBytes - 8) != load_le32(in.data() + 4)) return false;
    out.base_epoch = load_le64(in.data() + 8);
    out.shard = load_le32(in.data() + 16);
    out.half = load_le32(in.data() + 20);
    return true;
}

// Superblock: magic, crc(of bytes 8..47), version, shards, block_size, 4 zero, region_offset,
// region_size, 8 zero.
void encode_superblock(const superblock& s, std::byte* out) noexcept {
    std::memset(out, 0, kSuperblockBytes);
    store_le32(out, kSuperMagic);
    store_le32(out + 8, s.version);
    store_le32(out + 12, s.shards);
    store_le32(out + 16, s.block_size);
    store_le64(out + 24, s.region_offset);
    store_le64(out + 32, s.region_size);
    store_le32(out + 4, crc32c(out + 8, kSuperblockBytes - 8));
}

bool decode_superblock(std::span<const std::byte> in, superblock& out) noexcept {
    if (in.size() < kSuperblockBytes || load_le32(in.data()) != kSuperMagic) return false;
    if (crc32c(in.data() + 8, kSuperblockBytes - 8) != load_le32(in.data() + 4)) return false;
    out.version = load_le32(in.data() + 8);
    out.shards = load_le32(in.data() + 12);
    out.block_size = load_le32(in.data() + 16);
    out.region_offset = load_le64(in.data() + 24);
    out.region_size = load_le64(in.data() + 32);
    return true;
}

}  // namespace kv

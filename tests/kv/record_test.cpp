// SPDX-License-Identifier: MIT
#include "record.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "checksum.hpp"

TEST(Checksum, Crc32cKnownVectors) {
    EXPECT_EQ(kv::crc32c("123456789", 9), 0xE3069283u);
    EXPECT_EQ(kv::crc32c("", 0), 0u);
    std::vector<unsigned char> zeros(32, 0);
    EXPECT_EQ(kv::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
    // Continuing a checksum equals checksumming the whole buffer.
    EXPECT_EQ(kv::crc32c("6789", 4, kv::crc32c("12345", 5)), 0xE3069283u);
}

TEST(Checksum, KeyHashIsStableAndSpreads) {
    EXPECT_EQ(kv::key_hash("hello"), kv::key_hash(std::string("hello")));
    EXPECT_NE(kv::key_hash("key:1"), kv::key_hash("key:2"));
    EXPECT_NE(kv::key_hash(std::string_view("a\0", 2)), kv::key_hash("a"));
    int counts[4] = {};
    for (int i = 0; i < 4000; ++i) ++counts[(kv::key_hash("key:" + std::to_string(i)) >> 32) % 4];
    for (int c : counts) EXPECT_GT(c, 800);
}

// Shard placement on the device depends on key_hash: these values (of the byte-by-byte version
// before the word loads) must never change. Lengths 0-9, 16 (two full words) and 33 (a tail).
TEST(Checksum, KeyHashKeepsItsValues) {
    const std::pair<const char*, std::uint64_t> golden[] = {
        {"", 0x8cb9463e7cde12e7ull},
        {"a", 0x0c0ea0e453a13008ull},
        {"hello", 0xadaa10d59b3ac4b8ull},
        {"key:1", 0x0404632ce080f654ull},
        {"1234567", 0x6f37822ae190c50dull},
        {"12345678", 0x67e91e9fd85e070bull},
        {"123456789", 0x85c9642ddfacbf62ull},
        {"key:000000123456", 0x296ae8ffe706b0bcull},
        {"key:__rand_int__", 0x9f256e9e36d452b2ull},
        {"a somewhat longer key, 34 bytes!!", 0xb48c637a849d38edull},
    };
    for (const auto& [key, hash] : golden) EXPECT_EQ(kv::key_hash(key), hash) << key;
    std::string high;  // bytes >= 0x80 (no sign extension in the loads)
    for (int i = 0; i < 32; ++i) high += static_cast<char>(0x80 + i);
    EXPECT_EQ(kv::key_hash(high), 0x3b0fde99973c0538ull);
    EXPECT_EQ(kv::crc32c(high.data(), high.size()), 0xd55d4c91u);
}

// Every length through the 8-byte steps and the tail (hardware and software CRC agree with these).
TEST(Checksum, Crc32cOfEveryTailLength) {
    std::string s(300, '\0');
    for (int i = 0; i < 300; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(i * 7);
    const std::pair<std::size_t, std::uint32_t> golden[] = {
        {1, 0x527d5351u},  {3, 0xb671d518u},  {8, 0xa7fe3fceu},
        {13, 0x6d4dd2d6u}, {16, 0xb4272d4eu}, {40, 0x95d24769u},
        {64, 0xfcb776a4u}, {77, 0x751e50ebu}, {300, 0xd8ab6f7au},
    };
    for (const auto& [n, crc] : golden) EXPECT_EQ(kv::crc32c(s.data(), n), crc) << n;
}

// The software path on its own (on an SSE4.2 host crc32c() never runs it), and both paths
// against each other over every length, alignment and a few seeds.
TEST(Checksum, SoftwareCrc32cMatchesKnownVectorsAndTheDefaultPath) {
    EXPECT_EQ(kv::crc32c_software("123456789", 9), 0xE3069283u);
    EXPECT_EQ(kv::crc32c_software("", 0), 0u);
    const std::vector<unsigned char> zeros(32, 0);
    EXPECT_EQ(kv::crc32c_software(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
    const std::vector<unsigned char> ones(32, 0xFF);
    EXPECT_EQ(kv::crc32c_software(ones.data(), ones.size()), 0x62A8AB43u);  // RFC 3720 B.4
    std::string s(600, '\0');
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 131 + 7);
    for (std::size_t off = 0; off < 8; ++off)
        for (std::size_t n = 0; n + off <= 300; ++n)
            for (std::uint32_t seed : {0u, 1u, 0xE3069283u}) {
                ASSERT_EQ(kv::crc32c_software(s.data() + off, n, seed),
                          kv::crc32c(s.data() + off, n, seed))
                    << "offset " << off << " length " << n << " seed " << seed;
            }
}

TEST(Record, EncodeDecodeRoundTrip) {
    kv::record_view r;
    r.type = kv::record_type::put;
    r.epoch = 7;
    r.seq = 123456789;
    r.expire_at = 1700000000000;
    r.key = std::string_view("bin\0key", 7);
    r.value = "value";
    std::vector<std::byte> buf(kv::record_size(r.key.size(), r.value.size()));
    ASSERT_EQ(kv::encode_record(r, buf.data()), buf.size());
    kv::record_view d;
    std::size_t size = 0;
    ASSERT_EQ(kv::decode_record(buf, d, size), kv::decode_status::ok);
    EXPECT_EQ(size, buf.size());
    EXPECT_EQ(d.type, r.type);
    EXPECT_EQ(d.epoch, 7u);
    EXPECT_EQ(d.seq, 123456789u);
    EXPECT_EQ(d.expire_at, 1700000000000);
    EXPECT_EQ(d.key, r.key);
    EXPECT_EQ(d.value, "value");
}

TEST(Record, DetectsCorruptionTruncationAndPadding) {
    kv::record_view r;
    r.type = kv::record_type::del;
    r.key = "k";
    std::vector<std::byte> buf(kv::record_size(1, 0));
    kv::encode_record(r, buf.data());
    kv::record_view d;
    std::size_t size = 0;
    for (std::size_t i = 4; i < buf.size(); ++i) {  // every flipped byte after the magic is caught
        auto bad = buf;
        bad[i] ^= std::byte{0x10};
        const auto st = kv::decode_record(bad, d, size);
        // A damaged length may first ask for more bytes; the checksum then rejects the record.
        if (i >= 32 && i < 40 && st == kv::decode_status::need_more) continue;
        EXPECT_EQ(st, kv::decode_status::corrupt) << "byte " << i;
    }
    EXPECT_EQ(kv::decode_record(std::span(buf).first(20), d, size), kv::decode_status::need_more);
    EXPECT_EQ(kv::decode_record(std::span(buf).first(buf.size() - 1), d, size),
              kv::decode_status::need_more);
    EXPECT_EQ(size, buf.size());
    std::vector<std::byte> zeros(64);
    EXPECT_EQ(kv::decode_record(zeros, d, size), kv::decode_status::padding);
    // Padding as short as 1-3 bytes before a block boundary, with the next batch's record right
    // behind it: still padding, never a corrupt record (which would end recovery there).
    for (std::size_t pad = 1; pad <= 3; ++pad) {
        std::vector<std::byte> tail(pad, std::byte{0});
        tail.insert(tail.end(), buf.begin(), buf.end());
        EXPECT_EQ(kv::decode_record(tail, d, size), kv::decode_status::padding)
            << pad << " byte(s)";
        EXPECT_EQ(kv::decode_record(std::span(tail).first(1), d, size), kv::decode_status::padding);
    }
    auto bad_magic = buf;
    bad_magic[0] = std::byte{0x11};
    EXPECT_EQ(kv::decode_record(bad_magic, d, size), kv::decode_status::corrupt);
}

TEST(Record, RejectsImpossibleLengthsBeforeReadingThem) {
    std::vector<std::byte> buf(kv::kRecordHeaderSize);
    kv::record_view r;
    r.key = "";
    kv::encode_record(r, buf.data());
    kv::store_le32(buf.data() + 36, 0xFFFFFFF0u);  // a value length far beyond the limit
    kv::record_view d;
    std::size_t size = 0;
    EXPECT_EQ(kv::decode_record(buf, d, size), kv::decode_status::corrupt);
}

TEST(Record, HalfHeaderAndSuperblockRoundTrip) {
    std::vector<std::byte> buf(512);
    kv::encode_half_header({42, 3, 1}, buf.data());
    kv::half_header h;
    ASSERT_TRUE(kv::decode_half_header(buf, h));
    EXPECT_EQ(h.base_epoch, 42u);
    EXPECT_EQ(h.shard, 3u);
    EXPECT_EQ(h.half, 1u);
    buf[9] ^= std::byte{1};
    EXPECT_FALSE(kv::decode_half_header(buf, h));

    kv::superblock sb;
    sb.shards = 4;
    sb.block_size = 4096;
    sb.region_offset = 4096;
    sb.region_size = 1 << 24;
    kv::encode_superblock(sb, buf.data());
    kv::superblock out;
    ASSERT_TRUE(kv::decode_superblock(buf, out));
    EXPECT_EQ(out.shards, 4u);
    EXPECT_EQ(out.block_size, 4096u);
    EXPECT_EQ(out.region_size, std::uint64_t{1} << 24);
    buf[30] ^= std::byte{1};
    EXPECT_FALSE(kv::decode_superblock(buf, out));
}

// SPDX-License-Identifier: MIT
// In-memory index of one shard: key -> latest value, expiry and where its record lives.
// Values are kept in memory so GET never touches the device (memory use ~ keys + values + ~80
// bytes per key); the log on the device is the truth and rebuilds this at startup.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "checksum.hpp"

namespace kv {

struct entry {
    std::string value;
    std::int64_t expire_at = 0;      // unix ms, 0 = none
    std::uint64_t ticket = 0;        // group-commit batch whose durability makes this state safe
    std::uint32_t record_bytes = 0;  // size of the record holding the value (live-bytes accounting)
    std::uint8_t half = 0;           // log half holding that record
};

// A key with its key_hash() computed once, for the shard choice and the index lookup alike.
struct hashed_key {
    std::string_view key;
    std::uint64_t hash;
    explicit hashed_key(std::string_view k) noexcept : key(k), hash(key_hash(k)) {}
};
inline bool operator==(const hashed_key& a, const std::string& b) noexcept {
    return a.key == b;
}

struct key_hasher {
    using is_transparent = void;
    // Deliberately not noexcept: libstdc++ then keeps each key's hash in its node, so a lookup
    // compares hashes before keys and neither a lookup (which, without them, hashes the next
    // node's key at every step of a bucket's chain to see where the bucket ends) nor a rehash
    // hashes stored keys again. 8 bytes per key.
    std::size_t operator()(std::string_view k) const {
        return static_cast<std::size_t>(key_hash(k));
    }
    std::size_t operator()(const hashed_key& k) const { return static_cast<std::size_t>(k.hash); }
};

using index_map = std::unordered_map<std::string, entry, key_hasher, std::equal_to<>>;

inline std::int64_t now_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline bool expired(const entry& e, std::int64_t now) noexcept {
    return e.expire_at != 0 && e.expire_at <= now;
}

}  // namespace kv

// SPDX-License-Identifier: MIT
#include "pattern.hpp"

#include <cstring>

namespace convme::bench {

void fill_pattern(std::span<std::byte> buf, std::uint64_t offset, std::uint64_t seed) noexcept {
    const std::uint64_t first_word = offset / 8;
    const std::size_t words = buf.size() / 8;
    for (std::size_t i = 0; i < words; ++i) {
        const std::uint64_t v = mix64(seed ^ (first_word + i));
        std::memcpy(buf.data() + i * 8, &v, 8);  // memcpy: no alignment assumption on buf
    }
}

std::int64_t check_pattern(std::span<const std::byte> buf, std::uint64_t offset,
                           std::uint64_t seed) noexcept {
    const std::uint64_t first_word = offset / 8;
    const std::size_t words = buf.size() / 8;
    for (std::size_t i = 0; i < words; ++i) {
        std::uint64_t got = 0;
        std::memcpy(&got, buf.data() + i * 8, 8);
        if (got != mix64(seed ^ (first_word + i))) return static_cast<std::int64_t>(i * 8);
    }
    return -1;
}

}  // namespace convme::bench

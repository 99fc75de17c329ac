// SPDX-License-Identifier: MIT
// Library-internal hooks into loop (not part of the public contract).
#pragma once

#include <convme/loop.hpp>
#include <cstdint>

namespace convme::detail {

// Add `n` to the loop's statistics().messages (for messages delivered by the runtime's rings).
// Call on the loop's own thread.
void count_messages(loop& l, std::uint64_t n) noexcept;

}  // namespace convme::detail

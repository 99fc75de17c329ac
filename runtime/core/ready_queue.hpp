// SPDX-License-Identifier: MIT
// The loop's ready queue lives in the public detail header so that loop::schedule() inlines.
#pragma once

#include <convme/detail/ready_queue.hpp>

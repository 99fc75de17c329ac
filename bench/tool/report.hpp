// SPDX-License-Identifier: MIT
// Writers for the final results: fio-like text, one JSON object, or CSV (one row per core plus a
// "total" row). Latencies are printed in microseconds.
#pragma once

#include <string>

#include "results.hpp"

namespace convme::bench {

std::string format_text(const run_results& r);
std::string format_json(const run_results& r);
std::string format_csv(const run_results& r);

}  // namespace convme::bench

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's main job: install the Debian dependencies, build convme, then run the comparative
# benchmark on the embedded defaults (simulated NVMe controller in RAM, io_uring and the
# thread-pool fallback on a temp file, fio as the outside reference, then the KV server against
# redis-server under redis-benchmark). No hardware needed. Extra arguments go to compare.sh
# (e.g. --quick, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh
# Only what the benchmark runs: the bench tool and the KV server (no tests, no lab).
cmake --preset bench >/dev/null
cmake --build --preset bench -j "$(nproc)" --target convme_bench convme_kv
exec bench/scripts/compare.sh --build-dir build/bench "$@"

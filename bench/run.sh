#!/usr/bin/env bash
# The README's main job: install the Debian dependencies, build convme, then run the comparative
# benchmark on the embedded defaults (simulated NVMe controller in RAM, io_uring and the
# thread-pool fallback on a temp file, fio as the outside reference, then the KV server against
# redis-server under redis-benchmark). No hardware needed. Extra arguments go to compare.sh
# (e.g. --quick, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)"
exec bench/scripts/compare.sh --build-dir build/default "$@"

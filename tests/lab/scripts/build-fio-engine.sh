#!/bin/bash
# SPDX-License-Identifier: MIT
# build-fio-engine.sh: the convme fio engine for the x86_64 guest's fio run. Unlike lab_guest it
# is a shared object loaded by Debian's (dynamic) fio, so it is built for the host, whose
# libraries go into the image with fio (fio-bundle.sh). Fetches the fio source first
# (runtime/bindings/fio/fetch-fio-source.sh). Prints the engine's path; exit 3 when the engine
# cannot be built here (no fio, no source).
set -euo pipefail
source "$(dirname "$0")/common.sh"
BUILD=$WORK/build-fio-engine
mkdir -p "$BUILD"
"$REPO_DIR/runtime/bindings/fio/fetch-fio-source.sh" >/dev/null 2>"$BUILD/fetch.log" ||
  { cat "$BUILD/fetch.log" >&2; log "no fio source: the fio lab case is skipped"; exit 3; }
cmake -S "$REPO_DIR" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONVME_BUILD_TESTS=OFF \
  -DCONVME_BUILD_BENCH=OFF -DCONVME_BUILD_EXAMPLES=OFF -DCONVME_LAB=OFF > "$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log" >&2; die "configuring the fio engine build failed"; }
grep -q "convme fio engine: building" "$BUILD/configure.log" ||
  { grep "convme fio engine" "$BUILD/configure.log" >&2; exit 3; }
cmake --build "$BUILD" -j "${LAB_JOBS:-2}" --target convme_fio > "$BUILD/build.log" 2>&1 ||
  { tail -30 "$BUILD/build.log" >&2; die "building the fio engine failed"; }
echo "$BUILD/runtime/bindings/fio/libconvme_fio.so"

#!/bin/bash
# SPDX-License-Identifier: MIT
# build-guest.sh <x86_64|aarch64>: build the static guest binaries from this tree: lab_guest, the
# `convme` CLI (for `convme doctor`), convme-kv and unvme_wrc. Own build dir per architecture under $WORK; aarch64 uses
# cmake/aarch64-linux-gnu.cmake. Copies the results to $WORK/<arch>/bin/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ARCH=$1
BUILD=$WORK/build-$ARCH
OUT=$WORK/$ARCH/bin
ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
[ "$ARCH" = aarch64 ] && ARGS+=(-DCMAKE_TOOLCHAIN_FILE="$REPO_DIR/cmake/aarch64-linux-gnu.cmake")
# Configure every time (a few seconds): the test and bench globs may have gained files.
log "configuring the static $ARCH guest build in $BUILD"
mkdir -p "$BUILD"
cmake -S "$LAB_DIR/guest" -B "$BUILD" "${ARGS[@]}" > "$BUILD/lab-configure.log" 2>&1 ||
  { cat "$BUILD/lab-configure.log" >&2; die "cmake configure of the $ARCH guest failed"; }
# Both targets always: probing for convme_cli with `ninja -t targets | grep -q` raced under
# pipefail (grep exits at the match, ninja gets SIGPIPE) and silently dropped the doctor.
# LAB_JOBS (default 2): the development hosts and CI have two cores.
TARGETS=(lab_guest convme_cli convme_kv unvme_wrc)
log "building ${TARGETS[*]} for $ARCH"
ninja -C "$BUILD" -j"${LAB_JOBS:-2}" "${TARGETS[@]}" || die "building the $ARCH guest binaries failed"
rm -rf "$OUT"
mkdir -p "$OUT"
install -m 755 "$BUILD/lab_guest" "$OUT/lab_guest"
install -m 755 "$BUILD/convme/convme" "$OUT/convme"
install -m 755 "$BUILD/convme/examples/convme-kv" "$OUT/convme-kv"
install -m 755 "$BUILD/unvme_wrc" "$OUT/unvme_wrc"
file "$OUT"/* | grep dynamically >/dev/null && die "a guest binary is dynamically linked: $(file "$OUT"/*)"
log "$ARCH guest binaries: $(cd "$OUT" && ls | tr '\n' ' ')"

#!/bin/bash
# build-guest.sh <x86_64|aarch64>: build the static guest binaries from this tree: lab_guest and
# the `convme` CLI (for `convme doctor`). Own build dir per architecture under $WORK; aarch64 uses
# cmake/aarch64-linux-gnu.cmake. Copies the results to $WORK/<arch>/bin/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ARCH=$1
BUILD=$WORK/build-$ARCH
OUT=$WORK/$ARCH/bin
ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
[ "$ARCH" = aarch64 ] && ARGS+=(-DCMAKE_TOOLCHAIN_FILE="$REPO_DIR/cmake/aarch64-linux-gnu.cmake")
# Configure every time (a few seconds): the source globs may have gained files, e.g. driver/cli/.
log "configuring the static $ARCH guest build in $BUILD"
mkdir -p "$BUILD"
cmake -S "$LAB_DIR/guest" -B "$BUILD" "${ARGS[@]}" > "$BUILD/lab-configure.log" 2>&1 ||
  { cat "$BUILD/lab-configure.log" >&2; die "cmake configure of the $ARCH guest failed"; }
TARGETS=(lab_guest)
if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^convme_cli:'; then TARGETS+=(convme_cli); fi
log "building ${TARGETS[*]} for $ARCH"
ninja -C "$BUILD" "${TARGETS[@]}" || die "building the $ARCH guest binaries failed"
mkdir -p "$OUT"
install -m 755 "$BUILD/lab_guest" "$OUT/lab_guest"
if [[ " ${TARGETS[*]} " == *" convme_cli "* ]]; then
  install -m 755 "$(find "$BUILD" -maxdepth 3 -name convme -type f -perm -u+x | head -1)" "$OUT/convme"
else
  rm -f "$OUT/convme"
  log "WARNING: no convme CLI target (driver/cli/ empty): the doctor checks will fail in the guest"
fi
file "$OUT"/* | grep -q dynamically && die "a guest binary is dynamically linked: $(file "$OUT"/*)"
log "$ARCH guest binaries: $(cd "$OUT" && ls | tr '\n' ' ')"

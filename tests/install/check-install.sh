#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the built tree into a temp prefix, then
#  1. configures, builds and runs a consumer project that uses find_package(convme) and
#     convme::convme: checks the exported package works;
#  2. builds an UNVMe program (tests/bindings/unvme_wrc.c, written only against unvme.h) with
#     plain `cc prog.c -lunvme` against the install tree, with pkg-config, and statically against
#     libunvme.a, and runs each against the simulated controller.
set -euo pipefail
build_dir=$1 source_dir=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
cmake -S "$source_dir/tests/install/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"

libdir=$(dirname "$(find "$prefix" -name 'libunvme.so' | head -1)")
[ -f "$prefix/include/unvme.h" ] && [ -f "$libdir/libunvme.a" ] && [ -f "$libdir/pkgconfig/unvme.pc" ] ||
  { echo "check-install: unvme.h, libunvme.a or unvme.pc missing from the install tree" >&2; exit 1; }
prog=$source_dir/tests/bindings/unvme_wrc.c
uri='sim:mem?size=64M'
cc=${CC:-cc}
# (the prefix is a temp dir, not on the default search paths: hence -I/-L/rpath, as for /usr/local)
"$cc" -I"$prefix/include" "$prog" -L"$libdir" -lunvme -lpthread -Wl,-rpath,"$libdir" -o "$work/wrc_plain"
"$work/wrc_plain" -q 2 -n 64 -c 32 "$uri"
export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046
"$cc" "$prog" $(pkg-config --cflags --libs unvme) -lpthread -Wl,-rpath,"$libdir" -o "$work/wrc_pc"
"$work/wrc_pc" -q 2 -n 64 -c 32 "$uri"
# shellcheck disable=SC2046
"$cc" "$prog" $(pkg-config --cflags unvme) -L"$libdir" -Wl,-Bstatic -lunvme -Wl,-Bdynamic \
  $(pkg-config --static --libs-only-l unvme | sed 's/-lunvme//') -o "$work/wrc_static"
if ldd "$work/wrc_static" | grep -q libunvme; then echo "check-install: static build linked libunvme.so" >&2; exit 1; fi
"$work/wrc_static" -q 2 -n 64 -c 32 "$uri"
echo "check-install: find_package(convme), cc -lunvme, pkg-config unvme and static libunvme.a all work"

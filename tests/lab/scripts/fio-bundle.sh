#!/bin/bash
# SPDX-License-Identifier: MIT
# fio-bundle.sh OUTDIR ENGINE.so: a root tree for the initramfs with Debian's fio binary, every
# shared library it and the convme engine load (paths as on the host, plus the dynamic loader),
# the engine at /usr/lib/convme/libconvme_fio.so and the job file at /etc/lab.fio.
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT=$1 ENGINE=$2
FIO=$(command -v fio) || die "fio is not installed on the host (apt-get install fio)"
[ -f "$ENGINE" ] || die "no fio engine at $ENGINE"
rm -rf "$OUT"
mkdir -p "$OUT/usr/bin" "$OUT/usr/lib/convme" "$OUT/etc"
install -m 755 "$FIO" "$OUT/usr/bin/fio"
install -m 755 "$ENGINE" "$OUT/usr/lib/convme/libconvme_fio.so"
install -m 644 "$LAB_DIR/fio/lab.fio" "$OUT/etc/lab.fio"
for lib in $( (ldd "$FIO"; ldd "$ENGINE") | awk '/=> \// { print $3 } /^\s*\/lib/ { print $1 }' | sort -u); do
  mkdir -p "$OUT$(dirname "$lib")"
  cp -L "$lib" "$OUT$lib"
done
# The loader's canonical path (/lib64/ld-linux-x86-64.so.2 is what the binaries name).
interp=$(readelf -l "$FIO" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
mkdir -p "$OUT$(dirname "$interp")"; cp -L "$interp" "$OUT$interp"
log "fio bundle: $(du -sh "$OUT" | cut -f1), $(find "$OUT" -name '*.so*' | wc -l) libraries, $("$FIO" --version)"

#!/bin/bash
# SPDX-License-Identifier: MIT
# fetch-kernel.sh <x86_64|aarch64>: download Debian's current 6.1 guest kernel package for the
# architecture (the one linux-image-amd64 / linux-image-arm64 depends on), unpack it under
# $WORK/<arch>/kernel with dpkg-deb -x (never installed on the host) and run depmod on it.
# x86_64 also gets the ELF vmlinux pulled out of the bzImage so QEMU can boot it through PVH
# (skips the in-guest decompression, a few seconds under TCG). aarch64 also gets an arm64
# busybox-static for the initramfs. Results: $WORK/<arch>/{KVER,KDEBVER,kernel/,vmlinux|busybox}.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ARCH=$1
DARCH=$(deb_arch "$ARCH")
OUT=$WORK/$ARCH
mkdir -p "$OUT"

if [ -f "$OUT/KVER" ] && [ -f "$OUT/kernel/lib/modules/$(cat "$OUT/KVER")/modules.dep" ]; then
  KVER=$(cat "$OUT/KVER")
else
  resolve() { apt-cache depends "linux-image-$DARCH:$DARCH" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
  KPKG=$(resolve)
  if [ -z "$KPKG" ]; then apt_update_once; KPKG=$(resolve); fi
  [ -n "$KPKG" ] || die "apt-cache cannot resolve linux-image-$DARCH:$DARCH (for arm64 run tests/lab/setup-aarch64-deps.sh first)"
  KPKG=${KPKG%:$DARCH}
  KVER=${KPKG#linux-image-}
  fetch_deb "$KPKG:$DARCH" "${KPKG}_*_$DARCH.deb"
  DEB=$(one_file "$DEBS/${KPKG}_*_$DARCH.deb")
  log "unpacking $(basename "$DEB")"
  rm -rf "$OUT/kernel"
  dpkg-deb -x "$DEB" "$OUT/kernel"
  depmod -b "$OUT/kernel" "$KVER"
  dpkg-deb -f "$DEB" Version > "$OUT/KDEBVER"
  echo "$KVER" > "$OUT/KVER"
fi

if [ "$ARCH" = x86_64 ] && [ ! -s "$OUT/vmlinux" ]; then
  log "extracting ELF vmlinux for PVH boot"
  python3 "$LAB_DIR/scripts/extract-vmlinux.py" "$OUT/kernel/boot/vmlinuz-$KVER" "$OUT/vmlinux.tmp"
  mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
fi

if [ "$ARCH" = aarch64 ] && [ ! -x "$OUT/busybox/bin/busybox" ]; then
  fetch_deb "busybox-static:arm64" "busybox-static_*_arm64.deb"
  rm -rf "$OUT/busybox"
  dpkg-deb -x "$(one_file "$DEBS/busybox-static_*_arm64.deb")" "$OUT/busybox"
fi
log "$ARCH guest kernel $KVER ready"

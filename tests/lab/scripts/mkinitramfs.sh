#!/bin/bash
# SPDX-License-Identifier: MIT
# mkinitramfs.sh KROOT KVER BUSYBOX OUT [BIN...]
# A tiny initramfs: static busybox, the lab /init, the given static binaries (to /bin), and the
# kernel modules the lab needs with their dependencies, deps first (order from modules.dep, written
# to /lib/modules/load-order for /init). Modules: vfio_iommu_type1, vfio-pci, and nvme (so the
# guest can start with the device on the kernel driver and run the kernel-driver baseline).
# MOD_OVERRIDE_DIR=<dir>: a <name>.ko there replaces the distro module of that name (the vfio.ko
# rebuilt with CONFIG_VFIO_NOIOMMU).
# LAB_EXTRA_ROOT=<dir>: a tree copied into the image's root as is (the fio bundle).
set -euo pipefail
source "$(dirname "$0")/common.sh"
KROOT=$1 KVER=$2 BUSYBOX=$3 OUT=$4
shift 4
MODDIR=$KROOT/lib/modules/$KVER
[ -f "$MODDIR/modules.dep" ] || die "$MODDIR/modules.dep missing (run fetch-kernel.sh)"

STAGE=$(mktemp -d "$WORK/initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,dev,proc,sys,tmp,etc,lib/modules}
# /dev/console must exist before /init runs or the kernel has nowhere to send init's output.
[ "$(id -u)" = 0 ] && mknod -m 600 "$STAGE/dev/console" c 5 1
install -m 755 "$BUSYBOX" "$STAGE/bin/busybox"
install -m 755 "$LAB_DIR/init" "$STAGE/init"
for b in "$@"; do install -m 755 "$b" "$STAGE/bin/$(basename "$b")"; done
[ -n "${LAB_EXTRA_ROOT:-}" ] && cp -a "$LAB_EXTRA_ROOT/." "$STAGE/"

declare -A seen=()
order=()
add_module() {  # $1: path relative to MODDIR, dependencies are added first
  local rel=$1 dep
  [ -n "${seen[$rel]:-}" ] && return 0
  seen[$rel]=1
  for dep in $(awk -F': *' -v m="$rel" '$1 == m { print $2 }' "$MODDIR/modules.dep"); do add_module "$dep"; done
  order+=("$rel")
}
for want in vfio_iommu_type1 vfio-pci nvme; do
  rel=$(awk -F: -v w="$want" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\.xz|\.zst|\.gz)?$/, "", n); if (n == w) { print $1; exit } }' "$MODDIR/modules.dep")
  [ -n "$rel" ] || die "module $want not in $MODDIR/modules.dep"
  add_module "$rel"
done

: > "$STAGE/lib/modules/load-order"
for rel in "${order[@]}"; do
  name=$(basename "$rel"); name=${name%.xz}; name=${name%.zst}; name=${name%.gz}; name=${name%.ko}
  dst=$STAGE/lib/modules/$name.ko
  if [ -n "${MOD_OVERRIDE_DIR:-}" ] && [ -f "$MOD_OVERRIDE_DIR/$name.ko" ]; then
    cp "$MOD_OVERRIDE_DIR/$name.ko" "$dst"
  else
    case "$rel" in
      *.xz) xz -dc "$MODDIR/$rel" > "$dst" ;;
      *.zst) zstd -qdc "$MODDIR/$rel" > "$dst" ;;
      *.gz) gzip -dc "$MODDIR/$rel" > "$dst" ;;
      *) cp "$MODDIR/$rel" "$dst" ;;
    esac
  fi
  echo "$name" >> "$STAGE/lib/modules/load-order"
done

# cpio as root:root without needing root-owned files; newc is what the kernel unpacks.
(cd "$STAGE" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
   cpio --null -o -H newc --quiet --owner=0:0) | gzip -6 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT ($(du -h "$OUT" | cut -f1)); modules: $(tr '\n' ' ' < "$STAGE/lib/modules/load-order")"

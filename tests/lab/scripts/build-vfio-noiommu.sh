#!/bin/bash
# SPDX-License-Identifier: MIT
# build-vfio-noiommu.sh <x86_64|aarch64>: Debian's 6.1 kernels ship "# CONFIG_VFIO_NOIOMMU is not
# set", so `vfio enable_unsafe_noiommu_mode=1` is an unknown parameter and vfio-pci refuses devices
# without an IOMMU group (probe error -22). Rebuild just vfio.ko out of tree from the matching
# linux-source-6.1 (drivers/vfio/{vfio_main,iova_bitmap,container}.c) with -DCONFIG_VFIO_NOIOMMU=1,
# against the matching linux-headers / linux-kbuild packages (unpacked under $WORK, not installed).
# Result: $WORK/<arch>/vfio-noiommu/vfio.ko (unsigned, taints the guest kernel; fine for a lab).
set -euo pipefail
source "$(dirname "$0")/common.sh"
ARCH=$1
DARCH=$(deb_arch "$ARCH")
OUT=$WORK/$ARCH/vfio-noiommu
[ -s "$OUT/vfio.ko" ] && { log "$ARCH noiommu vfio.ko already built"; exit 0; }

KVER=$(cat "$WORK/$ARCH/KVER")          # 6.1.0-56-amd64
VER=$(cat "$WORK/$ARCH/KDEBVER")        # 6.1.192-2: the sources must be exactly this version
MAJ=$(echo "$KVER" | cut -d. -f1-2)      # 6.1
ABI=${KVER%-$DARCH}                      # 6.1.0-56
fetch_deb "linux-source-$MAJ=$VER" "linux-source-${MAJ}_${VER}_all.deb"
fetch_deb "linux-headers-$KVER:$DARCH=$VER" "linux-headers-${KVER}_${VER}_$DARCH.deb"
fetch_deb "linux-headers-$ABI-common=$VER" "linux-headers-$ABI-common_${VER}_all.deb"
fetch_deb "linux-kbuild-$MAJ:amd64=$VER" "linux-kbuild-${MAJ}_${VER}_amd64.deb"   # host tools

KB=$WORK/kbuild-$VER
HDR=$KB/usr/src/linux-headers-$KVER
if [ ! -f "$HDR/Makefile" ]; then
  for p in "linux-headers-${KVER}_${VER}_$DARCH" "linux-headers-$ABI-common_${VER}_all" "linux-kbuild-${MAJ}_${VER}_amd64"; do
    dpkg-deb -x "$DEBS/$p.deb" "$KB"
  done
  # The arch headers include the common ones and the kbuild tools by absolute /usr/src path.
  sed -i "s#^include /usr/src/#include $KB/usr/src/#" "$HDR/Makefile"
fi

SRC=$WORK/linux-source-$VER/drivers/vfio
if [ ! -f "$SRC/vfio_main.c" ]; then
  log "unpacking drivers/vfio from linux-source-$MAJ $VER"
  mkdir -p "$WORK/linux-source-$VER"
  dpkg-deb --fsys-tarfile "$DEBS/linux-source-${MAJ}_${VER}_all.deb" |
    tar -xO --wildcards "*/linux-source-$MAJ.tar.xz" |
    tar -xJ -C "$WORK/linux-source-$VER" --strip-components=1 --wildcards "linux-source-$MAJ/drivers/vfio/*"
fi

B=$WORK/$ARCH/vfio-noiommu-build
rm -rf "$B"; mkdir -p "$B" "$OUT"
cp "$SRC"/{vfio_main.c,iova_bitmap.c,container.c,vfio.h} "$B/"
cat > "$B/Kbuild" <<'KB'
obj-m := vfio.o
vfio-y := vfio_main.o iova_bitmap.o container.o
ccflags-y := -DCONFIG_VFIO_NOIOMMU=1
KB
MAKEVARS=()
STRIP=strip
if [ "$ARCH" = aarch64 ]; then MAKEVARS=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-); STRIP=aarch64-linux-gnu-strip; fi
log "building vfio.ko with CONFIG_VFIO_NOIOMMU for $KVER"
make -s -C "$HDR" "${MAKEVARS[@]}" M="$B" modules > "$B/make.log" 2>&1 ||
  { tail -30 "$B/make.log" >&2; die "vfio.ko build failed (log: $B/make.log)"; }
"$STRIP" --strip-debug -o "$OUT/vfio.ko" "$B/vfio.ko"
log "wrote $OUT/vfio.ko"

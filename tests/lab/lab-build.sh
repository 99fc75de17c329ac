#!/bin/bash
# SPDX-License-Identifier: MIT
# lab-build.sh [x86_64|aarch64|all]: prepare everything the QEMU VFIO lab boots, idempotently.
# Installs missing host packages, downloads and unpacks Debian's guest kernels (never installed on
# the host), rebuilds vfio.ko with CONFIG_VFIO_NOIOMMU for x86_64, builds the static guest binaries
# from this tree and packs the initramfs images. Everything is cached under the work dir
# (tests/lab/work, or $CONVME_LAB_WORK): a second run only rebuilds what changed.
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
S=$LAB_DIR/scripts
case "${1:-all}" in
  all) ARCHES=(x86_64 aarch64) ;;
  x86_64|aarch64) ARCHES=("$1") ;;
  *) die "usage: lab-build.sh [x86_64|aarch64|all]" ;;
esac
mkdir -p "$WORK"
exec 9> "$WORK/.build.lock"
flock 9   # concurrent ctest jobs share the work dir

qemu_runs() { command -v "qemu-system-$1" >/dev/null && "qemu-system-$1" -version >/dev/null 2>&1; }
if ! "$S/host-tools.sh" "${ARCHES[@]}"; then
  for ARCH in "${ARCHES[@]}"; do
    if ! qemu_runs "$ARCH"; then
      echo "############################################################################" >&2
      echo "## SKIP: qemu-system-$ARCH is missing and could not be installed: the VFIO" >&2
      echo "## lab cannot run on this host." >&2
      echo "############################################################################" >&2
      exit 77
    fi
  done
  die "installing the lab's host packages failed (see above)"
fi
for ARCH in "${ARCHES[@]}"; do
  "$S/fetch-kernel.sh" "$ARCH"
  "$S/build-guest.sh" "$ARCH"
  KVER=$(cat "$WORK/$ARCH/KVER")
  KROOT=$WORK/$ARCH/kernel
  BINS=("$WORK/$ARCH/bin/"*)
  if [ "$ARCH" = x86_64 ]; then BUSYBOX=/bin/busybox; else BUSYBOX=$WORK/aarch64/busybox/bin/busybox; fi
  "$S/mkinitramfs.sh" "$KROOT" "$KVER" "$BUSYBOX" "$WORK/$ARCH/initramfs.cpio.gz" "${BINS[@]}"
  if [ "$ARCH" = x86_64 ]; then
    "$S/build-vfio-noiommu.sh" "$ARCH"
    MOD_OVERRIDE_DIR=$WORK/$ARCH/vfio-noiommu "$S/mkinitramfs.sh" "$KROOT" "$KVER" "$BUSYBOX" \
      "$WORK/$ARCH/initramfs-noiommu.cpio.gz" "${BINS[@]}"
    # fio: Debian's binary and its libraries plus the convme engine, for the lab_fio case.
    rc=0; ENGINE=$("$S/build-fio-engine.sh") || rc=$?
    if [ $rc = 0 ]; then
      "$S/fio-bundle.sh" "$WORK/$ARCH/fio-root" "$ENGINE"
      LAB_EXTRA_ROOT=$WORK/$ARCH/fio-root "$S/mkinitramfs.sh" "$KROOT" "$KVER" "$BUSYBOX" \
        "$WORK/$ARCH/initramfs-fio.cpio.gz" "${BINS[@]}"
    elif [ $rc = 3 ]; then
      rm -f "$WORK/$ARCH/initramfs-fio.cpio.gz"; log "no fio engine: lab_fio will be skipped"
    else
      die "the fio engine build failed"
    fi
  fi
done
log "lab build done: ${ARCHES[*]}"

#!/bin/bash
# SPDX-License-Identifier: MIT
# host-tools.sh <x86_64|aarch64>...: install the host packages the lab needs, only those missing.
set -euo pipefail
source "$(dirname "$0")/common.sh"
want=(cpio kmod xz-utils zstd bc python3 busybox-static make gcc)
for a in "$@"; do
  case "$a" in
    x86_64) want+=(qemu-system-x86) ;;
    aarch64) want+=(qemu-system-arm gcc-aarch64-linux-gnu) ;;
  esac
done
missing=()
for p in "${want[@]}"; do have_pkg "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
  apt_update_once
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
# The aarch64 guest binaries are cross-built from the project: the multiarch -dev packages.
for a in "$@"; do
  [ "$a" = aarch64 ] && "$LAB_DIR/setup-aarch64-deps.sh" >&2
done
exit 0
